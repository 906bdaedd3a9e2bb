// Fault runs: a cluster on loopback (three members; DKV_FAULT_NODES=5 for five), concurrent
// clients doing register writes and reads (plain Redis commands) and counter increments
// (exactly-once SESSION.REQ INCR, sent again to another member when the outcome is unknown)
// through every member, lock clients taking a lock with a lease and writing with its fencing
// token, and a watcher on every key that resumes on another member after each disconnect; while
// a nemesis, one fault at a time, kills members with SIGKILL and restarts them, pauses them with
// SIGSTOP, isolates the leader or another member, splits a five-member cluster into a majority
// and a minority, or makes every link lossy and slow (the simulated network of --fault-injection,
// RaftTransport::Faults). Every invocation and completion is recorded (a timeout or an "outcome
// unknown" error as unknown), and the history is checked:
// - linearizability (linearizability.h): stale reads, lost acknowledged writes, increments
//   applied twice; after the faults, every member answers every key with the same, last value;
// - the watcher saw every key's changes in revision order with no gaps (history_checks.h);
// - lock holders are disjoint in fencing-token order (history_checks.h).
//
// DKV_FAULT_SECONDS sets how long faults are injected (default 20); DKV_FAULT_SEED the seed
// (default: from the clock, printed so a failing schedule can be replayed in kind).
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "harness.h"
#include "history_checks.h"
#include "linearizability.h"

