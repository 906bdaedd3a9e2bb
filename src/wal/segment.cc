#include "wal/segment.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "wal/crc32c.h"

namespace dkv::wal {

namespace {

constexpr char kMagic[8] = {'D', 'K', 'V', 'W', 'A', 'L', '\r', '\n'};
constexpr std::string_view kSuffix = ".wal";
constexpr size_t kHexDigits = 16;

void put_fixed(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t get_fixed(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

std::optional<uint64_t> parse_hex(std::string_view s) {
  if (s.size() != kHexDigits) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return std::nullopt;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

}  // namespace

std::string segment_file_name(const SegmentId& id) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64 "-%016" PRIx64 ".wal", id.seq, id.first_index);
  return buf;
}

std::optional<SegmentId> parse_segment_file_name(std::string_view name) {
  if (name.size() != 2 * kHexDigits + 1 + kSuffix.size()) return std::nullopt;
  if (name[kHexDigits] != '-' || name.substr(2 * kHexDigits + 1) != kSuffix) return std::nullopt;
  auto seq = parse_hex(name.substr(0, kHexDigits));
  auto first = parse_hex(name.substr(kHexDigits + 1, kHexDigits));
  if (!seq || !first) return std::nullopt;
  return SegmentId{*seq, *first};
}

void append_segment_header(const SegmentId& id, std::string* out) {
  size_t start = out->size();
  out->append(kMagic, sizeof(kMagic));
  put_fixed(out, kSegmentFormatVersion, 4);
  put_fixed(out, id.seq, 8);
  put_fixed(out, id.first_index, 8);
  uint32_t crc = crc32c::extend(0, out->data() + start, out->size() - start);
  put_fixed(out, crc32c::mask(crc), 4);
}

std::optional<SegmentId> parse_segment_header(std::string_view bytes) {
  if (bytes.size() < kSegmentHeaderBytes) return std::nullopt;
  const char* p = bytes.data();
  if (std::memcmp(p, kMagic, sizeof(kMagic)) != 0) return std::nullopt;
  auto crc = static_cast<uint32_t>(get_fixed(p + 28, 4));
  if (crc32c::unmask(crc) != crc32c::extend(0, p, 28)) return std::nullopt;
  if (get_fixed(p + 8, 4) != kSegmentFormatVersion) return std::nullopt;
  return SegmentId{get_fixed(p + 12, 8), get_fixed(p + 20, 8)};
}

}  // namespace dkv::wal
