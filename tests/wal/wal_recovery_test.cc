// Recovery from crashes and damage: torn or corrupt tails are cut off, anything else is an error
// that names the file and offset.
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "wal/record.h"
#include "wal/wal.h"
#include "wal_test_util.h"

namespace dkv::wal {
namespace {

using raft::Entry;
using raft::HardState;
using testing::entries;
using testing::entry;
using testing::TempDir;

constexpr uint64_t kSegmentBytes = 64 << 10;

WalOptions opts() { return WalOptions{.segment_bytes = kSegmentBytes}; }

const std::string kFirstSegment = "0000000000000001-0000000000000001.wal";

// Entries 1..5 and a hard state in one batch, then entry 6 alone: entry 6 is the last record.
struct Written {
  std::string path;
  size_t last_start = 0;  // where the last record starts
  size_t data_end = 0;    // where the data ends
  std::vector<size_t> offsets;
};

Written write_log(const std::string& dir) {
  {
    auto w = Wal::open(dir, opts());
    EXPECT_TRUE(w.ok());
    EXPECT_TRUE((*w)->save(HardState{1, 1, 4}, entries(1, 5, 1)).ok());
    EXPECT_TRUE((*w)->save(std::nullopt, {entry(1, 6, std::string(40, 'L'))}).ok());
    EXPECT_TRUE((*w)->sync().ok());
  }
  Written out;
  out.path = dir + "/" + kFirstSegment;
  out.offsets = testing::record_offsets(out.path);
  EXPECT_EQ(out.offsets.size(), 8u);  // 5 entries, a hard state, entry 6, the end
  out.data_end = out.offsets.back();
  out.last_start = out.offsets[out.offsets.size() - 2];
  return out;
}

// Opens the damaged log and checks that exactly entry 6 was cut off, that the file is clean
// (preallocated zeros) after the cut, and that appending and reopening then work.
void expect_tail_cut_and_usable(const std::string& dir, const Written& wr, const std::string& what) {
  SCOPED_TRACE(what);
  {
    auto w = Wal::open(dir, opts());
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    EXPECT_EQ((*w)->recovered().entries, entries(1, 5, 1));
    EXPECT_EQ((*w)->recovered().hard_state, (HardState{1, 1, 4}));
    EXPECT_EQ((*w)->last_index(), 5u);
    std::string bytes = testing::read_file_bytes(wr.path);
    EXPECT_EQ(bytes.size(), kSegmentBytes);
    EXPECT_TRUE(all_zero(std::string_view(bytes).substr(wr.last_start)));
    ASSERT_TRUE((*w)->save(HardState{2, 1, 5}, {entry(2, 6, "replacement")}).ok());
    ASSERT_TRUE((*w)->sync().ok());
  }
  auto w = Wal::open(dir, opts());
  ASSERT_TRUE(w.ok()) << w.status().to_string();
  std::vector<Entry> want = entries(1, 5, 1);
  want.push_back(entry(2, 6, "replacement"));
  EXPECT_EQ((*w)->recovered().entries, want);
  EXPECT_EQ((*w)->recovered().hard_state, (HardState{2, 1, 5}));
}

void expect_hard_error(const std::string& dir, const std::string& file, size_t offset) {
  std::string before = testing::read_file_bytes(dir + "/" + file);
  auto w = Wal::open(dir, opts());
  ASSERT_FALSE(w.ok());
  const std::string& msg = w.status().message();
  EXPECT_NE(msg.find(dir + "/" + file), std::string::npos) << msg;
  EXPECT_NE(msg.find("offset " + std::to_string(offset)), std::string::npos) << msg;
  // Nothing was cut off or rewritten.
  EXPECT_EQ(testing::read_file_bytes(dir + "/" + file), before);
}

TEST(WalRecovery, CleanLogKeepsItsLastRecord) {
  TempDir tmp;
  Written wr = write_log(tmp.path());
  auto w = Wal::open(tmp.path(), opts());
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->recovered().entries.size(), 6u);
}

TEST(WalRecovery, FileTruncatedInsideTheLastRecord) {
  TempDir tmp;
  Written wr = write_log(tmp.path());
  std::string pristine = testing::read_file_bytes(wr.path);
  for (size_t cut = wr.last_start; cut < wr.data_end; ++cut) {
    testing::write_file_bytes(wr.path, pristine);
    testing::truncate_to(wr.path, cut);
    expect_tail_cut_and_usable(tmp.path(), wr, "truncated at " + std::to_string(cut));
  }
}

TEST(WalRecovery, LastRecordPartlyWrittenIntoPreallocatedSpace) {
  TempDir tmp;
  Written wr = write_log(tmp.path());
  std::string pristine = testing::read_file_bytes(wr.path);
  for (size_t cut = wr.last_start; cut < wr.data_end; ++cut) {
    std::string torn = pristine;
    std::fill(torn.begin() + static_cast<ptrdiff_t>(cut), torn.begin() + static_cast<ptrdiff_t>(wr.data_end), '\0');
    testing::write_file_bytes(wr.path, torn);
    expect_tail_cut_and_usable(tmp.path(), wr, "zeros from " + std::to_string(cut));
  }
}

TEST(WalRecovery, FlippedByteInTheLastRecord) {
  TempDir tmp;
  Written wr = write_log(tmp.path());
  std::string pristine = testing::read_file_bytes(wr.path);
  for (size_t at = wr.last_start; at < wr.data_end; ++at) {
    testing::write_file_bytes(wr.path, pristine);
    testing::flip_byte(wr.path, at);
    expect_tail_cut_and_usable(tmp.path(), wr, "flipped byte " + std::to_string(at));
  }
}

TEST(WalRecovery, GarbageAfterTheLastRecord) {
  TempDir tmp;
  std::mt19937_64 rng(5);
  for (int round = 0; round < 20; ++round) {
    TempDir d;
    Written wr = write_log(d.path());
    std::string garbage(1 + rng() % 3000, '\0');
    for (char& c : garbage) c = static_cast<char>(rng());
    if (round == 0) garbage = std::string("\xff\xff\xff\xff\x01", 5) + garbage;  // huge length
    testing::patch_file(wr.path, wr.data_end, garbage);
    // Here the last valid record is entry 6, so the garbage alone is cut.
    auto w = Wal::open(d.path(), opts());
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    EXPECT_EQ((*w)->recovered().entries.size(), 6u);
    EXPECT_TRUE(all_zero(std::string_view(testing::read_file_bytes(wr.path)).substr(wr.data_end)));
    ASSERT_TRUE((*w)->save(std::nullopt, {entry(1, 7)}).ok());
    ASSERT_TRUE((*w)->sync().ok());
    w = Wal::open(d.path(), opts());
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    EXPECT_EQ((*w)->recovered().entries.size(), 7u);
  }
}

TEST(WalRecovery, CorruptRecordBeforeTheTailIsAHardError) {
  TempDir tmp;
  Written wr = write_log(tmp.path());
  std::string pristine = testing::read_file_bytes(wr.path);
  // Every byte of every record but the last.
  for (size_t at = wr.offsets.front(); at < wr.last_start; ++at) {
    testing::write_file_bytes(wr.path, pristine);
    testing::flip_byte(wr.path, at);
    size_t rec = *(std::upper_bound(wr.offsets.begin(), wr.offsets.end(), at) - 1);
    SCOPED_TRACE("flipped byte " + std::to_string(at));
    expect_hard_error(tmp.path(), kFirstSegment, rec);
  }
}

TEST(WalRecovery, ZeroedRecordFollowedByValidOnesIsAHardError) {
  TempDir tmp;
  Written wr = write_log(tmp.path());
  size_t start = wr.offsets[2], end = wr.offsets[3];
  testing::patch_file(wr.path, start, std::string(end - start, '\0'));
  expect_hard_error(tmp.path(), kFirstSegment, start);
}

TEST(WalRecovery, RecordThatDoesNotDecodeIsAHardError) {
  TempDir tmp;
  Written wr = write_log(tmp.path());
  std::string rec;
  append_record(RecordType::kEntry, "\x01 not an entry", &rec);  // checksums fine, content not
  testing::patch_file(wr.path, wr.data_end, rec);
  expect_hard_error(tmp.path(), kFirstSegment, wr.data_end);
}

class WalRecoveryTwoSegments : public ::testing::Test {
 protected:
  void SetUp() override {
    auto w = Wal::open(tmp_.path(), opts());
    ASSERT_TRUE(w.ok());
    uint64_t i = 1;
    while ((*w)->segments().size() < 2) {
      ASSERT_TRUE((*w)->save(std::nullopt, {entry(1, i++, std::string(1000, 'x'))}).ok());
    }
    ASSERT_TRUE((*w)->save(std::nullopt, {entry(1, i)}).ok());
    ASSERT_TRUE((*w)->sync().ok());
    segs_ = (*w)->segments();
  }

