#include "core/state_machine.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <type_traits>
#include <utility>

#include "core/counter.h"

namespace dkv::core {
namespace {

Status invalid(std::string message) { return Status(Code::kInvalidArgument, std::move(message)); }

std::string quoted(std::string_view s) {
  std::string out = "'";
  out.append(s);
  out += "'";
  return out;
}

Status validate_key(std::string_view key) {
  if (key.empty()) return invalid("key must not be empty");
  return Status();
}

// now + ms as a deadline; nullopt when it does not fit in int64.
std::optional<int64_t> deadline_after(int64_t now, int64_t ms) {
  int64_t deadline;
  if (__builtin_add_overflow(now, ms, &deadline)) return std::nullopt;
  return deadline;
}

Status ttl_overflow(int64_t ttl_ms, int64_t now) {
  return invalid("ttl " + std::to_string(ttl_ms) + " ms from " + std::to_string(now) +
                 " overflows int64");
}

template <typename T>
constexpr bool kAllowedInMulti =
    std::is_same_v<T, PutCmd> || std::is_same_v<T, DeleteCmd> || std::is_same_v<T, MultiPutCmd> ||
    std::is_same_v<T, MultiDeleteCmd> || std::is_same_v<T, ClearCmd> ||
    std::is_same_v<T, CounterAddCmd> || std::is_same_v<T, CounterSetCmd> ||
    std::is_same_v<T, AppendCmd> || std::is_same_v<T, KeyTtlCmd> || std::is_same_v<T, ReadCmd>;

}  // namespace

StateMachine::StateMachine() = default;
// Members are declared so that the wheels go first, unlinking the timers their owners hold.
StateMachine::~StateMachine() = default;

// ---------------------------------------------------------------------------------------------
// Visibility

StateMachine::Lease* StateMachine::find_lease(int64_t id) const {
  auto it = leases_.find(id);
  return it == leases_.end() ? nullptr : it->second.get();
}

bool StateMachine::lease_alive(int64_t id, int64_t now) const {
  const Lease* lease = find_lease(id);
  return lease != nullptr && lease->deadline_ms > now;
}

bool StateMachine::alive(const Record& record, int64_t now) const {
  int64_t expires = record.expires_at_ms();
  if (expires != 0 && expires <= now) return false;
  int64_t lease = record.lease();
  return lease == 0 || lease_alive(lease, now);
}

const Record* StateMachine::live(std::string_view key, int64_t now) const {
  const Record* r = keys_.find(key);
  return (r != nullptr && alive(*r, now)) ? r : nullptr;
}

std::optional<KeyValue> StateMachine::live_value(std::string_view key, int64_t now) const {
  const Record* r = live(key, now);
  if (r == nullptr) return std::nullopt;
  return r->to_key_value(now);
}

Status StateMachine::check_fence(const std::optional<Fence>& fence, int64_t now) const {
  if (!fence) return Status();
  int64_t current = 0;
  if (auto it = locks_.find(fence->name); it != locks_.end() && lease_alive(it->second.lease, now)) {
    current = it->second.token;
  }
  if (current != fence->token) {
    if (auto it = elections_.find(fence->name);
        it != elections_.end() && it->second.leader && lease_alive(it->second.leader->lease, now)) {
      current = it->second.leader->token;
    }
  }
  if (current == fence->token && current != 0) return Status();
  return Status(Code::kFenced, "fencing token " + std::to_string(fence->token) + " of " +
                                   quoted(fence->name) + " is not current (current: " +
                                   (current == 0 ? std::string("none") : std::to_string(current)) +
                                   ")");
}

// ---------------------------------------------------------------------------------------------
// Apply

CommandResult StateMachine::apply_encoded(std::string_view bytes, std::vector<Event>* events) {
  Result<Command> command = decode_command(bytes);
  if (!command.ok()) return command.status();
  return apply(*command, events);
}

CommandResult StateMachine::apply(const Command& command, std::vector<Event>* events) {
  clock_ms_ = std::max(clock_ms_, command.timestamp_ms);
  if (command.session.id != 0) {
    CommandResult refusal;
    if (const CommandResult* first = replay(command.session, clock_ms_, &refusal)) return *first;
    if (!refusal.status.ok()) return refusal;
  }
  Write w;
  w.revision = revision_ + 1;
  w.now = clock_ms_;
  w.events = events;
  CommandResult result = std::visit([&](const auto& body) { return on(w, body); }, command.body);
  if (w.changed) revision_ = w.revision;
  // The command's events are built: versions it replaced within its own revision can go.
  keys_.release_superseded();
  if (command.session.id != 0) remember(command.session, result);
  return result;
}

// --- exactly-once sessions ---

void StateMachine::touch_session(uint64_t id, ClientSession& s, int64_t now) {
  sessions_by_use_.erase({s.last_used_ms, id});
  s.last_used_ms = std::max(s.last_used_ms, now);
  sessions_by_use_.insert({s.last_used_ms, id});
}

const CommandResult* StateMachine::replay(const SessionRequest& req, int64_t now,
                                          CommandResult* refusal) {
  // Sessions idle too long go first, then the least recently used beyond the bound.
  while (!sessions_by_use_.empty()) {
    auto [used, id] = *sessions_by_use_.begin();
    if (id == req.id) break;
    if (used + kSessionIdleMs > now && sessions_.size() < kMaxSessions) break;
    sessions_by_use_.erase(sessions_by_use_.begin());
    sessions_.erase(id);
  }
  auto [it, fresh] = sessions_.try_emplace(req.id);
  ClientSession& s = it->second;
  if (fresh) s.last_used_ms = now;
  touch_session(req.id, s, now);
  if (auto a = s.answers.find(req.seq); a != s.answers.end()) return &a->second;
  if (req.seq < s.acked) {
    *refusal = Status(Code::kInvalidArgument,
                      "request " + std::to_string(req.seq) + " of session " + std::to_string(req.id) +
                          " was answered before and its answer is forgotten (the session acknowledged "
                          "every request below " + std::to_string(s.acked) + ")");
  }
  return nullptr;
}

void StateMachine::remember(const SessionRequest& req, const CommandResult& result) {
  ClientSession& s = sessions_[req.id];
  s.answers.emplace(req.seq, result);
  s.acked = std::max(s.acked, req.acked);
  while (!s.answers.empty() &&
         (s.answers.begin()->first < s.acked || s.answers.size() > kMaxAnswersPerSession)) {
    s.acked = std::max(s.acked, s.answers.begin()->first + 1);
    s.answers.erase(s.answers.begin());
  }
}

// --- key-value ---

Status StateMachine::check_put(std::string_view key, const PutOptions& o, int64_t now) const {
  if (Status s = validate_key(key); !s.ok()) return s;
  if (o.ttl_ms < 0) return invalid("ttl must not be negative, got " + std::to_string(o.ttl_ms));
  if (o.lease < 0) return invalid("lease id must not be negative");
  if (o.expires_at_ms < 0) {
    return invalid("expires_at must not be negative, got " + std::to_string(o.expires_at_ms));
  }
  if (o.ttl_ms > 0 && o.lease != 0) return invalid("ttl and lease are mutually exclusive");
  if (o.keep_ttl && o.ttl_ms > 0) return invalid("keep_ttl and ttl are mutually exclusive");
  // A key expires by its own deadline or its lease's, never both.
  if (o.keep_ttl && o.lease != 0) return invalid("keep_ttl and lease are mutually exclusive");
  if (o.expires_at_ms != 0) {
    if (o.ttl_ms > 0) return invalid("expires_at and ttl are mutually exclusive");
    if (o.keep_ttl) return invalid("expires_at and keep_ttl are mutually exclusive");
    if (o.lease != 0) return invalid("expires_at and lease are mutually exclusive");
  }
  if (o.ttl_ms > 0 && !deadline_after(now, o.ttl_ms)) return ttl_overflow(o.ttl_ms, now);
  if (o.if_absent && o.if_match) return invalid("if_absent and if_match are mutually exclusive");
  if (o.if_absent && o.if_exists) {
    return invalid("if_absent and if_exists are mutually exclusive");
  }
  if (Status s = check_fence(o.fence, now); !s.ok()) return s;
  const Record* current = live(key, now);
  if (o.if_absent && current != nullptr) {
    return Status(Code::kConflict, "key " + quoted(key) + " exists (version " +
                                       std::to_string(current->version()) + ")");
  }
  if (o.if_exists && current == nullptr) {
    return Status(Code::kConflict, "key " + quoted(key) + " does not exist");
  }
  if (o.if_match) {
    int64_t version = current == nullptr ? 0 : current->version();
    if (version != *o.if_match) {
      return Status(Code::kConflict, "key " + quoted(key) + " is at version " +
                                         std::to_string(version) + ", not " +
                                         std::to_string(*o.if_match));
    }
  }
  if (o.lease != 0 && !lease_alive(o.lease, now)) {
    return Status(Code::kLeaseNotFound, "lease " + std::to_string(o.lease) + " not found");
  }
  return Status();
}

PutResult StateMachine::do_put(Write& w, std::string_view key, std::string_view value,
                               const PutOptions& o) {
  PutResult result;
  if (o.prev_kv) result.prev = live_value(key, w.now);
  reap(w, key);
  const Record* old = keys_.find(key);
  RecordMeta m;
  m.mod_revision = w.revision;
  m.updated_at_ms = w.now;
  if (old != nullptr) {
    RecordMeta prev = old->meta();
    m.version = prev.version + 1;
    m.create_revision = prev.create_revision;
    m.created_at_ms = prev.created_at_ms;
    if (o.keep_ttl) m.expires_at_ms = prev.expires_at_ms;
  } else {
    m.version = 1;
    m.create_revision = w.revision;
    m.created_at_ms = w.now;
  }
  if (o.ttl_ms > 0) m.expires_at_ms = w.now + o.ttl_ms;
  if (o.expires_at_ms != 0) m.expires_at_ms = o.expires_at_ms;
  m.lease = o.lease;
  const Record* fresh =
      store(w, Record::create(key, value, m, o.entity, o.content_type, o.labels), old);
  // Expired on arrival (Redis SET ... EXAT in the past): written, then gone at once, so that no
  // record lingers for the leader's ExpireCmd.
  if (m.expires_at_ms != 0 && m.expires_at_ms <= w.now) erase(w, *fresh, EventType::kExpire);
  result.version = m.version;
  result.revision = w.revision;
  return result;
}

Status StateMachine::check_delete(std::string_view key, const DeleteOptions& o,
                                  int64_t now) const {
  if (Status s = validate_key(key); !s.ok()) return s;
  if (Status s = check_fence(o.fence, now); !s.ok()) return s;
  if (o.if_match) {
    const Record* current = live(key, now);
    int64_t version = current == nullptr ? 0 : current->version();
    if (version != *o.if_match) {
      return Status(Code::kConflict, "key " + quoted(key) + " is at version " +
                                         std::to_string(version) + ", not " +
                                         std::to_string(*o.if_match));
    }
  }
  return Status();
}

DeleteResult StateMachine::do_delete(Write& w, std::string_view key, bool prev_kv) {
  const Record* current = live(key, w.now);
  if (current == nullptr) return DeleteResult{false, revision_, std::nullopt};
  DeleteResult result{true, w.revision, std::nullopt};
  if (prev_kv) result.prev = current->to_key_value(w.now);
  erase(w, *current, EventType::kDelete);
  return result;
}

const Record* StateMachine::update(Write& w, const Record& old, std::string_view value,
                                   int64_t expires_at_ms) {
  RecordMeta m = old.meta();
  m.version += 1;
  m.mod_revision = w.revision;
  m.updated_at_ms = w.now;
  m.expires_at_ms = expires_at_ms;
  if (expires_at_ms != 0) m.lease = 0;  // an expiry of its own detaches a key from its lease
  return store(w, Record::create(old.key(), value, m, old.entity(), old.content_type(),
                                 old.labels()),
               &old);
}

void StateMachine::attach(const Record& r) {
  if (int64_t expires = r.expires_at_ms(); expires != 0) {
    auto [it, inserted] = key_timers_.try_emplace(std::string(r.key()));
    it->second.key = &it->first;
    key_wheel_.schedule(&it->second, expires);
  }
  if (int64_t lease = r.lease(); lease != 0) {
    if (Lease* l = find_lease(lease)) l->keys.insert(std::string(r.key()));
  }
  if (r.has_ext()) labels_.add(r.key(), r.entity(), r.labels());
}

void StateMachine::detach(const Record& r) {
  if (r.expires_at_ms() != 0) {
    if (auto it = key_timers_.find(absl::string_view(r.key().data(), r.key().size()));
        it != key_timers_.end()) {
      key_wheel_.cancel(&it->second);
      key_timers_.erase(it);
    }
  }
  if (int64_t lease = r.lease(); lease != 0) {
    if (Lease* l = find_lease(lease)) l->keys.erase(std::string(r.key()));
  }
  if (r.has_ext()) labels_.remove(r.key(), r.entity(), r.labels());
}

Event StateMachine::key_event(const Write& w, EventType type, const Record* record,
                              const Record* prev, std::string_view key) const {
  Event e;
  e.revision = w.revision;
  e.type = type;
  e.space = WatchSpace::kKeys;
  if (record != nullptr) {
    record->to_key_value(w.now, false, &e.kv);
  } else {
    e.kv.key.assign(key);
    e.kv.mod_revision = w.revision;
  }
  if (prev != nullptr) e.prev = prev->to_key_value(w.now);
  return e;
}

const Record* StateMachine::store(Write& w, RecordPtr record, const Record* old) {
  if (old != nullptr) detach(*old);
  const Record* fresh = record.get();
  keys_.install(std::move(record));
  attach(*fresh);
  w.emit([&] { return key_event(w, EventType::kPut, fresh, old, fresh->key()); });
  return fresh;
}

void StateMachine::erase(Write& w, const Record& record, EventType type) {
  detach(record);
  // The record stays valid as history until compaction, so the event can still read it.
  const Record* removed = keys_.remove(record.key(), w.revision);
  w.emit([&] { return key_event(w, type, nullptr, removed, removed->key()); });
}

void StateMachine::reap(Write& w, std::string_view key) {
  const Record* r = keys_.find(key);
  if (r == nullptr || alive(*r, w.now)) return;
  int64_t lease = r->lease();
  if (lease != 0 && !lease_alive(lease, w.now)) {
    if (Lease* l = find_lease(lease)) {
      revoke(w, l, EventType::kExpire);
      return;
    }
  }
  erase(w, *r, EventType::kExpire);
}

CommandResult StateMachine::on(Write& w, const PutCmd& c) {
  if (Status s = check_put(c.key, c.options, w.now); !s.ok()) {
    if (s.code() != Code::kConflict || !c.options.prev_kv) return s;
    // Redis SET ... NX GET answers the existing value even though nothing was written.
    CommandResult r(std::move(s));
    r.body = PutResult{0, revision_, live_value(c.key, w.now)};
    return r;
  }
  return do_put(w, c.key, c.value, c.options);
}

CommandResult StateMachine::on(Write& w, const DeleteCmd& c) {
  if (Status s = check_delete(c.key, c.options, w.now); !s.ok()) {
    if (s.code() != Code::kConflict || !c.options.prev_kv) return s;
    CommandResult r(std::move(s));
    r.body = DeleteResult{false, revision_, live_value(c.key, w.now)};
    return r;
  }
  return do_delete(w, c.key, c.options.prev_kv);
}

CommandResult StateMachine::on(Write& w, const MultiPutCmd& c) {
  MultiPutResult results;
  results.reserve(c.items.size());
  for (const PutItem& item : c.items) {
    if (Status s = check_put(item.key, item.options, w.now); !s.ok()) {
      results.emplace_back(std::move(s));
    } else {
      results.emplace_back(do_put(w, item.key, item.value, item.options));
    }
  }
  return results;
}

CommandResult StateMachine::on(Write& w, const MultiDeleteCmd& c) {
  MultiDeleteResult results;
  results.reserve(c.keys.size());
  for (const std::string& key : c.keys) {
    if (Status s = validate_key(key); !s.ok()) {
      results.emplace_back(std::move(s));
    } else {
      results.emplace_back(do_delete(w, key));
    }
  }
  return results;
}

CommandResult StateMachine::on(Write& w, const ClearCmd& c) {
  std::vector<std::string> doomed;
  keys_.scan(KeyRange::prefix(c.prefix), [&](const Record& r) {
    doomed.emplace_back(r.key());
    return true;
  });
  ClearResult result;
  for (const std::string& key : doomed) {
    const Record* r = keys_.find(key);
    if (r == nullptr) continue;  // went with a lease revoked earlier in this loop
    if (alive(*r, w.now)) {
      erase(w, *r, EventType::kDelete);
      ++result.deleted;
    } else {
      reap(w, key);
    }
  }
  result.revision = w.changed ? w.revision : revision_;
  return result;
}

CommandResult StateMachine::on(Write& w, const ExpireCmd& c) {
  ExpireResult result;
  for (const std::string& key : c.keys) {
    const Record* r = keys_.find(key);
    if (r == nullptr) continue;
    int64_t expires = r->expires_at_ms();
    if (expires != 0 && expires <= w.now) {
      erase(w, *r, EventType::kExpire);
      ++result.keys;
    }
  }
  for (int64_t id : c.leases) {
    Lease* lease = find_lease(id);
    if (lease != nullptr && lease->deadline_ms <= w.now) {
      revoke(w, lease, EventType::kExpire);
      ++result.leases;
    }
  }
  result.revision = w.changed ? w.revision : revision_;
  return result;
}

// --- counters ---

CommandResult StateMachine::on(Write& w, const CounterAddCmd& c) {
  if (Status s = validate_key(c.key); !s.ok()) return s;
  const CounterOptions& o = c.options;
  if (o.ttl_ms < 0) return invalid("ttl must not be negative, got " + std::to_string(o.ttl_ms));
  if (o.min && o.max && *o.min > *o.max) {
    return invalid("min " + std::to_string(*o.min) + " is greater than max " +
                   std::to_string(*o.max));
  }
  const Record* current = live(c.key, w.now);
  int64_t previous = 0;
  if (current != nullptr) {
    std::optional<int64_t> parsed = parse_counter(current->value());
    if (!parsed) return Status(Code::kWrongType, "value of " + quoted(c.key) + " is not an integer");
    previous = *parsed;
  }
  int64_t next;
  if (__builtin_add_overflow(previous, c.delta, &next)) {
    return Status(Code::kOverflow, "adding " + std::to_string(c.delta) + " to " +
                                       std::to_string(previous) + " overflows int64");
  }
  if ((o.min && next < *o.min) || (o.max && next > *o.max)) {
    return Status(Code::kOutOfRange,
                  "result " + std::to_string(next) + " is outside [" +
                      (o.min ? std::to_string(*o.min) : std::string("-inf")) + ", " +
                      (o.max ? std::to_string(*o.max) : std::string("+inf")) + "]");
  }
  if (current == nullptr && o.ttl_ms > 0 && !deadline_after(w.now, o.ttl_ms)) {
    return ttl_overflow(o.ttl_ms, w.now);
  }
  // An add updates the counter in place (like Redis INCR): expiry, lease, entity, content type
  // and labels stay as they were.
  const std::string text = std::to_string(next);
  if (current != nullptr) {
    update(w, *current, text, current->expires_at_ms());
  } else {
    reap(w, c.key);
    RecordMeta m;
    m.version = 1;
    m.create_revision = w.revision;
    m.mod_revision = w.revision;
    m.created_at_ms = w.now;
    m.updated_at_ms = w.now;
    if (o.ttl_ms > 0) m.expires_at_ms = w.now + o.ttl_ms;
    store(w, Record::create(c.key, text, m, {}, {}, {}), nullptr);
  }
  return CounterResult{previous, next, w.revision};
}

// --- Redis string commands ---

CommandResult StateMachine::on(Write& w, const AppendCmd& c) {
  if (Status s = validate_key(c.key); !s.ok()) return s;
  const Record* r;
  if (const Record* current = live(c.key, w.now)) {
    std::string value(current->value());
    value += c.suffix;
    r = update(w, *current, value, current->expires_at_ms());
  } else {
    reap(w, c.key);
    RecordMeta m;
    m.version = 1;
    m.create_revision = w.revision;
    m.mod_revision = w.revision;
    m.created_at_ms = w.now;
    m.updated_at_ms = w.now;
    r = store(w, Record::create(c.key, c.suffix, m, {}, {}, {}), nullptr);
  }
  return AppendResult{static_cast<int64_t>(r->value().size()), r->version(), w.revision};
}

CommandResult StateMachine::on(Write& w, const KeyTtlCmd& c) {
  using Mode = KeyTtlCmd::Mode;
  using Cond = KeyTtlCmd::Cond;
  if (Status s = validate_key(c.key); !s.ok()) return s;
  if (c.mode > Mode::kPersist || c.cond > Cond::kLt) return invalid("unknown ttl mode or condition");
  if (c.mode == Mode::kPersist && c.cond != Cond::kAlways) {
    return invalid("persist takes no condition");
  }
  int64_t when = c.ms;  // the new deadline, for kExpireIn and kExpireAt
  if (c.mode == Mode::kExpireIn) {
    std::optional<int64_t> deadline = deadline_after(w.now, c.ms);
    if (!deadline) {
      return invalid("expire time " + std::to_string(c.ms) + " ms from " + std::to_string(w.now) +
                     " overflows int64");
    }
    when = *deadline;
  }
  const ChangedResult unchanged{false, revision_};
  const Record* r = live(c.key, w.now);
  if (r == nullptr) return unchanged;
  const int64_t current = r->expires_at_ms();  // 0 = none, i.e. infinite
  if (c.mode == Mode::kPersist) {
    if (current == 0) return unchanged;
    update(w, *r, r->value(), 0);
    return ChangedResult{true, w.revision};
  }
  switch (c.cond) {
    case Cond::kAlways: break;
    case Cond::kNx:
      if (current != 0) return unchanged;
      break;
    case Cond::kXx:
      if (current == 0) return unchanged;
      break;
    case Cond::kGt:
      if (current == 0 || when <= current) return unchanged;
      break;
    case Cond::kLt:
      if (current != 0 && when >= current) return unchanged;
      break;
  }
  if (when <= w.now) {
    erase(w, *r, EventType::kDelete);
    return ChangedResult{true, w.revision};
  }
  update(w, *r, r->value(), when);
  return ChangedResult{true, w.revision};
}

CommandResult StateMachine::on(Write& w, const ReadCmd& c) {
  for (const std::string& key : c.keys) {
    if (Status s = validate_key(key); !s.ok()) return s;
  }
  ReadResult result;
  result.values.reserve(c.keys.size());
  for (const std::string& key : c.keys) result.values.push_back(live_value(key, w.now));
  return result;
}

CommandResult StateMachine::on(Write& w, const MultiCmd& c) {
  for (size_t i = 0; i < c.ops.size(); ++i) {
    const bool allowed = std::visit(
        [](const auto& body) { return kAllowedInMulti<std::decay_t<decltype(body)>>; },
        c.ops[i].body);
    if (!allowed) {
      return invalid("multi op " + std::to_string(i) + " (" +
                     std::string(command_name(c.ops[i].body)) + ") is not allowed in a multi");
    }
  }
  std::vector<std::string> conflicts;
  for (const WatchedKey& watched : c.watched) {
    if (Status s = validate_key(watched.key); !s.ok()) return s;
    const Record* r = live(watched.key, w.now);
    if ((r == nullptr ? 0 : r->mod_revision()) != watched.mod_revision &&
        std::find(conflicts.begin(), conflicts.end(), watched.key) == conflicts.end()) {
      conflicts.push_back(watched.key);
    }
  }
  if (!conflicts.empty()) {
    std::string message = "multi aborted: watched keys changed:";
    for (const std::string& key : conflicts) message += " " + quoted(key);
    return Status(Code::kConflict, std::move(message));
  }
  MultiResult result;
  result.results.reserve(c.ops.size());
  for (const MultiOp& op : c.ops) {
    result.results.push_back(std::visit([&](const auto& body) { return on(w, body); }, op.body));
  }
  result.revision = w.changed ? w.revision : revision_;
  return result;
}

CommandResult StateMachine::on(Write& w, const CounterSetCmd& c) {
  PutOptions o;
  o.ttl_ms = c.ttl_ms;
  if (Status s = check_put(c.key, o, w.now); !s.ok()) return s;
  int64_t previous = 0;
  if (const Record* current = live(c.key, w.now)) {
    previous = parse_counter(current->value()).value_or(0);
  }
  PutResult put = do_put(w, c.key, std::to_string(c.value), o);
  return CounterResult{previous, c.value, put.revision};
}

// --- leases ---

CommandResult StateMachine::on(Write& w, const LeaseGrantCmd& c) {
  if (c.ttl_ms <= 0) return invalid("lease ttl must be positive, got " + std::to_string(c.ttl_ms));
  auto lease = std::make_unique<Lease>();
  lease->id = next_lease_id_++;
  lease->ttl_ms = c.ttl_ms;
  lease->deadline_ms = w.now + c.ttl_ms;
  lease_wheel_.schedule(lease.get(), lease->deadline_ms);
  LeaseGrant grant{lease->id, c.ttl_ms};
  leases_.emplace(lease->id, std::move(lease));
  return grant;
}

CommandResult StateMachine::on(Write& w, const LeaseKeepAliveCmd& c) {
  Lease* lease = find_lease(c.id);
  if (lease == nullptr || lease->deadline_ms <= w.now) {
    return Status(Code::kLeaseNotFound, "lease " + std::to_string(c.id) + " not found");
  }
  lease->deadline_ms = w.now + lease->ttl_ms;
  lease_wheel_.schedule(lease, lease->deadline_ms);
  return KeepAliveResult{lease->ttl_ms};
}

CommandResult StateMachine::on(Write&, const MemberAddressCmd& c) {
  if (c.node == 0) return invalid("node id 0 is reserved");
  if (c.raft_address.empty()) {
    member_addresses_.erase(c.node);
    member_client_addresses_.erase(c.node);
    removed_members_.insert(c.node);
  } else if (!removed_members_.contains(c.node)) {  // e.g. its own late announcement: ignored
    member_addresses_[c.node] = c.raft_address;
    if (!c.client_address.empty()) member_client_addresses_[c.node] = c.client_address;
  }
  return CommandResult();
}

const AclUser* StateMachine::acl_user(std::string_view name) const {
  static const AclUser kDefault = default_acl_user();
  auto it = acl_users_.find(std::string(name));
  if (it != acl_users_.end()) return &it->second;
  return name == "default" ? &kDefault : nullptr;
}

absl::btree_map<std::string, AclUser> StateMachine::acl_users() const {
  absl::btree_map<std::string, AclUser> users = acl_users_;
  users.try_emplace("default", default_acl_user());
  return users;
}

CommandResult StateMachine::on(Write&, const AclSetUserCmd& c) {
  if (c.name.empty()) return invalid("a user name cannot be empty");
  const AclUser* existing = acl_user(c.name);
  AclUser user = existing != nullptr ? *existing : new_acl_user();
  for (const std::string& rule : c.rules) {
    if (Status s = apply_acl_rule(&user, rule); !s.ok()) return s;
  }
  acl_users_[c.name] = std::move(user);
  return CommandResult();
}

CommandResult StateMachine::on(Write&, const AclDelUserCmd& c) {
  for (const std::string& name : c.names) {
    if (name == "default") return invalid("The 'default' user cannot be removed");
  }
  int64_t deleted = 0;
  for (const std::string& name : c.names) deleted += static_cast<int64_t>(acl_users_.erase(name));
  return ClearResult{deleted, revision_};
}

CommandResult StateMachine::on(Write& w, const LeaseRefreshCmd& c) {
  lease_refresh_term_ = std::max(lease_refresh_term_, c.term);
  for (auto& [id, lease] : leases_) {
    const int64_t deadline =
        deadline_after(w.now, lease->ttl_ms).value_or(std::numeric_limits<int64_t>::max());
    if (deadline > lease->deadline_ms) {
      lease->deadline_ms = deadline;
      lease_wheel_.schedule(lease.get(), deadline);
    }
  }
  return CommandResult();
}

CommandResult StateMachine::on(Write& w, const LeaseRevokeCmd& c) {
  Lease* lease = find_lease(c.id);
  if (lease == nullptr) {
    return Status(Code::kLeaseNotFound, "lease " + std::to_string(c.id) + " not found");
  }
  RevokeResult result;
  result.deleted = static_cast<int64_t>(lease->keys.size());
  revoke(w, lease, EventType::kDelete);
  result.revision = w.changed ? w.revision : revision_;
  return result;
}

void StateMachine::revoke(Write& w, Lease* lease, EventType type) {
  lease_wheel_.cancel(lease);
  // Copies: erasing keys and releasing locks edits these sets.
  const std::vector<std::string> keys(lease->keys.begin(), lease->keys.end());
  const std::vector<std::string> locks(lease->locks.begin(), lease->locks.end());
  const std::vector<std::string> elections(lease->elections.begin(), lease->elections.end());
  const int64_t id = lease->id;
  lease->deadline_ms = 0;  // dead from here on, for elect_next's candidate checks
  for (const std::string& key : keys) {
    if (const Record* r = keys_.find(key)) erase(w, *r, type);
  }
  for (const std::string& name : locks) release_lock(w, name);
  for (const std::string& name : elections) {
    auto it = elections_.find(name);
    if (it == elections_.end()) continue;
    Election& e = it->second;
    std::erase_if(e.queue, [&](const Candidate& c) { return c.lease == id; });
    if (e.leader && e.leader->lease == id) {
      elect_next(w, name);
    } else if (!e.leader && e.queue.empty()) {
      elections_.erase(it);
    }
  }
  leases_.erase(id);
}

LeaseInfo StateMachine::lease_info_of(const Lease& lease, bool with_keys, int64_t now) const {
  LeaseInfo info;
  info.id = lease.id;
  info.granted_ttl_ms = lease.ttl_ms;
  info.remaining_ms = std::max<int64_t>(0, lease.deadline_ms - now);
  if (with_keys) info.keys.assign(lease.keys.begin(), lease.keys.end());
  return info;
}

// --- locks ---

Event StateMachine::lock_event(const LockOwner& owner, int64_t revision) {
  Event e;
  e.revision = revision;
  e.type = EventType::kPut;
  e.space = WatchSpace::kLocks;
  e.kv.key = owner.name;
  e.kv.value = std::to_string(owner.token);
  e.kv.lease = owner.lease;
  e.kv.create_revision = owner.token;
  e.kv.mod_revision = owner.token;
  e.kv.created_at_ms = e.kv.updated_at_ms = owner.acquired_at_ms;
  return e;
}

void StateMachine::grant_lock(Write& w, std::string_view name, int64_t lease) {
  LockOwner owner{std::string(name), lease, w.revision, w.now};
  find_lease(lease)->locks.insert(owner.name);
  w.emit([&] { return lock_event(owner, w.revision); });
  std::string key = owner.name;
  locks_.insert_or_assign(std::move(key), std::move(owner));
}

void StateMachine::release_lock(Write& w, std::string_view name) {
  auto it = locks_.find(name);
  if (it == locks_.end()) return;
  if (Lease* l = find_lease(it->second.lease)) l->locks.erase(it->first);
  Event e;
  e.revision = w.revision;
  e.type = EventType::kDelete;
  e.space = WatchSpace::kLocks;
  e.kv.key = it->first;
  e.kv.mod_revision = w.revision;
  locks_.erase(it);
  w.emit([&] { return std::move(e); });
}

CommandResult StateMachine::on(Write& w, const LockAcquireCmd& c) {
  if (c.name.empty()) return invalid("lock name must not be empty");
  if (!lease_alive(c.lease, w.now)) {
    return Status(Code::kLeaseNotFound, "lease " + std::to_string(c.lease) + " not found");
  }
  if (auto it = locks_.find(c.name); it != locks_.end()) {
    const LockOwner& holder = it->second;
    if (holder.lease == c.lease) return TokenResult{holder.token};  // a retried acquire
    if (lease_alive(holder.lease, w.now)) {
      return Status(Code::kLocked, "lock " + quoted(c.name) + " is held by lease " +
                                       std::to_string(holder.lease) + " with token " +
                                       std::to_string(holder.token));
    }
    // The holder's lease has run out but its revoke is not applied yet: do it now. (A lease that
    // does not exist at all holds nothing: only a damaged snapshot can leave such a lock.)
    if (Lease* l = find_lease(holder.lease)) {
      revoke(w, l, EventType::kExpire);
    } else {
      release_lock(w, c.name);
    }
  }
  grant_lock(w, c.name, c.lease);
  return TokenResult{w.revision};
}

CommandResult StateMachine::on(Write& w, const LockReleaseCmd& c) {
  auto it = locks_.find(c.name);
  if (it == locks_.end() || !lease_alive(it->second.lease, w.now)) {
    return Status(Code::kNotFound, "lock " + quoted(c.name) + " is not held");
  }
  if (it->second.token != c.token) {
    return Status(Code::kFenced, "token " + std::to_string(c.token) + " does not hold lock " +
                                     quoted(c.name) + " (current: " +
                                     std::to_string(it->second.token) + ")");
  }
  release_lock(w, c.name);
  return RevisionResult{w.revision};
}

// --- elections ---

Event StateMachine::election_event(std::string_view name, const Election& e, int64_t revision,
                                   int64_t now) {
  Event ev;
  ev.revision = revision;
  ev.space = WatchSpace::kElections;
  ev.kv.key.assign(name);
  ev.kv.mod_revision = revision;
  if (e.leader) {
    ev.type = EventType::kPut;
    ev.kv.value = e.leader->value;
    ev.kv.lease = e.leader->lease;
    ev.kv.create_revision = e.leader->token;
    ev.kv.updated_at_ms = now;
  } else {
    ev.type = EventType::kDelete;
  }
  return ev;
}

void StateMachine::emit_election(Write& w, std::string_view name, const Election& e) {
  w.emit([&] { return election_event(name, e, w.revision, w.now); });
}

void StateMachine::elect_next(Write& w, std::string_view name) {
  auto it = elections_.find(name);
  if (it == elections_.end()) return;
  Election& e = it->second;
  if (e.leader) {
    if (Lease* l = find_lease(e.leader->lease)) {
      // The lease may still be a candidate elsewhere in this election only by campaigning
      // again, which it cannot while leader.
      l->elections.erase(it->first);
    }
    e.leader.reset();
  }
  while (!e.queue.empty()) {
    Candidate next = std::move(e.queue.front());
    e.queue.pop_front();
    if (!lease_alive(next.lease, w.now)) {
      if (Lease* l = find_lease(next.lease)) l->elections.erase(it->first);
      continue;
    }
    e.leader = ElectionLeader{it->first, std::move(next.value), next.lease, w.revision};
    break;
  }
  emit_election(w, name, e);
  if (!e.leader && e.queue.empty()) elections_.erase(it);
}

CommandResult StateMachine::on(Write& w, const CampaignCmd& c) {
  if (c.name.empty()) return invalid("election name must not be empty");
  if (!lease_alive(c.lease, w.now)) {
    return Status(Code::kLeaseNotFound, "lease " + std::to_string(c.lease) + " not found");
  }
  auto it = elections_.find(c.name);
  if (it != elections_.end()) {
    Election& e = it->second;
    if (e.leader && e.leader->lease == c.lease) return CampaignResult{true, e.leader->token, 0};
    for (size_t i = 0; i < e.queue.size(); ++i) {
      if (e.queue[i].lease == c.lease) {
        return CampaignResult{false, 0, static_cast<int64_t>(i + 1)};
      }
    }
    if (e.leader && !lease_alive(e.leader->lease, w.now)) {
      if (Lease* l = find_lease(e.leader->lease)) {
        revoke(w, l, EventType::kExpire);
      } else {
        elect_next(w, c.name);  // a leader whose lease does not exist (a damaged snapshot)
      }
      it = elections_.find(c.name);  // the revoke may have handed over or erased it
    }
  }
  if (it == elections_.end()) it = elections_.try_emplace(c.name).first;
  Election& e = it->second;
  find_lease(c.lease)->elections.insert(it->first);
  if (!e.leader) {
    e.leader = ElectionLeader{it->first, c.value, c.lease, w.revision};
    emit_election(w, c.name, e);
    return CampaignResult{true, w.revision, 0};
  }
  e.queue.push_back(Candidate{c.lease, c.value});
  return CampaignResult{false, 0, static_cast<int64_t>(e.queue.size())};
}

CommandResult StateMachine::on(Write& w, const ResignCmd& c) {
  auto it = elections_.find(c.name);
  if (it == elections_.end() || !it->second.leader ||
      !lease_alive(it->second.leader->lease, w.now)) {
    return Status(Code::kNotFound, "election " + quoted(c.name) + " has no leader");
  }
  if (it->second.leader->token != c.token) {
    return Status(Code::kFenced, "token " + std::to_string(c.token) + " is not the leader of " +
                                     quoted(c.name) + " (current: " +
                                     std::to_string(it->second.leader->token) + ")");
  }
  elect_next(w, c.name);
  return RevisionResult{w.revision};
}

CommandResult StateMachine::on(Write& w, const ProclaimCmd& c) {
  auto it = elections_.find(c.name);
  if (it == elections_.end() || !it->second.leader ||
      !lease_alive(it->second.leader->lease, w.now)) {
    return Status(Code::kNotFound, "election " + quoted(c.name) + " has no leader");
  }
  Election& e = it->second;
  if (e.leader->token != c.token) {
    return Status(Code::kFenced, "token " + std::to_string(c.token) + " is not the leader of " +
                                     quoted(c.name) + " (current: " +
                                     std::to_string(e.leader->token) + ")");
  }
  e.leader->value = c.value;
  emit_election(w, c.name, e);
  return RevisionResult{w.revision};
}

// --- transactions ---

namespace {

bool compare(CompareOp op, int64_t a, int64_t b) {
  switch (op) {
    case CompareOp::kEqual: return a == b;
    case CompareOp::kNotEqual: return a != b;
    case CompareOp::kLess: return a < b;
    case CompareOp::kGreater: return a > b;
  }
  return false;
}

bool compare(CompareOp op, std::string_view a, std::string_view b) {
  return compare(op, static_cast<int64_t>(a.compare(b)), int64_t{0});
}

}  // namespace

CommandResult StateMachine::on(Write& w, const TxnCmd& c) {
  const TxnRequest& t = c.txn;
  std::vector<std::string> conflicts;
  auto conflict = [&](const std::string& key) {
    if (std::find(conflicts.begin(), conflicts.end(), key) == conflicts.end()) {
      conflicts.push_back(key);
    }
  };
  for (const TxnRead& read : t.reads) {
    if (Status s = validate_key(read.key); !s.ok()) return s;
    const Record* r = live(read.key, w.now);
    if ((r == nullptr ? 0 : r->version()) != read.version) conflict(read.key);
  }
  for (const TxnCondition& cond : t.conditions) {
    if (Status s = validate_key(cond.key); !s.ok()) return s;
    const Record* r = live(cond.key, w.now);
    bool holds;
    if (cond.target == CompareTarget::kValue) {
      holds = compare(cond.op, r == nullptr ? std::string_view() : r->value(), cond.text);
    } else {
      int64_t actual = 0;
      if (r != nullptr) {
        RecordMeta m = r->meta();
        switch (cond.target) {
          case CompareTarget::kVersion: actual = m.version; break;
          case CompareTarget::kCreateRevision: actual = m.create_revision; break;
          case CompareTarget::kModRevision: actual = m.mod_revision; break;
          case CompareTarget::kLease: actual = m.lease; break;
          case CompareTarget::kValue: break;
        }
      }
      holds = compare(cond.op, actual, cond.number);
    }
    if (!holds) conflict(cond.key);
  }
  // Every write's own conditions are checked against the state before the transaction, so
  // that the writes then apply unconditionally and all together.
  for (const TxnWrite& wr : t.writes) {
    Status s = wr.kind == TxnWrite::Kind::kPut ? check_put(wr.key, wr.put, w.now)
                                               : check_delete(wr.key, wr.del, w.now);
    if (s.code() == Code::kConflict) {
      conflict(wr.key);
    } else if (!s.ok()) {
      return Status(s.code(), "transaction write to " + quoted(wr.key) + ": " + s.message());
    }
  }
  if (!conflicts.empty()) {
    std::string message = "transaction conflict on keys:";
    for (const std::string& key : conflicts) message += " " + quoted(key);
    return Status(Code::kConflict, std::move(message));
  }
  TxnResult result;
  result.versions.reserve(t.writes.size());
  for (const TxnWrite& wr : t.writes) {
    if (wr.kind == TxnWrite::Kind::kPut) {
      result.versions.push_back(do_put(w, wr.key, wr.value, wr.put).version);
    } else {
      do_delete(w, wr.key);
      result.versions.push_back(0);
    }
  }
  result.revision = w.changed ? w.revision : revision_;
  return result;
}

// --- compaction ---

CommandResult StateMachine::on(Write&, const CompactCmd& c) {
  if (c.revision > revision_) {
    return invalid("cannot compact at revision " + std::to_string(c.revision) +
                   ": the current revision is " + std::to_string(revision_));
  }
  if (c.revision > compacted_) {
    keys_.compact(c.revision);
    compacted_ = c.revision;
  }
  return RevisionResult{compacted_};
}

// ---------------------------------------------------------------------------------------------
// Reads

Status StateMachine::check_past_revision(int64_t revision) const {
  if (revision > revision_) {
    return invalid("revision " + std::to_string(revision) + " is in the future (current: " +
                   std::to_string(revision_) + ")");
  }
  if (revision < compacted_ || revision < 0) {
    return Status(Code::kCompacted, "revision " + std::to_string(revision) +
                                        " is compacted; the oldest available is " +
                                        std::to_string(compacted_));
  }
  return Status();
}

Result<KeyValue> StateMachine::get(std::string_view key, const GetOptions& options,
                                   int64_t now) const {
  if (Status s = validate_key(key); !s.ok()) return s;
  const Record* r;
  if (options.revision == 0 || options.revision == revision_) {
    r = live(key, now);
  } else if (Status s = check_past_revision(options.revision); !s.ok()) {
    return s;
  } else {
    // A past version is returned as it was stored: expiry is judged only at the latest revision.
    r = keys_.find_at(key, options.revision);
  }
  if (r == nullptr) return Status(Code::kNotFound, "key " + quoted(key) + " not found");
  return r->to_key_value(now);
}

Result<RangeResult> StateMachine::range(const KeyRange& range, const RangeOptions& options,
                                        int64_t now) const {
  if (options.limit < 0) return invalid("limit must not be negative");
  if (!range.end.empty() && range.end < range.start) {
    return invalid("range end sorts before range start");
  }
  RangeResult result;
  auto visit = [&](const Record& r) {
    ++result.count;
    if (options.count_only) return true;
    if (options.limit > 0 && static_cast<int64_t>(result.items.size()) >= options.limit) {
      result.more = true;
      return true;
    }
    KeyValue& kv = result.items.emplace_back();
    r.to_key_value(now, options.keys_only, &kv);
    return true;
  };
  if (options.revision == 0 || options.revision == revision_) {
    result.revision = revision_;
    keys_.scan(range, [&](const Record& r) { return alive(r, now) ? visit(r) : true; });
  } else if (Status s = check_past_revision(options.revision); !s.ok()) {
    return s;
  } else {
    result.revision = options.revision;
    keys_.scan_at(range, options.revision, visit);
  }
  return result;
}

int64_t StateMachine::count(std::string_view prefix, int64_t now) const {
  if (!prefix.empty()) {
    int64_t n = 0;
    keys_.scan(KeyRange::prefix(std::string(prefix)), [&](const Record& r) {
      n += alive(r, now) ? 1 : 0;
      return true;
    });
    return n;
  }
  // Every stored key minus those already past their deadline: the wheels know exactly which
  // those are, so no scan is needed.
  auto n = static_cast<int64_t>(keys_.size());
  std::vector<Timer*> due;
  key_wheel_.collect_due(now, SIZE_MAX, &due);
  n -= static_cast<int64_t>(due.size());
  due.clear();
  lease_wheel_.collect_due(now, SIZE_MAX, &due);
  for (Timer* t : due) n -= static_cast<int64_t>(static_cast<Lease*>(t)->keys.size());
  return n;
}

Result<int64_t> StateMachine::counter_get(std::string_view key, int64_t now) const {
  if (Status s = validate_key(key); !s.ok()) return s;
  const Record* r = live(key, now);
  if (r == nullptr) return Status(Code::kNotFound, "key " + quoted(key) + " not found");
  std::optional<int64_t> v = parse_counter(r->value());
  if (!v) return Status(Code::kWrongType, "value of " + quoted(key) + " is not an integer");
  return *v;
}

Result<LeaseInfo> StateMachine::lease_info(int64_t id, bool with_keys, int64_t now) const {
  const Lease* lease = find_lease(id);
  if (lease == nullptr || lease->deadline_ms <= now) {
    return Status(Code::kLeaseNotFound, "lease " + std::to_string(id) + " not found");
  }
  return lease_info_of(*lease, with_keys, now);
}

std::vector<LeaseInfo> StateMachine::leases(int64_t now) const {
  std::vector<LeaseInfo> out;
  for (const auto& [id, lease] : leases_) {
    if (lease->deadline_ms > now) out.push_back(lease_info_of(*lease, false, now));
  }
  return out;
}

Result<LockOwner> StateMachine::lock_owner(std::string_view name, int64_t now) const {
  auto it = locks_.find(name);
  if (it == locks_.end() || !lease_alive(it->second.lease, now)) {
    return Status(Code::kNotFound, "lock " + quoted(name) + " is not held");
  }
  return it->second;
}

Result<ElectionLeader> StateMachine::election_leader(std::string_view name, int64_t now) const {
  auto it = elections_.find(name);
  if (it == elections_.end() || !it->second.leader ||
      !lease_alive(it->second.leader->lease, now)) {
    return Status(Code::kNotFound, "election " + quoted(name) + " has no leader");
  }
  return *it->second.leader;
}

Result<QueryResult> StateMachine::query(const Query& q, int64_t now) const {
  return labels_.run(q, [&](std::string_view key) -> std::optional<KeyValue> {
    const Record* r = live(key, now);
    if (r == nullptr) return std::nullopt;
    return r->to_key_value(now);
  });
}

std::vector<Event> StateMachine::current_events(const WatchRequest& req, int64_t now) const {
  std::vector<Event> out;
  auto matches = [&](std::string_view name) {
    return req.prefix ? name.substr(0, req.key.size()) == req.key : name == req.key;
  };
  auto add = [&](Event e) {
    e.snapshot = true;
    e.revision = revision_;
    out.push_back(std::move(e));
  };
  switch (req.space) {
    case WatchSpace::kKeys: {
      KeyRange range = req.prefix ? KeyRange::prefix(req.key) : KeyRange{req.key, req.key + '\0'};
      keys_.scan(range, [&](const Record& r) {
        if (alive(r, now)) {
          Event e;
          e.type = EventType::kPut;
          r.to_key_value(now, false, &e.kv);
          add(std::move(e));
        }
        return true;
      });
      break;
    }
    case WatchSpace::kLocks:
      for (auto it = locks_.lower_bound(req.key); it != locks_.end() && matches(it->first); ++it) {
        if (lease_alive(it->second.lease, now)) add(lock_event(it->second, revision_));
      }
      break;
    case WatchSpace::kElections:
      for (auto it = elections_.lower_bound(req.key); it != elections_.end() && matches(it->first);
           ++it) {
        const Election& e = it->second;
        if (e.leader && lease_alive(e.leader->lease, now)) {
          add(election_event(it->first, e, revision_, now));
        }
      }
      break;
  }
  return out;
}

StoreStats StateMachine::stats() const {
  StoreStats s;
  s.revision = revision_;
  s.compacted_revision = compacted_;
  s.keys = static_cast<int64_t>(keys_.size());
  s.leases = static_cast<int64_t>(leases_.size());
  s.locks = static_cast<int64_t>(locks_.size());
  s.elections = static_cast<int64_t>(elections_.size());
  s.history_versions = static_cast<int64_t>(keys_.history_versions());
  return s;
}

DueWork StateMachine::due(int64_t now, size_t limit) {
  DueWork work;
  std::vector<Timer*> timers;
  key_wheel_.collect_due(now, limit, &timers);
  for (Timer* t : timers) work.keys.push_back(*static_cast<KeyTimer*>(t)->key);
  timers.clear();
  lease_wheel_.collect_due(now, limit, &timers);
  for (Timer* t : timers) work.leases.push_back(static_cast<Lease*>(t)->id);
  return work;
}

}  // namespace dkv::core
