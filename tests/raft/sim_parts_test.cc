// Unit tests of the simulator's parts: the seeded RNG, the disk model (sync boundary, torn
// tails, overwrite), the state machine image, the network, and each invariant of the checker
// fed with synthetic histories, so that every check is shown to fire on its own.
#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "raft/raft.h"
#include "sim/checker.h"
#include "sim/disk.h"
#include "sim/network.h"
#include "sim/rng.h"
#include "sim/state_machine.h"
#include "sim/trace.h"

namespace dkv::sim {
namespace {

using raft::Entry;
using raft::EntryType;
using raft::HardState;
using raft::Message;
using raft::MessageType;

// "v" + std::to_string(i), spelled so that GCC 12 at -O3 does not warn falsely (-Wrestrict).
std::string numbered(std::string prefix, uint64_t i) {
  prefix += std::to_string(i);
  return prefix;
}

std::vector<Entry> entries(uint64_t from, uint64_t to, uint64_t term) {
  std::vector<Entry> out;
  for (uint64_t i = from; i <= to; ++i) out.push_back(Entry{term, i, EntryType::kNormal, numbered("e", i)});
  return out;
}

TEST(SimRngTest, SameSeedSameSequenceAndBounds) {
  Rng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    uint64_t x = a.next();
    EXPECT_EQ(x, b.next());
    differs |= x != c.next();
  }
  EXPECT_TRUE(differs);
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    uint64_t v = a.range(3, 7);
    ASSERT_GE(v, 3u);
    ASSERT_LE(v, 7u);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_FALSE(a.chance(0));
  EXPECT_TRUE(a.chance(1000000));
}

TEST(SimDiskTest, SyncMakesWritesDurableAndOverwriteReplacesTheTail) {
  Disk d(raft::ConfState{{1, 2, 3}, {}});
  d.write_entries(entries(1, 5, 1));
  d.write_hard_state(HardState{1, 1, 3});
  EXPECT_EQ(d.last_index(), 0u) << "nothing is durable before sync";
  d.sync();
  EXPECT_EQ(d.last_index(), 5u);
  EXPECT_EQ(d.hard_state().commit, 3u);
  d.write_entries(entries(4, 4, 2));
  d.sync();
  EXPECT_EQ(d.last_index(), 4u);
  EXPECT_EQ(d.entries().back().term, 2u);
  EXPECT_TRUE(d.error().empty());
  // A gap is a broken contract.
  d.write_entries(entries(7, 7, 2));
  d.sync();
  EXPECT_FALSE(d.error().empty());
}

TEST(SimDiskTest, CrashKeepsATornPrefixButNeverTheUnsyncedHardState) {
  std::set<size_t> kept_counts;
  for (uint64_t seed = 1; seed <= 64; ++seed) {
    Rng rng(seed);
    Disk d(raft::ConfState{{1}, {}});
    d.write_entries(entries(1, 2, 1));
    d.write_hard_state(HardState{1, 1, 0});
    d.sync();
    // The next Ready overwrites from 2 on and changes the vote: the crash strikes before sync.
    d.write_entries(entries(2, 6, 3));
    d.write_hard_state(HardState{3, 2, 1});
    size_t kept = d.crash(rng);
    kept_counts.insert(kept);
    EXPECT_EQ(d.hard_state(), (HardState{1, 1, 0}));
    if (kept == 0) {
      EXPECT_EQ(d.last_index(), 2u);
      EXPECT_EQ(d.entries().back().term, 1u) << "nothing of the new write: the old tail stays";
    } else {
      EXPECT_EQ(d.last_index(), 1 + kept);
      EXPECT_EQ(d.entries().back().term, 3u);
    }
  }
  EXPECT_TRUE(kept_counts.count(0));
  EXPECT_TRUE(kept_counts.count(5));
  EXPECT_GT(kept_counts.size(), 3u) << "torn tails of several lengths";
}

TEST(SimDiskTest, SnapshotsReplaceOrTrimTheLog) {
  Disk d(raft::ConfState{{1}, {}});
  d.write_entries(entries(1, 10, 1));
  d.sync();
  raft::Snapshot own;
  own.meta = raft::SnapshotMeta{6, 1, {{1}, {}}};
  own.data = raft::snapshot_data("six");
  d.save_snapshot(own);
  EXPECT_EQ(d.entries().front().index, 7u);
  EXPECT_EQ(d.last_index(), 10u);
  raft::Snapshot received;
  received.meta = raft::SnapshotMeta{20, 4, {{1}, {}}};
  received.data = raft::snapshot_data("twenty");
  d.write_snapshot(received);
  d.sync();
  EXPECT_TRUE(d.entries().empty());
  EXPECT_EQ(d.last_index(), 20u);
  raft::InitialState init = d.recover();
  EXPECT_EQ(init.snapshot.meta.index, 20u);
  EXPECT_EQ(init.applied, 20u);
}

TEST(SimDiskTest, ListenerSeesEachDurableEntryWithItsPredecessorTerm) {
  Disk d(raft::ConfState{{1}, {}});
  std::vector<std::pair<uint64_t, uint64_t>> seen;
  d.set_listener([&](const Entry& e, uint64_t prev) { seen.push_back({e.index, prev}); });
  d.write_entries(entries(1, 2, 1));
  d.sync();
  d.write_entries(entries(3, 3, 2));
  d.sync();
  EXPECT_EQ(seen, (std::vector<std::pair<uint64_t, uint64_t>>{{1, 0}, {2, 1}, {3, 1}}));
}

TEST(SimStateMachineTest, ImageRoundTripsAndFingerprintFollowsHistory) {
  StateMachine a, b;
  for (const Entry& e : entries(1, 20, 1)) a.apply(e);
  auto copy = StateMachine::deserialize(a.serialize());
  ASSERT_TRUE(copy);
  EXPECT_EQ(copy->applied(), 20u);
  EXPECT_EQ(copy->fingerprint(), a.fingerprint());
  EXPECT_EQ(copy->writes(), 20u);
  EXPECT_EQ(copy->recent(), a.recent());
  EXPECT_FALSE(StateMachine::deserialize("sm 1 2"));
  EXPECT_FALSE(StateMachine::deserialize(a.serialize() + "x"));
  // Same indexes, another term: another history.
  for (const Entry& e : entries(1, 20, 2)) b.apply(e);
  EXPECT_NE(a.fingerprint(), b.fingerprint());
}

TEST(SimNetworkTest, ManualModeKeepsSendOrderAndCutLinksLoseMessages) {
  Rng rng(1);
  Trace trace(10, false);
  Network net(&rng, &trace, /*manual=*/true);
  for (uint64_t i = 1; i <= 3; ++i) {
    Message m;
    m.type = MessageType::kAppend;
    m.from = 1;
    m.to = 2;
    m.index = i;
    net.send(0, m);
  }
  Message other;
  other.type = MessageType::kHeartbeat;
  other.from = 1;
  other.to = 3;
  net.send(0, other);
  auto first = net.take({.to = 2}, 2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].index, 1u);
  EXPECT_EQ(first[1].index, 2u);
  net.cut(1, 3);
  EXPECT_TRUE(net.take({.to = 3}).empty());
  EXPECT_EQ(net.dropped(), 1u);
  EXPECT_EQ(net.drop({.type = MessageType::kAppend}), 1u);
  EXPECT_EQ(net.in_flight(), 0u);
}