namespace dkv::fault {
namespace {

using dkv::testing::ChildProcess;
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
  std::atomic<int64_t> grants{0}, fenced_writes{0}, fenced_refusals{0};
  std::atomic<int64_t> watch_events{0}, watch_resumes{0}, watch_compacted{0}, watched_revision{0};
};

bool lost(const Value& v) { return v.type == Type::kNull && v.str == "<closed>"; }

// The current members' ids as bits (id 1 = bit 1), kept by the nemesis as members are replaced.
// Other threads only read this and ports (fixed for the run), never process state.
std::atomic<uint64_t> g_members{0};

int random_member(const DkvCluster&, std::mt19937_64& rng) {
  const uint64_t mask = g_members.load();
  const int count = std::popcount(mask);
  int skip = static_cast<int>(rng() % static_cast<uint64_t>(count));
  for (int id = 1; id < 64; ++id) {
    if ((mask >> id & 1) != 0 && skip-- == 0) return id;
  }
  return 1;
}

// The member after `id` among the current ones, round the ring.
int next_member(int id) {
  const uint64_t mask = g_members.load();
  for (int step = 1; step < 64; ++step) {
    const int next = (id + step - 1) % 63 + 1;
    if ((mask >> next & 1) != 0) return next;
  }
  return id;
}

// A lock client: grants a lease, takes the lock with it, writes the fenced key with its token a
// few times, releases; the nemesis may end the lease early (a pause) or lose any answer.
constexpr const char* kLock = "fault-lock";
constexpr const char* kFencedKey = "fenced";

void run_lock_client(int client, DkvCluster& cluster, uint64_t seed, const std::atomic<bool>& stop,
                     std::vector<LockGrant>* grants, Tally* tally, std::string* unexpected_first) {
  std::mt19937_64 rng(seed);
  auto unexpected = [&](const std::string& what, const Value& v) {
    if (tally->unexpected++ == 0) *unexpected_first = "lock client " + std::to_string(client) + ": " + what + ": " + v.debug_string();
  };
  auto expected_error = [](const Value& v, std::initializer_list<const char*> codes) {
    if (lost(v)) return true;
    if (!v.is_error()) return false;
    const std::string code(v.error_code());
    if (code == "UNAVAILABLE" || code == "CANCELLED") return true;
    for (const char* c : codes) {
      if (code == c) return true;
    }
    return false;
  };
  int sequence = 0;
  std::unique_ptr<RespConnection> conn;
  // A reply that did not come in time may still come: the connection is dropped after it, so a
  // later command never reads an earlier one's answer.
  auto call = [&](std::vector<std::string> args) {
    Value v;
    v.type = Type::kNull;
    v.str = "<closed>";
    if (conn && conn->connected()) v = conn->command(args, kClientTimeoutMs);
    if (lost(v)) conn.reset();
    return v;
  };
  while (!stop.load()) {
    conn = std::make_unique<RespConnection>(cluster.port(random_member(cluster, rng)), true);
    Value lease = call({"LEASE.GRANT", "1500"});
    if (lease.type != Type::kInteger) {
      if (!expected_error(lease, {})) unexpected("LEASE.GRANT", lease);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    const std::string lease_id = std::to_string(lease.integer);
    Value token = call({"LOCK.ACQUIRE", kLock, lease_id, "WAIT", "1000"});
    if (token.type != Type::kInteger) {
      if (!expected_error(token, {"LOCKED", "NOLEASE"})) unexpected("LOCK.ACQUIRE", token);
      continue;
    }
    grants->push_back(LockGrant{token.integer, lease.integer});
    ++tally->grants;
    const std::string token_text = std::to_string(token.integer);
    for (int i = 0; i < 3 && conn; ++i) {
      const std::string value = token_text + ":" + std::to_string(client) + ":" + std::to_string(++sequence);
      Value put = call({"KV.PUT", kFencedKey, value, "FENCE", kLock, token_text});
      if (put.type == Type::kMap || put.type == Type::kArray) {
        ++tally->fenced_writes;
      } else if (put.is_error() && put.error_code() == "FENCED") {
        ++tally->fenced_refusals;  // the lease ended (a pause outlasted it): someone else may hold the lock
      } else if (!expected_error(put, {})) {
        unexpected("KV.PUT FENCE", put);
      }
    }
    Value release = call({"LOCK.RELEASE", kLock, token_text});
    if (release.type != Type::kInteger && !expected_error(release, {"NOTFOUND", "FENCED"})) {
      unexpected("LOCK.RELEASE", release);
    }
    Value revoke = call({"LEASE.REVOKE", lease_id});
    if (revoke.type != Type::kInteger && !expected_error(revoke, {"NOLEASE"})) unexpected("LEASE.REVOKE", revoke);
  }
}

// Stops and joins worker threads however the test ends (an ASSERT returns early).
struct Workers {
  std::atomic<bool>* stop;
  std::vector<std::thread> threads;
  void join() {
    *stop = true;
    for (std::thread& t : threads) {
      if (t.joinable()) t.join();
    }
  }
  ~Workers() { join(); }
};

// What each member says of itself (INFO cluster) and what it printed, for a failure's report.
std::string describe_members(DkvCluster& cluster) {
  std::string out;
  for (int member = 1; member <= cluster.size(); ++member) {
    if (!cluster.running(member)) continue;
    RespConnection c(cluster.port(member), true);
    out += "member " + std::to_string(member) + ":\n" + c.command({"INFO", "cluster"}, 2000).str;
    if (ChildProcess* p = cluster.process(member)) {
      p->wait_for_line("\x01 (read what is there)", 200);
      const std::string& printed = p->output();
      out += "printed:\n" + printed.substr(printed.size() > 4000 ? printed.size() - 4000 : 0) + "\n";
    }
  }
  return out;
}

// Sends a membership command to the leader, again to whichever member leads next, until it
// answers OK or an error containing `done_if` (the change was made by an earlier attempt whose
// answer was lost); false after 15 s.
bool to_leader(DkvCluster& cluster, const std::vector<std::string>& args, const std::string& done_if) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    const int leader = cluster.await_leader(0, 3000);
    if (leader == 0) continue;
    RespConnection c(cluster.port(leader), true);
    const Value v = c.command(args, 5000);
    if (v.str == "OK" || (v.is_error() && v.str.find(done_if) != std::string::npos)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// The watcher: one watch on every key, resumed FROM the next revision on a random member after
// each disconnect or watch-end, until `stop`. `synced` is set once the first watch is in place.
void run_watcher(DkvCluster& cluster, uint64_t seed, std::atomic<bool>* synced, const std::atomic<bool>& stop,
                 std::vector<WatchedEvent>* out, Tally* tally, std::string* unexpected_first) {
  std::mt19937_64 rng(seed);
  int64_t next_from = 0;  // 0 until the first watch is synced
  while (!stop.load()) {
    RespConnection conn(cluster.port(random_member(cluster, rng)), true);
    if (!conn.connected() || conn.command({"HELLO", "3"}, kClientTimeoutMs).type != Type::kMap) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    std::vector<std::string> args = {"KV.WATCH", "PREFIX", ""};
    if (next_from == 0) {
      args.push_back("SNAPSHOT");
    } else {
      args.insert(args.end(), {"FROM", std::to_string(next_from)});
    }
    Value id = conn.command(args, kClientTimeoutMs);
    if (id.type != Type::kInteger) {
      if (id.is_error() && id.error_code() == "COMPACTED") {
        ++tally->watch_compacted;  // this member's history is too short: another may have it
      } else if (!lost(id) && id.error_code() != "UNAVAILABLE") {
        if (tally->unexpected++ == 0) *unexpected_first = "KV.WATCH: " + id.debug_string();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    if (next_from != 0) ++tally->watch_resumes;
    while (!stop.load()) {
      Value push = conn.next_push(200);
      if (lost(push)) {
        if (!conn.connected()) break;
        continue;  // nothing new yet
      }
      if (push.type != Type::kPush || push.elements.empty()) continue;
      const std::string& kind = push.elements[0].str;
      if (kind == "watch" && push.elements.size() >= 6) {
        WatchedEvent e{push.elements[2].integer, push.elements[3].str, push.elements[4].str, push.elements[5].str};
        next_from = e.revision + 1;  // every write here changes one key: one event per revision
        out->push_back(std::move(e));
        ++tally->watch_events;
        tally->watched_revision = next_from - 1;
      } else if (kind == "watch-synced" && push.elements.size() >= 3) {
        next_from = push.elements[2].integer + 1;
        *synced = true;
      } else if (kind == "watch-end" && push.elements.size() >= 4) {
        next_from = push.elements[3].integer;
        break;
      }
    }
  }
}

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
    const int member = random_member(cluster, rng);
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
      if (!lost(v) && !v.is_error()) break;
      maybe_applied = maybe_applied || lost(v) || outcome_of_error(v) == Outcome::kUnknown;
      ++tally->retries;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      conn_member = next_member(conn_member);  // another member
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
    op.member = conn_member;
    if (lost(v)) {
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

TEST(FaultTest, HistoriesHoldUpUnderCrashesPausesPartitionsAndLoss) {
  const int seconds = env_int("DKV_FAULT_SECONDS", 20);
  const int nodes = env_int("DKV_FAULT_NODES", 3);
  const uint64_t seed = static_cast<uint64_t>(env_int("DKV_FAULT_SEED", static_cast<int>(now_ns() % 1000000007)));
  std::printf("fault run: %d members, %d s of faults, seed %llu\n", nodes, seconds,
              static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);

  // The whole run's history stays resumable (FROM), so the watcher never has to re-read.
  // Spare slots for the members that replace removed ones (new ids: ids are never reused).
  constexpr int kSpares = 4;
  DkvCluster cluster(nodes, {"--fault-injection", "--history-revisions", "10000000"}, kSpares);
  std::vector<int> members;  // the current ones, as the nemesis sees them
  for (int id = 1; id <= nodes; ++id) members.push_back(id);
  g_members = ((uint64_t{1} << (nodes + 1)) - 1) & ~uint64_t{1};
  ASSERT_TRUE(cluster.start());
  ASSERT_GT(cluster.await_leader(), 0);

  Tally tally;
  std::string unexpected_first;
  std::atomic<bool> stop{false}, stop_watcher{false}, synced{false};
  std::vector<WatchedEvent> watched;
  Workers watcher{&stop_watcher};
  watcher.threads.emplace_back(run_watcher, std::ref(cluster), seed * 31 + 999, &synced, std::cref(stop_watcher),
                               &watched, &tally, &unexpected_first);
  for (int i = 0; i < 1000 && !synced.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(synced.load()) << "the watcher did not get its first watch in place";

  constexpr int kClients = 6;
  constexpr int kLockClients = 2;
  std::vector<std::vector<Op>> histories(kClients);
  std::vector<std::vector<LockGrant>> grants(kLockClients);
  Workers clients{&stop};
  for (int c = 0; c < kClients; ++c) {
    clients.threads.emplace_back(run_client, c, std::ref(cluster), seed * 31 + static_cast<uint64_t>(c),
                         std::cref(stop), &histories[c], &tally, &unexpected_first);
  }
  for (int c = 0; c < kLockClients; ++c) {
    clients.threads.emplace_back(run_lock_client, c, std::ref(cluster), seed * 31 + 500 + static_cast<uint64_t>(c),
                         std::cref(stop), &grants[c], &tally, &unexpected_first);
  }

  auto hold_then_heal = [&](std::chrono::milliseconds hold) {
    std::this_thread::sleep_for(hold);
    EXPECT_TRUE(cluster.heal());
  };
  // The nemesis: one fault at a time, healed before the next, so a quorum is usually there to
  // make progress.
  std::map<std::string, int> faults;
  int replacements = 0;
  std::string timeline;  // printed when a check fails
  auto note = [&](const std::string& what, int member) {
    timeline += "  [" + std::to_string(now_ns() / 1000) + " us] " + what + ", member " + std::to_string(member) + "\n";
  };
  auto record = [&](const std::string& fault, int member) {
    ++faults[fault];
    note(fault, member);
  };
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500 + rng() % 1000));
    // 6 (majority/minority) needs five members to differ from 4 (one member isolated).
    const std::vector<uint64_t> kinds = nodes >= 5 ? std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6, 7}
                                                   : std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 7};
    const uint64_t fault = kinds[rng() % kinds.size()];
    int victim = members[rng() % members.size()];
    if (fault == 0 || fault == 3) {
      const int leader = cluster.await_leader(0, 3000);
      if (leader != 0) victim = leader;
    }
    const auto hold = std::chrono::milliseconds(200 + rng() % 2000);
    switch (fault) {
      case 0:
      case 1:
        record(fault == 0 ? "kill -9 of the leader" : "kill -9", victim);
        cluster.kill9(victim);
        std::this_thread::sleep_for(hold / 2);
        ASSERT_TRUE(cluster.restart(victim));
        break;
      case 2:
        record("pause", victim);
        ASSERT_TRUE(cluster.pause(victim));
        std::this_thread::sleep_for(hold);
        cluster.resume(victim);
        break;
      case 3:
      case 4: {
        record(fault == 3 ? "leader isolated" : "member isolated", victim);
        std::vector<int> rest;
        for (int id : members) {
          if (id != victim) rest.push_back(id);
        }
        ASSERT_TRUE(cluster.partition({{victim}, rest}));
        hold_then_heal(hold);
        break;
      }
      case 5: {
        record("lossy, slow network", victim);
        const std::string query = "loss=" + std::to_string(5 + rng() % 30) + "&delay=" + std::to_string(rng() % 30);
        for (int id : members) ASSERT_TRUE(cluster.set_network(id, query));
        hold_then_heal(hold);
        break;
      }
      case 6: {
        record("majority/minority partition", victim);
        std::vector<int> ids = members;
        std::shuffle(ids.begin(), ids.end(), rng);
        const auto middle = ids.begin() + nodes / 2;
        ASSERT_TRUE(cluster.partition({{ids.begin(), middle}, {middle, ids.end()}}));
        hold_then_heal(hold);
        break;
      }
      case 7: {
        // A follower is removed for good and replaced by a new, empty node with a new id
        // (--join), which catches up as a learner (from the log or a snapshot) and is promoted.
        const int leader = cluster.await_leader(0, 3000);
        if (leader == 0 || replacements == kSpares) break;
        std::vector<int> followers;
        for (int id : members) {
          if (id != leader) followers.push_back(id);
        }
        victim = followers[rng() % followers.size()];
        if (!to_leader(cluster, {"MEMBER.REMOVE", std::to_string(victim)}, "is not a member")) {
          ++faults["member replacement not started (no leader took MEMBER.REMOVE)"];
          break;
        }
        record("member removed and replaced by a new one", victim);
        std::erase(members, victim);
        g_members &= ~(uint64_t{1} << victim);
        const int fresh = cluster.replace(victim);
        ++replacements;
        ASSERT_GT(fresh, 0);
        note("  the new member", fresh);
        ASSERT_TRUE(to_leader(cluster, {"MEMBER.PROMOTE", std::to_string(fresh)}, "is not a learner")) << fresh;
        members.push_back(fresh);
        g_members |= uint64_t{1} << fresh;
        break;
      }
    }
  }
  // Healed: let the clients run on a calm cluster for a moment, then stop them.
  ASSERT_GT(cluster.await_leader(), 0);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  clients.join();

  // Final reads: every member answers every key (linearizable reads, so the same value).
  std::vector<Op> history;
  for (auto& h : histories) history.insert(history.end(), h.begin(), h.end());
  std::map<std::string, std::optional<int64_t>> final_values;
  for (int member : members) {
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
      ASSERT_FALSE(v.is_error()) << "member " << member << " cannot read " << op.key << ": " << v.str
                                 << "\nfaults:\n" << timeline << describe_members(cluster);
      op.absent = v.type == Type::kNull;
      if (!op.absent) op.output = std::stoll(v.str);
      history.push_back(op);
      final_values[op.key] = op.absent ? std::nullopt : std::optional<int64_t>(op.output);
    }
  }

  // The watcher has caught up when it has seen the final revision (of a write made now).
  RespConnection last(cluster.port(members.front()));
  const Value marker = last.command({"KV.PUT", "watcher-caught-up", "1"});
  ASSERT_TRUE(marker.type == Type::kMap || marker.type == Type::kArray) << marker.debug_string();
  const int64_t final_revision = marker.elements.size() >= 4 ? marker.elements[3].integer : 0;
  ASSERT_GT(final_revision, 0) << marker.debug_string();
  for (int i = 0; i < 3000 && tally.watched_revision.load() < final_revision; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  watcher.join();
  if (watched.empty() || watched.back().revision < final_revision) {
    FAIL() << "the watcher did not reach revision " << final_revision << " (last seen "
           << (watched.empty() ? 0 : watched.back().revision) << ")\nfaults:\n" << timeline << describe_members(cluster);
  }

  const auto t0 = std::chrono::steady_clock::now();
  CheckResult r = check_linearizable(history);
  const auto check_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - t0).count();
  HistoryCheck watch = check_watch(watched, history, final_values);
  std::vector<LockGrant> all_grants;
  for (auto& g : grants) all_grants.insert(all_grants.end(), g.begin(), g.end());
  std::vector<int64_t> fenced_tokens;
  for (const WatchedEvent& e : watched) {
    if (e.key == kFencedKey && e.type == "PUT") fenced_tokens.push_back(std::stoll(e.value.substr(0, e.value.find(':'))));
  }
  HistoryCheck fencing = check_fencing(all_grants, fenced_tokens);

  std::string fault_list;
  int fault_count = 0;
  for (const auto& [name, count] : faults) {
    fault_list += (fault_list.empty() ? "" : ", ") + std::to_string(count) + " " + name;
    fault_count += count;
  }
  std::printf("fault run: %lld ok, %lld failed, %lld unknown operations (%lld increments sent again); "
              "faults: %s\n",
              static_cast<long long>(tally.ok.load()), static_cast<long long>(tally.failed.load()),
              static_cast<long long>(tally.unknown.load()), static_cast<long long>(tally.retries.load()),
              fault_list.c_str());
  std::printf("fault run: linearizability: %zu operations on %zu keys in %lld ms: %s\n", r.operations_checked,
              r.keys_checked, static_cast<long long>(check_ms),
              r.gave_up ? "gave up" : r.linearizable ? "linearizable" : "NOT linearizable");
  std::printf("fault run: watcher: %lld events, %lld resumes (%lld refused as compacted): %s\n",
              static_cast<long long>(tally.watch_events.load()), static_cast<long long>(tally.watch_resumes.load()),
              static_cast<long long>(tally.watch_compacted.load()),
              watch.ok ? "no gaps" : watch.explanation.c_str());
  std::printf("fault run: locks: %lld grants, %lld fenced writes accepted, %lld refused as FENCED: %s\n",
              static_cast<long long>(tally.grants.load()), static_cast<long long>(tally.fenced_writes.load()),
              static_cast<long long>(tally.fenced_refusals.load()),
              fencing.ok ? "holders disjoint in token order" : fencing.explanation.c_str());
  if (!r.linearizable || !watch.ok || !fencing.ok) {
    std::printf("faults:\n%s%s", timeline.c_str(), describe_members(cluster).c_str());
  }
  EXPECT_EQ(tally.unexpected.load(), 0) << unexpected_first;
  EXPECT_TRUE(r.linearizable) << "seed " << seed << ", key " << r.key << ":\n" << r.explanation;
  EXPECT_FALSE(r.gave_up) << r.explanation;
  EXPECT_TRUE(watch.ok) << "seed " << seed << ": " << watch.explanation;
  EXPECT_TRUE(fencing.ok) << "seed " << seed << ": " << fencing.explanation;
  EXPECT_GT(tally.ok.load(), 100) << "the cluster made too little progress to judge";
  EXPECT_GT(tally.grants.load(), 0) << "no lock was ever granted";
  EXPECT_GT(fault_count, 0);
}

}  // namespace
}  // namespace dkv::fault
