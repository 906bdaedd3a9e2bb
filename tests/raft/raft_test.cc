// Unit tests of the Raft core driven directly: a few members wired by an in-test mailbox, every
// Ready handled exactly as the contract in types.h says. The randomised and fault-injecting
// checks live in the simulator (src/sim, sim_random_test.cc, scenarios_test.cc).
#include "raft/raft.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <set>

#include "raft/codec.h"

namespace dkv::raft {
namespace {

struct Member {
  std::unique_ptr<Raft> raft;
  std::vector<Entry> disk;  // persisted log (index = position + first)
  HardState hard;
  std::vector<std::string> applied;  // data of applied normal entries
  std::vector<ReadState> reads;
  uint64_t applied_index = 0;
};

class Cluster {
 public:
  explicit Cluster(size_t n, Config base = {}) {
    ConfState conf;
    for (NodeId id = 1; id <= n; ++id) conf.voters.push_back(id);
    for (NodeId id = 1; id <= n; ++id) {
      Config c = base;
      c.id = id;
      c.seed = id * 7919;
      InitialState init;
      init.snapshot.meta.conf = conf;
      members_[id].raft = std::make_unique<Raft>(c, std::move(init));
    }
  }

  Raft& raft(NodeId id) { return *members_.at(id).raft; }
  Member& member(NodeId id) { return members_.at(id); }

  void isolate(NodeId id) { isolated_.insert(id); }
  void heal() { isolated_.clear(); }

  // Handles every Ready and delivers every message until nothing moves.
  void settle() {
    for (int round = 0; round < 1000; ++round) {
      bool moved = false;
      for (auto& [id, m] : members_) {
        while (m.raft->has_ready()) {
          moved = true;
          handle_ready(id, m);
        }
      }
      while (!mailbox_.empty()) {
        moved = true;
        Message msg = std::move(mailbox_.front());
        mailbox_.pop_front();
        if (isolated_.count(msg.from) || isolated_.count(msg.to)) continue;
        auto it = members_.find(msg.to);
        if (it != members_.end()) it->second.raft->step(std::move(msg));
      }
      if (!moved) return;
    }
    FAIL() << "cluster did not settle";
  }

  void tick_all(int n = 1) {
    for (int i = 0; i < n; ++i) {
      for (auto& [id, m] : members_) m.raft->tick();
      settle();
    }
  }

  NodeId elect(NodeId id) {
    raft(id).campaign();
    settle();
    return leader();
  }

  NodeId leader() {
    NodeId found = 0;
    for (auto& [id, m] : members_) {
      if (m.raft->role() == Role::kLeader && !isolated_.count(id)) found = id;
    }
    return found;
  }

 private:
  void handle_ready(NodeId id, Member& m) {
    Ready rd = m.raft->ready();
    if (rd.snapshot) {
      m.disk.clear();
      m.applied.clear();  // the state is now the snapshot's data
      m.applied_index = rd.snapshot->meta.index;
    }
    for (const Entry& e : rd.entries) {
      while (!m.disk.empty() && m.disk.back().index >= e.index) m.disk.pop_back();
      m.disk.push_back(e);
    }
    if (rd.hard_state) m.hard = *rd.hard_state;
    for (Message& msg : rd.messages) {
      EXPECT_EQ(msg.from, id);
      mailbox_.push_back(std::move(msg));
    }
    for (const Entry& e : rd.committed_entries) {
      EXPECT_EQ(e.index, m.applied_index + 1);
      m.applied_index = e.index;
      if (e.type == EntryType::kConfChange) {
        auto cc = decode_conf_change(e.data);
        ASSERT_TRUE(cc.has_value());
        m.raft->apply_conf_change(*cc);
      } else if (!e.data.empty()) {
        m.applied.push_back(e.data);
      }
    }
    for (auto& r : rd.read_states) m.reads.push_back(r);
    m.raft->advance(rd);
  }