  std::string path(size_t i) const { return testing::segment_path(tmp_.path(), segs_[i]); }
  std::string name(size_t i) const { return segment_file_name(segs_[i]); }

  TempDir tmp_;
  std::vector<SegmentId> segs_;
};

TEST_F(WalRecoveryTwoSegments, CorruptLastRecordOfAnEarlierSegmentIsAHardError) {
  auto offs = testing::record_offsets(path(0));
  size_t last = offs[offs.size() - 2];
  testing::flip_byte(path(0), last + 20);
  expect_hard_error(tmp_.path(), name(0), last);
}

TEST_F(WalRecoveryTwoSegments, TornEarlierSegmentIsAHardError) {
  auto offs = testing::record_offsets(path(0));
  size_t last = offs[offs.size() - 2];
  testing::truncate_to(path(0), last + 5);
  expect_hard_error(tmp_.path(), name(0), last);
}

TEST_F(WalRecoveryTwoSegments, BadSegmentHeaderIsAHardError) {
  testing::flip_byte(path(1), 3);
  auto w = Wal::open(tmp_.path(), opts());
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find(path(1)), std::string::npos) << w.status().message();
  EXPECT_NE(w.status().message().find("header"), std::string::npos) << w.status().message();
}

TEST_F(WalRecoveryTwoSegments, HeaderThatDisagreesWithTheNameIsAHardError) {
  SegmentId renamed{segs_[1].seq, segs_[1].first_index + 1};
  ASSERT_EQ(std::rename(path(1).c_str(), testing::segment_path(tmp_.path(), renamed).c_str()), 0);
  auto w = Wal::open(tmp_.path(), opts());
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find(segment_file_name(renamed)), std::string::npos);
}

