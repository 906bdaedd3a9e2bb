#include "wal/snapshot_file.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "wal/posix_file.h"

#include "wal_test_util.h"

namespace dkv::wal {
namespace {

using raft::SnapshotMeta;
using testing::TempDir;

SnapshotMeta meta(uint64_t index, uint64_t term) {
  return SnapshotMeta{index, term, raft::ConfState{{1, 2, 3}, {4}}};
}

std::string image(size_t n, char c) { return std::string(n, c); }

TEST(SnapshotFile, SaveThenLoadLatest) {
  TempDir tmp;
  std::string dir = tmp.sub("snap");  // created on first save
  ASSERT_TRUE(save_snapshot(dir, meta(100, 2), *raft::snapshot_data(image(5000, 'a'))).ok());
  ASSERT_TRUE(save_snapshot(dir, meta(300, 3), *raft::snapshot_data(image(7000, 'c'))).ok());
  ASSERT_TRUE(save_snapshot(dir, meta(200, 3), *raft::snapshot_data(image(6000, 'b'))).ok());
  EXPECT_EQ(testing::dir_names(dir),
            (std::vector<std::string>{"0000000000000002-0000000000000064.snap",
                                      "0000000000000003-00000000000000c8.snap",
                                      "0000000000000003-000000000000012c.snap"}));
  auto latest = load_latest_snapshot(dir);
  ASSERT_TRUE(latest.ok()) << latest.status().to_string();
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->meta, meta(300, 3));
  EXPECT_EQ((*latest)->data, image(7000, 'c'));
  EXPECT_EQ((*latest)->path, dir + "/0000000000000003-000000000000012c.snap");
}

TEST(SnapshotFile, EmptyDataAndEmptyMembership) {
  TempDir tmp;
  ASSERT_TRUE(save_snapshot(tmp.path(), SnapshotMeta{}, *raft::snapshot_data("")).ok());
  auto latest = load_latest_snapshot(tmp.path());
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->meta, SnapshotMeta{});
  EXPECT_EQ((*latest)->data, "");
}

// Images larger than the chunk save_snapshot writes at a time, read back whole and through the
// file-backed data, which stays readable after the file's name is removed.
TEST(SnapshotFile, LargeImageReadBackThroughTheFile) {
  TempDir tmp;
  std::string big;
  for (size_t i = 0; big.size() < (9u << 20) + 123; ++i) big += std::to_string(i) + ",";
  ASSERT_TRUE(save_snapshot(tmp.path(), meta(9, 2), *raft::snapshot_data(big)).ok());
  std::string path = tmp.path() + "/" + snapshot_file_name(2, 9);
  auto whole = read_snapshot(path);
  ASSERT_TRUE(whole.ok()) << whole.status().to_string();
  EXPECT_EQ(whole->data, big);

  auto data = open_snapshot_data(path);
  ASSERT_TRUE(data.ok()) << data.status().to_string();
  ASSERT_TRUE(remove_file(path).ok());
  EXPECT_EQ((*data)->size(), big.size());
  std::string part = "prefix:";
  ASSERT_TRUE((*data)->read(5 << 20, 1000, &part).ok());
  EXPECT_EQ(part, "prefix:" + big.substr(5 << 20, 1000));
  auto all = raft::read_all(**data);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, big);
}

TEST(SnapshotFile, OpenDataRefusesAFileOfTheWrongSize) {
  TempDir tmp;
  ASSERT_TRUE(save_snapshot(tmp.path(), meta(7, 1), *raft::snapshot_data("state machine image")).ok());
  std::string path = tmp.path() + "/" + snapshot_file_name(1, 7);
  auto content = read_file(path);
  ASSERT_TRUE(content.ok());
  testing::write_file_bytes(path, content->substr(0, content->size() - 3));
  auto data = open_snapshot_data(path);
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().to_string().find("lengths do not match"), std::string::npos)
      << data.status().to_string();
}

TEST(SnapshotFile, NoSnapshotIsNotAnError) {
  TempDir tmp;
  auto missing = load_latest_snapshot(tmp.sub("never-created"));
  ASSERT_TRUE(missing.ok()) << missing.status().to_string();
  EXPECT_FALSE(missing->has_value());
  testing::write_file_bytes(tmp.sub("unrelated.txt"), "x");
  auto empty = load_latest_snapshot(tmp.path());
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());
}

