// Record: one stored version of a key, packed into a single heap block.
//
// Memory per key is a headline figure (the target is under Redis's ~200 bytes for a 16-byte key
// and a 100-byte value), so a record is one allocation holding the key, the value and varint-
// packed metadata, with optional parts (expiry, lease, entity/content type/labels) present only
// when used. Records are immutable once built: an update builds a new record and the old one
// becomes MVCC history.
//
// Layout: [u32 key_len][u32 value_len][u8 meta_len][u8 flags][key][meta][value][ext]
//   meta: varints version, create_revision, mod_revision, created_at_ms (zigzag),
//         updated_at_ms - created_at_ms (zigzag), [expires_at_ms (zigzag)], [lease]
//   ext:  varint length, then entity, content type (length-prefixed), label count, labels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "dkv/types.h"

namespace dkv::core {

struct RecordMeta {
  int64_t version = 0;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  int64_t expires_at_ms = 0;  // 0 = never
  int64_t lease = 0;          // 0 = none
};

class Record;
struct RecordDeleter {
  void operator()(Record* r) const;
};
using RecordPtr = std::unique_ptr<Record, RecordDeleter>;

class Record {
 public:
  static RecordPtr create(std::string_view key, std::string_view value, const RecordMeta& meta,
                          std::string_view entity, std::string_view content_type,
                          const Labels& labels);

  Record(const Record&) = delete;
  Record& operator=(const Record&) = delete;

  std::string_view key() const { return {data() + kHeaderSize, key_len()}; }
  std::string_view value() const;
  RecordMeta meta() const;
  int64_t version() const;
  int64_t mod_revision() const;
  int64_t expires_at_ms() const;  // 0 = never
  int64_t lease() const;          // 0 = none

  bool has_ext() const { return flags() & kHasExt; }
  std::string_view entity() const;
  std::string_view content_type() const;
  Labels labels() const;

  // Fills `out` with this version. ttl_ms is computed against now_ms.
  void to_key_value(int64_t now_ms, bool keys_only, KeyValue* out) const;
  KeyValue to_key_value(int64_t now_ms) const {
    KeyValue kv;
    to_key_value(now_ms, false, &kv);
    return kv;
  }

  // Bytes of the block (excluding the allocator's own overhead).
  size_t size() const;

 private:
  friend struct RecordDeleter;
  static constexpr size_t kHeaderSize = 10;
  static constexpr uint8_t kHasExpiry = 1, kHasLease = 2, kHasExt = 4;

  Record() = default;
  const char* data() const { return reinterpret_cast<const char*>(this); }
  uint32_t key_len() const;
  uint32_t value_len() const;
  uint8_t meta_len() const { return static_cast<uint8_t>(data()[8]); }
  uint8_t flags() const { return static_cast<uint8_t>(data()[9]); }
  const char* meta_begin() const { return data() + kHeaderSize + key_len(); }
  const char* ext_begin() const { return meta_begin() + meta_len() + value_len(); }
  std::string_view ext_body() const;  // precondition: has_ext()

  char header_[kHeaderSize];
};

}  // namespace dkv::core