TEST_F(WalRecoveryTwoSegments, MissingSegmentIsAHardError) {
  // A third segment, then the middle one goes missing.
  {
    auto w = Wal::open(tmp_.path(), opts());
    ASSERT_TRUE(w.ok());
    uint64_t i = (*w)->last_index() + 1;
    while ((*w)->segments().size() < 3) {
      ASSERT_TRUE((*w)->save(std::nullopt, {entry(1, i++, std::string(1000, 'y'))}).ok());
    }
    ASSERT_TRUE((*w)->sync().ok());
  }
  ASSERT_EQ(std::remove(path(1).c_str()), 0);
  auto w = Wal::open(tmp_.path(), opts());
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("missing"), std::string::npos) << w.status().message();
}

TEST_F(WalRecoveryTwoSegments, TornTailOfTheLastSegmentIsCutOff) {
  auto offs = testing::record_offsets(path(1));
  size_t last = offs[offs.size() - 2];
  testing::truncate_to(path(1), last + 7);
  auto w = Wal::open(tmp_.path(), opts());
  ASSERT_TRUE(w.ok()) << w.status().to_string();
  uint64_t n = (*w)->recovered().entries.size();
  EXPECT_EQ((*w)->last_index(), n);
  EXPECT_EQ(testing::file_size(path(1)), kSegmentBytes);
  ASSERT_TRUE((*w)->save(std::nullopt, {entry(1, n + 1)}).ok());
}