TEST(SnapshotFile, EveryFlippedByteIsDetected) {
  TempDir tmp;
  ASSERT_TRUE(save_snapshot(tmp.path(), meta(7, 1), *raft::snapshot_data("state machine image")).ok());
  std::string path = tmp.sub(snapshot_file_name(1, 7));
  std::string pristine = testing::read_file_bytes(path);
  for (size_t i = 0; i < pristine.size(); ++i) {
    std::string b = pristine;
    b[i] = static_cast<char>(b[i] ^ 0x10);
    testing::write_file_bytes(path, b);
    auto r = read_snapshot(path);
    ASSERT_FALSE(r.ok()) << "byte " << i;
    EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
  }
}

TEST(SnapshotFile, EveryTruncationAndExtensionIsDetected) {
  TempDir tmp;
  ASSERT_TRUE(save_snapshot(tmp.path(), meta(7, 1), *raft::snapshot_data("state machine image")).ok());
  std::string path = tmp.sub(snapshot_file_name(1, 7));
  std::string pristine = testing::read_file_bytes(path);
  for (size_t n = 0; n < pristine.size(); ++n) {
    testing::write_file_bytes(path, pristine.substr(0, n));
    EXPECT_FALSE(read_snapshot(path).ok()) << n;
  }
  testing::write_file_bytes(path, pristine + "x");
  EXPECT_FALSE(read_snapshot(path).ok());
  // A length field claiming more than the file holds is refused before anything is allocated.
  std::string huge = pristine;
  for (int i = 16; i < 24; ++i) huge[i] = '\xff';
  testing::write_file_bytes(path, huge);
  EXPECT_FALSE(read_snapshot(path).ok());
}

TEST(SnapshotFile, CorruptNewestIsAnErrorNotAFallback) {
  TempDir tmp;
  ASSERT_TRUE(save_snapshot(tmp.path(), meta(10, 1), *raft::snapshot_data("old")).ok());
  ASSERT_TRUE(save_snapshot(tmp.path(), meta(20, 1), *raft::snapshot_data("new")).ok());
  std::string newest = tmp.sub(snapshot_file_name(1, 20));
  testing::flip_byte(newest, testing::file_size(newest) - 6);
  auto r = load_latest_snapshot(tmp.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(newest), std::string::npos) << r.status().message();
}

TEST(SnapshotFile, RenamedFileIsDetected) {
  TempDir tmp;
  ASSERT_TRUE(save_snapshot(tmp.path(), meta(10, 1), *raft::snapshot_data("x")).ok());
  std::string moved = tmp.sub(snapshot_file_name(1, 11));
  ASSERT_EQ(std::rename(tmp.sub(snapshot_file_name(1, 10)).c_str(), moved.c_str()), 0);
  auto r = load_latest_snapshot(tmp.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("name"), std::string::npos) << r.status().message();
}

// A crash during save leaves only a temporary file: readers never see a partial snapshot.
TEST(SnapshotFile, InterruptedSaveLeavesThePreviousSnapshotInForce) {
  TempDir tmp;
  ASSERT_TRUE(save_snapshot(tmp.path(), meta(10, 1), *raft::snapshot_data("complete")).ok());
  testing::write_file_bytes(tmp.sub(snapshot_file_name(2, 50) + ".tmp"), "half of a snap");
  auto r = load_latest_snapshot(tmp.path());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)->meta.index, 10u);
  EXPECT_EQ((*r)->data, "complete");
  // Saving the same snapshot again replaces the file whole.
  ASSERT_TRUE(save_snapshot(tmp.path(), meta(10, 1), *raft::snapshot_data("complete, again")).ok());
  r = load_latest_snapshot(tmp.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->data, "complete, again");
}

TEST(SnapshotFile, PurgeKeepsTheNewest) {
  TempDir tmp;
  for (uint64_t i = 1; i <= 5; ++i) ASSERT_TRUE(save_snapshot(tmp.path(), meta(i * 10, i), *raft::snapshot_data("s")).ok());
  testing::write_file_bytes(tmp.sub(snapshot_file_name(9, 90) + ".tmp"), "leftover");
  testing::write_file_bytes(tmp.sub("keep-me.txt"), "not ours");
  EXPECT_EQ(purge_snapshots(tmp.path(), 0).code(), Code::kInvalidArgument);
  ASSERT_TRUE(purge_snapshots(tmp.path(), 2).ok());
  EXPECT_EQ(testing::dir_names(tmp.path()),
            (std::vector<std::string>{snapshot_file_name(4, 40), snapshot_file_name(5, 50),
                                      "keep-me.txt"}));
  ASSERT_TRUE(purge_snapshots(tmp.path(), 5).ok());
  EXPECT_EQ(testing::dir_names(tmp.path()).size(), 3u);
  auto r = load_latest_snapshot(tmp.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->meta.index, 50u);
}

}  // namespace
}  // namespace dkv::wal
