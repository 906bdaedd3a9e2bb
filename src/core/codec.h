// Byte-level encoding used by replicated commands, records and snapshots.
//
// Integers are LEB128 varints (signed ones zigzag-encoded first); strings are a varint length
// followed by the bytes. ByteReader never reads past its input and never allocates more than the
// input holds: a truncated or malformed input sets a sticky failure and yields zeros.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "dkv/types.h"

namespace dkv::core {

class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}

  void u8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void varint(uint64_t v);
  void svarint(int64_t v) { varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)); }
  void fixed64(uint64_t v);
  void bytes(std::string_view s) { varint(s.size()); out_->append(s); }
  void raw(std::string_view s) { out_->append(s); }
  void boolean(bool b) { u8(b ? 1 : 0); }

 private:
  std::string* out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}

  uint8_t u8();
  uint64_t varint();
  int64_t svarint() {
    uint64_t v = varint();
    return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
  }
  uint64_t fixed64();
  std::string_view bytes();  // a view into the input
  std::string_view raw(size_t n);
  bool boolean() { return u8() != 0; }

  // A count of items that each take at least `min_item_bytes`: fails (returns 0) when the input
  // cannot possibly hold that many, so a hostile count never drives a huge allocation.
  uint64_t count(size_t min_item_bytes = 1);

  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }
  size_t position() const { return pos_; }
  void fail() { ok_ = false; pos_ = in_.size(); }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Labels as a count and key/value pairs, in key order.
void write_labels(ByteWriter& w, const Labels& labels);
Labels read_labels(ByteReader& r);

// Bytes a varint of `v` takes.
inline size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) { v >>= 7; ++n; }
  return n;
}

// Writes a varint into `p` (which has room for 10 bytes); returns the byte after it.
char* put_varint(char* p, uint64_t v);
// Reads a varint from a buffer known to be well-formed (written by put_varint).
const char* get_varint(const char* p, uint64_t* v);

}  // namespace dkv::core
