#include "wal/record.h"

#include <cstring>

#include "wal/crc32c.h"

namespace dkv::wal {

namespace {

void put_u32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}

uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

bool known_type(uint8_t t) {
  return t >= static_cast<uint8_t>(RecordType::kEntry) &&
         t <= static_cast<uint8_t>(RecordType::kSnapshotInstalled);
}

// The first non-zero byte at or after `from`, or buf.size(). Word at a time: the bytes after a
// segment's data are usually megabytes of zeros.
size_t next_nonzero(std::string_view buf, size_t from) {
  size_t i = from;
  for (; i + 8 <= buf.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, buf.data() + i, 8);
    if (w != 0) break;
  }
  while (i < buf.size() && buf[i] == 0) ++i;
  return i;
}

// Checks the header at p (kRecordHeaderBytes readable) and that its payload fits in `room`
// bytes; the cheap part of validation.
bool header_ok(const char* p, size_t room) {
  if (crc32c::unmask(get_u32(p + 9)) != crc32c::extend(0, p, 9)) return false;
  if (!known_type(static_cast<uint8_t>(p[4]))) return false;
  uint32_t len = get_u32(p);
  return len <= kMaxRecordPayloadBytes && len <= room;
}

}  // namespace

bool all_zero(std::string_view s) { return next_nonzero(s, 0) == s.size(); }

void append_record(RecordType type, std::string_view payload, std::string* out) {
  char h[kRecordHeaderBytes];
  put_u32(h, static_cast<uint32_t>(payload.size()));
  h[4] = static_cast<char>(type);
  put_u32(h + 5, crc32c::mask(crc32c::value(payload)));
  put_u32(h + 9, crc32c::mask(crc32c::extend(0, h, 9)));
  out->append(h, sizeof(h));
  out->append(payload);
}

ParseResult parse_record(std::string_view buf, size_t offset, RecordView* rec) {
  size_t room = buf.size() - offset;
  const char* p = buf.data() + offset;
  if (all_zero(std::string_view(p, room < kRecordHeaderBytes ? room : kRecordHeaderBytes))) {
    return ParseResult::kEnd;
  }
  if (room < kRecordHeaderBytes) return ParseResult::kBad;
  if (!header_ok(p, room - kRecordHeaderBytes)) return ParseResult::kBad;
  uint32_t len = get_u32(p);
  std::string_view payload(p + kRecordHeaderBytes, len);
  if (crc32c::unmask(get_u32(p + 5)) != crc32c::value(payload)) return ParseResult::kBad;
  rec->type = static_cast<RecordType>(p[4]);
  rec->payload = payload;
  return ParseResult::kRecord;
}

std::optional<size_t> find_valid_record(std::string_view buf, size_t from) {
  // A header's type byte (at +4) is never zero, so only offsets 4 before a non-zero byte can
  // start a record: runs of zeros are skipped without looking at each offset.
  for (size_t t = next_nonzero(buf, from + 4); t < buf.size(); t = next_nonzero(buf, t + 1)) {
    size_t off = t - 4;
    if (off + kRecordHeaderBytes > buf.size()) break;
    const char* p = buf.data() + off;
    if (!known_type(static_cast<uint8_t>(p[4]))) continue;
    if (!header_ok(p, buf.size() - off - kRecordHeaderBytes)) continue;
    RecordView rec;
    if (parse_record(buf, off, &rec) == ParseResult::kRecord) return off;
  }
  return std::nullopt;
}

}  // namespace dkv::wal
