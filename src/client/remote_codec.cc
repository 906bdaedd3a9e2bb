#include "client/remote_codec.h"

#include <charconv>

namespace dkv::client {
namespace {

using resp::Type;
using resp::Value;

Status malformed(std::string_view what, const Value& value) {
  return Status(Code::kInternal,
                "unexpected reply for " + std::string(what) + ": " + value.debug_string());
}

bool is_map(const Value& v) {
  return v.type == Type::kMap || (v.type == Type::kArray && v.elements.size() % 2 == 0);
}

std::optional<int64_t> int_field(const Value& map, std::string_view name) {
  const Value* v = map.find(name);
  if (v == nullptr || (v->type != Type::kInteger && v->type != Type::kBoolean)) return std::nullopt;
  return v->integer;
}

std::optional<std::string> string_field(const Value& map, std::string_view name) {
  const Value* v = map.find(name);
  if (v == nullptr) return std::nullopt;
  if (v->type != Type::kBulkString && v->type != Type::kSimpleString &&
      v->type != Type::kVerbatim) {
    return std::nullopt;
  }
  return v->str;
}

std::optional<int64_t> parse_int64(std::string_view text) {
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

void add_int(Args* args, std::string_view word, int64_t n) {
  args->emplace_back(word);
  args->push_back(std::to_string(n));
}

}  // namespace

Status status_from_error(const Value& error) {
  const std::string_view code = error.error_code();
  const std::string message(error.error_message());
  struct Entry {
    std::string_view word;
    Code code;
  };
  static constexpr Entry kTable[] = {
      {"NOTFOUND", Code::kNotFound},       {"CONFLICT", Code::kConflict},
      {"OUTOFRANGE", Code::kOutOfRange},   {"OVERFLOW", Code::kOverflow},
      {"NOLEASE", Code::kLeaseNotFound},   {"LOCKED", Code::kLocked},
      {"FENCED", Code::kFenced},           {"COMPACTED", Code::kCompacted},
      {"LAGGING", Code::kLagging},         {"WRONGTYPE", Code::kWrongType},
      {"NOTLEADER", Code::kNotLeader},     {"UNAVAILABLE", Code::kUnavailable},
      {"CANCELLED", Code::kCancelled},     {"NOPERM", Code::kPermissionDenied},
      {"NOAUTH", Code::kPermissionDenied}, {"WRONGPASS", Code::kPermissionDenied},
  };
  for (const Entry& e : kTable) {
    if (code == e.word) return Status(e.code, message);
  }
  if (code == "ERR") {
    constexpr std::string_view kInternal = "internal error: ";
    if (message.starts_with(kInternal)) {
      return Status(Code::kInternal, message.substr(kInternal.size()));
    }
    return Status(Code::kInvalidArgument, message);
  }
  return Status(Code::kInternal, "server error: " + error.str);
}

Status reply_status(const Value& reply) {
  return reply.is_error() ? status_from_error(reply) : Status::ok_status();
}

Status append_put_options(const PutOptions& o, Args* args) {
  auto unsupported = [](std::string_view what) {
    return Status(Code::kInvalidArgument,
                  std::string(what) + " cannot be expressed with KV.PUT (docs/protocol.md 3.0)");
  };
  if (o.keep_ttl) return unsupported("keep_ttl");
  if (o.if_exists) return unsupported("if_exists");
  if (o.expires_at_ms != 0) return unsupported("expires_at_ms");
  if (o.prev_kv) return unsupported("prev_kv");
  if (o.ttl_ms != 0) add_int(args, "TTL", o.ttl_ms);
  if (o.lease != 0) add_int(args, "LEASE", o.lease);
  if (o.if_absent && o.if_match) {
    return Status(Code::kInvalidArgument, "if_absent and if_match exclude each other");
  }
  if (o.if_absent) args->emplace_back("IFABSENT");
  if (o.if_match) add_int(args, "IFMATCH", *o.if_match);
  if (o.fence) {
    args->emplace_back("FENCE");
    args->push_back(o.fence->name);
    args->push_back(std::to_string(o.fence->token));
  }
  if (!o.entity.empty()) {
    args->emplace_back("ENTITY");
    args->push_back(o.entity);
  }
  if (!o.content_type.empty()) {
    args->emplace_back("CONTENTTYPE");
    args->push_back(o.content_type);
  }
  if (!o.labels.empty()) {
    add_int(args, "LABELS", static_cast<int64_t>(o.labels.size()));
    for (const auto& [label, value] : o.labels) {
      args->push_back(label);
      args->push_back(value);
    }
  }
  return Status::ok_status();
}

Status append_delete_options(const DeleteOptions& o, Args* args) {
  if (o.prev_kv) {
    return Status(Code::kInvalidArgument,
                  "prev_kv cannot be expressed with KV.DEL (docs/protocol.md 3.1)");
  }
  if (o.if_match) add_int(args, "IFMATCH", *o.if_match);
  if (o.fence) {
    args->emplace_back("FENCE");
    args->push_back(o.fence->name);
    args->push_back(std::to_string(o.fence->token));
  }
  return Status::ok_status();
}

Result<Args> range_command(const KeyRange& range, const RangeOptions& o) {
  std::string lower = range.start;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "prefix") {
    return Status(Code::kInvalidArgument,
                  "KV.RANGE cannot start at a key spelled 'prefix' (it reads as the PREFIX form); "
                  "start from a smaller key");
  }
  Args args = {"KV.RANGE", range.start, range.end};
  if (o.limit != 0) add_int(&args, "LIMIT", o.limit);
  if (o.revision != 0) add_int(&args, "REV", o.revision);
  if (o.keys_only) args.emplace_back("KEYSONLY");
  if (o.count_only) args.emplace_back("COUNT");
  return args;
}

Result<Args> txn_command(const TxnRequest& txn) {
  Args args = {"TXN.COMMIT"};
  std::vector<TxnRead> reads = txn.reads;
  for (const TxnCondition& c : txn.conditions) {
    if (c.target != CompareTarget::kVersion || c.op != CompareOp::kEqual) {
      return Status(Code::kInvalidArgument,
                    "TXN.COMMIT can only require a key's version to equal a number "
                    "(docs/protocol.md 3.6); condition on '" + c.key + "' is not expressible");
    }
    reads.push_back(TxnRead{c.key, c.number});
  }
  if (!reads.empty()) {
    add_int(&args, "READS", static_cast<int64_t>(reads.size()));
    for (const TxnRead& r : reads) {
      args.push_back(r.key);
      args.push_back(std::to_string(r.version));
    }
  }
  if (!txn.writes.empty()) {
    add_int(&args, "WRITES", static_cast<int64_t>(txn.writes.size()));
    for (const TxnWrite& w : txn.writes) {
      if (w.kind == TxnWrite::Kind::kPut) {
        args.insert(args.end(), {"PUT", w.key, w.value});
        PutOptions put = w.put;
        put.prev_kv = false;  // TxnCmd ignores it (types.h)
        if (Status s = append_put_options(put, &args); !s.ok()) return s;
      } else {
        args.insert(args.end(), {"DEL", w.key});
        if (Status s = append_delete_options(w.del, &args); !s.ok()) return s;
      }
    }
  }
  return args;
}

Result<Args> query_command(const Query& q) {
  Args args = {"QUERY", q.entity};
  for (const QueryClause& c : q.where) {
    args.insert(args.end(), {"WHERE", c.label, query_op_name(c.op)});
    if (c.op == QueryOp::kIn) args.push_back(std::to_string(c.values.size()));
    args.insert(args.end(), c.values.begin(), c.values.end());
  }
  if (!q.order_by.empty()) args.insert(args.end(), {"ORDERBY", q.order_by, q.descending ? "DESC" : "ASC"});
  if (q.limit != 0) add_int(&args, "LIMIT", q.limit);
  if (!q.cursor.empty()) args.insert(args.end(), {"CURSOR", q.cursor});
  if (!q.select.empty()) {
    add_int(&args, "SELECT", static_cast<int64_t>(q.select.size()));
    args.insert(args.end(), q.select.begin(), q.select.end());
  }
  if (q.keys_only) args.emplace_back("KEYSONLY");
  if (q.count_only) args.emplace_back("COUNT");
  return args;
}

Args watch_command(const WatchRequest& request, int64_t from_revision) {
  static constexpr const char* kSpaceWord[] = {"KEY", "LOCK", "ELECTION"};
  Args args = {"KV.WATCH"};
  if (request.space == WatchSpace::kKeys && request.prefix) {
    args.emplace_back("PREFIX");
  } else {
    args.emplace_back(kSpaceWord[static_cast<int>(request.space)]);
  }
  args.push_back(request.key);
  if (from_revision > 0) {
    add_int(&args, "FROM", from_revision);
  } else if (request.snapshot) {
    args.emplace_back("SNAPSHOT");
  }
  if (request.prev_value) args.emplace_back("PREVKV");
  return args;
}

Result<KeyValue> decode_key_value(const Value& map) {
  if (!is_map(map)) return malformed("a key", map);
  KeyValue kv;
  std::optional<std::string> key = string_field(map, "key");
  if (!key) return malformed("a key", map);
  kv.key = std::move(*key);
  if (auto v = string_field(map, "value")) kv.value = std::move(*v);
  struct IntField {
    std::string_view name;
    int64_t KeyValue::*member;
  };
  static constexpr IntField kInts[] = {
      {"version", &KeyValue::version},          {"create_revision", &KeyValue::create_revision},
      {"mod_revision", &KeyValue::mod_revision}, {"created_at_ms", &KeyValue::created_at_ms},
      {"updated_at_ms", &KeyValue::updated_at_ms}, {"expires_at_ms", &KeyValue::expires_at_ms},
      {"ttl_ms", &KeyValue::ttl_ms},            {"lease", &KeyValue::lease},
  };
  for (const IntField& f : kInts) {
    if (auto n = int_field(map, f.name)) kv.*(f.member) = *n;
  }
  if (auto v = string_field(map, "entity")) kv.entity = std::move(*v);
  if (auto v = string_field(map, "content_type")) kv.content_type = std::move(*v);
  if (const Value* labels = map.find("labels"); labels != nullptr && is_map(*labels)) {
    for (size_t i = 0; i + 1 < labels->elements.size(); i += 2) {
      kv.labels[labels->elements[i].str] = labels->elements[i + 1].str;
    }
  }
  return kv;
}

Result<PutResult> decode_put(const Value& map) {
  auto version = int_field(map, "version");
  auto revision = int_field(map, "revision");
  if (!is_map(map) || !version || !revision) return malformed("KV.PUT", map);
  return PutResult{*version, *revision, std::nullopt};
}

Result<RangeResult> decode_range(const Value& map) {
  auto count = int_field(map, "count");
  auto revision = int_field(map, "revision");
  if (!is_map(map) || !count || !revision) return malformed("KV.RANGE", map);
  RangeResult result;
  result.count = *count;
  result.revision = *revision;
  result.more = int_field(map, "more").value_or(0) != 0;
  if (const Value* items = map.find("items")) {
    for (const Value& item : items->elements) {
      Result<KeyValue> kv = decode_key_value(item);
      if (!kv.ok()) return kv.status();
      result.items.push_back(std::move(kv).value());
    }
  }
  return result;
}

Result<CounterResult> decode_counter(const Value& pair) {
  if (pair.type != Type::kArray || pair.elements.size() != 2 ||
      pair.elements[0].type != Type::kInteger || pair.elements[1].type != Type::kInteger) {
    return malformed("a counter", pair);
  }
  return CounterResult{pair.elements[0].integer, pair.elements[1].integer, 0};
}

Result<LeaseInfo> decode_lease(const Value& map) {
  auto id = int_field(map, "id");
  auto granted = int_field(map, "granted_ttl_ms");
  auto remaining = int_field(map, "remaining_ms");
  if (!is_map(map) || !id || !granted || !remaining) return malformed("a lease", map);
  LeaseInfo info{*id, *granted, *remaining, {}};
  if (const Value* keys = map.find("keys")) {
    for (const Value& k : keys->elements) info.keys.push_back(k.str);
  }
  return info;
}

Result<LockOwner> decode_lock_owner(const Value& map) {
  auto name = string_field(map, "name");
  auto lease = int_field(map, "lease");
  auto token = int_field(map, "token");
  auto acquired = int_field(map, "acquired_at_ms");
  if (!is_map(map) || !name || !lease || !token || !acquired) return malformed("LOCK.OWNER", map);
  return LockOwner{std::move(*name), *lease, *token, *acquired};
}

Result<CampaignResult> decode_campaign(const Value& map) {
  auto leader = int_field(map, "leader");
  auto token = int_field(map, "token");
  auto position = int_field(map, "position");
  if (!is_map(map) || !leader || !token || !position) return malformed("ELECT.CAMPAIGN", map);
  return CampaignResult{*leader != 0, *token, *position};
}

Result<ElectionLeader> decode_leader(const Value& map) {
  auto name = string_field(map, "name");
  auto value = string_field(map, "value");
  auto lease = int_field(map, "lease");
  auto token = int_field(map, "token");
  if (!is_map(map) || !name || !value || !lease || !token) return malformed("ELECT.LEADER", map);
  return ElectionLeader{std::move(*name), std::move(*value), *lease, *token};
}

Result<TxnResult> decode_txn(const Value& map) {
  auto revision = int_field(map, "revision");
  const Value* versions = map.find("versions");
  if (!is_map(map) || !revision || versions == nullptr) return malformed("TXN.COMMIT", map);
  TxnResult result;
  result.revision = *revision;
  for (const Value& v : versions->elements) result.versions.push_back(v.integer);
  return result;
}

Result<QueryResult> decode_query(const Value& map) {
  auto count = int_field(map, "count");
  if (!is_map(map) || !count) return malformed("QUERY", map);
  QueryResult result;
  result.count = *count;
  result.next_cursor = string_field(map, "next_cursor").value_or("");
  if (const Value* items = map.find("items")) {
    for (const Value& item : items->elements) {
      Result<KeyValue> kv = decode_key_value(item);
      if (!kv.ok()) return kv.status();
      result.items.push_back(std::move(kv).value());
    }
  }
  return result;
}

Result<int64_t> decode_integer(const Value& value) {
  if (value.type != Type::kInteger) return malformed("an integer reply", value);
  return value.integer;
}

std::vector<std::pair<std::string, std::string>> parse_info(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> fields;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    start = end + 1;
    if (line.empty() || line.front() == '#') continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name(line.substr(0, colon));
    std::string value(line.substr(colon + 1));
    bool replaced = false;
    for (auto& [n, v] : fields) {
      if (n == name) {
        v = value;
        replaced = true;
      }
    }
    if (!replaced) fields.emplace_back(std::move(name), std::move(value));
  }
  return fields;
}

