// WAL segment files: naming and the fixed header.
//
// A segment is named <seq>-<first index>.wal, both as 16 lower-case hex digits, e.g.
// 0000000000000001-0000000000000001.wal: `seq` counts segments from 1 with no gaps, and
// `first index` is the index the next entry was going to have when the segment was created.
// (Entries in a segment can still have lower indexes: a new leader may overwrite the log's tail.
// What holds is that every entry in earlier segments that is still live has a lower index; see
// Wal::release_to.)
//
// The file starts with a 32-byte header, then records (record.h), then zeros up to its
// preallocated size:
//
//   offset 0  8 bytes  magic "DKVWAL\r\n"
//          8  u32      format version (1)
//         12  u64      seq
//         20  u64      first index
//         28  u32      masked CRC32C of bytes 0..28
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dkv::wal {

inline constexpr size_t kSegmentHeaderBytes = 32;
inline constexpr uint32_t kSegmentFormatVersion = 1;

struct SegmentId {
  uint64_t seq = 0;
  uint64_t first_index = 0;

  friend bool operator==(const SegmentId&, const SegmentId&) = default;
};

std::string segment_file_name(const SegmentId& id);
// nullopt unless `name` is exactly a segment file name.
std::optional<SegmentId> parse_segment_file_name(std::string_view name);

void append_segment_header(const SegmentId& id, std::string* out);
// nullopt unless `bytes` starts with a valid header (magic, version, CRC).
std::optional<SegmentId> parse_segment_header(std::string_view bytes);

}  // namespace dkv::wal
