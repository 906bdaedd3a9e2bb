// Fuzzes WAL record parsing (src/wal/record.cc): what recovery reads back from segment files,
// which may be torn, zero-filled or corrupt.
//
// Input: the bytes of a segment. Checked twice: as they are (nearly every record the fuzzer
// makes fails its CRCs), and rebuilt: the input cut at each "\n" into payloads written as valid
// records (append_record) with one byte then damaged at a place taken from the input's hash,
// so that valid records, torn ones and garbage sit side by side.
//
// Asserts: parse_record and find_valid_record never read outside the buffer (ASan) or crash; a
// record parsed from the rebuilt buffer before the damage has the payload and type written;
// find_valid_record(buf, from) returns exactly the first offset >= from where parse_record finds
// a record (checked against trying every offset); all_zero agrees with a byte loop. The payload
// of each valid record is decoded with the Raft decoder its type calls for, as replay does.
//
// Seeds: segments with entry, hard state and snapshot records (encoded Raft values holding
// example commands), torn at the end, followed by zeros, or with a record damaged in the middle.
// DKV_FUZZ_WRITE_CORPUS=<dir> writes them.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core_examples.h"
#include "fuzz_util.h"
#include "raft/codec.h"
#include "wal/record.h"

namespace dkv::fuzz {
namespace {

using wal::ParseResult;
using wal::RecordType;
using wal::RecordView;

void decode_payload(const RecordView& rec) {
  switch (rec.type) {
    case RecordType::kEntry: (void)raft::decode_entry(rec.payload); break;
    case RecordType::kHardState: (void)raft::decode_hard_state(rec.payload); break;
    case RecordType::kSnapshot:
    case RecordType::kSnapshotInstalled: (void)raft::decode_snapshot_meta(rec.payload); break;
  }
}

// The checks any buffer must pass.
void scan(std::string_view buf) {
  bool zero = true;
  for (char c : buf) zero = zero && c == 0;
  FUZZ_CHECK(wal::all_zero(buf) == zero, "all_zero disagrees with a byte loop");

  // Every offset: whether a record starts there.
  std::vector<bool> starts(buf.size() + 1, false);
  for (size_t off = 0; off <= buf.size(); ++off) {
    RecordView rec{};
    ParseResult r = wal::parse_record(buf, off, &rec);
    if (r == ParseResult::kRecord) {
      starts[off] = true;
      FUZZ_CHECK(rec.payload.data() == buf.data() + off + wal::kRecordHeaderBytes &&
                     off + wal::kRecordHeaderBytes + rec.payload.size() <= buf.size(),
                 "a record at %zu has its payload outside the buffer", off);
      decode_payload(rec);
    }
  }
  // The first record at or after each offset.
  std::vector<std::optional<size_t>> next(buf.size() + 1);
  for (size_t off = buf.size(); off-- > 0;) next[off] = starts[off] ? std::optional<size_t>(off) : next[off + 1];
  // find_valid_record from every offset of a short buffer, from 64 of a longer one.
  const size_t step = buf.size() <= 256 ? 1 : buf.size() / 64;
  for (size_t from = 0; from <= buf.size(); from += step) {
    std::optional<size_t> found = wal::find_valid_record(buf, from);
    FUZZ_CHECK(found == next[from], "find_valid_record(%zu) = %lld, the first record at or after it is at %lld",
               from, found ? static_cast<long long>(*found) : -1LL,
               next[from] ? static_cast<long long>(*next[from]) : -1LL);
  }
}

void check(std::string_view input) {
  scan(input);

  // Rebuilt: valid records of the input's lines.
  std::string buf;
  std::vector<std::pair<size_t, std::string_view>> written;  // offset, payload
  uint64_t h = 1469598103934665603ull;
  size_t start = 0;
  for (size_t i = 0; i <= input.size(); ++i) {
    if (i < input.size()) h = (h ^ static_cast<unsigned char>(input[i])) * 1099511628211ull;
    if (i == input.size() || input[i] == '\n') {
      std::string_view payload = input.substr(start, i - start);
      const auto type = static_cast<RecordType>(1 + (payload.empty() ? 0 : static_cast<uint8_t>(payload[0]) % 4));
      written.emplace_back(buf.size(), payload);
      wal::append_record(type, payload, &buf);
      RecordView rec{};
      FUZZ_CHECK(wal::parse_record(buf, written.back().first, &rec) == ParseResult::kRecord &&
                     rec.payload == payload && rec.type == type,
                 "a record just appended does not parse back");
      start = i + 1;
    }
  }
  buf.append(h % 3 == 0 ? 0 : 64, '\0');  // preallocated space after the data
  for (const auto& [offset, payload] : written) {
    RecordView rec{};
    FUZZ_CHECK(wal::parse_record(buf, offset, &rec) == ParseResult::kRecord && rec.payload == payload,
               "the record written at %zu does not parse back", offset);
  }
  if (!buf.empty()) {
    const size_t at = static_cast<size_t>((h >> 8) % buf.size());
    switch (h % 4) {
      case 0: buf[at] = static_cast<char>(buf[at] ^ (1 + (h >> 40) % 255)); break;  // corrupt one byte
      case 1: buf.resize(at); break;                                               // torn
      case 2: buf[at] = 0; break;
      default: break;
    }
  }
  scan(buf);
}

void write_corpus(const std::string& dir) {
  using namespace raft;
  std::string segment;
  const SnapshotMeta meta{9, 2, ConfState{{1, 2, 3}, {}}};
  wal::append_record(RecordType::kSnapshot, encode_snapshot_meta(meta), &segment);
  wal::append_record(RecordType::kHardState, encode_hard_state(HardState{2, 1, 9}), &segment);
  uint64_t index = 10;
  for (const core::Command& c : example_commands()) {
    if (index == 16) break;
    wal::append_record(RecordType::kEntry, encode_entry(Entry{2, index++, EntryType::kNormal, core::encode_command(c)}),
                       &segment);
  }
  wal::append_record(RecordType::kSnapshotInstalled, encode_snapshot_meta(SnapshotMeta{15, 2, meta.conf}), &segment);
  size_t n = 0;
  write_seed(dir, seed_name("segment", n++, "clean"), segment);
  write_seed(dir, seed_name("segment", n++, "zeros"), segment + std::string(256, '\0'));
  write_seed(dir, seed_name("segment", n++, "torn"), segment.substr(0, segment.size() - 5));
  std::string damaged = segment;
  damaged[damaged.size() / 2] = static_cast<char>(damaged[damaged.size() / 2] ^ 0x40);
  write_seed(dir, seed_name("segment", n++, "damaged"), damaged);
  write_seed(dir, seed_name("lines", n++, "payloads"), "entry\nhard state\n\nsnapshot\n");
}

}  // namespace
}  // namespace dkv::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dkv::fuzz::maybe_write_corpus(dkv::fuzz::write_corpus);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dkv::fuzz::check(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
