#include "core/command.h"

#include <iterator>
#include <type_traits>

#include "core/codec.h"

namespace dkv::core {
namespace {

// Version 2 added the origin and the session request after the timestamp, version 3 the client
// address of MemberAddressCmd; commands of versions 1 and 2 still decode.
constexpr uint8_t kFormatVersion = 3;

// --- writing ---

void write_opt(ByteWriter& w, const std::optional<int64_t>& v) {
  w.boolean(v.has_value());
  if (v) w.svarint(*v);
}

void write_fence(ByteWriter& w, const std::optional<Fence>& f) {
  w.boolean(f.has_value());
  if (f) {
    w.bytes(f->name);
    w.svarint(f->token);
  }
}

void write_put_options(ByteWriter& w, const PutOptions& o) {
  w.svarint(o.ttl_ms);
  w.svarint(o.lease);
  w.boolean(o.if_absent);
  write_opt(w, o.if_match);
  w.boolean(o.keep_ttl);
  write_fence(w, o.fence);
  w.bytes(o.entity);
  w.bytes(o.content_type);
  write_labels(w, o.labels);
  w.boolean(o.if_exists);
  w.svarint(o.expires_at_ms);
  w.boolean(o.prev_kv);
}

void write_delete_options(ByteWriter& w, const DeleteOptions& o) {
  write_opt(w, o.if_match);
  write_fence(w, o.fence);
  w.boolean(o.prev_kv);
}

void write_body(ByteWriter& w, const PutCmd& c) {
  w.bytes(c.key);
  w.bytes(c.value);
  write_put_options(w, c.options);
}
void write_body(ByteWriter& w, const DeleteCmd& c) {
  w.bytes(c.key);
  write_delete_options(w, c.options);
}
void write_body(ByteWriter& w, const MultiPutCmd& c) {
  w.varint(c.items.size());
  for (const PutItem& item : c.items) {
    w.bytes(item.key);
    w.bytes(item.value);
    write_put_options(w, item.options);
  }
}
void write_body(ByteWriter& w, const MultiDeleteCmd& c) {
  w.varint(c.keys.size());
  for (const std::string& k : c.keys) w.bytes(k);
}
void write_body(ByteWriter& w, const ClearCmd& c) { w.bytes(c.prefix); }
void write_body(ByteWriter& w, const ExpireCmd& c) {
  w.varint(c.keys.size());
  for (const std::string& k : c.keys) w.bytes(k);
  w.varint(c.leases.size());
  for (int64_t id : c.leases) w.svarint(id);
}
void write_body(ByteWriter& w, const CounterAddCmd& c) {
  w.bytes(c.key);
  w.svarint(c.delta);
  write_opt(w, c.options.min);
  write_opt(w, c.options.max);
  w.svarint(c.options.ttl_ms);
}
void write_body(ByteWriter& w, const CounterSetCmd& c) {
  w.bytes(c.key);
  w.svarint(c.value);
  w.svarint(c.ttl_ms);
}
void write_body(ByteWriter& w, const LeaseGrantCmd& c) { w.svarint(c.ttl_ms); }
void write_body(ByteWriter& w, const LeaseKeepAliveCmd& c) { w.svarint(c.id); }
void write_body(ByteWriter& w, const LeaseRevokeCmd& c) { w.svarint(c.id); }
void write_body(ByteWriter& w, const LockAcquireCmd& c) {
  w.bytes(c.name);
  w.svarint(c.lease);
}
void write_body(ByteWriter& w, const LockReleaseCmd& c) {
  w.bytes(c.name);
  w.svarint(c.token);
}
void write_body(ByteWriter& w, const CampaignCmd& c) {
  w.bytes(c.name);
  w.svarint(c.lease);
  w.bytes(c.value);
}
void write_body(ByteWriter& w, const ResignCmd& c) {
  w.bytes(c.name);
  w.svarint(c.token);
}
void write_body(ByteWriter& w, const ProclaimCmd& c) {
  w.bytes(c.name);
  w.svarint(c.token);
  w.bytes(c.value);
}
void write_body(ByteWriter& w, const TxnCmd& c) {
  const TxnRequest& t = c.txn;
  w.varint(t.reads.size());
  for (const TxnRead& r : t.reads) {
    w.bytes(r.key);
    w.svarint(r.version);
  }
  w.varint(t.conditions.size());
  for (const TxnCondition& cond : t.conditions) {
    w.bytes(cond.key);
    w.u8(static_cast<uint8_t>(cond.target));
    w.u8(static_cast<uint8_t>(cond.op));
    w.svarint(cond.number);
    w.bytes(cond.text);
  }
  w.varint(t.writes.size());
  for (const TxnWrite& wr : t.writes) {
    w.u8(static_cast<uint8_t>(wr.kind));
    w.bytes(wr.key);
    if (wr.kind == TxnWrite::Kind::kPut) {
      w.bytes(wr.value);
      write_put_options(w, wr.put);
    } else {
      write_delete_options(w, wr.del);
    }
  }
}
void write_body(ByteWriter& w, const CompactCmd& c) { w.svarint(c.revision); }
void write_body(ByteWriter& w, const AppendCmd& c) {
  w.bytes(c.key);
  w.bytes(c.suffix);
}
void write_body(ByteWriter& w, const KeyTtlCmd& c) {
  w.bytes(c.key);
  w.u8(static_cast<uint8_t>(c.mode));
  w.svarint(c.ms);
  w.u8(static_cast<uint8_t>(c.cond));
}
void write_body(ByteWriter& w, const ReadCmd& c) {
  w.varint(c.keys.size());
  for (const std::string& k : c.keys) w.bytes(k);
}
void write_body(ByteWriter& w, const LeaseRefreshCmd& c) { w.varint(c.term); }
void write_body(ByteWriter& w, const MemberAddressCmd& c) {
  w.varint(c.node);
  w.bytes(c.raft_address);
  w.bytes(c.client_address);
}
void write_body(ByteWriter& w, const AclSetUserCmd& c) {
  w.bytes(c.name);
  w.varint(c.rules.size());
  for (const std::string& rule : c.rules) w.bytes(rule);
}
void write_body(ByteWriter& w, const AclDelUserCmd& c) {
  w.varint(c.names.size());
  for (const std::string& name : c.names) w.bytes(name);
}
void write_body(ByteWriter& w, const MultiCmd& c) {
  w.varint(c.watched.size());
  for (const WatchedKey& k : c.watched) {
    w.bytes(k.key);
    w.svarint(k.mod_revision);
  }
  w.varint(c.ops.size());
  for (const MultiOp& op : c.ops) {
    w.u8(static_cast<uint8_t>(op.body.index()));
    std::visit([&](const auto& body) { write_body(w, body); }, op.body);
  }
}

// --- reading ---

std::optional<int64_t> read_opt(ByteReader& r) {
  if (!r.boolean()) return std::nullopt;
  return r.svarint();
}

std::optional<Fence> read_fence(ByteReader& r) {
  if (!r.boolean()) return std::nullopt;
  Fence f;
  f.name = r.bytes();
  f.token = r.svarint();
  return f;
}

PutOptions read_put_options(ByteReader& r) {
  PutOptions o;
  o.ttl_ms = r.svarint();
  o.lease = r.svarint();
  o.if_absent = r.boolean();
  o.if_match = read_opt(r);
  o.keep_ttl = r.boolean();
  o.fence = read_fence(r);
  o.entity = r.bytes();
  o.content_type = r.bytes();
  o.labels = read_labels(r);
  o.if_exists = r.boolean();
  o.expires_at_ms = r.svarint();
  o.prev_kv = r.boolean();
  return o;
}

DeleteOptions read_delete_options(ByteReader& r) {
  DeleteOptions o;
  o.if_match = read_opt(r);
  o.fence = read_fence(r);
  o.prev_kv = r.boolean();
  return o;
}

void read_body(ByteReader& r, PutCmd& c) {
  c.key = r.bytes();
  c.value = r.bytes();
  c.options = read_put_options(r);
}
void read_body(ByteReader& r, DeleteCmd& c) {
  c.key = r.bytes();
  c.options = read_delete_options(r);
}
void read_body(ByteReader& r, MultiPutCmd& c) {
  uint64_t n = r.count(3);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    PutItem item;
    item.key = r.bytes();
    item.value = r.bytes();
    item.options = read_put_options(r);
    c.items.push_back(std::move(item));
  }
}
void read_body(ByteReader& r, MultiDeleteCmd& c) {
  uint64_t n = r.count(1);
  for (uint64_t i = 0; i < n && r.ok(); ++i) c.keys.emplace_back(r.bytes());
}
void read_body(ByteReader& r, ClearCmd& c) { c.prefix = r.bytes(); }
void read_body(ByteReader& r, ExpireCmd& c) {
  uint64_t n = r.count(1);
  for (uint64_t i = 0; i < n && r.ok(); ++i) c.keys.emplace_back(r.bytes());
  n = r.count(1);
  for (uint64_t i = 0; i < n && r.ok(); ++i) c.leases.push_back(r.svarint());
}
void read_body(ByteReader& r, CounterAddCmd& c) {
  c.key = r.bytes();
  c.delta = r.svarint();
  c.options.min = read_opt(r);
  c.options.max = read_opt(r);
  c.options.ttl_ms = r.svarint();
}
void read_body(ByteReader& r, CounterSetCmd& c) {
  c.key = r.bytes();
  c.value = r.svarint();
  c.ttl_ms = r.svarint();
}
void read_body(ByteReader& r, LeaseGrantCmd& c) { c.ttl_ms = r.svarint(); }
void read_body(ByteReader& r, LeaseKeepAliveCmd& c) { c.id = r.svarint(); }
void read_body(ByteReader& r, LeaseRevokeCmd& c) { c.id = r.svarint(); }
void read_body(ByteReader& r, LockAcquireCmd& c) {
  c.name = r.bytes();
  c.lease = r.svarint();
}
void read_body(ByteReader& r, LockReleaseCmd& c) {
  c.name = r.bytes();
  c.token = r.svarint();
}
void read_body(ByteReader& r, CampaignCmd& c) {
  c.name = r.bytes();
  c.lease = r.svarint();
  c.value = r.bytes();
}
void read_body(ByteReader& r, ResignCmd& c) {
  c.name = r.bytes();
  c.token = r.svarint();
}
void read_body(ByteReader& r, ProclaimCmd& c) {
  c.name = r.bytes();
  c.token = r.svarint();
  c.value = r.bytes();
}
void read_body(ByteReader& r, TxnCmd& c) {
  TxnRequest& t = c.txn;
  uint64_t n = r.count(2);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    TxnRead read;
    read.key = r.bytes();
    read.version = r.svarint();
    t.reads.push_back(std::move(read));
  }
  n = r.count(5);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    TxnCondition cond;
    cond.key = r.bytes();
    uint8_t target = r.u8();
    uint8_t op = r.u8();
    if (target > static_cast<uint8_t>(CompareTarget::kLease) ||
        op > static_cast<uint8_t>(CompareOp::kGreater)) {
      r.fail();
      return;
    }
    cond.target = static_cast<CompareTarget>(target);
    cond.op = static_cast<CompareOp>(op);
    cond.number = r.svarint();
    cond.text = r.bytes();
    t.conditions.push_back(std::move(cond));
  }
  n = r.count(3);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    TxnWrite wr;
    uint8_t kind = r.u8();
    if (kind > static_cast<uint8_t>(TxnWrite::Kind::kDelete)) {
      r.fail();
      return;
    }
    wr.kind = static_cast<TxnWrite::Kind>(kind);
    wr.key = r.bytes();
    if (wr.kind == TxnWrite::Kind::kPut) {
      wr.value = r.bytes();
      wr.put = read_put_options(r);
    } else {
      wr.del = read_delete_options(r);
    }
    t.writes.push_back(std::move(wr));
  }
}
void read_body(ByteReader& r, CompactCmd& c) { c.revision = r.svarint(); }
void read_body(ByteReader& r, AppendCmd& c) {
  c.key = r.bytes();
  c.suffix = r.bytes();
}
void read_body(ByteReader& r, KeyTtlCmd& c) {
  c.key = r.bytes();
  uint8_t mode = r.u8();
  c.ms = r.svarint();
  uint8_t cond = r.u8();
  if (mode > static_cast<uint8_t>(KeyTtlCmd::Mode::kPersist) ||
      cond > static_cast<uint8_t>(KeyTtlCmd::Cond::kLt)) {
    r.fail();
    return;
  }
  c.mode = static_cast<KeyTtlCmd::Mode>(mode);
  c.cond = static_cast<KeyTtlCmd::Cond>(cond);
}
void read_body(ByteReader& r, ReadCmd& c) {
  uint64_t n = r.count(1);
  for (uint64_t i = 0; i < n && r.ok(); ++i) c.keys.emplace_back(r.bytes());
}
void read_body(ByteReader& r, MultiCmd& c);  // below: it reads nested commands
void read_body(ByteReader& r, LeaseRefreshCmd& c) { c.term = r.varint(); }
void read_body(ByteReader& r, MemberAddressCmd& c) {
  c.node = r.varint();
  c.raft_address = r.bytes();
  c.client_address = r.bytes();
}
void read_body(ByteReader& r, AclSetUserCmd& c) {
  c.name = r.bytes();
  uint64_t n = r.count(1);
  for (uint64_t i = 0; i < n && r.ok(); ++i) c.rules.emplace_back(r.bytes());
}
void read_body(ByteReader& r, AclDelUserCmd& c) {
  uint64_t n = r.count(1);
  for (uint64_t i = 0; i < n && r.ok(); ++i) c.names.emplace_back(r.bytes());
}