// Random damage anywhere: open never crashes, and when it succeeds it returns a prefix of what
// was written (checksums never let damage invent or reorder data).
TEST(WalRecovery, RandomDamageGivesAnErrorOrAPrefix) {
  TempDir tmp;
  std::vector<Entry> written;
  std::vector<SegmentId> segs;
  {
    auto w = Wal::open(tmp.path(), WalOptions{.segment_bytes = 4096});
    ASSERT_TRUE(w.ok());
    for (uint64_t i = 1; i <= 100; ++i) {
      written.push_back(entry(1, i, std::string(i * 7 % 250, 'd')));
      ASSERT_TRUE((*w)->save(HardState{1, 1, i}, {written.back()}).ok());
    }
    ASSERT_TRUE((*w)->sync().ok());
    segs = (*w)->segments();
  }
  ASSERT_GE(segs.size(), 3u);
  std::vector<std::string> pristine;
  for (const auto& id : segs) pristine.push_back(testing::read_file_bytes(testing::segment_path(tmp.path(), id)));

  std::mt19937_64 rng(11);
  int opened = 0, refused = 0;
  for (int round = 0; round < 300; ++round) {
    for (size_t i = 0; i < segs.size(); ++i) {
      testing::write_file_bytes(testing::segment_path(tmp.path(), segs[i]), pristine[i]);
    }
    size_t victim = rng() % segs.size();
    std::string path = testing::segment_path(tmp.path(), segs[victim]);
    std::string bytes = pristine[victim];
    size_t data_end = testing::record_offsets(path).back();
    switch (rng() % 3) {
      case 0:  // flip a few bytes
        for (int k = 0, n = 1 + static_cast<int>(rng() % 3); k < n; ++k) {
          bytes[rng() % data_end] ^= static_cast<char>(1 + rng() % 255);
        }
        break;
      case 1:  // truncate
        bytes.resize(rng() % (data_end + 1));
        break;
      default:  // garbage over the end of the data
        for (size_t k = data_end, n = rng() % 200; k < bytes.size() && n > 0; ++k, --n) {
          bytes[k] = static_cast<char>(rng());
        }
        break;
    }
    testing::write_file_bytes(path, bytes);
    auto w = Wal::open(tmp.path(), WalOptions{.segment_bytes = 4096});
    if (!w.ok()) {
      ++refused;
      EXPECT_EQ(w.status().message().rfind("wal: ", 0), 0u) << w.status().message();
      continue;
    }
    ++opened;
    const auto& got = (*w)->recovered().entries;
    ASSERT_LE(got.size(), written.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], written[i]) << "round " << round;
    if (victim + 1 < segs.size() && bytes != pristine[victim]) {
      ADD_FAILURE() << "damage before the last segment was accepted, round " << round;
    }
  }
  EXPECT_GT(opened, 20);
  EXPECT_GT(refused, 20);
}

TEST(WalRecovery, LeftoverTemporarySegmentIsRemoved) {
  TempDir tmp;
  write_log(tmp.path());
  std::string leftover = tmp.sub("0000000000000002-0000000000000007.wal.tmp");
  testing::write_file_bytes(leftover, "half a segment");
  auto w = Wal::open(tmp.path(), opts());
  ASSERT_TRUE(w.ok()) << w.status().to_string();
  EXPECT_EQ((*w)->recovered().entries.size(), 6u);
  EXPECT_EQ(testing::dir_names(tmp.path()), (std::vector<std::string>{kFirstSegment, "spare.wal.tmp"}));
}

}  // namespace
}  // namespace dkv::wal
