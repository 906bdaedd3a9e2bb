// Where DKV commands run in a three-node cluster (docs/protocol.md 1.4): writes and reads on a
// follower are refused with NOTLEADER; KV.WATCH and SNAPSHOT are served by any node, and a
// follower's watch sees the leader's writes.
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "dkv_test_util.h"

namespace dkv::testing {
namespace {

// One member of a cluster bootstrapped with fixed Raft ports (the harness's DkvServerProcess
// lets the kernel pick the Raft port, which a bootstrap list cannot name in advance).
struct Member {
  TempDir dir;
  std::unique_ptr<ChildProcess> process;
  int port = 0;
};

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override { start({}); }

  void start(const std::vector<std::string>& extra_flags) {
    std::vector<int> raft_ports;
    std::string bootstrap;
    for (int id = 1; id <= 3; ++id) {
      raft_ports.push_back(free_port());
      if (!bootstrap.empty()) bootstrap += ",";
      bootstrap += std::to_string(id) + "=127.0.0.1:" + std::to_string(raft_ports.back());
    }
    for (int id = 1; id <= 3; ++id) {
      auto m = std::make_unique<Member>();
      std::vector<std::string> argv = {
          DKV_SERVER_PATH, "--data-dir", m->dir.path() + "/data", "--node-id", std::to_string(id), "--bootstrap",
          bootstrap, "--listen", "127.0.0.1:0", "--raft-listen", "127.0.0.1:" + std::to_string(raft_ports[id - 1]),
          "--admin-listen", "127.0.0.1:0"};
      argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
      m->process = std::make_unique<ChildProcess>(argv);
      std::string line = m->process->wait_for_line(" ready: ", 20'000);
      ASSERT_FALSE(line.empty()) << m->process->output();
      const size_t at = line.find("clients 127.0.0.1:");
      ASSERT_NE(at, std::string::npos) << line;
      m->port = std::stoi(line.substr(at + 18));
      members_.push_back(std::move(m));
    }
  }

  // Polls until a member answers a read as the leader (elections have no event a client can
  // await); returns its id (1-based), or 0 after 30 s.
  int64_t await_leader() {
    for (int i = 0; i < 1500; ++i) {
      for (size_t m = 0; m < members_.size(); ++m) {
        RespConnection c(members_[m]->port);
        if (c.command({"KV.COUNT"}).type == Type::kInteger) return static_cast<int64_t>(m) + 1;
      }
      usleep(20'000);
    }
    return 0;
  }

  std::vector<std::unique_ptr<Member>> members_;
};

// Whether the process has stopped (state T in /proc), within 10 s.
bool await_stopped(int pid) {
  for (int i = 0; i < 1000; ++i) {
    std::string stat = run_shell("cat /proc/" + std::to_string(pid) + "/stat 2>/dev/null");
    const size_t paren = stat.rfind(')');
    if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'T') return true;
    usleep(10'000);
  }
  return false;
}

// Members that snapshot (and drop their log) every 5 entries, so a lagging follower catches up
// by installing a snapshot.
class SnapshottingClusterTest : public ClusterTest {
 protected:
  void SetUp() override { start({"--snapshot-entries", "5"}); }
};

TEST_F(ClusterTest, FollowersRefuseDkvCommandsButServeWatches) {
  const int64_t leader = await_leader();
  ASSERT_GT(leader, 0);
  const int leader_port = members_[leader - 1]->port;
  const int follower_port = members_[leader % 3]->port;  // another member

  auto watcher = resp3(follower_port);
  Value id = watcher->command({"KV.WATCH", "PREFIX", "cl:", "PREVKV"});
  ASSERT_EQ(id.type, Type::kInteger) << id.debug_string();

  auto follower = resp3(follower_port);
  const std::vector<std::vector<std::string>> refused = {
      {"KV.PUT", "cl:k", "v"}, {"KV.GET", "cl:k"}, {"KV.RANGE", "PREFIX", "cl:"}, {"CTR.ADD", "cl:c", "1"},
      {"LEASE.GRANT", "1000"}, {"LOCK.OWNER", "l"}, {"TXN.COMMIT"},           {"QUERY", "e"},
      {"KV.COUNT"},            {"COMPACT", "0"}};
  for (const auto& args : refused) {
    Value r = follower->command(args);
    EXPECT_EQ(code_of(r), "NOTLEADER") << args[0];
    // The leader's id comes first.
    EXPECT_EQ(error_of(r).rfind("NOTLEADER " + std::to_string(leader), 0), 0u) << error_of(r);
  }

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

// A follower that installs a snapshot skipped revisions its watches never saw: each ends with
// LAGGING (protocol.md 4.2), and resuming FROM resume_from is COMPACTED, so the client re-reads.
TEST_F(SnapshottingClusterTest, ASnapshotInstallEndsTheFollowersWatchesWithLagging) {
  const int64_t leader = await_leader();
  ASSERT_GT(leader, 0);
  auto c = resp3(members_[leader - 1]->port);
  const size_t lagging = static_cast<size_t>(leader % 3);  // another member
  const int64_t before = int_field(c->command({"KV.PUT", "snap:k", "0"}), "revision");
  auto watcher = resp3(members_[lagging]->port);
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

  members_[lagging]->process->signal(SIGSTOP);
  ASSERT_TRUE(await_stopped(members_[lagging]->process->pid()));
  // More writes, one at a time, than the leader pipelines to a follower (256 messages in
  // flight): the rest is compacted away before the follower wakes, so it needs a snapshot.
  int64_t last = 0;
  for (int i = 2; i < 600; ++i) last = int_field(c->command({"KV.PUT", "snap:k", std::to_string(i)}), "revision");
  members_[lagging]->process->signal(SIGCONT);

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