int64_t push_watch_id(const Value& push) {
  if (push.elements.size() < 2 || push.elements[1].type != Type::kInteger) return 0;
  const std::string& kind = push.elements[0].str;
  if (kind != "watch" && kind != "watch-synced" && kind != "watch-end") return 0;
  return push.elements[1].integer;
}

WatchPush decode_push(const Value& push, WatchSpace space) {
  WatchPush out;
  const auto& e = push.elements;
  out.watch_id = push_watch_id(push);
  if (out.watch_id == 0) return out;
  const std::string& kind = e[0].str;
  if (kind == "watch" && e.size() >= 6 && e[2].type == Type::kInteger) {
    out.kind = WatchPush::Kind::kEvent;
    Event& ev = out.event;
    ev.revision = e[2].integer;
    ev.space = space;
    const std::string& type = e[3].str;
    ev.type = type == "DELETE" ? EventType::kDelete
              : type == "EXPIRE" ? EventType::kExpire
                                 : EventType::kPut;
    ev.kv.key = e[4].str;
    ev.kv.value = e[5].str;
    ev.kv.mod_revision = ev.revision;
    if (space == WatchSpace::kLocks && ev.type == EventType::kPut) {
      ev.kv.create_revision = parse_int64(ev.kv.value).value_or(0);  // the token
    }
    if (e.size() >= 7 && !e[6].is_null()) {
      KeyValue prev;
      prev.key = ev.kv.key;
      prev.value = e[6].str;
      ev.prev = std::move(prev);
    }
  } else if (kind == "watch-synced" && e.size() >= 3) {
    out.kind = WatchPush::Kind::kSynced;
    out.revision = e[2].integer;
  } else if (kind == "watch-end" && e.size() >= 4) {
    out.kind = WatchPush::Kind::kEnd;
    out.revision = e[3].integer;
    Value error;
    error.type = Type::kError;
    error.str = e[2].str;
    out.end = status_from_error(error);
  }
  return out;
}

}  // namespace dkv::client
