#include "wal/record.h"

#include <random>
#include <string>

#include <gtest/gtest.h>

#include "wal/segment.h"

namespace dkv::wal {
namespace {

TEST(Record, RoundTrip) {
  std::string buf;
  append_record(RecordType::kEntry, "hello", &buf);
  append_record(RecordType::kHardState, "", &buf);
  append_record(RecordType::kSnapshotInstalled, std::string(1000, 'x'), &buf);
  ASSERT_EQ(buf.size(), 3 * kRecordHeaderBytes + 5 + 1000);

  RecordView rec;
  size_t pos = 0;
  ASSERT_EQ(parse_record(buf, pos, &rec), ParseResult::kRecord);
  EXPECT_EQ(rec.type, RecordType::kEntry);
  EXPECT_EQ(rec.payload, "hello");
  pos += kRecordHeaderBytes + rec.payload.size();
  ASSERT_EQ(parse_record(buf, pos, &rec), ParseResult::kRecord);
  EXPECT_EQ(rec.type, RecordType::kHardState);
  EXPECT_EQ(rec.payload, "");
  pos += kRecordHeaderBytes;
  ASSERT_EQ(parse_record(buf, pos, &rec), ParseResult::kRecord);
  EXPECT_EQ(rec.type, RecordType::kSnapshotInstalled);
  EXPECT_EQ(rec.payload.size(), 1000u);
  pos += kRecordHeaderBytes + 1000;
  EXPECT_EQ(parse_record(buf, pos, &rec), ParseResult::kEnd);
}

TEST(Record, ZerosEndTheData) {
  std::string buf;
  append_record(RecordType::kEntry, "a", &buf);
  size_t end = buf.size();
  buf.append(100, '\0');
  RecordView rec;
  EXPECT_EQ(parse_record(buf, end, &rec), ParseResult::kEnd);
  EXPECT_EQ(parse_record(buf, buf.size() - 5, &rec), ParseResult::kEnd);  // short run of zeros
  EXPECT_FALSE(find_valid_record(buf, 1).has_value());
}

TEST(Record, EveryTruncationAndEveryFlipIsBad) {
  std::string rec_bytes;
  append_record(RecordType::kEntry, "payload bytes", &rec_bytes);
  RecordView rec;
  for (size_t n = 1; n < rec_bytes.size(); ++n) {
    EXPECT_EQ(parse_record(std::string_view(rec_bytes.data(), n), 0, &rec), ParseResult::kBad) << n;
  }
  for (size_t i = 0; i < rec_bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string b = rec_bytes;
      b[i] = static_cast<char>(b[i] ^ (1 << bit));
      EXPECT_NE(parse_record(b, 0, &rec), ParseResult::kRecord) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(Record, UnknownTypeIsBad) {
  std::string b;
  append_record(RecordType::kEntry, "x", &b);
  b[4] = 9;  // the header CRC no longer matches either, but the type alone must be refused
  RecordView rec;
  EXPECT_EQ(parse_record(b, 0, &rec), ParseResult::kBad);
}

TEST(Record, FindValidRecordSkipsGarbage) {
  std::mt19937_64 rng(3);
  std::string buf(5000, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  EXPECT_FALSE(find_valid_record(buf, 0).has_value());
  size_t at = buf.size();
  append_record(RecordType::kHardState, "state", &buf);
  buf.append(3, '\x07');
  auto found = find_valid_record(buf, 0);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, at);
  EXPECT_FALSE(find_valid_record(buf, at + 1).has_value());
}

TEST(Segment, NamesAndHeaders) {
  SegmentId id{1, 1};
  EXPECT_EQ(segment_file_name(id), "0000000000000001-0000000000000001.wal");
  SegmentId big{0x1a, 0xffffffffffffffffull};
  EXPECT_EQ(segment_file_name(big), "000000000000001a-ffffffffffffffff.wal");
  EXPECT_EQ(parse_segment_file_name(segment_file_name(big)), big);
  for (const char* bad : {"", "0000000000000001-0000000000000001.wa",
                          "0000000000000001-0000000000000001.wal.tmp",
                          "000000000000000G-0000000000000001.wal",
                          "0000000000000001_0000000000000001.wal",
                          "000000000000001-00000000000000001.wal",
                          "0000000000000001-000000000000000A.wal"}) {
    EXPECT_FALSE(parse_segment_file_name(bad).has_value()) << bad;
  }

  std::string h;
  append_segment_header(big, &h);
  ASSERT_EQ(h.size(), kSegmentHeaderBytes);
  EXPECT_EQ(parse_segment_header(h), big);
  for (size_t i = 0; i < h.size(); ++i) {
    std::string b = h;
    b[i] = static_cast<char>(b[i] ^ 1);
    EXPECT_FALSE(parse_segment_header(b).has_value()) << i;
  }
  EXPECT_FALSE(parse_segment_header(h.substr(0, 31)).has_value());
}

}  // namespace
}  // namespace dkv::wal
