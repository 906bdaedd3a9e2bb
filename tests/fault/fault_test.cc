// Fault runs: a three-node cluster on loopback, concurrent clients doing register writes and
// reads (plain Redis commands) and counter increments (exactly-once SESSION.REQ INCR, sent again
// to another member when the outcome is unknown) through every member, while a nemesis
// kills members with SIGKILL and restarts them, pauses them with SIGSTOP, and goes for the
// leader. Every invocation and completion is recorded (a timeout or an "outcome unknown" error
// as unknown) and the history is checked for linearizability (tests/fault/linearizability.h):
// that covers stale reads, lost acknowledged writes and increments applied twice. After the
// faults stop, every member must answer every key with the same, last value.
//
// DKV_FAULT_SECONDS sets how long faults are injected (default 20); DKV_FAULT_SEED the seed
// (default: from the clock, printed so a failing schedule can be replayed in kind).
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "harness.h"
#include "linearizability.h"

namespace dkv::fault {
namespace {

using dkv::testing::DkvCluster;
using dkv::testing::RespConnection;
using resp::Type;
using resp::Value;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

constexpr int kRegisters = 4;
constexpr int kCounters = 2;
constexpr int kClientTimeoutMs = 3000;

struct Tally {
  std::atomic<int64_t> ok{0}, failed{0}, unknown{0}, unexpected{0}, retries{0};
};

// What an error reply says about whether the operation took effect.
Outcome outcome_of_error(const Value& v) {
  const std::string code(v.error_code());
  if (code == "CANCELLED") return Outcome::kUnknown;
  if (code == "UNAVAILABLE" && v.str.find("may or may not") != std::string::npos) return Outcome::kUnknown;
  return Outcome::kFailed;
}

// One client: random operations on random members until `stop`, each recorded in `out`.
void run_client(int client, DkvCluster& cluster, uint64_t seed, const std::atomic<bool>& stop,
                std::vector<Op>* out, Tally* tally, std::string* unexpected_first) {
  std::mt19937_64 rng(seed);
  std::unique_ptr<RespConnection> conn;
  int conn_member = 0;
  int64_t next_value = static_cast<int64_t>(client) << 40;
  int64_t request_number = 0;
  while (!stop.load()) {
    const int member = static_cast<int>(rng() % static_cast<uint64_t>(cluster.size())) + 1;
    if (!conn || conn_member != member || !conn->connected()) {
      conn = std::make_unique<RespConnection>(cluster.port(member), true);
      conn_member = member;
    }
    Op op;
    op.client = client;
    std::vector<std::string> args;
    const uint64_t dice = rng() % 10;
    if (dice < 6) {
      op.key = "reg:" + std::to_string(rng() % kRegisters);
      if (dice < 3) {
        op.kind = OpKind::kRead;
        args = {"GET", op.key};
      } else {
        op.kind = OpKind::kWrite;
        op.input = ++next_value;
        args = {"SET", op.key, std::to_string(op.input)};
      }
    } else {
      op.key = "ctr:" + std::to_string(rng() % kCounters);
      if (dice < 8) {
        // Increments are exactly-once requests (SESSION.REQ): one whose outcome is unknown is
        // sent again, with the same number, to other members, until an answer comes.
        op.kind = OpKind::kAdd;
        op.input = 1;
        ++request_number;
        args = {"SESSION.REQ", std::to_string(client + 1), std::to_string(request_number),
                std::to_string(request_number), "INCR", op.key};
      } else {
        op.kind = OpKind::kRead;
        args = {"GET", op.key};
      }
    }
    if (!conn->connected()) {  // the member is down: nothing was sent
      op.invoked_ns = op.completed_ns = now_ns();
      op.outcome = Outcome::kFailed;
      ++tally->failed;
      out->push_back(op);
      conn.reset();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    op.invoked_ns = now_ns();
    Value v = conn->command(args, kClientTimeoutMs);
    // An exactly-once request may be sent again whatever became of the last send; once any
    // send's outcome was unknown, a later refusal does not make the operation a failure.
    bool maybe_applied = false;
    for (int retry = 0; op.kind == OpKind::kAdd && retry < 3 && !stop.load(); ++retry) {
      const bool lost = v.type == Type::kNull && v.str == "<closed>";
      if (!lost && !v.is_error()) break;
      maybe_applied = maybe_applied || lost || outcome_of_error(v) == Outcome::kUnknown;
      ++tally->retries;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      conn_member = conn_member % cluster.size() + 1;  // another member
      conn = std::make_unique<RespConnection>(cluster.port(conn_member), true);
      if (!conn->connected()) {
        maybe_applied = true;  // keep the verdict of the last send: unknown at best
        v = Value();
        v.type = Type::kNull;
        v.str = "<closed>";
        continue;
      }
      v = conn->command(args, kClientTimeoutMs);
    }
    op.completed_ns = now_ns();
    if (v.type == Type::kNull && v.str == "<closed>") {
      op.outcome = Outcome::kUnknown;  // timed out or the connection broke after sending
      conn.reset();
    } else if (v.is_error()) {
      op.outcome = outcome_of_error(v);
      const std::string code(v.error_code());
      if (code != "UNAVAILABLE" && code != "CANCELLED") {
        if (tally->unexpected++ == 0) *unexpected_first = describe(op) + ": " + v.str;
      }
    } else if (op.kind == OpKind::kRead) {
      op.absent = v.type == Type::kNull;
      if (!op.absent) op.output = std::stoll(v.str);
    } else if (op.kind == OpKind::kAdd) {
      op.output = v.integer;
    } else if (v.str != "OK") {
      if (tally->unexpected++ == 0) *unexpected_first = describe(op) + ": " + v.debug_string();
      op.outcome = Outcome::kUnknown;
    }
    if (op.outcome == Outcome::kFailed && maybe_applied) op.outcome = Outcome::kUnknown;
    switch (op.outcome) {
      case Outcome::kOk: ++tally->ok; break;
      case Outcome::kFailed: ++tally->failed; break;
      case Outcome::kUnknown: ++tally->unknown; break;
    }
    if (op.outcome != Outcome::kOk) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    out->push_back(std::move(op));
  }
}

TEST(FaultTest, RegistersAndCountersStayLinearizableUnderCrashesAndPauses) {
  const int seconds = env_int("DKV_FAULT_SECONDS", 20);
  const uint64_t seed = static_cast<uint64_t>(env_int("DKV_FAULT_SEED", static_cast<int>(now_ns() % 1000000007)));
  std::printf("fault run: %d s of faults, seed %llu\n", seconds, static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);

  DkvCluster cluster(3);
  ASSERT_TRUE(cluster.start());
  ASSERT_GT(cluster.await_leader(), 0);

  constexpr int kClients = 6;
  std::atomic<bool> stop{false};
  std::vector<std::vector<Op>> histories(kClients);
  Tally tally;
  std::string unexpected_first;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back(run_client, c, std::ref(cluster), seed * 31 + static_cast<uint64_t>(c),
                         std::cref(stop), &histories[c], &tally, &unexpected_first);
  }

  // The nemesis: one fault at a time, so a quorum is usually there to make progress.
  int kills = 0, leader_kills = 0, pauses = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500 + rng() % 1000));
    const uint64_t fault = rng() % 3;
    int victim = static_cast<int>(rng() % 3) + 1;
    if (fault == 0) {
      const int leader = cluster.await_leader(0, 3000);
      if (leader != 0) victim = leader;
      ++leader_kills;
    }
    if (fault <= 1) {
      cluster.kill9(victim);
      ++kills;
      std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 1000));
      ASSERT_TRUE(cluster.restart(victim));
    } else {
      ASSERT_TRUE(cluster.pause(victim));
      ++pauses;
      std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 2000));
      cluster.resume(victim);
    }
  }
  // Healed: let the clients run on a calm cluster for a moment, then stop them.
  ASSERT_GT(cluster.await_leader(), 0);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  stop = true;
  for (std::thread& t : clients) t.join();

  // Final reads: every member answers every key (linearizable reads, so the same value).
  std::vector<Op> history;
  for (auto& h : histories) history.insert(history.end(), h.begin(), h.end());
  for (int member = 1; member <= cluster.size(); ++member) {
    RespConnection c(cluster.port(member));
    for (int k = 0; k < kRegisters + kCounters; ++k) {
      Op op;
      op.client = 100 + member;
      op.key = k < kRegisters ? "reg:" + std::to_string(k) : "ctr:" + std::to_string(k - kRegisters);
      Value v;
      for (int attempt = 0; attempt < 100; ++attempt) {  // a restarted member may still catch up
        op.invoked_ns = now_ns();
        v = c.command({"GET", op.key}, kClientTimeoutMs);
        op.completed_ns = now_ns();
        if (!v.is_error()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      ASSERT_FALSE(v.is_error()) << "member " << member << " cannot read " << op.key << ": " << v.str;
      op.absent = v.type == Type::kNull;
      if (!op.absent) op.output = std::stoll(v.str);
      history.push_back(op);
    }
  }

  const auto t0 = std::chrono::steady_clock::now();
  CheckResult r = check_linearizable(history);
  const auto check_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - t0).count();
  std::printf("fault run: %lld ok, %lld failed, %lld unknown operations (%lld increments sent "
              "again); %d kills (%d aimed at the leader), %d pauses; checked %zu operations on %zu "
              "keys in %lld ms: %s\n",
              static_cast<long long>(tally.ok.load()), static_cast<long long>(tally.failed.load()),
              static_cast<long long>(tally.unknown.load()), static_cast<long long>(tally.retries.load()),
              kills, leader_kills, pauses,
              r.operations_checked, r.keys_checked, static_cast<long long>(check_ms),
              r.gave_up ? "gave up" : r.linearizable ? "linearizable" : "NOT linearizable");
  EXPECT_EQ(tally.unexpected.load(), 0) << unexpected_first;
  EXPECT_TRUE(r.linearizable) << "seed " << seed << ", key " << r.key << ":\n" << r.explanation;
  EXPECT_FALSE(r.gave_up) << r.explanation;
  EXPECT_GT(tally.ok.load(), 100) << "the cluster made too little progress to judge";
  EXPECT_GT(kills + pauses, 0);
}

}  // namespace
}  // namespace dkv::fault