// Builds the alternative with wire op code `op` and reads its body.
template <size_t I = 0>
bool read_alternative(ByteReader& r, size_t op, CommandBody* body) {
  if constexpr (I < std::variant_size_v<CommandBody>) {
    if (op == I) {
      std::variant_alternative_t<I, CommandBody> cmd;
      read_body(r, cmd);
      *body = std::move(cmd);
      return true;
    }
    return read_alternative<I + 1>(r, op, body);
  } else {
    return false;
  }
}

// The wire op code of alternative T.
template <typename T, size_t I = 0>
constexpr size_t op_code() {
  if constexpr (std::is_same_v<std::variant_alternative_t<I, CommandBody>, T>) {
    return I;
  } else {
    return op_code<T, I + 1>();
  }
}

void read_body(ByteReader& r, MultiCmd& c) {
  uint64_t n = r.count(2);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    WatchedKey key;
    key.key = r.bytes();
    key.mod_revision = r.svarint();
    c.watched.push_back(std::move(key));
  }
  n = r.count(1);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    uint8_t op = r.u8();
    // No nesting: it would let a hostile input recurse without bound.
    if (!r.ok() || op == op_code<MultiCmd>()) {
      r.fail();
      return;
    }
    MultiOp item;
    if (!read_alternative(r, op, &item.body)) {
      r.fail();
      return;
    }
    c.ops.push_back(std::move(item));
  }
}

