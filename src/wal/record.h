// WAL records: the unit written to a segment, checksummed on its own.
//
//   offset 0  u32 length      payload bytes (little-endian)
//          4  u8  type        RecordType; 0 is never written
//          5  u32 data_crc    masked CRC32C of the payload
//          9  u32 header_crc  masked CRC32C of bytes 0..9
//         13  payload
//
// The header has its own CRC so that a scan for "is there any valid record after this bad one?"
// (which decides between a torn tail and mid-log corruption) rejects almost every position in
// O(1) instead of checksumming a payload the length field merely claims. Preallocated space is
// zeros, and an all-zero header marks the end of written data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dkv::wal {

enum class RecordType : uint8_t {
  kEntry = 1,              // a raft::Entry (raft/codec.h)
  kHardState = 2,          // a raft::HardState
  kSnapshot = 3,           // a raft::SnapshotMeta: entries up to its index are covered
  kSnapshotInstalled = 4,  // a raft::SnapshotMeta: as kSnapshot, and the log restarts after it
};

inline constexpr size_t kRecordHeaderBytes = 13;
inline constexpr uint32_t kMaxRecordPayloadBytes = 1u << 30;

// Appends one record. Precondition: payload.size() <= kMaxRecordPayloadBytes.
void append_record(RecordType type, std::string_view payload, std::string* out);

struct RecordView {
  RecordType type;
  std::string_view payload;  // into the scanned buffer
};

enum class ParseResult {
  kRecord,  // a valid record; the next one starts at offset + kRecordHeaderBytes + payload size
  kEnd,     // end of the buffer, or zeros where the next header would be
  kBad,     // a truncated, torn or corrupt record
};

// Parses the record starting at `offset` in `buf` (offset <= buf.size()).
ParseResult parse_record(std::string_view buf, size_t offset, RecordView* rec);

// Whether every byte of `s` is zero.
bool all_zero(std::string_view s);

// The offset of the first valid record that starts at or after `from`, if any.
std::optional<size_t> find_valid_record(std::string_view buf, size_t from);

}  // namespace dkv::wal