  std::map<NodeId, Member> members_;
  std::deque<Message> mailbox_;
  std::set<NodeId> isolated_;
};

TEST(RaftTest, SingleNodeElectsItselfAndCommits) {
  Cluster c(1);
  EXPECT_EQ(c.elect(1), 1u);
  auto p = c.raft(1).propose("a");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  c.settle();
  EXPECT_EQ(c.member(1).applied, std::vector<std::string>{"a"});
  EXPECT_EQ(c.raft(1).commit_index(), p->index);
}

TEST(RaftTest, ThreeNodesReplicateAndApplyInOrder) {
  Cluster c(3);
  NodeId l = c.elect(1);
  ASSERT_EQ(l, 1u);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(c.raft(1).propose("v" + std::to_string(i)).ok());
  c.settle();
  for (NodeId id = 1; id <= 3; ++id) {
    ASSERT_EQ(c.member(id).applied.size(), 50u) << "node " << id;
    EXPECT_EQ(c.member(id).applied.front(), "v0");
    EXPECT_EQ(c.member(id).applied.back(), "v49");
  }
  // A heartbeat carries the leader's commit index to the followers.
  EXPECT_EQ(c.raft(2).commit_index(), c.raft(1).commit_index());
}

TEST(RaftTest, FollowerRefusesProposalsNamingTheLeader) {
  Cluster c(3);
  c.elect(1);
  auto p = c.raft(2).propose("x");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.code(), Code::kNotLeader);
  EXPECT_NE(p.status().message().find("node 1"), std::string::npos);
}

TEST(RaftTest, ElectionByTimeout) {
  Cluster c(3);
  c.tick_all(25);
  EXPECT_NE(c.leader(), 0u);
}

TEST(RaftTest, LeaderInMinorityStepsDownByCheckQuorum) {
  Cluster c(3);
  c.elect(1);
  c.isolate(1);
  c.tick_all(25);
  EXPECT_NE(c.raft(1).role(), Role::kLeader);
  NodeId l = c.leader();
  EXPECT_TRUE(l == 2 || l == 3);
}

TEST(RaftTest, PreVoteKeepsARejoiningNodeFromDisruptingTheLeader) {
  Cluster c(3);
  c.elect(1);
  uint64_t term = c.raft(1).term();
  c.isolate(3);
  c.tick_all(60);  // node 3 keeps timing out but its pre-votes reach no one
  EXPECT_EQ(c.raft(3).term(), term);
  c.heal();
  c.tick_all(5);
  EXPECT_EQ(c.leader(), 1u);
  EXPECT_EQ(c.raft(1).term(), term);
}

TEST(RaftTest, ReadIndexOneRoundServesEveryQueuedRead) {
  Cluster c(3);
  c.elect(1);
  ASSERT_TRUE(c.raft(1).propose("w").ok());
  c.settle();
  ASSERT_TRUE(c.raft(1).read_index("r1").ok());
  ASSERT_TRUE(c.raft(1).read_index("r2").ok());
  ASSERT_TRUE(c.raft(2).read_index("f1").ok());
  c.settle();
  ASSERT_EQ(c.member(1).reads.size(), 2u);
  EXPECT_EQ(c.member(1).reads[0].context, "r1");
  EXPECT_EQ(c.member(1).reads[0].index, c.raft(1).commit_index());
  ASSERT_EQ(c.member(2).reads.size(), 1u);
  EXPECT_EQ(c.member(2).reads[0].context, "f1");
}

TEST(RaftTest, IsolatedLeaderCannotServeReads) {
  Cluster c(3);
  c.elect(1);
  c.isolate(1);
  ASSERT_TRUE(c.raft(1).read_index("stale").ok());
  c.settle();
  EXPECT_TRUE(c.member(1).reads.empty());
}

TEST(RaftTest, LaggingFollowerCatchesUpFromChunkedSnapshot) {
  Config base;
  base.snapshot_chunk_bytes = 3;
  Cluster c(3, base);
  c.elect(1);
  c.isolate(3);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c.raft(1).propose("e" + std::to_string(i)).ok());
  c.settle();
  // Both live members snapshot and drop their logs.
  for (NodeId id : {1, 2}) {
    auto data = snapshot_data("state-of-" + std::to_string(c.member(id).applied.size()));
    ASSERT_TRUE(c.raft(id).compact(c.raft(id).applied_index(), data).ok());
  }
  c.heal();
  c.tick_all(5);
  EXPECT_EQ(c.raft(3).commit_index(), c.raft(1).commit_index());
  EXPECT_EQ(c.raft(3).first_index(), c.raft(1).first_index());
  EXPECT_EQ(*read_all(*c.raft(3).log().snapshot().data), "state-of-20");
  ASSERT_TRUE(c.raft(1).propose("after").ok());
  c.settle();
  EXPECT_EQ(c.member(3).applied.back(), "after");
}

TEST(RaftTest, LeadershipTransfer) {
  Cluster c(3);
  c.elect(1);
  ASSERT_TRUE(c.raft(1).transfer_leadership(3).ok());
  c.settle();
  EXPECT_EQ(c.leader(), 3u);
}

TEST(RaftTest, AddLearnerPromoteAndRemoveLeader) {
  Cluster c(3);
  c.elect(1);
  // Membership changes need a committed entry of the leader's term first.
  c.settle();
  auto add = c.raft(1).propose_conf_change(ConfChange{ConfChangeType::kAddLearner, 4, ""});
  ASSERT_TRUE(add.ok()) << add.status().to_string();
  auto again = c.raft(1).propose_conf_change(ConfChange{ConfChangeType::kAddVoter, 4, ""});
  EXPECT_EQ(again.code(), Code::kUnavailable);  // the first is not applied yet
  c.settle();
  EXPECT_EQ(c.raft(1).conf().learners, std::vector<NodeId>{4});
  auto rm = c.raft(1).propose_conf_change(ConfChange{ConfChangeType::kRemoveNode, 1, ""});
  ASSERT_TRUE(rm.ok()) << rm.status().to_string();
  c.settle();
  EXPECT_NE(c.raft(1).role(), Role::kLeader);
  NodeId l = c.leader();
  EXPECT_TRUE(l == 2 || l == 3) << l;
  EXPECT_EQ(c.raft(l).conf().voters, (std::vector<NodeId>{2, 3}));
}

TEST(RaftTest, MessagesOfAnotherGroupAreIgnored) {
  Cluster c(3);
  c.elect(1);
  Message m;
  m.type = MessageType::kHeartbeat;
  m.group = 7;
  m.from = 2;
  m.to = 1;
  m.term = c.raft(1).term() + 5;
  c.raft(1).step(m);
  EXPECT_EQ(c.raft(1).role(), Role::kLeader);
}

}  // namespace
}  // namespace dkv::raft
