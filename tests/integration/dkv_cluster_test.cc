// Where DKV commands run in a three-node cluster (docs/protocol.md 1.4): writes and reads on a
// follower are refused with NOTLEADER; KV.WATCH and SNAPSHOT are served by any node, and a
// follower's watch sees the leader's writes.
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
  void SetUp() override {
    std::vector<int> raft_ports;
    std::string bootstrap;
    for (int id = 1; id <= 3; ++id) {
      raft_ports.push_back(free_port());
      if (!bootstrap.empty()) bootstrap += ",";
      bootstrap += std::to_string(id) + "=127.0.0.1:" + std::to_string(raft_ports.back());
    }
    for (int id = 1; id <= 3; ++id) {
      auto m = std::make_unique<Member>();
      m->process = std::make_unique<ChildProcess>(std::vector<std::string>{
          DKV_SERVER_PATH, "--data-dir", m->dir.path() + "/data", "--node-id", std::to_string(id), "--bootstrap",
          bootstrap, "--listen", "127.0.0.1:0", "--raft-listen", "127.0.0.1:" + std::to_string(raft_ports[id - 1]),
          "--admin-listen", "127.0.0.1:0"});
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

}  // namespace
}  // namespace dkv::testing