constexpr std::string_view kCommandNames[] = {
    "Put",        "Delete",      "MultiPut",       "MultiDelete", "Clear",     "Expire",
    "CounterAdd", "CounterSet",  "LeaseGrant",     "LeaseKeepAlive", "LeaseRevoke",
    "LockAcquire", "LockRelease", "Campaign",      "Resign",      "Proclaim",  "Txn",
    "Compact",    "Append",      "KeyTtl",         "Read",        "Multi",     "LeaseRefresh",
    "MemberAddress", "AclSetUser", "AclDelUser"};
static_assert(std::size(kCommandNames) == std::variant_size_v<CommandBody>);

}  // namespace

std::string_view command_name(const CommandBody& body) { return kCommandNames[body.index()]; }

std::string encode_command(const Command& command) {
  // Encoded into a reused buffer, then copied once at its exact size: the encoding lives on in
  // the Raft log, and appending to a fresh string would grow it by doubling (a 100-byte SET
  // would hold a 240-byte buffer after four reallocations).
  thread_local std::string scratch;
  scratch.clear();
  ByteWriter w(&scratch);
  w.u8(kFormatVersion);
  w.u8(static_cast<uint8_t>(command.body.index()));
  w.svarint(command.timestamp_ms);
  w.varint(command.origin.node);
  w.varint(command.origin.seq);
  w.varint(command.session.id);
  w.varint(command.session.seq);
  w.varint(command.session.acked);
  std::visit([&](const auto& body) { write_body(w, body); }, command.body);
  std::string out(scratch);
  if (scratch.capacity() > (1u << 20)) std::string().swap(scratch);  // keep no huge buffer
  return out;
}

