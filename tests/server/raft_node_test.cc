// Three RaftNodes on one event loop, talking over real loopback TCP through RaftTransport:
// election, replication, proposals completing on apply, read barriers, a leader stopping.
#include "server/raft_node.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <vector>

namespace dkv::server {
namespace {

using namespace std::chrono_literals;

// Durable enough for a test: "persists" at once, on the next turn of the loop.
class InstantStorage : public RaftStorage {
 public:
  explicit InstantStorage(asio::io_context& io) : io_(io) {}
  void persist(std::shared_ptr<const raft::Ready>, std::function<void(Status)> done) override {
    ++syncs;
    asio::post(io_, [done = std::move(done)] { done(Status()); });
  }
  int syncs = 0;

 private:
  asio::io_context& io_;
};

struct TestMember {
  std::unique_ptr<InstantStorage> storage;
  std::unique_ptr<RaftTransport> transport;
  std::unique_ptr<RaftNode> node;
  std::vector<std::string> applied;
};

class RaftNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    raft::ConfState conf{{1, 2, 3}, {}};
    for (raft::NodeId id = 1; id <= 3; ++id) {
      auto& m = members_[id];
      m.storage = std::make_unique<InstantStorage>(io_);
      m.transport = std::make_unique<RaftTransport>(io_, [this, id](raft::Message msg) {
        members_[id].node->step(std::move(msg));
      });
      ASSERT_TRUE(m.transport->listen("127.0.0.1", 0).ok());
    }
    for (raft::NodeId id = 1; id <= 3; ++id) {
      auto& m = members_[id];
      for (raft::NodeId peer = 1; peer <= 3; ++peer) {
        if (peer != id) m.transport->set_peer(peer, "127.0.0.1", members_[peer].transport->port());
      }
      RaftNode::Options options;
      options.raft.id = id;
      options.raft.seed = id;
      options.tick = 10ms;
      raft::InitialState init;
      init.snapshot.meta.conf = conf;
      RaftApplier applier;
      applier.apply = [this, id](const raft::Entry& e) {
        members_[id].applied.push_back(e.data);
        return "applied " + e.data;
      };
      m.node = std::make_unique<RaftNode>(io_, options, std::move(init), *m.storage, *m.transport,
                                          std::move(applier));
      m.node->start();
    }
  }

  void TearDown() override {
    for (auto& [id, m] : members_) {
      m.node->stop();
      m.transport->close();
    }
    io_.run_for(50ms);
  }

  // Runs the loop until `done` holds, for at most `limit`.
  template <typename Pred>
  bool run_until(Pred done, std::chrono::milliseconds limit = 10s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.run_for(5ms);
    }
    return true;
  }

  raft::NodeId leader() {
    for (auto& [id, m] : members_) {
      if (!m.node->stopped() && m.node->raft().role() == raft::Role::kLeader) return id;
    }
    return 0;
  }

  asio::io_context io_;
  std::map<raft::NodeId, TestMember> members_;
};

TEST_F(RaftNodeTest, ElectsReplicatesAndCompletesProposalsOverTcp) {
  members_[1].node->campaign();
  ASSERT_TRUE(run_until([&] { return leader() != 0; }));
  raft::NodeId l = leader();

  int completed = 0;
  std::vector<std::string> results;
  for (int i = 0; i < 100; ++i) {
    members_[l].node->propose("e" + std::to_string(i), [&](Status s, std::string result) {
      EXPECT_TRUE(s.ok()) << s.to_string();
      results.push_back(std::move(result));
      ++completed;
    });
  }
  ASSERT_TRUE(run_until([&] { return completed == 100; }));
  EXPECT_EQ(results.front(), "applied e0");
  EXPECT_EQ(results.back(), "applied e99");
  // Proposals made in one turn of the loop share syncs: far fewer than one per proposal.
  EXPECT_LT(members_[l].storage->syncs, 50);
  ASSERT_TRUE(run_until([&] {
    for (auto& [id, m] : members_) {
      if (m.applied.size() != 100) return false;
    }
    return true;
  }));
  EXPECT_EQ(members_[2].applied, members_[1].applied);
  EXPECT_EQ(members_[3].applied, members_[1].applied);
}

TEST_F(RaftNodeTest, ReadBarrierOnLeaderAndFollower) {
  members_[1].node->campaign();
  ASSERT_TRUE(run_until([&] { return leader() == 1; }));
  bool written = false;
  members_[1].node->propose("x", [&](Status s, std::string) { written = s.ok(); });
  ASSERT_TRUE(run_until([&] { return written; }));
  int reads = 0;
  members_[1].node->read_barrier([&](Status s) { reads += s.ok(); });
  members_[2].node->read_barrier([&](Status s) {
    // The follower has applied the write acknowledged before the read began.
    EXPECT_EQ(members_[2].applied, std::vector<std::string>{"x"});
    reads += s.ok();
  });
  ASSERT_TRUE(run_until([&] { return reads == 2; }));
}

TEST_F(RaftNodeTest, SurvivorsElectANewLeaderWhenTheLeaderStops) {
  members_[1].node->campaign();
  ASSERT_TRUE(run_until([&] { return leader() == 1; }));
  members_[1].node->stop();
  members_[1].transport->close();
  ASSERT_TRUE(run_until([&] { return leader() == 2 || leader() == 3; }));
  raft::NodeId l = leader();
  bool ok = false;
  members_[l].node->propose("after", [&](Status s, std::string) { ok = s.ok(); });
  ASSERT_TRUE(run_until([&] { return ok; }));
}

TEST_F(RaftNodeTest, FollowerRefusesProposalsNamingTheLeader) {
  members_[1].node->campaign();
  ASSERT_TRUE(run_until([&] { return leader() == 1 && members_[2].node->raft().leader() == 1; }));
  Status got;
  members_[2].node->propose("x", [&](Status s, std::string) { got = s; });
  EXPECT_EQ(got.code(), Code::kNotLeader);
  EXPECT_NE(got.message().find("node 1"), std::string::npos);
}

}  // namespace
}  // namespace dkv::server
