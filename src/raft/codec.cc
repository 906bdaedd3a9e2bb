#include "raft/codec.h"

#include <utility>

#include "core/codec.h"

namespace dkv::raft {

using core::ByteReader;
using core::ByteWriter;

namespace {

// The smallest encodings of nested items, for ByteReader::count: a hostile count fails before
// anything is reserved. An entry is term, index, type and a data length; a node id one varint.
constexpr size_t kMinEntryBytes = 4;
constexpr size_t kMinNodeIdBytes = 1;

constexpr uint8_t kMaxEntryType = static_cast<uint8_t>(EntryType::kConfChange);
constexpr uint8_t kMaxConfChangeType = static_cast<uint8_t>(ConfChangeType::kRemoveNode);
constexpr uint8_t kMaxMessageType = static_cast<uint8_t>(MessageType::kForward);

// Booleans are exactly 0 or 1, so every value has a single encoding.
bool get_bool(ByteReader& r) {
  uint8_t b = r.u8();
  if (b > 1) r.fail();
  return b == 1;
}

// An enum stored as one byte, refused when above the largest known value.
template <typename E>
E get_enum(ByteReader& r, uint8_t max) {
  uint8_t v = r.u8();
  if (v > max) r.fail();
  return static_cast<E>(v);
}

void put_entry(ByteWriter& w, const Entry& e) {
  w.varint(e.term);
  w.varint(e.index);
  w.u8(static_cast<uint8_t>(e.type));
  w.bytes(e.data);
}

void get_entry(ByteReader& r, Entry* e) {
  e->term = r.varint();
  e->index = r.varint();
  e->type = get_enum<EntryType>(r, kMaxEntryType);
  e->data = std::string(r.bytes());
}

void put_hard_state(ByteWriter& w, const HardState& hs) {
  w.varint(hs.term);
  w.varint(hs.vote);
  w.varint(hs.commit);
}

void get_hard_state(ByteReader& r, HardState* hs) {
  hs->term = r.varint();
  hs->vote = r.varint();
  hs->commit = r.varint();
}

void put_ids(ByteWriter& w, const std::vector<NodeId>& ids) {
  w.varint(ids.size());
  for (NodeId id : ids) w.varint(id);
}

void get_ids(ByteReader& r, std::vector<NodeId>* ids) {
  uint64_t n = r.count(kMinNodeIdBytes);
  ids->clear();
  ids->reserve(n);
  for (uint64_t i = 0; i < n && r.ok(); ++i) ids->push_back(r.varint());
}

void put_conf_state(ByteWriter& w, const ConfState& cs) {
  put_ids(w, cs.voters);
  put_ids(w, cs.learners);
}

void get_conf_state(ByteReader& r, ConfState* cs) {
  get_ids(r, &cs->voters);
  get_ids(r, &cs->learners);
}

void put_snapshot_meta(ByteWriter& w, const SnapshotMeta& meta) {
  w.varint(meta.index);
  w.varint(meta.term);
  put_conf_state(w, meta.conf);
}

void get_snapshot_meta(ByteReader& r, SnapshotMeta* meta) {
  meta->index = r.varint();
  meta->term = r.varint();
  get_conf_state(r, &meta->conf);
}

void put_conf_change(ByteWriter& w, const ConfChange& cc) {
  w.u8(static_cast<uint8_t>(cc.type));
  w.varint(cc.node);
  w.bytes(cc.context);
}

void get_conf_change(ByteReader& r, ConfChange* cc) {
  cc->type = get_enum<ConfChangeType>(r, kMaxConfChangeType);
  cc->node = r.varint();
  cc->context = std::string(r.bytes());
}

void put_message(ByteWriter& w, const Message& m) {
  w.u8(static_cast<uint8_t>(m.type));
  w.varint(m.group);
  w.varint(m.from);
  w.varint(m.to);
  w.varint(m.term);
  w.varint(m.log_term);
  w.varint(m.index);
  w.varint(m.commit);
  w.varint(m.entries.size());
  for (const Entry& e : m.entries) put_entry(w, e);
  w.boolean(m.reject);
  w.varint(m.reject_hint);
  w.bytes(m.context);
  put_snapshot_meta(w, m.snapshot);
  w.varint(m.snap_offset);
  w.varint(m.snap_total);
  w.bytes(m.snap_chunk);
}

void get_message(ByteReader& r, Message* m) {
  m->type = get_enum<MessageType>(r, kMaxMessageType);
  m->group = r.varint();
  m->from = r.varint();
  m->to = r.varint();
  m->term = r.varint();
  m->log_term = r.varint();
  m->index = r.varint();
  m->commit = r.varint();
  uint64_t n = r.count(kMinEntryBytes);
  m->entries.reserve(n);
  for (uint64_t i = 0; i < n && r.ok(); ++i) get_entry(r, &m->entries.emplace_back());
  m->reject = get_bool(r);
  m->reject_hint = r.varint();
  m->context = std::string(r.bytes());
  get_snapshot_meta(r, &m->snapshot);
  m->snap_offset = r.varint();
  m->snap_total = r.varint();
  m->snap_chunk = std::string(r.bytes());
}

template <typename T, typename Put>
void encode(const T& value, std::string* out, Put put) {
  ByteWriter w(out);
  w.u8(kCodecVersion);
  put(w, value);
}

template <typename T, typename Get>
std::optional<T> decode(std::string_view in, Get get) {
  ByteReader r(in);
  if (r.u8() != kCodecVersion) return std::nullopt;
  T value;
  get(r, &value);
  if (!r.ok() || !r.at_end()) return std::nullopt;
  return value;
}

template <typename T>
std::string to_string(const T& value, void (*enc)(const T&, std::string*)) {
  std::string out;
  enc(value, &out);
  return out;
}

}  // namespace

void encode_entry(const Entry& e, std::string* out) { encode(e, out, put_entry); }
void encode_hard_state(const HardState& hs, std::string* out) { encode(hs, out, put_hard_state); }
void encode_conf_state(const ConfState& cs, std::string* out) { encode(cs, out, put_conf_state); }
void encode_snapshot_meta(const SnapshotMeta& meta, std::string* out) {
  encode(meta, out, put_snapshot_meta);
}
void encode_conf_change(const ConfChange& cc, std::string* out) { encode(cc, out, put_conf_change); }
void encode_message(const Message& m, std::string* out) { encode(m, out, put_message); }

std::string encode_entry(const Entry& e) { return to_string<Entry>(e, encode_entry); }
std::string encode_hard_state(const HardState& hs) {
  return to_string<HardState>(hs, encode_hard_state);
}
std::string encode_conf_state(const ConfState& cs) {
  return to_string<ConfState>(cs, encode_conf_state);
}
std::string encode_snapshot_meta(const SnapshotMeta& meta) {
  return to_string<SnapshotMeta>(meta, encode_snapshot_meta);
}
std::string encode_conf_change(const ConfChange& cc) {
  return to_string<ConfChange>(cc, encode_conf_change);
}
std::string encode_message(const Message& m) { return to_string<Message>(m, encode_message); }

std::optional<Entry> decode_entry(std::string_view in) { return decode<Entry>(in, get_entry); }
std::optional<HardState> decode_hard_state(std::string_view in) {
  return decode<HardState>(in, get_hard_state);
}
std::optional<ConfState> decode_conf_state(std::string_view in) {
  return decode<ConfState>(in, get_conf_state);
}
std::optional<SnapshotMeta> decode_snapshot_meta(std::string_view in) {
  return decode<SnapshotMeta>(in, get_snapshot_meta);
}
std::optional<ConfChange> decode_conf_change(std::string_view in) {
  return decode<ConfChange>(in, get_conf_change);
}
std::optional<Message> decode_message(std::string_view in) {
  return decode<Message>(in, get_message);
}

}  // namespace dkv::raft
