#include "top.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "cli_output.h"

namespace dkv::cli {
namespace {

using Clock = std::chrono::steady_clock;

// The body of GET `path` from host:port, or nullopt (refused, timed out, not 200).
std::optional<std::string> http_get(const client::Endpoint& e, const std::string& path, int timeout_ms) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(e.host.c_str(), std::to_string(e.port).c_str(), &hints, &found) != 0) return std::nullopt;
  const int fd = ::socket(found->ai_family, SOCK_STREAM, 0);
  const bool connected = fd >= 0 && ::connect(fd, found->ai_addr, found->ai_addrlen) == 0;
  freeaddrinfo(found);
  if (!connected) {
    if (fd >= 0) ::close(fd);
    return std::nullopt;
  }
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + e.host + "\r\nConnection: close\r\n\r\n";
  std::string response;
  bool ok = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size());
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (ok) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) {
      ok = false;
      break;
    }
    char buf[16384];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (!ok || response.rfind("HTTP/1.1 200", 0) != 0) return std::nullopt;
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? std::nullopt : std::optional(response.substr(body + 4));
}

// One scrape of a member's /metrics: the samples by full name with labels ("x{a=\"b\"}").
using Scrape = std::map<std::string, double>;

Scrape parse_metrics(const std::string& text) {
  Scrape out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    try {
      out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    } catch (...) {
    }
  }
  return out;
}

// The family a command belongs to, for the ops/s columns.
std::string family_of(const std::string& cmd) {
  const size_t dot = cmd.find('.');
  if (dot == std::string::npos) return cmd == "query" || cmd == "multi" || cmd == "exec" ? "kv" : "redis";
  const std::string ns = cmd.substr(0, dot);
  if (ns == "lease" || ns == "lock" || ns == "elect") return "coord";
  if (ns == "ctr") return "ctr";
  if (ns == "txn") return "txn";
  return ns == "kv" ? "kv" : "other";
}

// The value of label `name` in a sample's full name.
std::string label(const std::string& sample, const std::string& name) {
  const size_t at = sample.find(name + "=\"");
  if (at == std::string::npos) return "";
  const size_t from = at + name.size() + 2;
  return sample.substr(from, sample.find('"', from) - from);
}

struct Row {
  std::string admin, role = "unreachable", term, revision, applied, ops, kv, redis, ctr, coord, txn, p99, keys, memory,
      conns, watchers;
  double applied_index = 0, commit_index = 0;
};

Row describe(const client::Endpoint& admin, const std::optional<Scrape>& before, const std::optional<Scrape>& now,
             double seconds) {
  Row r;
  r.admin = admin.to_string();
  if (!now) return r;
  const Scrape& m = *now;
  auto get = [&](const std::string& name) {
    auto it = m.find(name);
    return it == m.end() ? 0.0 : it->second;
  };
  auto num = [](double v) { return std::to_string(static_cast<int64_t>(v)); };
  for (const char* role : {"leader", "follower", "candidate", "learner"}) {
    if (get(std::string("dkv_raft_role{role=\"") + role + "\"}") == 1) r.role = role;
  }
  r.term = num(get("dkv_raft_term"));
  r.revision = num(get("dkv_revision"));
  r.applied_index = get("dkv_raft_applied_index");
  r.commit_index = get("dkv_raft_commit_index");
  r.applied = num(r.applied_index);
  r.keys = num(get("dkv_keys"));
  r.memory = num(get("dkv_memory_bytes") / (1 << 20)) + " MiB";
  r.conns = num(get("dkv_connected_clients"));
  r.watchers = num(get("dkv_watchers"));
  // Rates from the difference between two scrapes.
  std::map<std::string, double> family_ops;
  std::map<double, double> bucket_delta;  // le -> requests at or under it, in the interval
  double total = 0;
  for (const auto& [name, value] : m) {
    const double delta = before && before->count(name) != 0 ? value - before->at(name) : 0;
    if (name.rfind("dkv_commands_total{", 0) == 0) {
      family_ops[family_of(label(name, "cmd"))] += delta;
      total += delta;
    } else if (name.rfind("dkv_command_duration_seconds_bucket{", 0) == 0) {
      const std::string le = label(name, "le");
      bucket_delta[le == "+Inf" ? 1e18 : std::stod(le)] += delta;
    }
  }
  auto rate = [&](double n) { return seconds > 0 ? num(n / seconds) : "-"; };
  r.ops = rate(total);
  r.kv = rate(family_ops["kv"]);
  r.redis = rate(family_ops["redis"]);
  r.ctr = rate(family_ops["ctr"]);
  r.coord = rate(family_ops["coord"]);
  r.txn = rate(family_ops["txn"]);
  r.p99 = "-";
  const double all = bucket_delta.empty() ? 0 : bucket_delta.rbegin()->second;
  for (const auto& [le, n] : bucket_delta) {  // cumulative buckets, in order of le
    if (all > 0 && n >= 0.99 * all) {
      char buf[32];
      if (le >= 1e18) {
        std::snprintf(buf, sizeof buf, ">10 s");
      } else {
        std::snprintf(buf, sizeof buf, "<=%g ms", le * 1000);
      }
      r.p99 = buf;
      break;
    }
  }
  return r;
}

}  // namespace

int run_top(const TopOptions& o) {
  std::vector<std::optional<Scrape>> before(o.admins.size());
  auto scrape_all = [&] {
    std::vector<std::optional<Scrape>> out;
    for (const client::Endpoint& e : o.admins) {
      auto body = http_get(e, "/metrics", 1000);
      out.push_back(body ? std::optional(parse_metrics(*body)) : std::nullopt);
    }
    return out;
  };
  before = scrape_all();
  auto last = Clock::now();
  for (int frame = 1; o.frames == 0 || frame <= o.frames; ++frame) {
    std::this_thread::sleep_until(last + std::chrono::milliseconds(o.interval_ms));
    std::vector<std::optional<Scrape>> now = scrape_all();
    const double seconds = std::chrono::duration<double>(Clock::now() - last).count();
    last = Clock::now();
    std::vector<Row> rows;
    double commit = 0;
    for (size_t i = 0; i < o.admins.size(); ++i) {
      rows.push_back(describe(o.admins[i], before[i], now[i], seconds));
      commit = std::max(commit, rows.back().commit_index);
    }
    std::vector<std::vector<std::string>> cells;
    for (const Row& r : rows) {
      const std::string lag = r.role == "unreachable" ? "-" : std::to_string(static_cast<int64_t>(commit - r.applied_index));
      cells.push_back({r.admin, r.role, r.term, r.revision, lag, r.ops, r.kv, r.redis, r.ctr, r.coord, r.txn, r.p99,
                       r.keys, r.memory, r.conns, r.watchers});
    }
    const std::string screen = table({"ADMIN", "ROLE", "TERM", "REVISION", "LAG", "OPS/S", "KV", "REDIS", "CTR",
                                      "LEASE/LOCK/ELECT", "TXN", "P99", "KEYS", "MEMORY", "CONNS", "WATCHERS"},
                                     cells);
    if (o.frames == 0) std::printf("\x1b[H\x1b[2J");  // in place: clear the terminal, cursor home
    std::printf("dkv top: %zu member(s), every %lld ms (ops/s over the last interval; LAG = entries behind the "
                "highest commit index)\n%s",
                o.admins.size(), static_cast<long long>(o.interval_ms), screen.c_str());
    std::fflush(stdout);
    before = std::move(now);
  }
  return 0;
}

}  // namespace dkv::cli