TEST(SimNetworkTest, RandomModeDelaysReordersAndDuplicates) {
  Rng rng(3);
  Trace trace(0, false);
  Network net(&rng, &trace, /*manual=*/false);
  net.set_faults(NetworkFaults{.drop_ppm = 0, .duplicate_ppm = 500000, .min_delay = 1, .max_delay = 10});
  for (uint64_t i = 0; i < 100; ++i) {
    Message m;
    m.from = 1;
    m.to = 2;
    m.index = i;
    net.send(0, m);
  }
  EXPECT_TRUE(net.take_due(0).empty()) << "nothing arrives in the step it was sent";
  std::vector<Message> got = net.take_due(100);
  EXPECT_GT(got.size(), 120u);
  bool reordered = false;
  for (size_t i = 1; i < got.size(); ++i) reordered |= got[i].index < got[i - 1].index;
  EXPECT_TRUE(reordered);
}

// --- each invariant, fed a history that breaks it ---

std::unique_ptr<raft::Raft> single_node_leader(raft::NodeId id, uint64_t term_before) {
  raft::Config c;
  c.id = id;
  raft::InitialState init;
  init.snapshot.meta.conf.voters = {id};
  init.hard.term = term_before;
  auto r = std::make_unique<raft::Raft>(c, std::move(init));
  r->campaign();
  return r;
}

