#include "wal/wal.h"

#include <errno.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "wal_test_util.h"

namespace dkv::wal {
namespace {

using raft::Entry;
using raft::HardState;
using raft::SnapshotMeta;
using testing::entries;
using testing::entry;
using testing::TempDir;

constexpr uint64_t kSmallSegment = 4096;

std::unique_ptr<Wal> open_ok(const std::string& dir, WalOptions options = {}) {
  auto w = Wal::open(dir, std::move(options));
  EXPECT_TRUE(w.ok()) << w.status().to_string();
  return w.ok() ? std::move(w).value() : nullptr;
}

WalOptions small() { return WalOptions{.segment_bytes = kSmallSegment}; }

TEST(Wal, EmptyDirectoryGivesAnEmptyLogAndAPreallocatedSegment) {
  TempDir tmp;
  std::string dir = tmp.sub("a/b/wal");  // missing parents are created
  auto w = open_ok(dir, WalOptions{.segment_bytes = 1 << 20});
  ASSERT_TRUE(w);
  EXPECT_FALSE(w->recovered().hard_state.has_value());
  EXPECT_FALSE(w->recovered().snapshot.has_value());
  EXPECT_TRUE(w->recovered().entries.empty());
  EXPECT_EQ(w->last_index(), 0u);
  // The next segment is allocated ahead too (the spare), so a full disk shows early.
  EXPECT_EQ(testing::dir_names(dir),
            (std::vector<std::string>{"0000000000000001-0000000000000001.wal", "spare.wal.tmp"}));
  EXPECT_EQ(testing::file_size(dir + "/0000000000000001-0000000000000001.wal"), 1u << 20);
  EXPECT_EQ(testing::file_size(dir + "/spare.wal.tmp"), 1u << 20);
}

TEST(Wal, RoundTripThroughReopen) {
  TempDir tmp;
  std::vector<Entry> es = entries(1, 20, 1);
  es[3].type = raft::EntryType::kConfChange;
  es[7].data.clear();  // a leader's no-op
  {
    auto w = open_ok(tmp.path());
    ASSERT_TRUE(w->save(HardState{1, 2, 0}, {}).ok());
    ASSERT_TRUE(w->save(HardState{1, 2, 5}, es).ok());
    ASSERT_TRUE(w->sync().ok());
    EXPECT_EQ(w->last_index(), 20u);
  }
  auto w = open_ok(tmp.path());
  EXPECT_EQ(w->recovered().hard_state, (HardState{1, 2, 5}));
  EXPECT_EQ(w->recovered().entries, es);
  EXPECT_EQ(w->last_index(), 20u);
  Recovered r = w->take_recovered();
  EXPECT_EQ(r.entries.size(), 20u);
}

TEST(Wal, AppendsAfterReopenGoToTheSameSegment) {
  TempDir tmp;
  {
    auto w = open_ok(tmp.path());
    ASSERT_TRUE(w->save(std::nullopt, entries(1, 5, 1)).ok());
    ASSERT_TRUE(w->sync().ok());
  }
  {
    auto w = open_ok(tmp.path());
    ASSERT_TRUE(w->save(HardState{2, 1, 7}, entries(6, 9, 2)).ok());
    ASSERT_TRUE(w->sync().ok());
    EXPECT_EQ(w->segments().size(), 1u);
  }
  auto w = open_ok(tmp.path());
  std::vector<Entry> want = entries(1, 5, 1);
  for (const Entry& e : entries(6, 9, 2)) want.push_back(e);
  EXPECT_EQ(w->recovered().entries, want);
  EXPECT_EQ(w->recovered().hard_state, (HardState{2, 1, 7}));
}

TEST(Wal, OverwriteTruncatesTheTail) {
  TempDir tmp;
  {
    auto w = open_ok(tmp.path());
    ASSERT_TRUE(w->save(std::nullopt, entries(1, 10, 1)).ok());
    ASSERT_TRUE(w->save(std::nullopt, entries(6, 7, 2)).ok());  // a new leader's log from 6
    EXPECT_EQ(w->last_index(), 7u);
    ASSERT_TRUE(w->sync().ok());
  }
  auto w = open_ok(tmp.path());
  std::vector<Entry> want = entries(1, 5, 1);
  want.push_back(entry(2, 6));
  want.push_back(entry(2, 7));
  EXPECT_EQ(w->recovered().entries, want);
  EXPECT_EQ(w->last_index(), 7u);
  // Appending after an overwrite continues from the new end.
  EXPECT_EQ(w->save(std::nullopt, {entry(2, 9)}).code(), Code::kInvalidArgument);
  EXPECT_TRUE(w->save(std::nullopt, {entry(2, 8)}).ok());
}

TEST(Wal, RefusesEntriesThatDoNotFollowTheLog) {
  TempDir tmp;
  auto w = open_ok(tmp.path());
  EXPECT_EQ(w->save(std::nullopt, {entry(1, 2)}).code(), Code::kInvalidArgument);  // gap
  ASSERT_TRUE(w->save(std::nullopt, entries(1, 3, 1)).ok());
  EXPECT_EQ(w->save(std::nullopt, {entry(1, 4), entry(1, 6)}).code(), Code::kInvalidArgument);
  EXPECT_EQ(w->save(std::nullopt, {entry(1, 5)}).code(), Code::kInvalidArgument);
  ASSERT_TRUE(w->save_snapshot_marker(SnapshotMeta{2, 1, {}}, SnapshotKind::kCompacted).ok());
  EXPECT_EQ(w->save(std::nullopt, {entry(1, 2)}).code(), Code::kInvalidArgument);  // under it
  EXPECT_EQ(w->save_snapshot_marker(SnapshotMeta{1, 1, {}}, SnapshotKind::kCompacted).code(),
            Code::kInvalidArgument);
  EXPECT_TRUE(w->failure().ok());  // refusals do not stop the log
  ASSERT_TRUE(w->sync().ok());
  w.reset();
  w = open_ok(tmp.path());
  EXPECT_EQ(w->recovered().entries, entries(3, 3, 1));
}

TEST(Wal, CompactionMarkerKeepsLaterEntries) {
  TempDir tmp;
  SnapshotMeta meta{5, 1, raft::ConfState{{1, 2, 3}, {}}};
  {
    auto w = open_ok(tmp.path());
    ASSERT_TRUE(w->save(HardState{1, 1, 10}, entries(1, 10, 1)).ok());
    ASSERT_TRUE(w->save_snapshot_marker(meta, SnapshotKind::kCompacted).ok());
    EXPECT_EQ(w->last_index(), 10u);
    ASSERT_TRUE(w->sync().ok());
  }
  auto w = open_ok(tmp.path());
  EXPECT_EQ(w->recovered().snapshot, meta);
  EXPECT_EQ(w->recovered().entries, entries(6, 10, 1));
  EXPECT_EQ(w->recovered().hard_state, (HardState{1, 1, 10}));
}

TEST(Wal, InstalledSnapshotRestartsTheLog) {
  TempDir tmp;
  SnapshotMeta meta{7, 3, raft::ConfState{{1}, {2}}};
  {
    auto w = open_ok(tmp.path());
    ASSERT_TRUE(w->save(std::nullopt, entries(1, 10, 1)).ok());
    ASSERT_TRUE(w->save_snapshot_marker(meta, SnapshotKind::kInstalled).ok());
    EXPECT_EQ(w->last_index(), 7u);
    ASSERT_TRUE(w->sync().ok());
  }
  {
    auto w = open_ok(tmp.path());
    EXPECT_EQ(w->recovered().snapshot, meta);
    EXPECT_TRUE(w->recovered().entries.empty());  // 8..10 were from the old log
    EXPECT_EQ(w->last_index(), 7u);
    ASSERT_TRUE(w->save(std::nullopt, {entry(3, 8)}).ok());
    ASSERT_TRUE(w->sync().ok());
  }
  auto w = open_ok(tmp.path());
  EXPECT_EQ(w->recovered().entries, entries(8, 8, 3));
}

TEST(Wal, InstalledSnapshotBeyondTheLog) {
  TempDir tmp;
  auto w = open_ok(tmp.path());
  ASSERT_TRUE(w->save(std::nullopt, entries(1, 3, 1)).ok());
  ASSERT_TRUE(w->save_snapshot_marker(SnapshotMeta{100, 4, {}}, SnapshotKind::kInstalled).ok());
  EXPECT_EQ(w->save(std::nullopt, {entry(4, 4)}).code(), Code::kInvalidArgument);
  ASSERT_TRUE(w->save(std::nullopt, {entry(4, 101)}).ok());
  ASSERT_TRUE(w->sync().ok());
  w.reset();
  w = open_ok(tmp.path());
  EXPECT_EQ(w->recovered().snapshot->index, 100u);
  EXPECT_EQ(w->recovered().entries, entries(101, 101, 4));
}

TEST(Wal, SegmentsRollWhenFull) {
  TempDir tmp;
  std::vector<Entry> all;
  {
    auto w = open_ok(tmp.path(), small());
    for (uint64_t i = 1; i <= 200; ++i) {
      all.push_back(entry(1, i, std::string(100, static_cast<char>('a' + i % 26))));
      ASSERT_TRUE(w->save(HardState{1, 1, i - 1}, {all.back()}).ok());
    }
    ASSERT_TRUE(w->sync().ok());
    const auto& segs = w->segments();
    ASSERT_GT(segs.size(), 4u);
    for (size_t i = 0; i < segs.size(); ++i) {
      EXPECT_EQ(segs[i].seq, i + 1);
      if (i > 0) {
        EXPECT_GT(segs[i].first_index, segs[i - 1].first_index);
      }
      std::string path = testing::segment_path(tmp.path(), segs[i]);
      if (i + 1 < segs.size()) {
        EXPECT_LE(testing::file_size(path), kSmallSegment);  // trimmed to its data when finished
        // The next segment starts where this one's entries end.
        auto offs = testing::record_offsets(path);
        EXPECT_EQ(testing::file_size(path), offs.back());
      } else {
        EXPECT_EQ(testing::file_size(path), kSmallSegment);  // preallocated
      }
    }
    EXPECT_EQ(segs[0].first_index, 1u);
  }
  auto w = open_ok(tmp.path(), small());
  EXPECT_EQ(w->recovered().entries, all);
  EXPECT_EQ(w->recovered().hard_state, (HardState{1, 1, 199}));
}

TEST(Wal, SegmentFirstIndexIsTheNextIndexAtCreation) {
  TempDir tmp;
  auto w = open_ok(tmp.path(), small());
  uint64_t next = 1;
  size_t seen = 1;
  while (w->segments().size() < 4) {
    ASSERT_TRUE(w->save(std::nullopt, {entry(1, next, std::string(300, 'x'))}).ok());
    if (w->segments().size() != seen) {
      seen = w->segments().size();
      EXPECT_EQ(w->segments().back().first_index, next);
    }
    ++next;
  }
}

TEST(Wal, EntryLargerThanASegmentGetsItsOwn) {
  TempDir tmp;
  Entry big = entry(1, 3, std::string(3 * kSmallSegment, 'B'));
  {
    auto w = open_ok(tmp.path(), small());
    ASSERT_TRUE(w->save(std::nullopt, entries(1, 2, 1)).ok());
    ASSERT_TRUE(w->save(std::nullopt, {big}).ok());
    ASSERT_TRUE(w->save(std::nullopt, {entry(1, 4)}).ok());
    ASSERT_TRUE(w->sync().ok());
    EXPECT_EQ(w->segments().size(), 3u);
  }
  auto w = open_ok(tmp.path(), small());
  ASSERT_EQ(w->recovered().entries.size(), 4u);
  EXPECT_EQ(w->recovered().entries[2], big);
}

TEST(Wal, ReleaseDeletesOnlySegmentsReplayNoLongerNeeds) {
  TempDir tmp;
  SnapshotMeta meta{150, 1, raft::ConfState{{1, 2}, {}}};
  {
    auto w = open_ok(tmp.path(), small());
    // The only hard state is written early; only the segment copies carry it forward.
    ASSERT_TRUE(w->save(HardState{1, 2, 3}, {}).ok());
    for (uint64_t i = 1; i <= 200; ++i) {
      ASSERT_TRUE(w->save(std::nullopt, {entry(1, i, std::string(100, 'r'))}).ok());
    }
    // Not before a marker covers the index.
    EXPECT_EQ(w->release_to(150).code(), Code::kInvalidArgument);
    ASSERT_TRUE(w->save_snapshot_marker(meta, SnapshotKind::kCompacted).ok());
    EXPECT_EQ(w->release_to(151).code(), Code::kInvalidArgument);
    // Accepted once the marker is written, but nothing goes until the marker is synced.
    std::vector<SegmentId> before = w->segments();
    ASSERT_TRUE(w->release_to(150).ok());
    EXPECT_EQ(w->segments(), before);
    EXPECT_EQ(testing::dir_names(tmp.path()).size(), before.size() + 1);  // and the spare
    ASSERT_TRUE(w->sync().ok());
    const std::vector<SegmentId>& after = w->segments();
    ASSERT_LT(after.size(), before.size());
    // The first kept segment is the last one that starts at or below 151.
    EXPECT_LE(after.front().first_index, 151u);
    for (size_t i = 1; i < after.size(); ++i) EXPECT_GT(after[i].first_index, 151u);
    EXPECT_EQ(after.front().seq, before[before.size() - after.size()].seq);
    EXPECT_EQ(testing::dir_names(tmp.path()).size(), after.size() + 1);
    // Releasing again changes nothing; releasing below changes nothing.
    ASSERT_TRUE(w->release_to(150).ok());
    ASSERT_TRUE(w->release_to(10).ok());
    EXPECT_EQ(w->segments().size(), after.size());
  }
  auto w = open_ok(tmp.path(), small());
  EXPECT_EQ(w->recovered().snapshot, meta);
  EXPECT_EQ(w->recovered().hard_state, (HardState{1, 2, 3}));
  ASSERT_EQ(w->recovered().entries.size(), 50u);
  EXPECT_EQ(w->recovered().entries.front().index, 151u);
  EXPECT_EQ(w->recovered().entries.back().index, 200u);
}

TEST(Wal, ReleaseNeverDeletesTheCurrentSegment) {
  TempDir tmp;
  auto w = open_ok(tmp.path(), small());
  for (uint64_t i = 1; i <= 100; ++i) {
    ASSERT_TRUE(w->save(std::nullopt, {entry(1, i, std::string(100, 'r'))}).ok());
  }
  ASSERT_TRUE(w->save_snapshot_marker(SnapshotMeta{100, 1, {}}, SnapshotKind::kCompacted).ok());
  ASSERT_TRUE(w->sync().ok());
  ASSERT_TRUE(w->release_to(100).ok());
  ASSERT_EQ(w->segments().size(), 1u);
  ASSERT_TRUE(w->save(std::nullopt, {entry(1, 101)}).ok());
  ASSERT_TRUE(w->sync().ok());
  w.reset();
  w = open_ok(tmp.path(), small());
  EXPECT_EQ(w->recovered().snapshot->index, 100u);
  EXPECT_EQ(w->recovered().entries, entries(101, 101, 1));
}

TEST(Wal, ReleaseAfterAnOverwriteKeepsEveryLiveEntry) {
  TempDir tmp;
  auto w = open_ok(tmp.path(), small());
  for (uint64_t i = 1; i <= 120; ++i) {
    ASSERT_TRUE(w->save(std::nullopt, {entry(1, i, std::string(100, 'a'))}).ok());
  }
  // A new leader rewrites from 40 on; the later segments' first indexes go down.
  for (uint64_t i = 40; i <= 90; ++i) {
    ASSERT_TRUE(w->save(std::nullopt, {entry(2, i, std::string(100, 'b'))}).ok());
  }
  ASSERT_TRUE(w->save_snapshot_marker(SnapshotMeta{60, 2, {}}, SnapshotKind::kCompacted).ok());
  ASSERT_TRUE(w->sync().ok());
  ASSERT_TRUE(w->release_to(60).ok());
  w.reset();
  w = open_ok(tmp.path(), small());
  const auto& es = w->recovered().entries;
  ASSERT_EQ(es.size(), 30u);
  for (size_t i = 0; i < es.size(); ++i) {
    EXPECT_EQ(es[i].index, 61 + i);
    EXPECT_EQ(es[i].term, 2u);
  }
}

// Random operations against a model of what the log must hold, with reopens and releases.
TEST(Wal, RandomOperationsMatchAModel) {
  size_t segments_released = 0, reopens = 0, overwrites = 0, installs = 0;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    TempDir tmp;
    std::mt19937_64 rng(seed);
    auto w = open_ok(tmp.path(), WalOptions{.segment_bytes = 2048});

    std::vector<Entry> log;  // the model: entries after the snapshot
    std::optional<SnapshotMeta> snap;
    std::optional<HardState> hs;
    uint64_t term = 1;
    uint64_t synced_marker = 0;
    auto floor = [&] { return snap ? snap->index : 0; };
    auto last = [&] { return log.empty() ? floor() : log.back().index; };

    for (int step = 0; step < 400; ++step) {
      int op = static_cast<int>(rng() % 100);
      if (op < 50) {  // append, sometimes overwriting
        uint64_t lo = floor() + 1;
        uint64_t first = last() + 1;
        if (rng() % 4 == 0 && last() >= lo) {
          first = lo + rng() % (last() - lo + 1);
          ++term;
          ++overwrites;
        }
        std::vector<Entry> es;
        for (uint64_t i = 0, n = 1 + rng() % 4; i < n; ++i) {
          es.push_back(entry(term, first + i, std::string(rng() % 200, 'e')));
        }
        std::optional<HardState> h;
        if (rng() % 2) h = HardState{term, rng() % 3, first - 1};
        ASSERT_TRUE(w->save(h, es).ok());
        while (!log.empty() && log.back().index >= first) log.pop_back();
        for (auto& e : es) log.push_back(e);
        if (h) hs = h;
      } else if (op < 58 && !log.empty()) {  // compaction
        uint64_t s = log.front().index + rng() % log.size();
        SnapshotMeta m{s, log[s - log.front().index].term, raft::ConfState{{1, s}, {}}};
        ASSERT_TRUE(w->save_snapshot_marker(m, SnapshotKind::kCompacted).ok());
        while (!log.empty() && log.front().index <= s) log.erase(log.begin());
        snap = m;
      } else if (op < 62) {  // installed snapshot, maybe beyond the log
        SnapshotMeta m{floor() + rng() % 20, ++term, {}};
        ASSERT_TRUE(w->save_snapshot_marker(m, SnapshotKind::kInstalled).ok());
        log.clear();
        snap = m;
        ++installs;
      } else if (op < 80) {
        ASSERT_TRUE(w->sync().ok());
        synced_marker = floor();
      } else if (op < 90) {
        // Up to the synced marker (at once) or the written one (after the next sync).
        uint64_t limit = rng() % 2 ? synced_marker : floor();
        uint64_t to = rng() % (limit + 1);
        size_t n = w->segments().size();
        ASSERT_TRUE(w->release_to(to).ok());
        segments_released += n - w->segments().size();
      } else {  // crash-free restart: sync, reopen, compare
        ASSERT_TRUE(w->sync().ok());
        synced_marker = floor();
        w.reset();
        w = open_ok(tmp.path(), WalOptions{.segment_bytes = 2048});
        ASSERT_TRUE(w);
        ++reopens;
        const Recovered& r = w->recovered();
        ASSERT_EQ(r.entries, log) << "step " << step;
        ASSERT_EQ(r.snapshot, snap) << "step " << step;
        ASSERT_EQ(r.hard_state, hs) << "step " << step;
        ASSERT_EQ(w->last_index(), last());
      }
    }
    ASSERT_TRUE(w->sync().ok());
    w.reset();
    w = open_ok(tmp.path(), WalOptions{.segment_bytes = 2048});
    EXPECT_EQ(w->recovered().entries, log);
    EXPECT_EQ(w->recovered().snapshot, snap);
    EXPECT_EQ(w->recovered().hard_state, hs);
  }
  // The run exercised what it is meant to check.
  EXPECT_GT(segments_released, 20u);
  EXPECT_GT(reopens, 20u);
  EXPECT_GT(overwrites, 20u);
  EXPECT_GT(installs, 20u);
  std::printf("released %zu segments, %zu reopens, %zu overwrites, %zu installs\n",
              segments_released, reopens, overwrites, installs);
}

TEST(Wal, FailedSyncStopsTheLog) {
  TempDir tmp;
  std::atomic<int> fail_sync{0};
  WalOptions opts;
  opts.inject_error = [&](std::string_view op) { return op == "fdatasync" ? fail_sync.load() : 0; };
  auto w = open_ok(tmp.path(), opts);
  ASSERT_TRUE(w->save(std::nullopt, entries(1, 3, 1)).ok());
  ASSERT_TRUE(w->sync().ok());
  ASSERT_TRUE(w->save(std::nullopt, entries(4, 5, 1)).ok());
  fail_sync = EIO;
  Status s = w->sync();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("fdatasync"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("0000000000000001-0000000000000001.wal"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("Input/output error"), std::string::npos) << s.message();
  // Not retryable, even once the disk "recovers".
  fail_sync = 0;
  EXPECT_EQ(w->sync(), s);
  EXPECT_EQ(w->save(std::nullopt, {entry(1, 6)}), s);
  EXPECT_EQ(w->save_snapshot_marker(SnapshotMeta{1, 1, {}}, SnapshotKind::kCompacted), s);
  EXPECT_EQ(w->failure(), s);
}

TEST(Wal, FailedWriteStopsTheLogAndNamesTheError) {
  TempDir tmp;
  WalOptions opts;
  std::atomic<int> fail_write{0};
  opts.inject_error = [&](std::string_view op) { return op == "write" ? fail_write.load() : 0; };
  auto w = open_ok(tmp.path(), opts);
  ASSERT_TRUE(w->save(std::nullopt, entries(1, 3, 1)).ok());
  fail_write = ENOSPC;
  Status s = w->save(std::nullopt, {entry(1, 4)});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("No space left on device"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(tmp.path()), std::string::npos) << s.message();
  fail_write = 0;
  EXPECT_EQ(w->sync(), s);
}

TEST(Wal, AFullDiskIsSeenAheadThenWaitedOut) {
  TempDir tmp;
  WalOptions opts = small();
  opts.space_retry = std::chrono::milliseconds(5);
  std::atomic<bool> spare_fails{false};
  std::atomic<int> creates_failing{0}, create_calls{0};
  opts.inject_error = [&](std::string_view op) {
    if (op == "spare") return spare_fails.load() ? ENOSPC : 0;
    if (op != "create") return 0;
    ++create_calls;
    if (creates_failing > 0) {
      --creates_failing;
      return ENOSPC;
    }
    return 0;
  };
  auto w = open_ok(tmp.path(), opts);
  EXPECT_FALSE(w->low_space());
  EXPECT_TRUE(std::filesystem::exists(tmp.sub("spare.wal.tmp")));
  create_calls = 0;  // the first segment's
  spare_fails = true;
  uint64_t i = 0;
  auto write_until_segments = [&](size_t n) {
    while (w->segments().size() < n) {
      ++i;
      ASSERT_TRUE(w->save(std::nullopt, {entry(1, i, std::string(200, 'x'))}).ok());
    }
  };
  // The first roll takes the spare (no "create"); making the next spare fails: low space, while
  // the new segment still has room.
  write_until_segments(2);
  EXPECT_EQ(create_calls, 0);
  EXPECT_TRUE(w->low_space());
  EXPECT_FALSE(std::filesystem::exists(tmp.sub("spare.wal.tmp")));
  ASSERT_TRUE(w->save(std::nullopt, {entry(1, ++i)}).ok());
  // The next roll has no spare: it creates the segment, waiting while the disk is full.
  creates_failing = 3;
  write_until_segments(3);
  EXPECT_EQ(create_calls, 4);
  EXPECT_TRUE(w->failure().ok());
  EXPECT_TRUE(w->low_space());  // still no spare
  // Space returns.
  spare_fails = false;
  EXPECT_TRUE(w->prepare_spare().ok());
  EXPECT_FALSE(w->low_space());
  ASSERT_TRUE(w->sync().ok());
  w.reset();
  w = open_ok(tmp.path(), opts);
  ASSERT_EQ(w->recovered().entries.size(), i);
  EXPECT_EQ(w->recovered().entries.back().index, i);
}

TEST(Wal, AWaitForSpaceEndsWhenCancelled) {
  TempDir tmp;
  WalOptions opts = small();
  opts.space_retry = std::chrono::milliseconds(5);
  std::atomic<int> create_calls{0};
  std::atomic<bool> full{false};
  opts.inject_error = [&](std::string_view op) {
    if (!full) return 0;
    if (op == "spare") return ENOSPC;
    if (op == "create") return ++create_calls, ENOSPC;
    return 0;
  };
  auto w = open_ok(tmp.path(), opts);
  full = true;
  // The spare goes with the first roll; the next cannot be made.
  Status s;
  std::thread writer([&] {
    for (uint64_t i = 1; i <= 1000 && s.ok(); ++i) {
      s = w->save(std::nullopt, {entry(1, i, std::string(200, 'x'))});
      if (i == 1) {
        EXPECT_FALSE(w->low_space());
      }
    }
  });
  while (create_calls < 3) std::this_thread::yield();  // waiting for space, trying again
  w->cancel_waits();
  writer.join();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("No space left on device"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(".wal.tmp"), std::string::npos) << s.message();
  EXPECT_EQ(w->failure(), s);
  // What was written before the roll is intact (the roll synced it); no temporary file is left.
  w.reset();
  opts.inject_error = nullptr;
  w = open_ok(tmp.path(), opts);
  EXPECT_FALSE(w->recovered().entries.empty());
  for (const auto& f : std::filesystem::directory_iterator(tmp.path())) {
    EXPECT_TRUE(f.path().filename() == "spare.wal.tmp" || f.path().extension() == ".wal") << f.path();
  }
}

TEST(Wal, SyncWithNothingWrittenIsFree) {
  TempDir tmp;
  auto w = open_ok(tmp.path());
  uint64_t base = w->syncs();
  ASSERT_TRUE(w->sync().ok());
  EXPECT_EQ(w->syncs(), base);
  ASSERT_TRUE(w->save(HardState{1, 0, 0}, {}).ok());
  ASSERT_TRUE(w->sync().ok());
  ASSERT_TRUE(w->sync().ok());
  EXPECT_EQ(w->syncs(), base + 1);
}

TEST(Wal, TinySegmentSizeIsRefused) {
  TempDir tmp;
  EXPECT_EQ(Wal::open(tmp.path(), WalOptions{.segment_bytes = 8}).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace dkv::wal
