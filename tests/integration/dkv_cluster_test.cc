// Commands on any node of a three-node cluster (docs/protocol.md 1.4): a follower forwards
// writes to the leader and answers once it has applied them itself, serves linearizable reads
// through a read index from the leader, and serves KV.WATCH and SNAPSHOT from its own state; a
// write forwarded to a leader that stops answering fails saying its outcome is unknown.
#include <sys/wait.h>

#include <memory>
#include <string>
#include <vector>

#include "dkv_test_util.h"

namespace dkv::testing {
namespace {

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<DkvCluster>(3, flags());
    ASSERT_TRUE(cluster_->start());
  }
  virtual std::vector<std::string> flags() const { return {}; }
  // The client port of the member `i` places after member `id` (1-based; i = 0: `id` itself).
  int port_of(int64_t id, int64_t i = 0) const {
    return cluster_->port(static_cast<int>((id - 1 + i) % 3) + 1);
  }
  int64_t await_leader(int64_t except = 0) { return cluster_->await_leader(static_cast<int>(except)); }
  // Sends `args` on `c` until `done(reply)` or 10 s pass (a member catching up, or hearing of a
  // new leader); returns the last reply.
  template <typename Done>
  static Value poll(RespConnection& c, const std::vector<std::string>& args, Done done) {
    Value v;
    for (int i = 0; i < 200; ++i) {
      v = c.command(args, 5'000);
      if (done(v)) break;
      usleep(50'000);
    }
    return v;
  }
  static bool answered(const Value& v) { return v.type != Type::kError && !(v.type == Type::kNull && v.str == "<closed>"); }
  // Starts node `id` with --join (every member's client address) on `dir`; waits until it has
  // joined. Sets its client and Raft ports.
  std::unique_ptr<ChildProcess> join_node(int id, const TempDir& dir, int* client_port, int* raft_port) {
    *raft_port = free_port();
    std::string join;
    for (int i = 1; i <= 3; ++i) join += (i > 1 ? "," : "") + std::string("127.0.0.1:") + std::to_string(cluster_->port(i));
    auto node = std::make_unique<ChildProcess>(std::vector<std::string>{
        DKV_SERVER_PATH, "--data-dir", dir.path() + "/data", "--node-id", std::to_string(id), "--join", join,
        "--listen", "127.0.0.1:0", "--raft-listen", "127.0.0.1:" + std::to_string(*raft_port), "--admin-listen",
        "127.0.0.1:0"});
    const std::string ready = node->wait_for_line(" ready: ", 20'000);
    EXPECT_FALSE(ready.empty()) << node->output();
    if (ready.empty()) return node;
    *client_port = std::stoi(ready.substr(ready.find("clients 127.0.0.1:") + 18));
    EXPECT_FALSE(node->wait_for_line("joined the cluster", 20'000).empty()) << node->output();
    return node;
  }

  std::unique_ptr<DkvCluster> cluster_;
};

// Members that snapshot (and drop their log) every 5 entries, so a lagging follower catches up
// by installing a snapshot.
class SnapshottingClusterTest : public ClusterTest {
 protected:
  std::vector<std::string> flags() const override { return {"--snapshot-entries", "5"}; }
};

TEST_F(ClusterTest, FollowersServeEveryCommandAndWatches) {
  const int64_t leader = await_leader();
  ASSERT_GT(leader, 0);
  const int leader_port = port_of(leader);
  const int follower_port = port_of(leader, 1);  // another member
  const int other_port = port_of(leader, 2);     // the third

  auto watcher = resp3(follower_port);
  Value id = watcher->command({"KV.WATCH", "PREFIX", "cl:", "PREVKV"});
  ASSERT_EQ(id.type, Type::kInteger) << id.debug_string();

  // Writes through a follower are applied once, in order, and their replies are the leader's.
  auto follower = resp3(follower_port);
  Value put = follower->command({"KV.PUT", "fw:k", "v1"});
  ASSERT_EQ(put.type, Type::kMap) << put.debug_string();
  EXPECT_EQ(int_field(put, "version"), 1);
  for (int i = 1; i <= 5; ++i) {
    Value add = follower->command({"CTR.ADD", "fw:c", "1"});
    ASSERT_EQ(add.type, Type::kArray) << add.debug_string();
    EXPECT_EQ(add.elements[1].integer, i);
  }
  // Linearizable reads on every member see what the follower acknowledged, at once.
  for (int port : {follower_port, other_port, leader_port}) {
    auto c = resp3(port);
    EXPECT_EQ(c->command({"CTR.GET", "fw:c"}).integer, 5) << port;
    Value got = c->command({"KV.GET", "fw:k"});
    ASSERT_EQ(got.type, Type::kMap) << got.debug_string();
    EXPECT_EQ(str_field(got, "value"), "v1");
  }
  const std::vector<std::vector<std::string>> served = {
      {"KV.RANGE", "PREFIX", "fw:"}, {"LEASE.GRANT", "10000"}, {"LOCK.OWNER", "l"},
      {"TXN.COMMIT", "WRITES", "1", "PUT", "fw:t", "x"}, {"QUERY", "e"}, {"KV.COUNT"},
      {"COMPACT", "0"}};
  for (const auto& args : served) {
    Value r = follower->command(args);
    EXPECT_NE(r.type, Type::kError) << args[0] << ": " << r.debug_string();
  }
  Value lease = follower->command({"LEASE.GRANT", "10000"});
  ASSERT_EQ(lease.type, Type::kInteger) << lease.debug_string();
  Value token = follower->command({"LOCK.ACQUIRE", "fw:l", std::to_string(lease.integer)});
  ASSERT_EQ(token.type, Type::kInteger) << token.debug_string();
  EXPECT_EQ(resp3(other_port)->command({"LOCK.OWNER", "fw:l"}).type, Type::kMap);
  // MULTI/EXEC through a follower is one transaction.
  EXPECT_EQ(follower->command({"MULTI"}).str, "OK");
  EXPECT_EQ(follower->command({"SET", "fw:a", "1"}).str, "QUEUED");
  EXPECT_EQ(follower->command({"INCR", "fw:a"}).str, "QUEUED");
  Value exec = follower->command({"EXEC"});
  ASSERT_EQ(exec.type, Type::kArray) << exec.debug_string();
  EXPECT_EQ(exec.elements[1].integer, 2);

  // Plain Redis clients work against a follower unchanged.
  int status = 0;
  const std::string port = std::to_string(follower_port);
  std::string out = run_shell("redis-cli -p " + port + " SET fw:cli hello && redis-cli -p " + port +
                                  " GET fw:cli && redis-cli -p " + port + " INCRBY fw:n 5",
                              &status);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(out, "OK\nhello\n5\n");
  const std::string script =
      "import redis\n"
      "r = redis.Redis(port=" + port + ", decode_responses=True)\n"
      "assert r.set('fw:py', 'v')\n"
      "assert r.get('fw:py') == 'v'\n"
      "assert [r.incr('fw:pyc') for _ in range(3)] == [1, 2, 3]\n"
      "print('ok')\n";
  out = run_debian_python(script, &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(out, "ok\n");
  EXPECT_EQ(resp3(leader_port)->command({"GET", "fw:cli"}).str, "hello");

  // INFO is served by any node: the follower says what it is.
  Value info = follower->command({"INFO", "cluster"});
  ASSERT_EQ(info.type, Type::kVerbatim) << info.debug_string();
  EXPECT_NE(info.str.find("role:follower"), std::string::npos) << info.str;
  EXPECT_NE(info.str.find("leader_id:" + std::to_string(leader)), std::string::npos) << info.str;
  EXPECT_NE(info.str.find("members:1,2,3"), std::string::npos) << info.str;

  auto c = resp3(leader_port);
  const int64_t rev = int_field(c->command({"KV.PUT", "cl:k", "v1"}), "revision");
  Value event = watcher->next_push();
  ASSERT_EQ(event.elements.size(), 7u) << event.debug_string();
  EXPECT_EQ(event.elements[2].integer, rev);
  EXPECT_EQ(event.elements[4].str, "cl:k");
  EXPECT_EQ(event.elements[5].str, "v1");
  EXPECT_TRUE(event.elements[6].is_null());
  // SNAPSHOT acts on the node that receives it.
  Value snap = follower->command({"SNAPSHOT"});
  EXPECT_EQ(snap.type, Type::kInteger) << snap.debug_string();
  // A follower's SNAPSHOT watch reads its own applied state.
  Value id2 = follower->command({"KV.WATCH", "KEY", "cl:k", "SNAPSHOT"});
  ASSERT_EQ(id2.type, Type::kInteger) << id2.debug_string();
  Value current = follower->next_push();
  ASSERT_GE(current.elements.size(), 6u) << current.debug_string();
  EXPECT_EQ(current.elements[5].str, "v1");
  EXPECT_EQ(follower->next_push().elements[0].str, "watch-synced");
}

// A write forwarded to a leader that has stopped answering fails within a few seconds saying
// its outcome is unknown (never hangs, never claims success); once the others elect a new
// leader the same follower accepts writes again, and the old leader, resumed, catches up.
// Members whose Raft transport can simulate partitions (--fault-injection, POST /debug/network).
class PartitionedClusterTest : public ClusterTest {
 protected:
  std::vector<std::string> flags() const override { return {"--fault-injection"}; }
};

TEST_F(PartitionedClusterTest, AnIsolatedLeaderAcknowledgesNothingAndFollowsAfterTheHeal) {
  const int64_t leader = await_leader();
  ASSERT_GT(leader, 0);
  auto old = resp3(port_of(leader));
  ASSERT_EQ(old->command({"SET", "part:k", "before"}).str, "OK");

  std::vector<int> rest;  // ascending
  for (int id = 1; id <= 3; ++id) {
    if (id != leader) rest.push_back(id);
  }
  ASSERT_TRUE(cluster_->partition({{static_cast<int>(leader)}, rest}));
  const std::string shown = http_exchange(cluster_->admin_port(static_cast<int>(leader)),
                                          "GET /debug/network HTTP/1.1\r\n\r\n");
  EXPECT_NE(shown.find("blocked=" + std::to_string(rest[0]) + "," + std::to_string(rest[1]) + " loss=0% delay=0ms"),
            std::string::npos) << shown;

  // Cut off from a quorum, the old leader acknowledges no write: it steps down, and the write
  // fails saying its outcome is unknown (it may still be committed by a new leader); nor does it
  // answer a read.
  Value write = old->command({"SET", "part:k", "lost"}, 15'000);
  EXPECT_EQ(code_of(write), "UNAVAILABLE") << write.debug_string();
  EXPECT_NE(error_of(write).find("may or may not have been applied"), std::string::npos) << write.debug_string();
  Value read = old->command({"GET", "part:k"}, 15'000);
  EXPECT_EQ(code_of(read), "UNAVAILABLE") << read.debug_string();

  // The majority elects a leader of its own and goes on.
  const int64_t next = await_leader(leader);
  ASSERT_GT(next, 0);
  ASSERT_NE(next, leader);
  auto c = resp3(port_of(next));
  ASSERT_EQ(c->command({"SET", "part:k", "after"}).str, "OK");

  // Healed, the old leader follows the new one and reads its write; the write it could not
  // commit is gone.
  ASSERT_TRUE(cluster_->heal());
  auto healed = resp3(port_of(leader));
  Value got = poll(*healed, {"GET", "part:k"}, answered);
  EXPECT_EQ(got.str, "after") << got.debug_string();
  EXPECT_NE(healed->command({"INFO", "cluster"}).str.find("role:follower"), std::string::npos);
  const std::string bad = http_exchange(cluster_->admin_port(1), "POST /debug/network?lose=5 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(bad.rfind("HTTP/1.1 400", 0), 0u) << bad;
  EXPECT_NE(bad.find("unknown parameter 'lose'"), std::string::npos) << bad;
}

// READONLY: a cut-off follower still answers reads, from what it has applied (stale); with
// READWRITE it needs a read index again and refuses.
TEST_F(PartitionedClusterTest, ReadonlyReadsOnACutOffFollowerAreServedStale) {
  const int64_t leader = await_leader();
  ASSERT_GT(leader, 0);
  const int follower = static_cast<int>(leader % 3 + 1);
  auto c = resp3(port_of(leader));
  ASSERT_EQ(c->command({"SET", "ro:k", "v1"}).str, "OK");
  auto f = resp3(cluster_->port(follower));
  ASSERT_EQ(f->command({"GET", "ro:k"}).str, "v1");  // linearizable: the follower has applied it

  std::vector<int> rest;
  for (int id = 1; id <= 3; ++id) {
    if (id != follower) rest.push_back(id);
  }
  ASSERT_TRUE(cluster_->partition({{follower}, rest}));
  ASSERT_EQ(c->command({"SET", "ro:k", "v2"}).str, "OK");  // the majority goes on

  EXPECT_EQ(f->command({"READONLY"}).str, "OK");
  EXPECT_EQ(f->command({"GET", "ro:k"}, 2'000).str, "v1");  // stale, at once
  Value kv = f->command({"KV.GET", "ro:k"}, 2'000);
  EXPECT_EQ(str_field(kv, "value"), "v1") << kv.debug_string();
  EXPECT_EQ(f->command({"READWRITE"}).str, "OK");
  Value refused = f->command({"GET", "ro:k"}, 15'000);
  EXPECT_EQ(code_of(refused), "UNAVAILABLE") << refused.debug_string();

  ASSERT_TRUE(cluster_->heal());
  EXPECT_EQ(f->command({"READONLY"}).str, "OK");
  Value caught_up = poll(*f, {"GET", "ro:k"}, [](const Value& v) { return v.str == "v2"; });
  EXPECT_EQ(caught_up.str, "v2");
}

TEST_F(ClusterTest, AWriteForwardedToAStoppedLeaderFailsAsUnknownThenWritesResume) {
  const int64_t leader = await_leader();
  ASSERT_GT(leader, 0);
  auto c = resp3(port_of(leader, 1));  // through a follower
  ASSERT_EQ(c->command({"SET", "fo:k", "before"}).str, "OK");

  ASSERT_TRUE(cluster_->pause(static_cast<int>(leader)));
  Value lost = c->command({"SET", "fo:k", "during"}, 15'000);
  ASSERT_EQ(code_of(lost), "UNAVAILABLE") << lost.debug_string();
  // Either the forward went out and its outcome is unknown, or no leader was known to send it to.
  const std::string why = error_of(lost);
  EXPECT_TRUE(why.find("may or may not have been applied") != std::string::npos ||
              why.find("no leader") != std::string::npos || why.find("no other node") != std::string::npos)
      << why;

  const int64_t next = await_leader(leader);
  ASSERT_GT(next, 0);
  ASSERT_NE(next, leader);
  Value ok;
  for (int i = 0; i < 100; ++i) {  // the follower may not have heard of the new leader yet
    ok = c->command({"SET", "fo:k", "after"});
    if (ok.type != Type::kError) break;
    EXPECT_EQ(code_of(ok), "UNAVAILABLE");
    usleep(50'000);
  }
  EXPECT_EQ(ok.str, "OK") << ok.debug_string();

  cluster_->resume(static_cast<int>(leader));
  // The old leader rejoins as a follower; its linearizable read sees the new leader's write.
  auto old = resp3(port_of(leader));
  Value got = poll(*old, {"GET", "fo:k"}, answered);
  EXPECT_EQ(got.str, "after") << got.debug_string();
}

// SIGTERM on the leader hands leadership to another voter before the process exits, so writes
// resume without waiting out an election timeout; the stopped member's data is intact.
TEST_F(ClusterTest, AStoppingLeaderHandsLeadershipOver) {
  const int64_t leader = await_leader();
  ASSERT_GT(leader, 0);
  auto c = resp3(port_of(leader, 1));
  ASSERT_EQ(c->command({"SET", "ho:k", "1"}).str, "OK");
  ChildProcess* p = cluster_->process(static_cast<int>(leader));
  p->signal(SIGTERM);
  const std::string line = p->wait_for_line("handed leadership to node", 10'000);
  ASSERT_FALSE(line.empty()) << p->output();
  const int status = p->wait_exit(10'000);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const int64_t next = await_leader(leader);
  ASSERT_GT(next, 0);
  EXPECT_NE(line.find("handed leadership to node " + std::to_string(next)), std::string::npos) << line;
  EXPECT_EQ(c->command({"SET", "ho:k", "2"}).str, "OK");
  ASSERT_TRUE(cluster_->restart(static_cast<int>(leader)));
  auto back = resp3(port_of(leader));
  Value got = poll(*back, {"GET", "ho:k"}, answered);  // it may need a moment to hear from the leader
  EXPECT_EQ(got.str, "2");
}

// A fourth node joins a running cluster with --join (added as a learner by the leader), catches
// up, and is promoted; a follower is removed. With the other original follower down too, the
// leader still commits: the new node's acknowledgement now counts.
TEST_F(ClusterTest, ANodeJoinsIsPromotedAndAnotherIsRemoved) {
  const int64_t leader = await_leader();
  ASSERT_GT(leader, 0);
  auto c = resp3(port_of(leader));
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(c->command({"SET", "mb:" + std::to_string(i), "v" + std::to_string(i)}).str, "OK");
  }
  TempDir dir;
  int four_port = 0, raft_port = 0;
  auto four = join_node(4, dir, &four_port, &raft_port);
  ASSERT_GT(four_port, 0);

  Value list = c->command({"MEMBER.LIST"});
  ASSERT_EQ(list.type, Type::kArray) << list.debug_string();
  ASSERT_EQ(list.elements.size(), 4u) << list.debug_string();
  EXPECT_EQ(str_field(list.elements[3], "role"), "learner");
  EXPECT_EQ(str_field(list.elements[3], "address"), "127.0.0.1:" + std::to_string(raft_port));

  // The learner catches up and serves linearizable reads.
  auto n4 = resp3(four_port);
  Value got = poll(*n4, {"GET", "mb:49"}, [](const Value& v) { return answered(v) && !v.is_null(); });
  EXPECT_EQ(got.str, "v49") << got.debug_string();
  // It knows every member, the original ones included (they are in the log from index 1): a
  // joiner that saw only itself would, once promoted, elect itself alone.
  Value seen = n4->command({"MEMBER.LIST"});
  ASSERT_EQ(seen.elements.size(), 4u) << seen.debug_string();
  for (int64_t id = 1; id <= 3; ++id) EXPECT_NE(str_field(seen.elements[id - 1], "role"), "learner");

  EXPECT_EQ(c->command({"MEMBER.PROMOTE", "4"}).str, "OK");
  EXPECT_EQ(code_of(c->command({"MEMBER.PROMOTE", "4"})), "ERR");  // not a learner any more
  const int64_t removed = leader % 3 + 1;
  const int64_t other = removed % 3 + 1;
  ASSERT_NE(other, leader);
  EXPECT_EQ(c->command({"MEMBER.REMOVE", std::to_string(removed)}).str, "OK");
  // Its id is never reused.
  EXPECT_EQ(error_of(c->command({"MEMBER.ADD", std::to_string(removed), "127.0.0.1:1"})),
            "ERR node " + std::to_string(removed) +
                " was removed from this cluster and its id is never reused: start the new node with another --node-id");
  list = c->command({"MEMBER.LIST"});
  ASSERT_EQ(list.elements.size(), 3u) << list.debug_string();
  for (const Value& m : list.elements) EXPECT_NE(int_field(m, "id"), removed);
  // Elsewhere membership changes are refused, naming the leader.
  EXPECT_EQ(error_of(n4->command({"MEMBER.REMOVE", std::to_string(other)})),
            "UNAVAILABLE membership changes go to the leader, node " + std::to_string(leader));
  EXPECT_EQ(error_of(n4->command({"MEMBER.TRANSFER", std::to_string(other)})),
            "UNAVAILABLE membership changes go to the leader, node " + std::to_string(leader));

  cluster_->kill9(static_cast<int>(removed));
  cluster_->kill9(static_cast<int>(other));
  EXPECT_EQ(c->command({"SET", "mb:after", "x"}, 15'000).str, "OK");  // leader + node 4
  EXPECT_EQ(n4->command({"GET", "mb:after"}).str, "x");
}

// A node that joins after the log was truncated behind snapshots catches up by installing the
// leader's snapshot, then follows the log.
TEST_F(SnapshottingClusterTest, ANewNodeCatchesUpFromTheLeadersSnapshot) {
  const int64_t leader = await_leader();
  ASSERT_GT(leader, 0);
  auto c = resp3(port_of(leader));
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(c->command({"SET", "sj:" + std::to_string(i), "v" + std::to_string(i)}).str, "OK");
  }
  TempDir dir;
  int four_port = 0, raft_port = 0;
  auto four = join_node(4, dir, &four_port, &raft_port);
  ASSERT_GT(four_port, 0);
  EXPECT_FALSE(four->wait_for_line("installed the leader's snapshot", 20'000).empty()) << four->output();
  ASSERT_EQ(c->command({"SET", "sj:after", "x"}).str, "OK");
  auto n4 = resp3(four_port);
  Value got = poll(*n4, {"MGET", "sj:0", "sj:29", "sj:after"},
                   [](const Value& v) { return v.type == Type::kArray && v.elements.size() == 3 && v.elements[2].str == "x"; });
  ASSERT_EQ(got.elements.size(), 3u) << got.debug_string();
  EXPECT_EQ(got.elements[0].str, "v0");
  EXPECT_EQ(got.elements[1].str, "v29");
  EXPECT_EQ(got.elements[2].str, "x");
}

// A follower restarted from a snapshot that covers the leader's lease refresh of this term
// serves reads again (the refresh's term is in the snapshot, not only in the log it truncated).
TEST_F(SnapshottingClusterTest, AFollowerRestartedFromASnapshotServesReads) {
  const int64_t leader = await_leader();
  ASSERT_GT(leader, 0);
  auto c = resp3(port_of(leader));
  for (int i = 0; i < 20; ++i) ASSERT_EQ(c->command({"SET", "rs:k", std::to_string(i)}).str, "OK");
  const int follower = static_cast<int>(leader % 3) + 1;
  ASSERT_TRUE(cluster_->restart(follower));
  auto f = resp3(cluster_->port(follower));
  Value got = poll(*f, {"GET", "rs:k"}, answered);  // it may need a moment to hear from the leader
  EXPECT_EQ(got.str, "19") << got.debug_string();
}

// A follower that installs a snapshot skipped revisions its watches never saw: each ends with
// LAGGING (protocol.md 4.2), and resuming FROM resume_from is COMPACTED, so the client re-reads.
TEST_F(SnapshottingClusterTest, ASnapshotInstallEndsTheFollowersWatchesWithLagging) {
  const int64_t leader = await_leader();
  ASSERT_GT(leader, 0);
  auto c = resp3(port_of(leader));
  const int lagging = static_cast<int>(leader % 3) + 1;  // another member
  const int64_t before = int_field(c->command({"KV.PUT", "snap:k", "0"}), "revision");
  auto watcher = resp3(cluster_->port(lagging));
  Value id = watcher->command({"KV.WATCH", "PREFIX", "snap:"});
  ASSERT_EQ(id.type, Type::kInteger) << id.debug_string();
  // The follower is up to date once its watch sees this write (it may see `before` first: its
  // watch reads its own applied state, which may trail the leader).
  const int64_t seen = int_field(c->command({"KV.PUT", "snap:k", "1"}), "revision");
  ASSERT_GT(seen, before);
  for (;;) {
    Value event = watcher->next_push();
    ASSERT_GE(event.elements.size(), 6u) << event.debug_string();
    if (event.elements[2].integer == seen) break;
  }

  ASSERT_TRUE(cluster_->pause(lagging));
  // More writes, one at a time, than the leader pipelines to a follower (256 messages in
  // flight): the rest is compacted away before the follower wakes, so it needs a snapshot.
  int64_t last = 0;
  for (int i = 2; i < 600; ++i) last = int_field(c->command({"KV.PUT", "snap:k", std::to_string(i)}), "revision");
  cluster_->resume(lagging);

  // Changes it applied before it stopped may come first.
  Value end = watcher->next_push(30'000);
  while (end.type == Type::kPush && end.elements.size() == 6 && end.elements[0].str == "watch") {
    end = watcher->next_push(30'000);
  }
  ASSERT_EQ(end.type, Type::kPush) << end.debug_string();
  ASSERT_EQ(end.elements.size(), 4u) << end.debug_string();
  EXPECT_EQ(end.elements[0].str, "watch-end");
  EXPECT_EQ(end.elements[1].integer, id.integer);
  EXPECT_EQ(end.elements[2].str.rfind("LAGGING ", 0), 0u) << end.elements[2].str;
  const int64_t resume_from = end.elements[3].integer;
  EXPECT_GT(resume_from, seen);
  EXPECT_LE(resume_from, last);
  EXPECT_EQ(code_of(watcher->command({"KV.WATCH", "PREFIX", "snap:", "FROM", std::to_string(resume_from)})),
            "COMPACTED");
  Value again = watcher->command({"KV.WATCH", "KEY", "snap:k", "SNAPSHOT"});
  ASSERT_EQ(again.type, Type::kInteger) << again.debug_string();
  // The follower's own applied state, which may still trail the leader; then its changes.
  Value current = watcher->next_push();
  ASSERT_GE(current.elements.size(), 6u) << current.debug_string();
  ASSERT_EQ(watcher->next_push().elements[0].str, "watch-synced");
  while (current.elements[5].str != "599") {
    current = watcher->next_push();
    ASSERT_GE(current.elements.size(), 6u) << current.debug_string();
  }
}

}  // namespace
}  // namespace dkv::testing
