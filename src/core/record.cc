#include "core/record.h"

#include <cstring>
#include <new>
#include <string>

#include "core/codec.h"

namespace dkv::core {
namespace {

uint64_t zigzag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t unzigzag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

uint32_t load_u32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

void RecordDeleter::operator()(Record* r) const {
  // Records are built by placement into raw storage (see Record::create), so they are released
  // the same way; Record has a trivial destructor.
  ::operator delete(static_cast<void*>(r));
}

RecordPtr Record::create(std::string_view key, std::string_view value, const RecordMeta& m,
                         std::string_view entity, std::string_view content_type,
                         const Labels& labels) {
  char meta[70];
  char* p = meta;
  p = put_varint(p, static_cast<uint64_t>(m.version));
  p = put_varint(p, static_cast<uint64_t>(m.create_revision));
  p = put_varint(p, static_cast<uint64_t>(m.mod_revision));
  p = put_varint(p, zigzag(m.created_at_ms));
  p = put_varint(p, zigzag(m.updated_at_ms - m.created_at_ms));
  uint8_t flags = 0;
  if (m.expires_at_ms != 0) {
    flags |= kHasExpiry;
    p = put_varint(p, zigzag(m.expires_at_ms));
  }
  if (m.lease != 0) {
    flags |= kHasLease;
    p = put_varint(p, static_cast<uint64_t>(m.lease));
  }
  const size_t meta_len = static_cast<size_t>(p - meta);

  std::string ext;
  if (!entity.empty() || !content_type.empty() || !labels.empty()) {
    flags |= kHasExt;
    std::string body;
    ByteWriter w(&body);
    w.bytes(entity);
    w.bytes(content_type);
    write_labels(w, labels);
    ByteWriter(&ext).bytes(body);
  }

  const size_t total = kHeaderSize + key.size() + meta_len + value.size() + ext.size();
  char* block = static_cast<char*>(::operator new(total));
  auto key_len = static_cast<uint32_t>(key.size());
  auto value_len = static_cast<uint32_t>(value.size());
  std::memcpy(block, &key_len, 4);
  std::memcpy(block + 4, &value_len, 4);
  block[8] = static_cast<char>(meta_len);
  block[9] = static_cast<char>(flags);
  char* q = block + kHeaderSize;
  std::memcpy(q, key.data(), key.size());
  q += key.size();
  std::memcpy(q, meta, meta_len);
  q += meta_len;
  std::memcpy(q, value.data(), value.size());
  q += value.size();
  std::memcpy(q, ext.data(), ext.size());
  return RecordPtr(new (block) Record);
}

uint32_t Record::key_len() const { return load_u32(data()); }
uint32_t Record::value_len() const { return load_u32(data() + 4); }

std::string_view Record::value() const { return {meta_begin() + meta_len(), value_len()}; }

RecordMeta Record::meta() const {
  RecordMeta m;
  const char* p = meta_begin();
  uint64_t v;
  p = get_varint(p, &v);
  m.version = static_cast<int64_t>(v);
  p = get_varint(p, &v);
  m.create_revision = static_cast<int64_t>(v);
  p = get_varint(p, &v);
  m.mod_revision = static_cast<int64_t>(v);
  p = get_varint(p, &v);
  m.created_at_ms = unzigzag(v);
  p = get_varint(p, &v);
  m.updated_at_ms = m.created_at_ms + unzigzag(v);
  if (flags() & kHasExpiry) {
    p = get_varint(p, &v);
    m.expires_at_ms = unzigzag(v);
  }
  if (flags() & kHasLease) {
    p = get_varint(p, &v);
    m.lease = static_cast<int64_t>(v);
  }
  return m;
}

int64_t Record::version() const {
  uint64_t v;
  get_varint(meta_begin(), &v);
  return static_cast<int64_t>(v);
}

int64_t Record::mod_revision() const {
  uint64_t v;
  const char* p = get_varint(meta_begin(), &v);
  p = get_varint(p, &v);
  get_varint(p, &v);
  return static_cast<int64_t>(v);
}

int64_t Record::expires_at_ms() const { return (flags() & kHasExpiry) ? meta().expires_at_ms : 0; }
int64_t Record::lease() const { return (flags() & kHasLease) ? meta().lease : 0; }

std::string_view Record::entity() const {
  if (!has_ext()) return {};
  ByteReader body(ext_body());
  return body.bytes();
}

std::string_view Record::content_type() const {
  if (!has_ext()) return {};
  ByteReader body(ext_body());
  body.bytes();
  return body.bytes();
}

Labels Record::labels() const {
  if (!has_ext()) return {};
  ByteReader body(ext_body());
  body.bytes();
  body.bytes();
  return read_labels(body);
}

std::string_view Record::ext_body() const {
  uint64_t len;
  const char* p = get_varint(ext_begin(), &len);
  return {p, static_cast<size_t>(len)};
}

size_t Record::size() const {
  size_t n = kHeaderSize + key_len() + meta_len() + value_len();
  if (has_ext()) {
    uint64_t len;
    const char* p = get_varint(ext_begin(), &len);
    n += static_cast<size_t>(p - ext_begin()) + len;
  }
  return n;
}

void Record::to_key_value(int64_t now_ms, bool keys_only, KeyValue* out) const {
  out->key.assign(key());
  if (keys_only) return;
  out->value.assign(value());
  RecordMeta m = meta();
  out->version = m.version;
  out->create_revision = m.create_revision;
  out->mod_revision = m.mod_revision;
  out->created_at_ms = m.created_at_ms;
  out->updated_at_ms = m.updated_at_ms;
  out->expires_at_ms = m.expires_at_ms;
  out->ttl_ms = m.expires_at_ms == 0 ? -1 : std::max<int64_t>(0, m.expires_at_ms - now_ms);
  out->lease = m.lease;
  if (has_ext()) {
    out->entity.assign(entity());
    out->content_type.assign(content_type());
    out->labels = labels();
  }
}

}  // namespace dkv::core
