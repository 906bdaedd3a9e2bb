// A single-voter RaftNode on WalStorage: what it acknowledged survives a restart (hard state,
// entries, bootstrap membership, and a snapshot the host took), and the restarted node
// re-applies it and carries on.
#include "server/wal_storage.h"

#include "wal/snapshot_file.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <vector>

namespace dkv::server {
namespace {

using namespace std::chrono_literals;

class WalStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dkv-wal-storage-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // One member's life: open storage, run a node, do `work`, stop.
  struct Life {
    asio::io_context io;
    std::unique_ptr<WalStorage> storage;
    std::unique_ptr<RaftTransport> transport;
    std::unique_ptr<RaftNode> node;
    std::vector<std::string> applied;
    std::string installed;
  };

  std::unique_ptr<Life> start(bool bootstrap) {
    auto life = std::make_unique<Life>();
    std::optional<raft::ConfState> conf;
    if (bootstrap) conf = raft::ConfState{{1}, {}};
    auto storage = WalStorage::open(life->io, dir_, conf);
    EXPECT_TRUE(storage.ok()) << storage.status().to_string();
    if (!storage.ok()) return nullptr;
    life->storage = std::move(storage).value();
    raft::InitialState init = life->storage->take_initial_state();
    life->installed = *raft::read_all(*init.snapshot.data);  // the host restores its state from the snapshot
    life->transport = std::make_unique<RaftTransport>(life->io, [](raft::Message) {});
    RaftNode::Options options;
    options.raft.id = 1;
    options.tick = 5ms;
    RaftApplier applier;
    Life* l = life.get();
    applier.apply = [l](const raft::Entry& e) {
      l->applied.push_back(e.data);
      return std::string();
    };
    life->node = std::make_unique<RaftNode>(life->io, options, std::move(init), *life->storage,
                                            *life->transport, std::move(applier));
    life->node->start();
    return life;
  }

  template <typename Pred>
  static bool run_until(Life& l, Pred done) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      l.io.run_for(2ms);
    }
    return true;
  }

  // The single voter elects itself, then proposes `prefix`0 .. `prefix`(n-1) and waits until
  // every one is applied (after the leader's no-op entry).
  static bool lead_and_apply(Life& l, const std::string& prefix, int n) {
    l.node->campaign();
    if (!run_until(l, [&] { return l.node->raft().role() == raft::Role::kLeader; })) return false;
    int done = 0;
    for (int i = 0; i < n; ++i) {
      l.node->propose(prefix + std::to_string(i), [&](Status s, std::string) { done += s.ok(); });
    }
    return run_until(l, [&] {
      return done == n && l.node->raft().applied_index() >= static_cast<uint64_t>(n) + 1;
    });
  }

  static void stop(std::unique_ptr<Life>& l) {
    l->node->stop();
    l->transport->close();
    l->node.reset();
    l->storage.reset();  // joins the sync thread after finishing what was queued
    l->io.run_for(10ms);
    l.reset();
  }

  std::string dir_;
};

TEST_F(WalStorageTest, AcknowledgedEntriesAndMembershipSurviveARestart) {
  auto a = start(true);
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->storage->recovered_anything());
  ASSERT_TRUE(lead_and_apply(*a, "e", 20));
  uint64_t term = a->node->raft().term();
  stop(a);

  // No bootstrap this time: the membership must come from the disk.
  auto b = start(false);
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->storage->recovered_anything());
  EXPECT_EQ(b->node->raft().conf().voters, std::vector<raft::NodeId>{1});
  EXPECT_EQ(b->node->raft().term(), term);
  ASSERT_TRUE(run_until(*b, [&] { return b->node->raft().role() == raft::Role::kLeader; }));
  // Electing itself again commits (and re-applies) every entry acknowledged before.
  ASSERT_TRUE(run_until(*b, [&] { return b->applied.size() == 20; }));
  EXPECT_EQ(b->applied.front(), "e0");
  EXPECT_EQ(b->applied.back(), "e19");
  stop(b);
}

TEST_F(WalStorageTest, RestartStartsFromTheHostsSnapshot) {
  auto a = start(true);
  ASSERT_TRUE(a);
  ASSERT_TRUE(lead_and_apply(*a, "s", 10));
  uint64_t index = a->node->raft().applied_index();
  auto data = raft::snapshot_data("ten entries");
  ASSERT_TRUE(a->node->raft().compact(index, data).ok());
  raft::SnapshotMeta meta = a->node->raft().log().snapshot().meta;
  bool saved = false;
  a->storage->save_snapshot(meta, data, [&](Status s) { saved = s.ok(); });
  ASSERT_TRUE(run_until(*a, [&] { return saved; }));
  // What Raft holds for followers can now come from the file instead of memory.
  auto from_file = a->storage->snapshot_data(meta);
  ASSERT_TRUE(from_file.ok()) << from_file.status().to_string();
  EXPECT_EQ(*raft::read_all(**from_file), "ten entries");
  int after = 0;
  a->node->propose("after", [&](Status s, std::string) { after += s.ok(); });
  ASSERT_TRUE(run_until(*a, [&] { return after == 1; }));
  stop(a);

  auto b = start(false);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->installed, "ten entries");
  EXPECT_EQ(b->node->raft().first_index(), index + 1);
  ASSERT_TRUE(run_until(*b, [&] { return b->applied.size() == 1; }));
  EXPECT_EQ(b->applied.front(), "after");  // only what followed the snapshot is re-applied
  stop(b);
}

// A crash after a snapshot file reached the disk but before the WAL's marker for it did: the
// file is trusted, the log entries it covers are dropped, and the rest follow it.
TEST_F(WalStorageTest, SnapshotFileNewerThanTheWalsMarkerIsUsed) {
  auto a = start(true);
  ASSERT_TRUE(a);
  ASSERT_TRUE(lead_and_apply(*a, "s", 10));
  const uint64_t index = a->node->raft().applied_index() - 3;  // three entries follow it
  const uint64_t last = a->node->raft().log().last_index();
  raft::SnapshotMeta meta;
  meta.index = index;
  meta.term = *a->node->raft().log().term(index);
  meta.conf = a->node->raft().conf();
  stop(a);
  // Only the file, as if the crash came before the marker was written.
  ASSERT_TRUE(wal::save_snapshot(dir_ + "/snap", meta, *raft::snapshot_data("file only")).ok());

  auto b = start(false);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->installed, "file only");
  EXPECT_EQ(b->node->raft().first_index(), index + 1);
  EXPECT_EQ(b->node->raft().log().last_index(), last);
  ASSERT_TRUE(run_until(*b, [&] { return b->applied.size() == last - index - 1 + 1; }))
      << b->applied.size();
  EXPECT_EQ(b->applied.front(), "s7");  // the entries after the file's index, not before
  stop(b);
}

}  // namespace
}  // namespace dkv::server
