// Crash recovery: kill -9 of a dkv-server under write load, then a restart on the same data
// directory, must keep every write that was acknowledged.
//
// Several writer threads, each on its own connection, write as fast as the server answers: SETs
// of unique keys, SETs that overwrite a few keys of their own with increasing sequence numbers,
// INCRs of counters shared by all writers, KV.PUTs and DELs of keys they put before. Each writer
// records what was acknowledged and the one command it had in flight when the connection died.
// At a point chosen by the round's seed (after a number of acknowledged writes, or after a
// delay), the test SIGKILLs the server, restarts it on the same data directory (new port) and
// checks:
//   - every acknowledged SET / KV.PUT is there with its value (an overwritten key: the value of
//     the last acknowledged write or of the writer's in-flight one);
//   - every counter is >= its acknowledged INCRs and <= acknowledged + in flight;
//   - every acknowledged DEL stays deleted.
// What a round's check read becomes that round's known state; after the last round the server is
// killed and restarted once more and every round's state is checked again (recovery after many
// recoveries, over snapshots and log replay alike).
//
// Rounds: DKV_CRASH_ROUNDS (default 20, split between the two kill tests); base seed:
// DKV_CRASH_SEED (default 1). A failure names the round's seed.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "harness.h"

namespace dkv::testing {
namespace {

using Clock = std::chrono::steady_clock;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::atoi(v);
}

int total_rounds() { return std::max(2, env_int("DKV_CRASH_ROUNDS", 20)); }
uint64_t base_seed() { return static_cast<uint64_t>(env_int("DKV_CRASH_SEED", 1)); }

constexpr int kWriters = 4;
constexpr int kCounters = 3;
constexpr int kSlotsPerWriter = 3;

bool is_closed(const resp::Value& v) { return v.type == resp::Type::kNull && v.str == "<closed>"; }

std::string encode(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return out;
}

// Sends commands pipelined (in chunks) and returns their replies in order.
std::vector<resp::Value> pipeline(RespConnection& c, const std::vector<std::vector<std::string>>& cmds) {
  std::vector<resp::Value> replies;
  replies.reserve(cmds.size());
  constexpr size_t kChunk = 256;
  for (size_t i = 0; i < cmds.size(); i += kChunk) {
    std::string out;
    const size_t end = std::min(cmds.size(), i + kChunk);
    for (size_t j = i; j < end; ++j) out += encode(cmds[j]);
    c.send_raw(out);
    for (size_t j = i; j < end; ++j) {
      replies.push_back(c.read_value(10'000));
      if (is_closed(replies.back())) {
        ADD_FAILURE() << "no reply to command " << j << " of " << cmds.size() << " (" << cmds[j][0] << " "
                      << cmds[j][1] << ") within 10 s, or the connection closed";
        replies.resize(cmds.size(), replies.back());
        return replies;
      }
    }
  }
  return replies;
}


// When reads go unanswered: what the server says on another connection (Raft indexes, role),
// and whether one write (which applies an entry) releases the stuck reads.
void diagnose_stuck_reads(int port, RespConnection& stuck) {
  RespConnection other(port);
  resp::Value ping = other.command({"PING"});
  resp::Value info = other.command({"INFO", "cluster"});
  std::string fields;
  for (const char* f : {"role:", "term:", "commit_index:", "applied_index:", "snapshot_index:", "revision:"}) {
    size_t at = info.str.find(std::string("\n") + f);
    if (at != std::string::npos) fields += info.str.substr(at + 1, info.str.find('\r', at) - at - 1) + " ";
  }
  resp::Value get = other.command({"GET", "no-such-key"});
  resp::Value set = other.command({"SET", "crash-test:unstick", "1"});
  resp::Value after = stuck.read_value(5'000);
  ADD_FAILURE() << "reads unanswered after the restart; on a new connection: PING -> " << ping.debug_string()
                << ", INFO cluster -> " << fields << ", GET -> " << get.debug_string() << ", SET -> "
                << set.debug_string() << "; after that SET the stuck connection got "
                << (is_closed(after) ? std::string("nothing") : after.debug_string());
}

// What one writer knows after the crash.
struct WriterLog {
  int id = 0;
  std::vector<std::pair<std::string, std::string>> sets;  // acknowledged SETs of unique keys
  // Overwritten keys: the values written in order; acked = how many were acknowledged; the
  // in-flight one (if any) is values[acked].
  struct Slot {
    std::vector<std::string> values;
    size_t acked = 0;
  };
  std::map<std::string, Slot> slots;
  std::map<std::string, std::string> puts;  // acknowledged KV.PUT, not deleted (key -> value)
  std::vector<std::string> deleted;         // acknowledged DEL of a key put before
  std::vector<int64_t> incr_acked = std::vector<int64_t>(kCounters, 0);
  // The command in flight when the connection died or answered with an error.
  enum class Op { kNone, kSet, kSlot, kIncr, kPut, kDel } inflight = Op::kNone;
  std::string inflight_key;
  std::string inflight_value;
  int inflight_counter = -1;
  std::string failure;  // the reply that stopped the writer, for the log
  int64_t acked_total = 0;
};

struct Load {
  std::atomic<int64_t> acked{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::condition_variable cv;
  int64_t notify_at = INT64_MAX;  // writers notify when acked reaches this
};

std::string counter_key(int round, int c) { return "r" + std::to_string(round) + ":ctr:" + std::to_string(c); }

void run_writer(RespConnection* conn, int round, uint64_t seed, Load* load, WriterLog* log) {
  std::mt19937_64 rng(seed);
  RespConnection& c = *conn;
  const std::string prefix = "r" + std::to_string(round) + ":w" + std::to_string(log->id) + ":";
  for (int s = 0; s < kSlotsPerWriter; ++s) log->slots[prefix + "slot" + std::to_string(s)];
  std::vector<std::string> live_puts;  // acknowledged puts that may be deleted
  int64_t n = 0;
  auto acked = [&] {
    ++log->acked_total;
    const int64_t total = load->acked.fetch_add(1) + 1;
    if (total >= load->notify_at) {
      std::lock_guard<std::mutex> lock(load->mu);
      load->cv.notify_all();
    }
  };
  auto fail = [&](WriterLog::Op op, const resp::Value& reply) {
    log->inflight = op;
    log->failure = is_closed(reply) ? "<closed>" : reply.debug_string();
  };
  while (!load->stop.load(std::memory_order_relaxed)) {
    ++n;
    const int pick = static_cast<int>(rng() % 100);
    // A value of varying size, so that WAL records and group-commit batches vary in length.
    std::string value = prefix + std::to_string(n) + ":" + std::string(rng() % 200, 'a' + static_cast<char>(n % 26));
    if (pick < 45) {
      const std::string key = prefix + "set" + std::to_string(n);
      log->inflight_key = key;
      log->inflight_value = value;
      resp::Value r = c.command({"SET", key, value});
      if (r.type != resp::Type::kSimpleString || r.str != "OK") return fail(WriterLog::Op::kSet, r);
      log->sets.emplace_back(key, value);
    } else if (pick < 60) {
      const std::string key = prefix + "slot" + std::to_string(rng() % kSlotsPerWriter);
      WriterLog::Slot& slot = log->slots[key];
      slot.values.push_back(value);
      log->inflight_key = key;
      resp::Value r = c.command({"SET", key, value});
      if (r.type != resp::Type::kSimpleString || r.str != "OK") return fail(WriterLog::Op::kSlot, r);
      slot.acked = slot.values.size();
    } else if (pick < 80) {
      const int ctr = static_cast<int>(rng() % kCounters);
      log->inflight_counter = ctr;
      resp::Value r = c.command({"INCR", counter_key(round, ctr)});
      if (r.type != resp::Type::kInteger) return fail(WriterLog::Op::kIncr, r);
      ++log->incr_acked[static_cast<size_t>(ctr)];
    } else if (pick < 92 || live_puts.empty()) {
      const std::string key = prefix + "put" + std::to_string(n);
      log->inflight_key = key;
      log->inflight_value = value;
      resp::Value r = c.command({"KV.PUT", key, value});
      if (r.is_error() || is_closed(r) || r.find("revision") == nullptr) return fail(WriterLog::Op::kPut, r);
      log->puts[key] = value;
      live_puts.push_back(key);
    } else {
      const size_t i = rng() % live_puts.size();
      const std::string key = live_puts[i];
      log->inflight_key = key;
      resp::Value r = c.command({"DEL", key});
      if (r.type != resp::Type::kInteger) return fail(WriterLog::Op::kDel, r);
      // The key was put (acknowledged) and nobody else touches it: it must have been there.
      EXPECT_EQ(r.integer, 1) << "DEL of acknowledged key " << key << " found nothing (server still running)";
      log->puts.erase(key);
      log->deleted.push_back(key);
      live_puts[i] = live_puts.back();
      live_puts.pop_back();
    }
    acked();
  }
}

// The state one round's check observed: key -> value (nullopt = absent). Checked again later.
using Observed = std::map<std::string, std::optional<std::string>>;

struct RoundResult {
  int64_t acked = 0;
  int64_t checked = 0;
};

std::optional<std::string> as_value(const resp::Value& v) {
  if (v.type == resp::Type::kBulkString || v.type == resp::Type::kSimpleString) return v.str;
  return std::nullopt;
}

// Checks the logs against the restarted server; fills `observed`. Returns keys checked.
int64_t check_round(int port, int round, const std::vector<WriterLog>& logs, Observed* observed) {
  RespConnection c(port);
  EXPECT_TRUE(c.connected());
  std::vector<std::vector<std::string>> cmds;
  std::vector<std::string> keys;
  auto get = [&](const std::string& key) {
    cmds.push_back({"GET", key});
    keys.push_back(key);
  };
  for (const WriterLog& w : logs) {
    for (const auto& [k, v] : w.sets) get(k);
    for (const auto& [k, slot] : w.slots) get(k);
    for (const auto& [k, v] : w.puts) get(k);
    for (const std::string& k : w.deleted) get(k);
    if (w.inflight == WriterLog::Op::kPut || w.inflight == WriterLog::Op::kSet) get(w.inflight_key);
  }
  for (int i = 0; i < kCounters; ++i) get(counter_key(round, i));
  std::vector<resp::Value> replies = pipeline(c, cmds);
  if (!replies.empty() && is_closed(replies.back())) {
    diagnose_stuck_reads(port, c);
    return 0;  // no values to judge
  }
  std::map<std::string, std::optional<std::string>> got;
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_FALSE(replies[i].is_error()) << "GET " << keys[i] << ": " << replies[i].str;
    got[keys[i]] = as_value(replies[i]);
  }
  int64_t lost = 0;
  auto report = [&](const std::string& what) {
    if (++lost <= 20) ADD_FAILURE() << what;
  };
  for (const WriterLog& w : logs) {
    for (const auto& [k, v] : w.sets) {
      if (got[k] != v) report("acknowledged SET " + k + " lost: got " + got[k].value_or("(absent)"));
    }
    for (const auto& [k, slot] : w.slots) {
      // The last acknowledged value, or the in-flight one (written after it).
      const std::optional<std::string>& g = got[k];
      bool ok;
      if (slot.acked == 0) {
        ok = !g.has_value() || (slot.values.size() == 1 && *g == slot.values[0]);
      } else {
        ok = g.has_value() && (*g == slot.values[slot.acked - 1] ||
                               (slot.values.size() > slot.acked && *g == slot.values[slot.acked]));
      }
      if (!ok) {
        report("overwritten key " + k + ": got " + g.value_or("(absent)") + ", acknowledged " +
               (slot.acked ? slot.values[slot.acked - 1] : std::string("(nothing)")) + " of " +
               std::to_string(slot.values.size()) + " attempted");
      }
    }
    for (const auto& [k, v] : w.puts) {
      const bool del_in_flight = w.inflight == WriterLog::Op::kDel && w.inflight_key == k;
      if (got[k] != v && !(del_in_flight && !got[k].has_value())) {
        report("acknowledged KV.PUT " + k + " lost: got " + got[k].value_or("(absent)"));
      }
    }
    for (const std::string& k : w.deleted) {
      if (got[k].has_value()) report("acknowledged DEL " + k + " came back: " + *got[k]);
    }
    if (w.inflight == WriterLog::Op::kPut || w.inflight == WriterLog::Op::kSet) {
      const auto& g = got[w.inflight_key];
      if (g.has_value() && *g != w.inflight_value) report("in-flight write " + w.inflight_key + " has a foreign value " + *g);
    }
  }
  for (int i = 0; i < kCounters; ++i) {
    int64_t acked = 0;
    int64_t inflight = 0;
    for (const WriterLog& w : logs) {
      acked += w.incr_acked[static_cast<size_t>(i)];
      if (w.inflight == WriterLog::Op::kIncr && w.inflight_counter == i) ++inflight;
    }
    const std::string key = counter_key(round, i);
    const int64_t value = got[key].has_value() ? std::stoll(*got[key]) : 0;
    if (value < acked || value > acked + inflight) {
      report(key + " = " + std::to_string(value) + ", acknowledged INCRs " + std::to_string(acked) +
             ", in flight " + std::to_string(inflight));
    }
  }
  if (lost > 20) ADD_FAILURE() << lost << " violations in all (first 20 shown)";
  for (auto& [k, v] : got) (*observed)[k] = v;
  return static_cast<int64_t>(keys.size());
}

// Checks that the server still holds exactly what earlier checks observed.
void check_observed(int port, const Observed& observed) {
  RespConnection c(port);
  std::vector<std::vector<std::string>> cmds;
  for (const auto& [k, v] : observed) cmds.push_back({"GET", k});
  std::vector<resp::Value> replies = pipeline(c, cmds);
  if (!replies.empty() && is_closed(replies.back())) return diagnose_stuck_reads(port, c);
  int bad = 0;
  size_t i = 0;
  for (const auto& [k, v] : observed) {
    const std::optional<std::string> g = as_value(replies[i++]);
    if (g != v && ++bad <= 20) {
      ADD_FAILURE() << "after a later restart " << k << " is " << g.value_or("(absent)") << ", was "
                    << v.value_or("(absent)");
    }
  }
  EXPECT_EQ(bad, 0);
}

int64_t info_field(int port, const std::string& section, const std::string& field) {
  RespConnection c(port);
  resp::Value v = c.command({"INFO", section});
  const std::string needle = field + ":";
  size_t at = v.str.find(needle);
  if (at == std::string::npos) return -1;
  return std::stoll(v.str.substr(at + needle.size()));
}

enum class Stop { kKill, kTerm };

struct RoundOptions {
  int round = 0;
  uint64_t seed = 0;
  Stop how = Stop::kKill;
};

// One round: load, kill (or SIGTERM), restart, check. The server must be running on entry and is
// running (restarted) on return.
RoundResult run_round(DkvServerProcess& server, const RoundOptions& o, Observed* observed) {
  SCOPED_TRACE("round " + std::to_string(o.round) + " seed " + std::to_string(o.seed));
  std::mt19937_64 rng(o.seed);
  Load load;
  // Where the kill lands: after a number of acknowledged writes, or after a delay from the start
  // of the load (the fault injection; not a synchronisation).
  const bool by_count = rng() % 2 == 0;
  const int64_t kill_after_acks = static_cast<int64_t>(rng() % 3000);
  const auto kill_after_delay = std::chrono::microseconds(rng() % 400'000);
  load.notify_at = by_count ? kill_after_acks : INT64_MAX;

  std::vector<WriterLog> logs(kWriters);
  // Connected before the load starts, so that even a kill at once finds every writer connected.
  std::vector<std::unique_ptr<RespConnection>> conns;
  for (int i = 0; i < kWriters; ++i) {
    conns.push_back(std::make_unique<RespConnection>(server.port()));
    EXPECT_TRUE(conns.back()->connected());
  }
  std::vector<std::thread> threads;
  const auto started = Clock::now();
  for (int i = 0; i < kWriters; ++i) {
    logs[static_cast<size_t>(i)].id = i;
    threads.emplace_back(run_writer, conns[static_cast<size_t>(i)].get(), o.round, rng(), &load,
                         &logs[static_cast<size_t>(i)]);
  }
  if (by_count) {
    std::unique_lock<std::mutex> lock(load.mu);
    const bool reached = load.cv.wait_for(lock, std::chrono::seconds(30),
                                          [&] { return load.acked.load() >= kill_after_acks; });
    EXPECT_TRUE(reached) << "only " << load.acked.load() << " of " << kill_after_acks
                         << " writes acknowledged within 30 s; server output:\n"
                         << server.process()->output();
  } else {
    std::this_thread::sleep_for(kill_after_delay);  // fault injection: a random moment
  }
  const int64_t acked_at_stop = load.acked.load();
  if (o.how == Stop::kKill) {
    server.kill9();
  } else {
    const int status = server.stop();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "SIGTERM under load: wait status " << status << "; output:\n"
        << server.process()->output();
  }
  load.stop = true;
  for (std::thread& t : threads) t.join();
  RoundResult result;
  for (const WriterLog& w : logs) {
    result.acked += w.acked_total;
    // A writer stops on a dropped connection; an error reply is worth seeing in the log.
    if (!w.failure.empty() && w.failure != "<closed>") {
      std::printf("  round %d writer %d stopped on: %s\n", o.round, w.id, w.failure.c_str());
    }
  }
  std::printf("round %d seed %llu: %s after %s %lld acked (%lld at the signal), %.0f ms of load\n", o.round,
              static_cast<unsigned long long>(o.seed), o.how == Stop::kKill ? "SIGKILL" : "SIGTERM",
              by_count ? "count" : "delay", static_cast<long long>(result.acked),
              static_cast<long long>(acked_at_stop),
              std::chrono::duration<double, std::milli>(Clock::now() - started).count());
  std::fflush(stdout);
  if (!server.start()) return result;
  result.checked = check_round(server.port(), o.round, logs, observed);
  if (::testing::Test::HasFailure()) {
    std::printf("server output before the restart check (seed %llu):\n%s\n",
                static_cast<unsigned long long>(o.seed), server.process()->output().c_str());
  }
  return result;
}

void run_rounds(int first_round, int rounds, const std::vector<std::string>& flags_base, bool vary_snapshots,
                Stop how) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  Observed observed;
  int64_t acked = 0;
  int64_t checked = 0;
  int64_t max_snapshot_index = 0;
  std::unique_ptr<DkvServerProcess> server;
  for (int r = 0; r < rounds && !::testing::Test::HasFatalFailure(); ++r) {
    const int round = first_round + r;
    const uint64_t seed = base_seed() * 1'000'003 + static_cast<uint64_t>(round);
    std::vector<std::string> flags = flags_base;
    if (vary_snapshots) {
      // Snapshots (and WAL truncation behind them) every few entries, so kills land around them.
      static const int kEntries[] = {7, 20, 64, 200};
      flags.push_back("--snapshot-entries");
      flags.push_back(std::to_string(kEntries[seed % 4]));
    }
    // A new process object per round (its flags may differ), always on the same data directory.
    if (server) server->kill9();
    server = std::make_unique<DkvServerProcess>(data, flags);
    ASSERT_TRUE(server->start());
    RoundResult res = run_round(*server, RoundOptions{round, seed, how}, &observed);
    acked += res.acked;
    checked += res.checked;
    if (::testing::Test::HasFailure()) {
      // Keep the data directory (as the crash left it, plus the failed restart) for a post-mortem.
      server->kill9();
      const std::string kept = dir.path() + "-kept-seed" + std::to_string(seed);
      std::error_code ec;
      std::filesystem::copy(data, kept, std::filesystem::copy_options::recursive, ec);
      ADD_FAILURE() << "round " << round << " seed " << seed << " (DKV_CRASH_SEED=" << base_seed()
                    << ") failed; data directory kept in " << kept;
      return;
    }
    max_snapshot_index = std::max(max_snapshot_index, info_field(server->port(), "persistence", "snapshot_index"));
  }
  // Once more: kill the idle server, restart, and everything every round saw must still be there.
  server->kill9();
  ASSERT_TRUE(server->start());
  check_observed(server->port(), observed);
  max_snapshot_index = std::max(max_snapshot_index, info_field(server->port(), "persistence", "snapshot_index"));
  std::printf("%d rounds: %lld acknowledged writes, %lld keys checked per round in all, %zu keys rechecked at the "
              "end, snapshot index reached %lld\n",
              rounds, static_cast<long long>(acked), static_cast<long long>(checked), observed.size(),
              static_cast<long long>(max_snapshot_index));
  EXPECT_GT(acked, 0);
  if (vary_snapshots) {
    EXPECT_GT(max_snapshot_index, 0) << "no snapshot was taken: the kills never met one";
  }
  EXPECT_EQ(server->stop(), 0);
}

TEST(CrashRecoveryTest, KillNineUnderWriteLoadLosesNoAcknowledgedWrite) {
  run_rounds(0, total_rounds() / 2, {}, false, Stop::kKill);
}

TEST(CrashRecoveryTest, KillNineAroundSnapshotsLosesNoAcknowledgedWrite) {
  run_rounds(1000, total_rounds() - total_rounds() / 2, {}, true, Stop::kKill);
}

TEST(CrashRecoveryTest, SigtermUnderWriteLoadExitsZeroAndKeepsAcknowledgedWrites) {
  run_rounds(2000, 3, {"--snapshot-entries", "100"}, false, Stop::kTerm);
}

}  // namespace
}  // namespace dkv::testing