TEST(SimCheckerTest, ElectionSafety) {
  Checker c;
  auto a = single_node_leader(1, 0), b = single_node_leader(2, 0);
  ASSERT_EQ(a->role(), raft::Role::kLeader);
  ASSERT_EQ(a->term(), b->term());
  c.on_leader(1, *a);
  EXPECT_TRUE(c.ok());
  c.on_leader(2, *b);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.violation()->invariant, "election safety");
}

TEST(SimCheckerTest, LeaderCompleteness) {
  Checker c;
  c.on_leader_commit(1, 1);
  c.on_apply(7, Entry{1, 1, EntryType::kNormal, "x"}, 11);
  // A leader of term 2 whose entry 1 is its own no-op, not the committed entry of term 1.
  auto l = single_node_leader(2, 1);
  ASSERT_EQ(l->term(), 2u);
  c.on_leader(2, *l);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.violation()->invariant, "leader completeness");
}

TEST(SimCheckerTest, LogMatching) {
  Checker c;
  c.on_durable_entry(1, Entry{2, 5, EntryType::kNormal, "a"}, 2);
  c.on_durable_entry(2, Entry{2, 5, EntryType::kNormal, "a"}, 2);
  EXPECT_TRUE(c.ok());
  c.on_durable_entry(3, Entry{2, 5, EntryType::kNormal, "a"}, 1);  // another predecessor
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.violation()->invariant, "log matching");
}

TEST(SimCheckerTest, StateMachineSafety) {
  Checker c;
  c.on_apply(1, Entry{1, 1, EntryType::kNormal, "a"}, 11);
  c.on_apply(2, Entry{1, 1, EntryType::kNormal, "a"}, 11);
  EXPECT_TRUE(c.ok());
  c.on_apply(3, Entry{2, 1, EntryType::kNormal, "b"}, 12);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.violation()->invariant, "state machine safety");
}

TEST(SimCheckerTest, AcknowledgedWriteReplaced) {
  Checker c;
  c.on_proposed(1, 1, 1, "w");
  c.on_apply(1, Entry{1, 1, EntryType::kNormal, "w"}, 11);
  EXPECT_TRUE(c.acknowledged(1, 1, 1));
  c.on_apply(2, Entry{2, 1, EntryType::kNormal, "other"}, 12);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.violation()->invariant, "acknowledged writes");
}

TEST(SimCheckerTest, StaleRead) {
  Checker c;
  for (uint64_t i = 1; i <= 5; ++i) {
    c.on_proposed(1, i, 1, numbered("w", i));
    c.on_apply(1, Entry{1, i, EntryType::kNormal, numbered("w", i)}, 100 + i);
  }
  std::string ctx = c.on_read_invoked(2);
  // Served at read index 3 although index 5 was acknowledged before the read began.
  c.on_read_served(2, raft::ReadState{3, ctx}, 3, 103);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.violation()->invariant, "linearizable reads");
}

TEST(SimCheckerTest, ReadOfAStateThatWasNeverCommitted) {
  Checker c;
  c.on_apply(1, Entry{1, 1, EntryType::kNormal, "w"}, 101);
  std::string ctx = c.on_read_invoked(1);
  c.on_read_served(1, raft::ReadState{1, ctx}, 1, 999);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.violation()->invariant, "linearizable reads");
}

}  // namespace
}  // namespace dkv::sim