Result<Command> decode_command(std::string_view bytes) {
  ByteReader r(bytes);
  uint8_t version = r.u8();
  if (!r.ok()) return Status(Code::kInvalidArgument, "command is empty");
  if (version < 1 || version > kFormatVersion) {
    return Status(Code::kInvalidArgument,
                  "command format version " + std::to_string(version) + " is not supported");
  }
  uint8_t op = r.u8();
  Command command;
  command.timestamp_ms = r.svarint();
  if (version >= 2) {
    command.origin.node = r.varint();
    command.origin.seq = r.varint();
    command.session.id = r.varint();
    command.session.seq = r.varint();
    command.session.acked = r.varint();
  }
  if (!r.ok()) return Status(Code::kInvalidArgument, "command header is truncated");
  constexpr uint8_t kLeaseRefreshOp = static_cast<uint8_t>(
      CommandBody(std::in_place_type<LeaseRefreshCmd>).index());
  if (version == 1 && op == kLeaseRefreshOp && r.at_end()) {
    command.body = LeaseRefreshCmd{};  // format 1 had no term: an empty body
    return command;
  }
  // op_code, not a constexpr CommandBody: clang 14 cannot construct one holding strings at
  // compile time (the fuzz build, docs/fuzzing.md).
  constexpr uint8_t kMemberAddressOp = static_cast<uint8_t>(op_code<MemberAddressCmd>());
  if (version < 3 && op == kMemberAddressOp) {  // formats 1 and 2 had no client address
    MemberAddressCmd c;
    c.node = r.varint();
    c.raft_address = r.bytes();
    if (!r.ok() || !r.at_end()) return Status(Code::kInvalidArgument, "command op " + std::to_string(op) + " is malformed");
    command.body = std::move(c);
    return command;
  }
  if (!read_alternative(r, op, &command.body)) {
    return Status(Code::kInvalidArgument, "unknown command op " + std::to_string(op));
  }
  if (!r.ok()) {
    return Status(Code::kInvalidArgument,
                  "command op " + std::to_string(op) + " is truncated or malformed");
  }
  if (!r.at_end()) {
    return Status(Code::kInvalidArgument, "command op " + std::to_string(op) + " has " +
                                              std::to_string(r.remaining()) + " trailing bytes");
  }
  return command;
}

}  // namespace dkv::core
