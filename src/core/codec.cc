#include "core/codec.h"

#include <cstring>

namespace dkv::core {

char* put_varint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

const char* get_varint(const char* p, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0;; shift += 7) {
    auto byte = static_cast<uint8_t>(*p++);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (byte < 0x80) break;
  }
  *v = result;
  return p;
}

void ByteWriter::varint(uint64_t v) {
  char buf[10];
  out_->append(buf, put_varint(buf, v) - buf);
}

void ByteWriter::fixed64(uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(v >> (8 * i));
  out_->append(buf, 8);
}

uint8_t ByteReader::u8() {
  if (pos_ >= in_.size()) { fail(); return 0; }
  return static_cast<uint8_t>(in_[pos_++]);
}

uint64_t ByteReader::varint() {
  uint64_t result = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos_ >= in_.size()) { fail(); return 0; }
    auto byte = static_cast<uint8_t>(in_[pos_++]);
    if (shift == 63 && byte > 1) { fail(); return 0; }
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (byte < 0x80) return result;
  }
  fail();
  return 0;
}

uint64_t ByteReader::fixed64() {
  std::string_view r = raw(8);
  if (r.size() != 8) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(r[i])) << (8 * i);
  return v;
}

std::string_view ByteReader::bytes() {
  uint64_t n = varint();
  if (!ok_ || n > remaining()) { fail(); return {}; }
  return raw(n);
}

std::string_view ByteReader::raw(size_t n) {
  if (n > remaining()) { fail(); return {}; }
  std::string_view r = in_.substr(pos_, n);
  pos_ += n;
  return r;
}

uint64_t ByteReader::count(size_t min_item_bytes) {
  uint64_t n = varint();
  if (!ok_) return 0;
  if (min_item_bytes > 0 && n > remaining() / min_item_bytes) { fail(); return 0; }
  return n;
}

void write_labels(ByteWriter& w, const Labels& labels) {
  w.varint(labels.size());
  for (const auto& [k, v] : labels) {
    w.bytes(k);
    w.bytes(v);
  }
}

Labels read_labels(ByteReader& r) {
  Labels labels;
  uint64_t n = r.count(2);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    std::string k(r.bytes());
    labels[std::move(k)] = std::string(r.bytes());
  }
  return labels;
}

}  // namespace dkv::core
