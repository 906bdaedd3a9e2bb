#include "core/result_codec.h"

#include <variant>

namespace dkv::core {
namespace {

constexpr uint8_t kMaxCode = static_cast<uint8_t>(Code::kPermissionDenied);

// --- writing ---

void put(ByteWriter& w, const Status& s) {
  w.u8(static_cast<uint8_t>(s.code()));
  if (!s.ok()) w.bytes(s.message());
}

void put(ByteWriter& w, const KeyValue& kv) {
  w.bytes(kv.key);
  w.bytes(kv.value);
  for (int64_t v : {kv.version, kv.create_revision, kv.mod_revision, kv.created_at_ms,
                    kv.updated_at_ms, kv.expires_at_ms, kv.ttl_ms, kv.lease}) {
    w.svarint(v);
  }
  w.bytes(kv.entity);
  w.bytes(kv.content_type);
  write_labels(w, kv.labels);
}

void put(ByteWriter& w, const std::optional<KeyValue>& kv) {
  w.boolean(kv.has_value());
  if (kv) put(w, *kv);
}

void put(ByteWriter&, const std::monostate&) {}
void put(ByteWriter& w, const PutResult& r) {
  w.svarint(r.version);
  w.svarint(r.revision);
  put(w, r.prev);
}
void put(ByteWriter& w, const DeleteResult& r) {
  w.boolean(r.deleted);
  w.svarint(r.revision);
  put(w, r.prev);
}
template <typename T>
void put(ByteWriter& w, const std::vector<Result<T>>& items) {
  w.varint(items.size());
  for (const Result<T>& item : items) {
    put(w, item.status());
    if (item.ok()) put(w, *item);
  }
}
void put(ByteWriter& w, const ClearResult& r) {
  w.svarint(r.deleted);
  w.svarint(r.revision);
}
void put(ByteWriter& w, const ExpireResult& r) {
  w.svarint(r.keys);
  w.svarint(r.leases);
  w.svarint(r.revision);
}
void put(ByteWriter& w, const CounterResult& r) {
  w.svarint(r.previous);
  w.svarint(r.current);
  w.svarint(r.revision);
}
void put(ByteWriter& w, const LeaseGrant& r) {
  w.svarint(r.id);
  w.svarint(r.ttl_ms);
}
void put(ByteWriter& w, const KeepAliveResult& r) { w.svarint(r.ttl_ms); }
void put(ByteWriter& w, const RevokeResult& r) {
  w.svarint(r.deleted);
  w.svarint(r.revision);
}
void put(ByteWriter& w, const TokenResult& r) { w.svarint(r.token); }
void put(ByteWriter& w, const RevisionResult& r) { w.svarint(r.revision); }
void put(ByteWriter& w, const CampaignResult& r) {
  w.boolean(r.leader);
  w.svarint(r.token);
  w.svarint(r.position);
}
void put(ByteWriter& w, const TxnResult& r) {
  w.svarint(r.revision);
  w.varint(r.versions.size());
  for (int64_t v : r.versions) w.svarint(v);
}
void put(ByteWriter& w, const AppendResult& r) {
  w.svarint(r.length);
  w.svarint(r.version);
  w.svarint(r.revision);
}
void put(ByteWriter& w, const ChangedResult& r) {
  w.boolean(r.changed);
  w.svarint(r.revision);
}
void put(ByteWriter& w, const ReadResult& r) {
  w.varint(r.values.size());
  for (const auto& kv : r.values) put(w, kv);
}
void put(ByteWriter& w, const MultiResult& r) {
  w.varint(r.results.size());
  for (const CommandResult& c : r.results) write_result(w, c);
  w.svarint(r.revision);
}

// --- reading ---

bool get(ByteReader& r, Status* s) {
  uint8_t code = r.u8();
  if (!r.ok() || code > kMaxCode) return false;
  if (code == 0) {
    *s = Status();
    return true;
  }
  *s = Status(static_cast<Code>(code), std::string(r.bytes()));
  return r.ok();
}

bool get(ByteReader& r, KeyValue* kv) {
  kv->key = r.bytes();
  kv->value = r.bytes();
  for (int64_t* v : {&kv->version, &kv->create_revision, &kv->mod_revision, &kv->created_at_ms,
                     &kv->updated_at_ms, &kv->expires_at_ms, &kv->ttl_ms, &kv->lease}) {
    *v = r.svarint();
  }
  kv->entity = r.bytes();
  kv->content_type = r.bytes();
  kv->labels = read_labels(r);
  return r.ok();
}

bool get(ByteReader& r, std::optional<KeyValue>* kv) {
  if (!r.boolean()) {
    kv->reset();
    return r.ok();
  }
  kv->emplace();
  return get(r, &**kv);
}

bool get(ByteReader&, std::monostate*) { return true; }
bool get(ByteReader& r, PutResult* p) {
  p->version = r.svarint();
  p->revision = r.svarint();
  return get(r, &p->prev);
}
bool get(ByteReader& r, DeleteResult* d) {
  d->deleted = r.boolean();
  d->revision = r.svarint();
  return get(r, &d->prev);
}
template <typename T>
bool get(ByteReader& r, std::vector<Result<T>>* items) {
  uint64_t n = r.count(1);
  items->clear();
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    Status s;
    if (!get(r, &s)) return false;
    if (!s.ok()) {
      items->push_back(std::move(s));
      continue;
    }
    T value;
    if (!get(r, &value)) return false;
    items->push_back(std::move(value));
  }
  return r.ok();
}
bool get(ByteReader& r, ClearResult* c) {
  c->deleted = r.svarint();
  c->revision = r.svarint();
  return r.ok();
}
bool get(ByteReader& r, ExpireResult* e) {
  e->keys = r.svarint();
  e->leases = r.svarint();
  e->revision = r.svarint();
  return r.ok();
}
bool get(ByteReader& r, CounterResult* c) {
  c->previous = r.svarint();
  c->current = r.svarint();
  c->revision = r.svarint();
  return r.ok();
}
bool get(ByteReader& r, LeaseGrant* g) {
  g->id = r.svarint();
  g->ttl_ms = r.svarint();
  return r.ok();
}
bool get(ByteReader& r, KeepAliveResult* k) {
  k->ttl_ms = r.svarint();
  return r.ok();
}
bool get(ByteReader& r, RevokeResult* v) {
  v->deleted = r.svarint();
  v->revision = r.svarint();
  return r.ok();
}
bool get(ByteReader& r, TokenResult* t) {
  t->token = r.svarint();
  return r.ok();
}
bool get(ByteReader& r, RevisionResult* v) {
  v->revision = r.svarint();
  return r.ok();
}
bool get(ByteReader& r, CampaignResult* c) {
  c->leader = r.boolean();
  c->token = r.svarint();
  c->position = r.svarint();
  return r.ok();
}
bool get(ByteReader& r, TxnResult* t) {
  t->revision = r.svarint();
  uint64_t n = r.count(1);
  t->versions.clear();
  for (uint64_t i = 0; i < n && r.ok(); ++i) t->versions.push_back(r.svarint());
  return r.ok();
}
bool get(ByteReader& r, AppendResult* a) {
  a->length = r.svarint();
  a->version = r.svarint();
  a->revision = r.svarint();
  return r.ok();
}
bool get(ByteReader& r, ChangedResult* c) {
  c->changed = r.boolean();
  c->revision = r.svarint();
  return r.ok();
}
bool get(ByteReader& r, ReadResult* v) {
  uint64_t n = r.count(1);
  v->values.clear();
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    std::optional<KeyValue> kv;
    if (!get(r, &kv)) return false;
    v->values.push_back(std::move(kv));
  }
  return r.ok();
}
bool get(ByteReader& r, MultiResult* m) {
  uint64_t n = r.count(2);
  m->results.clear();
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    CommandResult c;
    if (!read_result(r, &c)) return false;
    m->results.push_back(std::move(c));
  }
  m->revision = r.svarint();
  return r.ok();
}

template <size_t I = 0>
bool get_body(ByteReader& r, size_t index, ResultBody* out) {
  if constexpr (I < std::variant_size_v<ResultBody>) {
    if (index != I) return get_body<I + 1>(r, index, out);
    std::variant_alternative_t<I, ResultBody> value;
    if (!get(r, &value)) return false;
    out->emplace<I>(std::move(value));
    return true;
  } else {
    return false;  // an unknown alternative
  }
}

}  // namespace

void write_result(ByteWriter& w, const CommandResult& result) {
  put(w, result.status);
  w.u8(static_cast<uint8_t>(result.body.index()));
  std::visit([&](const auto& body) { put(w, body); }, result.body);
}

bool read_result(ByteReader& r, CommandResult* result) {
  if (!get(r, &result->status)) return false;
  const uint8_t index = r.u8();
  return r.ok() && get_body(r, index, &result->body);
}

}  // namespace dkv::core
