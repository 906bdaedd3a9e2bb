// dkv-bench: load against DKV (or any RESP server with --target redis://...) from many
// connections, with live progress each second and a final report of throughput and latency
// percentiles (or one JSON object with --json). Profiles mix GET and SET (ReadHeavy 90/10,
// WriteHeavy 10/90, Mixed 50/50); --op runs one command kind. Profiles and the get, put and
// counter ops send only Redis-compatible commands, so the same run measures DKV and
// redis-server alike; the txn, query, lease and watch ops measure DKV's own commands:
//   txn    TXN.COMMIT writing two keys in one revision
//   query  QUERY by label (an equality match, 10 keys per page) over keys it labels first
//   lease  LEASE.KEEPALIVE of a lease per connection
//   watch  one connection writes, every other one watches the prefix it writes under; the
//          figures are events delivered per second and the latency from a write's sending to
//          its event's arrival (the fan-out of each write is the number of watchers)
//
// `dkv-bench stress`: each connection owns its keys (stress:<run>:<connection>:<n>) and writes each with a sequence number and
// a checksum; every read is verified: a bad checksum is corruption, a value older than the last
// acknowledged write (or none at all) is a lost write. Reported apart from throughput; exit 1
// if either is seen.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "cli_output.h"
#include "client/endpoint.h"
#include "client/resp_socket.h"
#include "latency_histogram.h"

namespace {

using Clock = std::chrono::steady_clock;
using dkv::tools::LatencyHistogram;

struct Options {
  std::string endpoints = "127.0.0.1:7070";
  std::string target;  // redis://host:port: the same load against any RESP server
  std::string profile = "Mixed";
  std::string op;  // one command kind instead of a profile (see the top of this file)
  double duration_s = 10;
  int64_t requests = 0;  // stop after this many instead (0: by duration)
  int connections = 50;
  int pipeline = 1;
  int64_t keys = 10000;
  int value_size = 100;
  bool zipf = false;
  double warmup_s = 1;
  bool json = false;
  bool stress = false;
};

// Keys 0..n-1, uniform or Zipf (s = 0.99) by inverse transform over precomputed weights.
class KeyChooser {
 public:
  KeyChooser(int64_t n, bool zipf) : n_(n), zipf_(zipf) {
    if (!zipf_) return;
    cdf_.resize(static_cast<size_t>(n));
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) cdf_[static_cast<size_t>(i)] = sum += 1.0 / std::pow(static_cast<double>(i + 1), 0.99);
    for (double& c : cdf_) c /= sum;
  }
  int64_t next(std::mt19937_64& rng) const {
    if (!zipf_) return static_cast<int64_t>(rng() % static_cast<uint64_t>(n_));
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<int64_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  int64_t n_;
  bool zipf_;
  std::vector<double> cdf_;
};

struct Shared {
  std::atomic<bool> stop{false};
  std::atomic<bool> stop_writer{false};  // watch only: the writer stops first
  std::atomic<bool> measuring{false};
  std::atomic<int64_t> issued{0};  // for --requests
  std::atomic<int> running{0};     // connections still going
  std::atomic<int> watching{0};    // watch only: watchers subscribed
  std::atomic<bool> writer_done{false};  // watch only: the writer has stopped
  std::atomic<int64_t> writes_sent{0}, events_seen{0};  // watch only, warm-up included
  std::mutex mu;
  LatencyHistogram window;  // since the last progress line
  LatencyHistogram total;   // while measuring
  int64_t ops = 0, errors = 0;
  int64_t corrupt = 0, lost = 0;  // stress only
  int64_t writes = 0;             // watch only: writes made (ops counts events delivered)
  const uint64_t run_id = std::random_device{}();
  std::string first_error;

  // Adds a connection's figures gathered since its last call (to the totals only while
  // measuring) and resets them.
  void add(LatencyHistogram& latencies, int64_t& ops_done, int64_t& errors_seen, const std::string& error) {
    std::lock_guard lock(mu);
    window.merge(latencies);
    if (measuring) {
      total.merge(latencies);
      ops += ops_done;
      errors += errors_seen;
    }
    if (first_error.empty()) first_error = error;
    latencies.clear();
    ops_done = errors_seen = 0;
  }
};

// FNV-1a: the stress values' checksum.
uint64_t checksum(std::string_view bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Stress: this connection's keys are stress:<index>:<k>; values "<seq>:<checksum>:<payload>".
// One request at a time, so the last acknowledged sequence of each key is exact.
struct StressCheck {
  int64_t corrupt = 0, lost = 0;
  std::string first_problem;
};

StressCheck verify(const dkv::resp::Value& reply, int64_t acked, int64_t attempted, const std::string& key) {
  StressCheck c;
  if (reply.type == dkv::resp::Type::kNull) {
    if (acked > 0) {
      c.lost = 1;
      c.first_problem = key + ": absent after write " + std::to_string(acked) + " was acknowledged";
    }
    return c;
  }
  const std::string& v = reply.str;
  const size_t a = v.find(':'), b = a == std::string::npos ? a : v.find(':', a + 1);
  if (b == std::string::npos || std::to_string(checksum(std::string_view(v).substr(b + 1))) != v.substr(a + 1, b - a - 1)) {
    c.corrupt = 1;
    c.first_problem = key + ": checksum mismatch in '" + v.substr(0, 60) + "'";
    return c;
  }
  const int64_t seq = std::stoll(v.substr(0, a));
  if (seq < acked || seq > attempted) {
    c.lost = seq < acked ? 1 : 0;
    c.corrupt = seq > attempted ? 1 : 0;
    c.first_problem = key + ": read write " + std::to_string(seq) + " after write " + std::to_string(acked) +
                      " was acknowledged (" + std::to_string(attempted) + " attempted)";
  }
  return c;
}

// Labelled keys for --op query: bench:q:<i> of entity "bench", label group = i % kQueryGroups.
constexpr int64_t kQueryGroups = 100;

int64_t query_keys(const Options& o) { return std::min<int64_t>(o.keys, 100'000); }

// Writes the keys --op query searches, 500 to a round trip.
dkv::Status load_query_keys(const Options& o, const dkv::client::Endpoint& endpoint) {
  auto socket = dkv::client::RespSocket::open(endpoint, 2000);
  if (!socket.ok()) return socket.status();
  const std::string value(static_cast<size_t>(o.value_size), 'x');
  const int64_t n = query_keys(o);
  for (int64_t first = 0; first < n; first += 500) {
    std::vector<std::vector<std::string>> batch;
    for (int64_t i = first; i < std::min(n, first + 500); ++i) {
      batch.push_back({"KV.PUT", "bench:q:" + std::to_string(i), value, "ENTITY", "bench", "LABELS", "1", "group",
                       std::to_string(i % kQueryGroups)});
    }
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    if (dkv::Status s = (*socket)->send(batch, deadline); !s.ok()) return s;
    for (size_t i = 0; i < batch.size(); ++i) {
      auto reply = (*socket)->read_reply(deadline);
      if (!reply.ok()) return reply.status();
      if (reply->is_error()) return dkv::Status(dkv::Code::kInvalidArgument, "loading query keys: " + reply->str);
    }
  }
  return dkv::Status();
}

// Microseconds on the steady clock: watch events carry their write's sending time.
int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count();
}

// --op watch, every connection but the first: watches bench:watch: and records, per event, the
// time since its write was sent (the value starts with that time).
void run_watcher(const dkv::client::Endpoint& endpoint, Shared* shared) {
  struct Leave {
    Shared* shared;
    ~Leave() { --shared->running; }
  } leave{shared};
  auto fail = [&](const std::string& what) {
    std::lock_guard lock(shared->mu);
    if (shared->first_error.empty()) shared->first_error = what;
    ++shared->errors;
  };
  auto socket = dkv::client::RespSocket::open(endpoint, 2000);
  if (!socket.ok()) return fail(socket.status().to_string());
  auto deadline = Clock::now() + std::chrono::seconds(10);
  if (dkv::Status s = (*socket)->send({{"KV.WATCH", "PREFIX", "bench:watch:"}}, deadline); !s.ok()) return fail(s.to_string());
  auto reply = (*socket)->read_reply(deadline);
  if (!reply.ok()) return fail(reply.status().to_string());
  if (reply->is_error()) return fail(reply->str);
  ++shared->watching;
  LatencyHistogram local;
  int64_t local_ops = 0, no_errors = 0;  // a watcher's errors end it (fail above)
  auto last_flush = Clock::now();
  auto flush = [&] { shared->add(local, local_ops, no_errors, ""); };
  while (!shared->stop) {
    dkv::resp::Value frame;
    auto outcome = (*socket)->read_frame(Clock::now() + std::chrono::milliseconds(100), &frame);
    if (outcome == dkv::client::RespSocket::ReadOutcome::kBroken) {
      flush();
      return fail("watch connection: " + (*socket)->error().to_string());
    }
    if (outcome == dkv::client::RespSocket::ReadOutcome::kValue && frame.type == dkv::resp::Type::kPush &&
        frame.elements.size() >= 6 && frame.elements[0].str == "watch") {
      const int64_t sent = std::strtoll(frame.elements[5].str.c_str(), nullptr, 10);
      local.record(std::max<int64_t>(0, now_us() - sent));
      ++local_ops;
      ++shared->events_seen;
    }
    if (Clock::now() - last_flush > std::chrono::milliseconds(100)) {
      flush();
      last_flush = Clock::now();
    }
  }
  flush();
}

void run_connection(const Options& o, const std::vector<dkv::client::Endpoint>* all_endpoints, int index,
                    const KeyChooser& keys, int read_percent, Shared* shared) {
  const dkv::client::Endpoint& endpoint = (*all_endpoints)[static_cast<size_t>(index) % all_endpoints->size()];
  if (o.op == "watch" && index > 0) return run_watcher(endpoint, shared);
  struct WriterDone {
    Shared* shared;
    ~WriterDone() { shared->writer_done = true; }
  } writer_done{shared};
  struct Leave {
    Shared* shared;
    ~Leave() { --shared->running; }
  } leave{shared};
  auto socket = dkv::client::RespSocket::open(endpoint, 2000);
  if (!socket.ok()) {
    std::lock_guard lock(shared->mu);
    if (shared->first_error.empty()) shared->first_error = socket.status().to_string();
    ++shared->errors;
    return;
  }
  std::string lease;  // --op lease: this connection's lease
  if (o.op == "lease") {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    auto reply = (*socket)->send({{"LEASE.GRANT", "60000"}}, deadline).ok()
                     ? (*socket)->read_reply(deadline)
                     : dkv::Result<dkv::resp::Value>(dkv::Status(dkv::Code::kUnavailable, "send failed"));
    if (!reply.ok() || reply->type != dkv::resp::Type::kInteger) {
      std::lock_guard lock(shared->mu);
      if (shared->first_error.empty()) shared->first_error = reply.ok() ? reply->str : reply.status().to_string();
      ++shared->errors;
      return;
    }
    lease = std::to_string(reply->integer);
  }
  if (o.op == "watch") {  // the writer starts once every watcher is subscribed
    while (shared->watching < o.connections - 1 && shared->running > 1 && !shared->stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  std::mt19937_64 rng(static_cast<uint64_t>(index) * 7919 + 1);
  const std::string value(static_cast<size_t>(o.value_size), 'x');
  LatencyHistogram local;
  int64_t local_ops = 0, local_errors = 0;
  std::string local_error;
  auto flush = [&] { shared->add(local, local_ops, local_errors, local_error); };
  auto last_flush = Clock::now();
  std::vector<std::vector<std::string>> batch;
  // Stress bookkeeping, per key of this connection: last acknowledged and last attempted write.
  const int64_t own_keys = std::max<int64_t>(1, o.keys / o.connections);
  std::vector<int64_t> acked(static_cast<size_t>(own_keys), 0), attempted(static_cast<size_t>(own_keys), 0);
  int64_t local_corrupt = 0, local_lost = 0;
  const std::string run_id = std::to_string(shared->run_id);  // keys of earlier runs are not ours
  while (o.stress && !shared->stop) {
    if (o.requests > 0 && shared->issued.fetch_add(1) >= o.requests) break;
    const int64_t k = static_cast<int64_t>(rng() % static_cast<uint64_t>(own_keys));
    const std::string key = "stress:" + run_id + ":" + std::to_string(index) + ":" + std::to_string(k);
    const bool write = rng() % 2 == 0;
    std::string payload;
    if (write) {
      payload = value;
      if (!payload.empty()) payload[rng() % payload.size()] = static_cast<char>('a' + rng() % 26);
      ++attempted[static_cast<size_t>(k)];
    }
    const int64_t seq = attempted[static_cast<size_t>(k)];
    const std::vector<std::vector<std::string>> one = {
        write ? std::vector<std::string>{"SET", key, std::to_string(seq) + ":" + std::to_string(checksum(payload)) + ":" + payload}
              : std::vector<std::string>{"GET", key}};
    const auto started = Clock::now();
    const auto deadline = started + std::chrono::seconds(10);
    auto reply = (*socket)->send(one, deadline).ok() ? (*socket)->read_reply(deadline)
                                                      : dkv::Result<dkv::resp::Value>(dkv::Status(dkv::Code::kUnavailable, "send failed"));
    if (!reply.ok() || reply->is_error()) {
      ++local_errors;
      if (local_error.empty()) local_error = reply.ok() ? reply->str : reply.status().to_string();
      if (reply.ok()) continue;
      // The connection is gone (a write in flight stays "attempted": it may or may not have
      // been applied). Reconnect, to any of the endpoints, for up to 10 s.
      const auto give_up = Clock::now() + std::chrono::seconds(10);
      socket = dkv::Status(dkv::Code::kUnavailable, "reconnecting");
      for (size_t attempt = 0; !socket.ok() && !shared->stop && Clock::now() < give_up; ++attempt) {
        socket = dkv::client::RespSocket::open((*all_endpoints)[(static_cast<size_t>(index) + attempt) % all_endpoints->size()], 1000);
        if (!socket.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (!socket.ok()) break;
      continue;
    }
    if (write) {
      acked[static_cast<size_t>(k)] = seq;
    } else {
      StressCheck c = verify(*reply, acked[static_cast<size_t>(k)], attempted[static_cast<size_t>(k)], key);
      local_corrupt += c.corrupt;
      local_lost += c.lost;
      if (!c.first_problem.empty() && local_error.empty()) local_error = c.first_problem;
    }
    local.record(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count());
    ++local_ops;
    if (Clock::now() - last_flush > std::chrono::milliseconds(100)) {
      {
        std::lock_guard lock(shared->mu);
        shared->corrupt += local_corrupt;
        shared->lost += local_lost;
      }
      local_corrupt = local_lost = 0;
      flush();
      last_flush = Clock::now();
    }
  }
  if (o.stress) {
    {
      std::lock_guard lock(shared->mu);
      shared->corrupt += local_corrupt;
      shared->lost += local_lost;
    }
    flush();
    return;
  }
  while (!shared->stop && !shared->stop_writer) {
    if (o.requests > 0 && shared->issued.fetch_add(o.pipeline) >= o.requests) break;
    batch.clear();
    for (int i = 0; i < o.pipeline; ++i) {
      const std::string key = "bench:" + std::to_string(keys.next(rng));
      const bool read = o.op.empty() ? static_cast<int>(rng() % 100) < read_percent : o.op == "get";
      if (o.op == "txn") {
        batch.push_back({"TXN.COMMIT", "WRITES", "2", "PUT", key, value, "PUT", "bench:" + std::to_string(keys.next(rng)), value});
      } else if (o.op == "query") {
        batch.push_back({"QUERY", "bench", "WHERE", "group", "EQ", std::to_string(rng() % kQueryGroups), "LIMIT", "10", "KEYSONLY"});
      } else if (o.op == "lease") {
        batch.push_back({"LEASE.KEEPALIVE", lease});
      } else if (o.op == "watch") {
        std::string stamped = std::to_string(now_us()) + ":";
        stamped.resize(std::max(stamped.size(), value.size()), 'x');
        batch.push_back({"SET", "bench:watch:" + key.substr(6), stamped});
      } else if (o.op == "counter") {
        batch.push_back({"INCR", "bench:counter:" + key.substr(6)});  // apart from the SET values
      } else if (read) {
        batch.push_back({"GET", key});
      } else {
        batch.push_back({"SET", key, value});
      }
    }
    const auto started = Clock::now();
    const auto deadline = started + std::chrono::seconds(10);
    dkv::Status sent = (*socket)->send(batch, deadline);
    bool broken = !sent.ok();
    for (int i = 0; i < o.pipeline && !broken; ++i) {
      auto reply = (*socket)->read_reply(deadline);
      if (!reply.ok()) {
        broken = true;
        if (local_error.empty()) local_error = reply.status().to_string();
      } else if (reply->is_error()) {
        ++local_errors;
        if (local_error.empty()) local_error = reply->str;
      }
    }
    if (broken) {
      ++local_errors;
      if (local_error.empty()) local_error = sent.ok() ? "connection broke" : sent.to_string();
      flush();
      return;
    }
    if (o.op == "watch") {  // the watchers measure; the writer only counts
      shared->writes_sent += o.pipeline;
      std::lock_guard lock(shared->mu);
      if (shared->measuring) shared->writes += o.pipeline;
      continue;
    }
    const int64_t micros = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count();
    for (int i = 0; i < o.pipeline; ++i) local.record(micros);
    local_ops += o.pipeline;
    if (Clock::now() - last_flush > std::chrono::milliseconds(100)) {
      flush();
      last_flush = Clock::now();
    }
  }
  flush();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dkv-bench: throughput and latency of DKV (or any RESP server) under a chosen load"};
  Options o;
  app.add_option("--endpoints", o.endpoints, "DKV members HOST:PORT,... (connections spread over them)")->capture_default_str();
  app.add_option("--target", o.target, "redis://HOST:PORT: run the same load against any RESP server instead");
  app.add_option("--profile", o.profile, "ReadHeavy (90% GET), WriteHeavy (90% SET) or Mixed (50/50)")
      ->check(CLI::IsMember({"ReadHeavy", "WriteHeavy", "Mixed"}))
      ->capture_default_str();
  app.add_option("--op", o.op,
                 "One command kind instead of a profile: get, put (SET), counter (INCR); DKV only: txn (TXN.COMMIT "
                 "of two keys), query (QUERY by label), lease (LEASE.KEEPALIVE), watch (1 writer, the other "
                 "connections watch; reports events/s and write-to-event latency)")
      ->check(CLI::IsMember({"get", "put", "counter", "txn", "query", "lease", "watch"}));
  app.add_option("--duration", o.duration_s, "Seconds to measure (after the warm-up)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--requests", o.requests, "Stop after this many requests instead of --duration")->check(CLI::NonNegativeNumber);
  app.add_option("--connections", o.connections, "Concurrent connections, one thread each")->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_option("--pipeline", o.pipeline, "Requests in flight per connection")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--keys", o.keys, "Distinct keys")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{100'000'000}));
  app.add_option("--value-size", o.value_size, "Bytes per SET value")->capture_default_str()->check(CLI::Range(0, 16 << 20));
  app.add_flag("--zipf", o.zipf, "Zipfian key popularity (s = 0.99) instead of uniform");
  app.add_option("--warmup", o.warmup_s, "Seconds of load before measuring")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_flag("--json", o.json, "One JSON object with the results instead of text");
  auto* stress = app.add_subcommand("stress", "Mixed load that verifies every read against what it wrote (checksums, "
                                              "sequence numbers); corruption and lost writes are counted apart");
  CLI11_PARSE(app, argc, argv);
  o.stress = stress->parsed();

  std::string where = o.target.empty() ? o.endpoints : o.target;
  if (!o.target.empty()) {
    if (o.target.rfind("redis://", 0) != 0) {
      std::fprintf(stderr, "dkv-bench: --target needs redis://HOST:PORT, got '%s'\n", o.target.c_str());
      return 2;
    }
    where = o.target.substr(8);
  }
  auto endpoints = dkv::client::parse_endpoints(where);
  if (!endpoints.ok()) {
    std::fprintf(stderr, "dkv-bench: %s\n", endpoints.status().message().c_str());
    return 2;
  }
  const bool dkv_only = o.op == "txn" || o.op == "query" || o.op == "lease" || o.op == "watch";
  if (dkv_only && !o.target.empty()) {
    std::fprintf(stderr, "dkv-bench: --op %s uses DKV's own commands; --target runs only the profiles and get, put, counter\n",
                 o.op.c_str());
    return 2;
  }
  if (o.op == "watch" && o.connections < 2) {
    std::fprintf(stderr, "dkv-bench: --op watch needs --connections 2 or more (one writer, the rest watch)\n");
    return 2;
  }
  if (!o.op.empty() && o.stress) {
    std::fprintf(stderr, "dkv-bench: stress takes no --op\n");
    return 2;
  }
  if (o.op == "query") {
    if (dkv::Status s = load_query_keys(o, endpoints->front()); !s.ok()) {
      std::fprintf(stderr, "dkv-bench: %s\n", s.to_string().c_str());
      return 1;
    }
  }
  const int read_percent = o.profile == "ReadHeavy" ? 90 : o.profile == "WriteHeavy" ? 10 : 50;
  const std::string mode = o.stress ? "stress" : o.op.empty() ? o.profile : o.op;
  if (o.requests > 0) o.warmup_s = 0;  // a fixed count measures everything
  KeyChooser keys(o.keys, o.zipf);
  Shared shared;
  shared.measuring = o.warmup_s == 0;

  std::vector<std::thread> threads;
  shared.running = o.connections;
  for (int c = 0; c < o.connections; ++c) {
    threads.emplace_back(run_connection, std::cref(o), &*endpoints, c, std::cref(keys), read_percent, &shared);
  }
  const auto start = Clock::now();
  auto measure_start = start + std::chrono::milliseconds(static_cast<int64_t>(o.warmup_s * 1000));
  const auto end = measure_start + std::chrono::milliseconds(static_cast<int64_t>(o.duration_s * 1000));
  int64_t last_count = 0;
  for (int second = 1;; ++second) {
    // Wakes early when every connection (or the watch writer) is done, so that a --requests
    // run's time is not rounded up to whole seconds.
    while (Clock::now() < start + std::chrono::seconds(second) && shared.running > 0 &&
           !(o.op == "watch" && shared.writer_done)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const auto now = Clock::now();
    if (!shared.measuring && now >= measure_start) {
      std::lock_guard lock(shared.mu);
      shared.measuring = true;
      measure_start = now;
    }
    LatencyHistogram window;
    {
      std::lock_guard lock(shared.mu);
      window = shared.window;
      shared.window.clear();
    }
    last_count = window.count();
    if (!o.json) {
      std::fprintf(stderr, "%3ds %s: %lld ops/s, p50 %.2f ms, p99 %.2f ms%s\n", second, mode.c_str(),
                   static_cast<long long>(last_count), window.percentile(0.5) / 1000.0, window.percentile(0.99) / 1000.0,
                   shared.measuring ? "" : " (warm-up)");
    }
    const bool time_up = o.requests == 0 && now >= end;
    if (o.op == "watch" && (time_up || shared.writer_done)) {
      // Stop writing, then give the last writes' events up to 5 s to reach every watcher.
      shared.stop_writer = true;
      const auto give_up = Clock::now() + std::chrono::seconds(5);
      while (!shared.writer_done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      while (shared.events_seen < shared.writes_sent * shared.watching && Clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      break;
    }
    if (time_up || shared.running == 0) break;  // every connection ended: requests done, or broken
  }
  shared.stop = true;
  for (auto& t : threads) t.join();
  const double seconds =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - measure_start).count() / 1e6;
  const LatencyHistogram& h = shared.total;
  const int64_t ops_per_sec = seconds > 0 ? static_cast<int64_t>(static_cast<double>(shared.ops) / seconds) : 0;
  if (o.json) {
    dkv::cli::Json j;
    j.begin_object().key("target").string(o.target.empty() ? "dkv://" + o.endpoints : o.target);
    j.key("mode").string(mode).key("connections").number(o.connections).key("pipeline").number(o.pipeline);
    j.key("keys").number(o.keys).key("value_size").number(o.value_size).key("zipf").boolean(o.zipf);
    j.key("ops").number(shared.ops).key("errors").number(shared.errors);
    j.key("seconds_x1000").number(static_cast<int64_t>(seconds * 1000)).key("ops_per_sec").number(ops_per_sec);
    j.key("latency_us").begin_object();
    j.key("p50").number(h.percentile(0.5)).key("p90").number(h.percentile(0.9)).key("p99").number(h.percentile(0.99));
    j.key("p999").number(h.percentile(0.999)).key("max").number(h.max()).end_object();
    if (o.stress) j.key("corrupt").number(shared.corrupt).key("lost").number(shared.lost);
    if (o.op == "watch") j.key("writes").number(shared.writes).key("watchers").number(o.connections - 1);
    if (!shared.first_error.empty()) j.key("first_error").string(shared.first_error);
    std::printf("%s\n", j.end_object().text().c_str());
  } else {
    std::printf("%s against %s: %lld ops in %.1f s = %lld ops/s, %lld errors\n", mode.c_str(),
                o.target.empty() ? ("dkv://" + o.endpoints).c_str() : o.target.c_str(), static_cast<long long>(shared.ops),
                seconds, static_cast<long long>(ops_per_sec), static_cast<long long>(shared.errors));
    std::printf("latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", h.percentile(0.5) / 1000.0,
                h.percentile(0.9) / 1000.0, h.percentile(0.99) / 1000.0, h.percentile(0.999) / 1000.0, h.max() / 1000.0);
    if (o.op == "watch") {
      std::printf("%lld writes, each delivered to %d watchers; latency is from a write's sending to its event\n",
                  static_cast<long long>(shared.writes), o.connections - 1);
    }
    if (o.stress) {
      std::printf("verified reads: %lld corrupt values, %lld lost writes\n", static_cast<long long>(shared.corrupt),
                  static_cast<long long>(shared.lost));
    }
    if (!shared.first_error.empty()) std::printf("first error: %s\n", shared.first_error.c_str());
  }
  return shared.ops > 0 && shared.errors == 0 && shared.corrupt == 0 && shared.lost == 0 ? 0 : 1;
}
