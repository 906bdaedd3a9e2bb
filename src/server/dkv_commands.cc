// DKV's own commands (KV., CTR., LEASE., LOCK., ELECT., TXN., QUERY, COMPACT, SNAPSHOT), with
// the syntax and reply shapes of docs/protocol.md section 3.
#include <algorithm>
#include <limits>
#include <memory>

#include "server/command.h"
#include "server/replica.h"
#include "server/server.h"
#include "server/session.h"
#include "wal/posix_file.h"
#include "wal/snapshot_file.h"

namespace dkv::server {

namespace {

using Kind = Prepared::Kind;

// --- reply shapes (protocol.md 3.0) ---

void write_labels(resp::Writer& out, const Labels& labels) {
  out.map(labels.size());
  for (const auto& [k, v] : labels) {
    out.bulk(k);
    out.bulk(v);
  }
}

void write_kv(resp::Writer& out, const KeyValue& kv) {
  out.map(13);
  out.bulk("key");
  out.bulk(kv.key);
  out.bulk("value");
  out.bulk(kv.value);
  out.bulk("version");
  out.integer(kv.version);
  out.bulk("create_revision");
  out.integer(kv.create_revision);
  out.bulk("mod_revision");
  out.integer(kv.mod_revision);
  out.bulk("created_at_ms");
  out.integer(kv.created_at_ms);
  out.bulk("updated_at_ms");
  out.integer(kv.updated_at_ms);
  out.bulk("expires_at_ms");
  out.integer(kv.expires_at_ms);
  out.bulk("ttl_ms");
  out.integer(kv.ttl_ms);
  out.bulk("lease");
  out.integer(kv.lease);
  out.bulk("entity");
  out.bulk(kv.entity);
  out.bulk("content_type");
  out.bulk(kv.content_type);
  out.bulk("labels");
  write_labels(out, kv.labels);
}

void write_key_only(resp::Writer& out, const KeyValue& kv) {
  out.map(1);
  out.bulk("key");
  out.bulk(kv.key);
}

void write_put_result(resp::Writer& out, const PutResult& r) {
  out.map(2);
  out.bulk("version");
  out.integer(r.version);
  out.bulk("revision");
  out.integer(r.revision);
}

void write_counter(resp::Writer& out, const CounterResult& r) {
  out.array(2);
  out.integer(r.previous);
  out.integer(r.current);
}

void write_lease(resp::Writer& out, const LeaseInfo& l, bool with_keys) {
  out.map(with_keys ? 4 : 3);
  out.bulk("id");
  out.integer(l.id);
  out.bulk("granted_ttl_ms");
  out.integer(l.granted_ttl_ms);
  out.bulk("remaining_ms");
  out.integer(l.remaining_ms);
  if (with_keys) {
    out.bulk("keys");
    out.array(l.keys.size());
    for (const std::string& k : l.keys) out.bulk(k);
  }
}

void write_campaign(resp::Writer& out, const CampaignResult& r) {
  out.map(3);
  out.bulk("leader");
  out.boolean(r.leader);
  out.bulk("token");
  out.integer(r.token);
  out.bulk("position");
  out.integer(r.position);
}

// Replies with the status when it failed; true when the caller should write the value.
bool ok_or_error(core::CommandResult& r, resp::Writer& out) {
  if (r.status.ok()) return true;
  write_status(out, r.status);
  return false;
}

// --- argument parsing ---

// Parses the common write options (protocol.md 3.0) from args[i...] while they are option
// words; stops at the first word that is not one (TXN.COMMIT's next PUT/DEL), or at the end.
// Returns false after writing the error.
bool parse_put_options(const Args& a, size_t& i, PutOptions& o, resp::Writer& out) {
  bool ttl = false, lease = false, cond = false, fence = false, entity = false, ctype = false, labels = false;
  auto need = [&](size_t n) { return i + n < a.size(); };
  for (; i < a.size(); ++i) {
    const std::string& w = a[i];
    if (iequals(w, "ttl") && !ttl && need(1)) {
      auto n = parse_int(a[++i]);
      if (!n) return not_integer(out), false;
      if (*n < 0) return out.error("ERR", "TTL must not be negative, got " + a[i]), false;
      o.ttl_ms = *n;
      ttl = true;
    } else if (iequals(w, "lease") && !lease && need(1)) {
      auto n = parse_int(a[++i]);
      if (!n) return not_integer(out), false;
      if (*n < 0) return out.error("ERR", "LEASE must not be negative, got " + a[i]), false;
      o.lease = *n;
      lease = true;
    } else if (iequals(w, "ifabsent") && !cond) {
      o.if_absent = true;
      cond = true;
    } else if (iequals(w, "ifmatch") && !cond && need(1)) {
      auto n = parse_int(a[++i]);
      if (!n) return not_integer(out), false;
      o.if_match = *n;
      cond = true;
    } else if (iequals(w, "fence") && !fence && need(2)) {
      auto token = parse_int(a[i + 2]);
      if (!token) return not_integer(out), false;
      o.fence = Fence{a[i + 1], *token};
      i += 2;
      fence = true;
    } else if (iequals(w, "entity") && !entity && need(1)) {
      o.entity = a[++i];
      entity = true;
    } else if (iequals(w, "contenttype") && !ctype && need(1)) {
      o.content_type = a[++i];
      ctype = true;
    } else if (iequals(w, "labels") && !labels && need(1)) {
      auto n = parse_int(a[++i]);
      if (!n) return not_integer(out), false;
      if (*n < 0 || static_cast<uint64_t>(*n) > (a.size() - i - 1) / 2) return syntax_error(out), false;
      for (int64_t k = 0; k < *n; ++k) {
        const std::string& label = a[++i];
        const std::string& value = a[++i];
        if (!o.labels.emplace(label, value).second) return syntax_error(out), false;
      }
      labels = true;
    } else if (iequals(w, "put") || iequals(w, "del")) {
      return true;  // the next transaction operation
    } else {
      return syntax_error(out), false;
    }
  }
  return true;
}

bool parse_delete_options(const Args& a, size_t& i, DeleteOptions& o, resp::Writer& out) {
  bool cond = false, fence = false;
  for (; i < a.size(); ++i) {
    const std::string& w = a[i];
    if (iequals(w, "ifmatch") && !cond && i + 1 < a.size()) {
      auto n = parse_int(a[++i]);
      if (!n) return not_integer(out), false;
      o.if_match = *n;
      cond = true;
    } else if (iequals(w, "fence") && !fence && i + 2 < a.size()) {
      auto token = parse_int(a[i + 2]);
      if (!token) return not_integer(out), false;
      o.fence = Fence{a[i + 1], *token};
      i += 2;
      fence = true;
    } else if (iequals(w, "put") || iequals(w, "del")) {
      return true;
    } else {
      return syntax_error(out), false;
    }
  }
  return true;
}

Prepared empty_key(resp::Writer& out) { return error(out, "ERR", "key must not be empty"); }
Prepared empty_lock(resp::Writer& out) { return error(out, "ERR", "lock name must not be empty"); }
Prepared empty_election(resp::Writer& out) { return error(out, "ERR", "election name must not be empty"); }

// --- KV ---

Prepared cmd_kv_put(Context& c) {
  if (c.args[1].empty()) return empty_key(c.out);
  PutOptions o;
  size_t i = 3;
  if (!parse_put_options(c.args, i, o, c.out)) return immediate();
  if (i != c.args.size()) return syntax_error(c.out);
  return write_of(core::PutCmd{c.args[1], c.args[2], std::move(o)},
                  [](core::CommandResult& r, resp::Writer& out) {
                    if (ok_or_error(r, out)) write_put_result(out, std::get<PutResult>(r.body));
                  });
}

Prepared cmd_kv_get(Context& c) {
  if (c.args[1].empty()) return empty_key(c.out);
  GetOptions o;
  if (c.args.size() == 4 && iequals(c.args[2], "rev")) {
    auto n = parse_int(c.args[3]);
    if (!n) return not_integer(c.out);
    if (*n < 0) return error(c.out, "ERR", "REV must not be negative, got " + c.args[3]);
    o.revision = *n;
  } else if (c.args.size() != 2) {
    return syntax_error(c.out);
  }
  return read_of([key = c.args[1], o](const core::StateMachine& m, int64_t now, resp::Writer& out) {
    auto kv = m.get(key, o, now);
    if (kv.ok()) return write_kv(out, *kv);
    if (kv.code() == Code::kNotFound) return out.null_array();
    write_status(out, kv.status());
  });
}

Prepared cmd_kv_del(Context& c) {
  if (c.args[1].empty()) return empty_key(c.out);
  DeleteOptions o;
  size_t i = 2;
  if (!parse_delete_options(c.args, i, o, c.out)) return immediate();
  if (i != c.args.size()) return syntax_error(c.out);
  return write_of(core::DeleteCmd{c.args[1], std::move(o)}, [](core::CommandResult& r, resp::Writer& out) {
    if (ok_or_error(r, out)) out.integer(std::get<DeleteResult>(r.body).deleted ? 1 : 0);
  });
}

Prepared cmd_kv_mput(Context& c) {
  auto n = parse_int(c.args[1]);
  if (!n) return not_integer(c.out);
  if (*n < 1 || static_cast<uint64_t>(*n) * 2 + 2 != c.args.size()) return syntax_error(c.out);
  core::MultiPutCmd cmd;
  for (size_t i = 2; i + 1 < c.args.size(); i += 2) cmd.items.push_back(PutItem{c.args[i], c.args[i + 1], {}});
  return write_of(std::move(cmd), [](core::CommandResult& r, resp::Writer& out) {
    if (!ok_or_error(r, out)) return;
    auto& items = std::get<core::MultiPutResult>(r.body);
    out.array(items.size());
    for (const auto& item : items) {
      if (item.ok()) {
        write_put_result(out, *item);
      } else {
        write_status(out, item.status());
      }
    }
  });
}

Prepared cmd_kv_mget(Context& c) {
  return read_of([keys = Args(c.args.begin() + 1, c.args.end())](const core::StateMachine& m, int64_t now,
                                                                   resp::Writer& out) {
    out.array(keys.size());
    for (const std::string& k : keys) {
      if (k.empty()) {
        out.error("ERR", "key must not be empty");
        continue;
      }
      auto kv = m.get(k, {}, now);
      if (kv.ok()) {
        write_kv(out, *kv);
      } else if (kv.code() == Code::kNotFound) {
        out.null_array();
      } else {
        write_status(out, kv.status());
      }
    }
  });
}

Prepared cmd_kv_mdel(Context& c) {
  return write_of(core::MultiDeleteCmd{{c.args.begin() + 1, c.args.end()}},
                  [](core::CommandResult& r, resp::Writer& out) {
                    if (!ok_or_error(r, out)) return;
                    auto& items = std::get<core::MultiDeleteResult>(r.body);
                    out.array(items.size());
                    for (const auto& item : items) {
                      if (item.ok()) {
                        out.integer(item->deleted ? 1 : 0);
                      } else {
                        write_status(out, item.status());
                      }
                    }
                  });
}

std::string limit_over_max(int64_t limit, int64_t max_items) {
  return "LIMIT " + std::to_string(limit) + " is over the limit of " + std::to_string(max_items) +
         " results per reply (--max-query-results)";
}

std::string too_many_results(std::string_view command, int64_t count, int64_t max_items) {
  return std::string(command) + " matches " + (count > max_items ? std::to_string(count) : "more than " + std::to_string(max_items)) +
         " keys, over the limit of " + std::to_string(max_items) +
         " results per reply (--max-query-results): page with LIMIT";
}

Prepared cmd_kv_range(Context& c) {
  KeyRange range;
  size_t i = 1;
  if (iequals(c.args[1], "prefix")) {
    range = KeyRange::prefix(c.args[2]);
    i = 3;
  } else {
    range.start = c.args[1];
    range.end = c.args[2];
    if (!range.end.empty() && range.end < range.start) {
      return error(c.out, "ERR", "range end must not be below its start");
    }
    i = 3;
  }
  RangeOptions o;
  bool limit = false, rev = false;
  for (; i < c.args.size(); ++i) {
    const std::string& w = c.args[i];
    if (iequals(w, "limit") && !limit && i + 1 < c.args.size()) {
      auto n = parse_int(c.args[++i]);
      if (!n) return not_integer(c.out);
      if (*n < 0) return error(c.out, "ERR", "LIMIT must not be negative, got " + c.args[i]);
      o.limit = *n;
      limit = true;
    } else if (iequals(w, "rev") && !rev && i + 1 < c.args.size()) {
      auto n = parse_int(c.args[++i]);
      if (!n) return not_integer(c.out);
      if (*n < 0) return error(c.out, "ERR", "REV must not be negative, got " + c.args[i]);
      o.revision = *n;
      rev = true;
    } else if (iequals(w, "keysonly") && !o.keys_only && !o.count_only) {
      o.keys_only = true;
    } else if (iequals(w, "count") && !o.count_only && !o.keys_only) {
      o.count_only = true;
    } else {
      return syntax_error(c.out);
    }
  }
  // A reply holds at most --max-query-results items: a LIMIT above it is refused, and without
  // one the range is read one item past it to tell whether it is over.
  const int64_t max_items = c.server.options().limits.max_query_results;
  if (o.limit > max_items) return error(c.out, "ERR", limit_over_max(o.limit, max_items));
  const bool unlimited = o.limit == 0 && !o.count_only;
  if (unlimited) o.limit = max_items + 1;
  return read_of([range, o, unlimited, max_items](const core::StateMachine& m, int64_t now, resp::Writer& out) {
    auto r = m.range(range, o, now);
    if (!r.ok()) return write_status(out, r.status());
    if (unlimited && static_cast<int64_t>(r->items.size()) > max_items) {
      return out.error("ERR", too_many_results("KV.RANGE", r->count, max_items));
    }
    if (o.count_only) {
      out.map(2);
      out.bulk("count");
      out.integer(r->count);
      out.bulk("revision");
      out.integer(r->revision);
      return;
    }
    out.map(4);
    out.bulk("items");
    out.array(r->items.size());
    for (const KeyValue& kv : r->items) {
      if (o.keys_only) {
        write_key_only(out, kv);
      } else {
        write_kv(out, kv);
      }
    }
    out.bulk("count");
    out.integer(r->count);
    out.bulk("more");
    out.boolean(r->more);
    out.bulk("revision");
    out.integer(r->revision);
  });
}

// "[PREFIX prefix]" as the only arguments.
bool parse_prefix_only(Context& c, std::string* prefix) {
  if (c.args.size() == 1) return true;
  if (c.args.size() == 3 && iequals(c.args[1], "prefix")) {
    *prefix = c.args[2];
    return true;
  }
  syntax_error(c.out);
  return false;
}

Prepared cmd_kv_clear(Context& c) {
  std::string prefix;
  if (!parse_prefix_only(c, &prefix)) return immediate();
  return write_of(core::ClearCmd{prefix}, [](core::CommandResult& r, resp::Writer& out) {
    if (ok_or_error(r, out)) out.integer(std::get<ClearResult>(r.body).deleted);
  });
}

Prepared cmd_kv_count(Context& c) {
  std::string prefix;
  if (!parse_prefix_only(c, &prefix)) return immediate();
  return read_of([prefix](const core::StateMachine& m, int64_t now, resp::Writer& out) {
    out.integer(m.count(prefix, now));
  });
}

// --- counters ---

Prepared cmd_ctr_add(Context& c) {
  if (c.args[1].empty()) return empty_key(c.out);
  auto delta = parse_int(c.args[2]);
  if (!delta) return not_integer(c.out);
  CounterOptions o;
  bool ttl = false;
  for (size_t i = 3; i < c.args.size(); i += 2) {  // option word, number
    const std::string& w = c.args[i];
    if (i + 1 >= c.args.size()) return syntax_error(c.out);
    auto n = parse_int(c.args[i + 1]);
    if (iequals(w, "min") && !o.min) {
      if (!n) return not_integer(c.out);
      o.min = *n;
    } else if (iequals(w, "max") && !o.max) {
      if (!n) return not_integer(c.out);
      o.max = *n;
    } else if (iequals(w, "ttl") && !ttl) {
      if (!n) return not_integer(c.out);
      if (*n < 0) return error(c.out, "ERR", "TTL must not be negative, got " + c.args[i + 1]);
      o.ttl_ms = *n;
      ttl = true;
    } else {
      return syntax_error(c.out);
    }
  }
  if (o.min && o.max && *o.min > *o.max) return error(c.out, "ERR", "MIN must not be above MAX");
  return write_of(core::CounterAddCmd{c.args[1], *delta, o}, [](core::CommandResult& r, resp::Writer& out) {
    if (ok_or_error(r, out)) write_counter(out, std::get<CounterResult>(r.body));
  });
}

Prepared cmd_ctr_get(Context& c) {
  if (c.args[1].empty()) return empty_key(c.out);
  return read_of([key = c.args[1]](const core::StateMachine& m, int64_t now, resp::Writer& out) {
    auto v = m.counter_get(key, now);
    if (v.ok()) return out.integer(*v);
    if (v.code() == Code::kNotFound) return out.null();
    write_status(out, v.status());
  });
}

Prepared cmd_ctr_set(Context& c) {
  if (c.args[1].empty()) return empty_key(c.out);
  auto n = parse_int(c.args[2]);
  if (!n) return not_integer(c.out);
  int64_t ttl = 0;
  if (c.args.size() == 5 && iequals(c.args[3], "ttl")) {
    auto t = parse_int(c.args[4]);
    if (!t) return not_integer(c.out);
    if (*t < 0) return error(c.out, "ERR", "TTL must not be negative, got " + c.args[4]);
    ttl = *t;
  } else if (c.args.size() != 3) {
    return syntax_error(c.out);
  }
  return write_of(core::CounterSetCmd{c.args[1], *n, ttl}, [](core::CommandResult& r, resp::Writer& out) {
    if (ok_or_error(r, out)) write_counter(out, std::get<CounterResult>(r.body));
  });
}

// --- leases ---

std::optional<int64_t> parse_id(Context& c, size_t i) {
  auto n = parse_int(c.args[i]);
  if (!n) not_integer(c.out);
  return n;
}

Prepared cmd_lease_grant(Context& c) {
  auto ttl = parse_id(c, 1);
  if (!ttl) return immediate();
  // The core adds the TTL to the clock unchecked; refuse what would overflow, as KV.PUT TTL does.
  const int64_t now = c.replica.now_ms();
  if (*ttl > std::numeric_limits<int64_t>::max() - now) {
    return error(c.out, "ERR", "ttl " + c.args[1] + " ms from " + std::to_string(now) + " overflows int64");
  }
  return write_of(core::LeaseGrantCmd{*ttl}, [](core::CommandResult& r, resp::Writer& out) {
    if (ok_or_error(r, out)) out.integer(std::get<LeaseGrant>(r.body).id);
  });
}

Prepared cmd_lease_keepalive(Context& c) {
  auto id = parse_id(c, 1);
  if (!id) return immediate();
  return write_of(core::LeaseKeepAliveCmd{*id}, [](core::CommandResult& r, resp::Writer& out) {
    if (ok_or_error(r, out)) out.integer(std::get<core::KeepAliveResult>(r.body).ttl_ms);
  });
}

Prepared cmd_lease_revoke(Context& c) {
  auto id = parse_id(c, 1);
  if (!id) return immediate();
  return write_of(core::LeaseRevokeCmd{*id}, [](core::CommandResult& r, resp::Writer& out) {
    if (ok_or_error(r, out)) out.integer(std::get<RevokeResult>(r.body).deleted);
  });
}

Prepared cmd_lease_ttl(Context& c) {
  auto id = parse_id(c, 1);
  if (!id) return immediate();
  bool keys = false;
  if (c.args.size() == 3 && iequals(c.args[2], "keys")) {
    keys = true;
  } else if (c.args.size() != 2) {
    return syntax_error(c.out);
  }
  return read_of([id = *id, keys](const core::StateMachine& m, int64_t now, resp::Writer& out) {
    auto info = m.lease_info(id, keys, now);
    if (!info.ok()) return write_status(out, info.status());
    write_lease(out, *info, keys);
  });
}

Prepared cmd_lease_list(Context&) {
  return read_of([](const core::StateMachine& m, int64_t now, resp::Writer& out) {
    auto leases = m.leases(now);
    out.array(leases.size());
    for (const LeaseInfo& l : leases) write_lease(out, l, false);
  });
}

// --- locks and elections ---

// Parses an optional trailing "WAIT ms" at args[i]; -1 after writing an error.
int64_t parse_wait(Context& c, size_t i) {
  if (c.args.size() == i) return 0;
  if (c.args.size() != i + 2 || !iequals(c.args[i], "wait")) return syntax_error(c.out), -1;
  auto n = parse_int(c.args[i + 1]);
  if (!n) return not_integer(c.out), -1;
  if (*n < 0) return error(c.out, "ERR", "WAIT must not be negative, got " + c.args[i + 1]), -1;
  return *n;
}

// A command that, when it cannot succeed at once, retries each time a lock or election named
// `name` changes hands, and when `lease` (the waiter's own) reaches its deadline, until it
// succeeds or `wait` passes. `attempt` proposes once and reports whether it is finished (writing
// the reply) or should wait for the next change. If the connection goes away the wait is
// abandoned: no further attempt is made and nothing is replied.
class Waiter : public std::enable_shared_from_this<Waiter> {
 public:
  using Attempt = std::function<void(std::function<void(bool done, std::function<void(resp::Writer&)>)>)>;

  Waiter(Replica& replica, WatchSpace space, std::string name, int64_t lease, int64_t wait_ms, Attempt attempt,
         ReplyFn reply, GoneFn gone)
      : replica_(replica),
        space_(space),
        name_(std::move(name)),
        lease_(lease),
        attempt_(std::move(attempt)),
        reply_(std::move(reply)),
        gone_(std::move(gone)),
        // WAIT is unbounded (protocol.md 6): a huge one saturates rather than overflowing.
        deadline_(wait_ms > std::numeric_limits<int64_t>::max() - replica.now_ms() ? std::numeric_limits<int64_t>::max()
                                                                                  : replica.now_ms() + wait_ms) {}

  ~Waiter() {
    if (watch_id_ != 0) replica_.unwatch(watch_id_);
  }

  void start() {
    auto self = shared_from_this();
    // Watching first means no release between the attempt and the watch can be missed.
    subscribe();
    timer_ = std::make_unique<asio::steady_timer>(replica_.io());
    timer_->expires_after(timer_duration(deadline_));
    timer_->async_wait([self](const asio::error_code& ec) {
      if (!ec) self->timed_out_ = true, self->retry();
    });
    lease_timer_ = std::make_unique<asio::steady_timer>(replica_.io());
    replica_.add_blocked_client(1);
    blocked_ = true;
    try_once();
  }

 private:
  void subscribe() {
    WatchRequest req;
    req.space = space_;
    req.key = name_;
    auto id = replica_.watch(req, [weak = weak_from_this()](core::WatchHub::Delivery& d) {
      auto w = weak.lock();
      if (!w) return;
      // The replica ended the watch (a snapshot install skipped revisions): watch again.
      if (!d.end.ok() && !w->finished_) w->subscribe();
      w->retry();
    });
    watch_id_ = id.ok() ? *id : 0;
  }

  // asio timers count nanoseconds in int64: cap what "unbounded" means at ~30000 years.
  std::chrono::milliseconds timer_duration(int64_t until_ms) const {
    // About 31 years: forever for a wait, and within the timer's nanoseconds (1e15 ms, the
    // earlier cap, overflowed them: undefined behaviour, caught by UBSan).
    constexpr int64_t kMaxTimerMs = 1'000'000'000'000;
    return std::chrono::milliseconds(std::clamp<int64_t>(until_ms - replica_.now_ms(), 0, kMaxTimerMs));
  }

  // Retries when the waiter's lease reaches its deadline, so that its end is reported
  // (NOLEASE) then rather than when the wait runs out. A keep-alive moves the deadline: each
  // attempt that has to wait arms this again.
  // If the lease is already gone here (its deadline passed after the attempt was stamped, or its
  // expiry applied in between), the next attempt soon reports NOLEASE: nothing else would wake
  // this waiter.
  void arm_lease_timer() {
    auto info = replica_.machine().lease_info(lease_, false, replica_.now_ms());
    const int64_t wake_in_ms = info.ok() ? info->remaining_ms + 1 : 10;
    lease_timer_->cancel();
    lease_timer_->expires_after(timer_duration(replica_.now_ms() + wake_in_ms));
    lease_timer_->async_wait([weak = weak_from_this()](const asio::error_code& ec) {
      if (auto w = weak.lock(); w && !ec) w->retry();
    });
  }

  void retry() {
    if (finished_) return;
    if (in_flight_) {
      again_ = true;
      return;
    }
    try_once();
  }

  void try_once() {
    if (gone_()) return abandon();
    in_flight_ = true;
    again_ = false;
    auto self = shared_from_this();
    attempt_([self](bool done, std::function<void(resp::Writer&)> write) {
      self->in_flight_ = false;
      if (self->finished_) return;
      if (done || self->timed_out_ || self->replica_.now_ms() >= self->deadline_) {
        self->finish(std::move(write));
        return;
      }
      if (self->again_) return self->try_once();
      self->arm_lease_timer();
    });
  }

  void stop() {
    finished_ = true;
    if (blocked_) replica_.add_blocked_client(-1);
    blocked_ = false;
    if (timer_) timer_->cancel();
    if (lease_timer_) lease_timer_->cancel();
    if (watch_id_ != 0) replica_.unwatch(watch_id_);
    watch_id_ = 0;
  }

  void abandon() { stop(); }

  void finish(std::function<void(resp::Writer&)> write) {
    stop();
    reply_(write);
  }

  Replica& replica_;
  WatchSpace space_;
  std::string name_;
  int64_t lease_;
  Attempt attempt_;
  ReplyFn reply_;
  GoneFn gone_;
  int64_t deadline_;
  int64_t watch_id_ = 0;
  std::unique_ptr<asio::steady_timer> timer_;
  std::unique_ptr<asio::steady_timer> lease_timer_;
  bool in_flight_ = false;
  bool again_ = false;
  bool timed_out_ = false;
  bool finished_ = false;
  bool blocked_ = false;  // counted in INFO blocked_clients
};

// LOCK.ACQUIRE / ELECT.CAMPAIGN with WAIT: the write is proposed, and proposed again each time
// the lock or election changes hands (a Waiter watches it), until `settled` says its result is
// final or the wait runs out; then the reply is written from that result.
Prepared write_until_settled(Replica& replica, core::CommandBody body, WatchSpace space,
                             std::string name, int64_t lease, int64_t wait,
                             std::function<bool(const core::CommandResult&)> settled,
                             std::function<void(core::CommandResult&, resp::Writer&)> on_result) {
  Prepared p;
  p.kind = Kind::kAsync;
  p.start = [replica = &replica, body = std::move(body), space, name = std::move(name), lease, wait,
             settled = std::move(settled), on_result = std::move(on_result)](ReplyFn reply, GoneFn gone) {
    auto attempt = [replica, body, settled, on_result](
                       std::function<void(bool, std::function<void(resp::Writer&)>)> next) {
      replica->write(body, [next, settled, on_result](core::CommandResult r) {
        const bool done = settled(r);
        auto shared = std::make_shared<core::CommandResult>(std::move(r));
        next(done, [shared, on_result](resp::Writer& out) { on_result(*shared, out); });
      });
    };
    std::make_shared<Waiter>(*replica, space, name, lease, wait, attempt, reply, gone)->start();
  };
  return p;
}

Prepared cmd_lock_acquire(Context& c) {
  if (c.args[1].empty()) return empty_lock(c.out);
  auto lease = parse_int(c.args[2]);
  if (!lease) return not_integer(c.out);
  const int64_t wait = parse_wait(c, 3);
  if (wait < 0) return immediate();
  auto on_result = [](core::CommandResult& r, resp::Writer& out) {
    if (ok_or_error(r, out)) out.integer(std::get<core::TokenResult>(r.body).token);
  };
  core::LockAcquireCmd cmd{c.args[1], *lease};
  if (wait == 0) return write_of(std::move(cmd), on_result);
  return write_until_settled(
      c.replica, std::move(cmd), WatchSpace::kLocks, c.args[1], *lease, wait,
      [](const core::CommandResult& r) { return r.status.code() != Code::kLocked; }, on_result);
}

Prepared cmd_lock_release(Context& c) {
  if (c.args[1].empty()) return empty_lock(c.out);
  auto token = parse_int(c.args[2]);
  if (!token) return not_integer(c.out);
  return write_of(core::LockReleaseCmd{c.args[1], *token}, [](core::CommandResult& r, resp::Writer& out) {
    if (ok_or_error(r, out)) out.integer(std::get<core::RevisionResult>(r.body).revision);
  });
}

Prepared cmd_lock_owner(Context& c) {
  if (c.args[1].empty()) return empty_lock(c.out);
  return read_of([name = c.args[1]](const core::StateMachine& m, int64_t now, resp::Writer& out) {
    auto o = m.lock_owner(name, now);
    if (o.code() == Code::kNotFound) return out.null_array();
    if (!o.ok()) return write_status(out, o.status());
    out.map(4);
    out.bulk("name");
    out.bulk(o->name);
    out.bulk("lease");
    out.integer(o->lease);
    out.bulk("token");
    out.integer(o->token);
    out.bulk("acquired_at_ms");
    out.integer(o->acquired_at_ms);
  });
}

Prepared cmd_elect_campaign(Context& c) {
  if (c.args[1].empty()) return empty_election(c.out);
  auto lease = parse_int(c.args[2]);
  if (!lease) return not_integer(c.out);
  const int64_t wait = parse_wait(c, 4);
  if (wait < 0) return immediate();
  auto on_result = [](core::CommandResult& r, resp::Writer& out) {
    if (ok_or_error(r, out)) write_campaign(out, std::get<CampaignResult>(r.body));
  };
  core::CampaignCmd cmd{c.args[1], *lease, c.args[3]};
  if (wait == 0) return write_of(std::move(cmd), on_result);
  // Campaigning again with a queued lease changes nothing and reports its place: that is the
  // retry once the election changes hands.
  return write_until_settled(
      c.replica, std::move(cmd), WatchSpace::kElections, c.args[1], *lease, wait,
      [](const core::CommandResult& r) {
        return !r.status.ok() || std::get<CampaignResult>(r.body).leader;
      },
      on_result);
}

Prepared cmd_elect_leader(Context& c) {
  if (c.args[1].empty()) return empty_election(c.out);
  return read_of([name = c.args[1]](const core::StateMachine& m, int64_t now, resp::Writer& out) {
    auto l = m.election_leader(name, now);
    if (l.code() == Code::kNotFound) return out.null_array();
    if (!l.ok()) return write_status(out, l.status());
    out.map(4);
    out.bulk("name");
    out.bulk(l->name);
    out.bulk("value");
    out.bulk(l->value);
    out.bulk("lease");
    out.integer(l->lease);
    out.bulk("token");
    out.integer(l->token);
  });
}

Prepared cmd_elect_resign(Context& c) {
  if (c.args[1].empty()) return empty_election(c.out);
  auto token = parse_int(c.args[2]);
  if (!token) return not_integer(c.out);
  return write_of(core::ResignCmd{c.args[1], *token}, [](core::CommandResult& r, resp::Writer& out) {
    if (ok_or_error(r, out)) out.integer(std::get<core::RevisionResult>(r.body).revision);
  });
}

Prepared cmd_elect_proclaim(Context& c) {
  if (c.args[1].empty()) return empty_election(c.out);
  auto token = parse_int(c.args[2]);
  if (!token) return not_integer(c.out);
  return write_of(core::ProclaimCmd{c.args[1], *token, c.args[3]}, [](core::CommandResult& r, resp::Writer& out) {
    if (ok_or_error(r, out)) out.integer(std::get<core::RevisionResult>(r.body).revision);
  });
}

// --- transactions ---

Prepared cmd_txn_commit(Context& c) {
  TxnRequest txn;
  const Args& a = c.args;
  size_t i = 1;
  bool reads = false, writes = false;
  while (i < a.size()) {
    if (iequals(a[i], "reads") && !reads && !writes && i + 1 < a.size()) {
      auto n = parse_int(a[i + 1]);
      if (!n) return not_integer(c.out);
      i += 2;
      if (*n < 0 || static_cast<uint64_t>(*n) > (a.size() - i) / 2) return syntax_error(c.out);
      for (int64_t k = 0; k < *n; ++k, i += 2) {
        if (a[i].empty()) return empty_key(c.out);
        auto v = parse_int(a[i + 1]);
        if (!v) return not_integer(c.out);
        txn.reads.push_back(TxnRead{a[i], *v});
      }
      reads = true;
    } else if (iequals(a[i], "writes") && !writes && i + 1 < a.size()) {
      auto n = parse_int(a[i + 1]);
      if (!n) return not_integer(c.out);
      if (*n < 0) return syntax_error(c.out);
      i += 2;
      for (int64_t k = 0; k < *n; ++k) {
        if (i + 1 >= a.size()) return syntax_error(c.out);
        if (iequals(a[i], "put")) {
          if (i + 2 >= a.size()) return syntax_error(c.out);
          TxnWrite w = TxnWrite::make_put(a[i + 1], a[i + 2]);
          i += 3;
          if (!parse_put_options(a, i, w.put, c.out)) return immediate();
          txn.writes.push_back(std::move(w));
        } else if (iequals(a[i], "del")) {
          TxnWrite w = TxnWrite::make_delete(a[i + 1]);
          i += 2;
          if (!parse_delete_options(a, i, w.del, c.out)) return immediate();
          txn.writes.push_back(std::move(w));
        } else {
          return syntax_error(c.out);
        }
      }
      writes = true;
      if (i != a.size()) return syntax_error(c.out);
    } else {
      return syntax_error(c.out);
    }
  }
  return write_of(core::TxnCmd{std::move(txn)}, [](core::CommandResult& r, resp::Writer& out) {
    if (!ok_or_error(r, out)) return;
    const TxnResult& t = std::get<TxnResult>(r.body);
    out.map(2);
    out.bulk("revision");
    out.integer(t.revision);
    out.bulk("versions");
    out.array(t.versions.size());
    for (int64_t v : t.versions) out.integer(v);
  });
}

// --- queries ---

std::optional<QueryOp> query_op(std::string_view w) {
  static const std::pair<const char*, QueryOp> ops[] = {
      {"eq", QueryOp::kEq}, {"ne", QueryOp::kNe}, {"gt", QueryOp::kGt}, {"ge", QueryOp::kGe},
      {"lt", QueryOp::kLt}, {"le", QueryOp::kLe}, {"prefix", QueryOp::kPrefix},
      {"between", QueryOp::kBetween}, {"in", QueryOp::kIn}};
  for (const auto& [name, op] : ops) {
    if (iequals(w, name)) return op;
  }
  return std::nullopt;
}

Prepared cmd_query(Context& c) {
  Query q;
  q.entity = c.args[1];
  const Args& a = c.args;
  bool order = false, limit = false, cursor = false, select = false;
  for (size_t i = 2; i < a.size(); ++i) {
    const std::string& w = a[i];
    if (iequals(w, "where") && i + 3 < a.size() + 0 && i + 2 < a.size()) {
      QueryClause clause;
      clause.label = a[i + 1];
      auto op = query_op(a[i + 2]);
      if (!op) return syntax_error(c.out);
      clause.op = *op;
      i += 3;
      if (*op == QueryOp::kBetween) {
        if (i + 1 >= a.size()) return syntax_error(c.out);
        clause.values = {a[i], a[i + 1]};
        i += 1;
      } else if (*op == QueryOp::kIn) {
        if (i >= a.size()) return syntax_error(c.out);
        auto n = parse_int(a[i]);
        if (!n) return not_integer(c.out);
        if (*n < 1 || static_cast<uint64_t>(*n) > a.size() - i - 1) return syntax_error(c.out);
        clause.values.assign(a.begin() + static_cast<long>(i) + 1, a.begin() + static_cast<long>(i) + 1 + *n);
        i += static_cast<size_t>(*n);
      } else {
        if (i >= a.size()) return syntax_error(c.out);
        clause.values = {a[i]};
      }
      q.where.push_back(std::move(clause));
    } else if (iequals(w, "orderby") && !order && i + 1 < a.size()) {
      q.order_by = a[++i];
      if (i + 1 < a.size() && (iequals(a[i + 1], "asc") || iequals(a[i + 1], "desc"))) {
        q.descending = iequals(a[++i], "desc");
      }
      order = true;
    } else if (iequals(w, "limit") && !limit && i + 1 < a.size()) {
      auto n = parse_int(a[++i]);
      if (!n) return not_integer(c.out);
      if (*n < 0) return error(c.out, "ERR", "LIMIT must not be negative, got " + a[i]);
      q.limit = *n;
      limit = true;
    } else if (iequals(w, "cursor") && !cursor && i + 1 < a.size()) {
      q.cursor = a[++i];
      cursor = true;
    } else if (iequals(w, "select") && !select && !q.keys_only && !q.count_only && i + 1 < a.size()) {
      auto n = parse_int(a[++i]);
      if (!n) return not_integer(c.out);
      if (*n < 1 || static_cast<uint64_t>(*n) > a.size() - i - 1) return syntax_error(c.out);
      for (int64_t k = 0; k < *n; ++k) q.select.push_back(a[++i]);
      select = true;
    } else if (iequals(w, "keysonly") && !select && !q.keys_only && !q.count_only) {
      q.keys_only = true;
    } else if (iequals(w, "count") && !select && !q.keys_only && !q.count_only) {
      q.count_only = true;
    } else {
      return syntax_error(c.out);
    }
  }
  const int64_t max_items = c.server.options().limits.max_query_results;
  if (q.limit > max_items) return error(c.out, "ERR", limit_over_max(q.limit, max_items));
  return read_of([q, max_items](const core::StateMachine& m, int64_t now, resp::Writer& out) {
    auto r = m.query(q, now);
    if (!r.ok()) return write_status(out, r.status());
    if (q.limit == 0 && !q.count_only && static_cast<int64_t>(r->items.size()) > max_items) {
      return out.error("ERR", too_many_results("QUERY", r->count, max_items));
    }
    if (q.count_only) {
      out.map(1);
      out.bulk("count");
      out.integer(r->count);
      return;
    }
    out.map(3);
    out.bulk("items");
    out.array(r->items.size());
    for (const KeyValue& kv : r->items) {
      if (q.keys_only) {
        write_key_only(out, kv);
      } else {
        write_kv(out, kv);
      }
    }
    out.bulk("count");
    out.integer(r->count);
    out.bulk("next_cursor");
    out.bulk(r->next_cursor);
  });
}

// --- store ---

Prepared cmd_compact(Context& c) {
  auto rev = parse_int(c.args[1]);
  if (!rev) return not_integer(c.out);
  if (*rev < 0) return error(c.out, "ERR", "COMPACT revision must not be negative, got " + c.args[1]);
  return write_of(core::CompactCmd{*rev}, [](core::CommandResult& r, resp::Writer& out) {
    if (ok_or_error(r, out)) out.integer(std::get<core::RevisionResult>(r.body).revision);
  });
}

Prepared cmd_snapshot(Context& c) {
  Prepared p;
  p.kind = Kind::kAsync;
  Replica* replica = &c.replica;
  p.start = [replica](ReplyFn reply, GoneFn) {
    replica->snapshot_now([reply](Result<uint64_t> index) {
      reply([&](resp::Writer& out) {
        if (index.ok()) {
          out.integer(static_cast<int64_t>(*index));
        } else {
          write_status(out, index.status());
        }
      });
    });
  };
  return p;
}

// BACKUP: a snapshot taken now, as the bytes of its file (a consistent image of everything
// applied up to its index; `dkv backup` writes it out, `dkv-server --restore` starts from it).
// The file is read on the event loop: an operator's command, not one for the hot path.
Prepared cmd_backup(Context& c) {
  Prepared p;
  p.kind = Kind::kAsync;
  Replica* replica = &c.replica;
  p.start = [replica](ReplyFn reply, GoneFn) {
    replica->snapshot_now([replica, reply](Result<uint64_t> index) {
      Result<std::string> bytes = index.status();
      if (index.ok()) {
        auto latest = wal::load_latest_snapshot(replica->snapshot_dir());
        if (!latest.ok()) {
          bytes = latest.status();
        } else if (!latest->has_value() || (*latest)->meta.index < *index) {
          bytes = Status(Code::kInternal, "the snapshot just taken is not in " + replica->snapshot_dir());
        } else {
          bytes = wal::read_file((*latest)->path);
        }
      }
      reply([&](resp::Writer& out) {
        if (bytes.ok()) {
          out.bulk(*bytes);
        } else {
          write_status(out, bytes.status());
        }
      });
    });
  };
  return p;
}

// --- membership (protocol.md 3.10) ---

std::optional<raft::NodeId> node_arg(Context& c, const std::string& text) {
  auto id = parse_int(text);
  if (!id || *id <= 0) {
    error(c.out, "ERR", "node id must be a positive integer, got '" + text + "'");
    return std::nullopt;
  }
  return static_cast<raft::NodeId>(*id);
}

Prepared membership_reply(std::function<void(std::function<void(Status)>)> change) {
  Prepared p;
  p.kind = Kind::kAsync;
  p.start = [change = std::move(change)](ReplyFn reply, GoneFn) {
    change([reply](Status s) {
      reply([&](resp::Writer& out) {
        if (s.ok()) {
          out.simple("OK");
        } else {
          write_status(out, s);
        }
      });
    });
  };
  return p;
}

Prepared cmd_member_add(Context& c) {
  auto node = node_arg(c, c.args[1]);
  if (!node) return immediate();
  const std::string& address = c.args[2];
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || !parse_int(address.substr(colon + 1))) {
    return error(c.out, "ERR", "raft address must be HOST:PORT, got '" + address + "'");
  }
  Replica* replica = &c.replica;
  return membership_reply([replica, id = *node, address](std::function<void(Status)> done) {
    replica->add_member(id, address, std::move(done));
  });
}

Prepared member_change(Context& c, raft::ConfChangeType type) {
  auto node = node_arg(c, c.args[1]);
  if (!node) return immediate();
  Replica* replica = &c.replica;
  return membership_reply([replica, type, id = *node](std::function<void(Status)> done) {
    replica->change_member(type, id, std::move(done));
  });
}
Prepared cmd_member_promote(Context& c) { return member_change(c, raft::ConfChangeType::kAddVoter); }
Prepared cmd_member_remove(Context& c) { return member_change(c, raft::ConfChangeType::kRemoveNode); }

// Replies once leadership has moved (this node no longer leads), or with an error after 3 s.
Prepared cmd_member_transfer(Context& c) {
  auto node = node_arg(c, c.args[1]);
  if (!node) return immediate();
  Replica* replica = &c.replica;
  return membership_reply([replica, id = *node](std::function<void(Status)> done) {
    replica->transfer_leadership(id, std::chrono::seconds(3), std::move(done));
  });
}

// Every member as this node knows it: id, role, Raft address, client address (as the member
// recorded it; "" until it has), and on the leader how far each has replicated (match; -1
// elsewhere).
Prepared cmd_member_list(Context& c) {
  const raft::Raft& r = c.replica.node().raft();
  const auto addresses = c.replica.member_addresses();
  const auto& client_addresses = c.replica.member_client_addresses();
  std::map<raft::NodeId, uint64_t> match;
  if (r.role() == raft::Role::kLeader) {
    for (const raft::PeerStatus& p : r.peers()) match[p.id] = p.match;
    match[c.replica.node_id()] = r.log().last_index();
  }
  std::vector<std::pair<raft::NodeId, bool>> members;
  for (raft::NodeId id : r.conf().voters) members.emplace_back(id, false);
  for (raft::NodeId id : r.conf().learners) members.emplace_back(id, true);
  std::sort(members.begin(), members.end());
  c.out.array(members.size());
  for (const auto& [id, learner] : members) {
    c.out.map(6);
    c.out.bulk("id");
    c.out.integer(static_cast<int64_t>(id));
    c.out.bulk("role");
    c.out.bulk(learner ? "learner" : (id == r.leader() ? "leader" : "voter"));
    c.out.bulk("address");
    auto a = addresses.find(id);
    c.out.bulk(a == addresses.end() ? "" : a->second);
    c.out.bulk("client_address");
    auto ca = client_addresses.find(id);
    c.out.bulk(ca == client_addresses.end() ? "" : ca->second);
    c.out.bulk("match");
    auto m = match.find(id);
    c.out.integer(m == match.end() ? -1 : static_cast<int64_t>(m->second));
    c.out.bulk("self");
    c.out.integer(id == c.replica.node_id() ? 1 : 0);
  }
  return immediate();
}

// SESSION.REQ id number acked command [arg ...] (protocol.md 3.9): `command`, a write, applied
// at most once per (id, number); a retry gets the first answer. Reads run as they are.
Prepared cmd_session_req(Context& c) {
  const Args& a = c.args;
  const auto id = parse_int(a[1]);
  const auto seq = parse_int(a[2]);
  const auto acked = parse_int(a[3]);
  if (!id || *id <= 0) return error(c.out, "ERR", "session id must be a positive integer, got '" + a[1] + "'");
  if (!seq || *seq <= 0) return error(c.out, "ERR", "request number must be a positive integer, got '" + a[2] + "'");
  if (!acked || *acked < 0) {
    return error(c.out, "ERR", "acked must be a non-negative integer, got '" + a[3] + "'");
  }
  const CommandSpec* spec = find_command(a[4]);
  if (spec == nullptr) return error(c.out, "ERR", "unknown command '" + a[4] + "' in SESSION.REQ");
  if (spec->name == "session.req") return error(c.out, "ERR", "SESSION.REQ cannot wrap SESSION.REQ");
  const Args inner(a.begin() + 4, a.end());
  const int n = static_cast<int>(inner.size());
  if ((spec->arity > 0 && n != spec->arity) || (spec->arity < 0 && n < -spec->arity)) {
    return arity_error(c.out, spec->name);
  }
  Context ic{c.server, c.replica, c.session, c.out, inner};
  Prepared p = spec->handler(ic);
  if (p.kind == Kind::kSession || p.kind == Kind::kAsync) {
    return error(c.out, "ERR", "SESSION.REQ cannot wrap '" + spec->name +
                                   "' in this form (connection state, or a WAIT)");
  }
  if (p.kind == Kind::kWrite) {
    p.session = core::SessionRequest{static_cast<uint64_t>(*id), static_cast<uint64_t>(*seq),
                                     static_cast<uint64_t>(*acked)};
  }
  return p;
}

}  // namespace

void register_dkv_commands(std::vector<CommandSpec>& t) {
  using F = std::vector<std::string>;
  auto add = [&](std::string name, int arity, F flags, int fk, int lk, int step, Prepared (*h)(Context&)) {
    // ACL categories (protocol.md 2.1): @dkv; @admin (with @slow, @dangerous) for admin
    // commands, else @write for writes and @read otherwise; and @watch, @lease, @lock (locks
    // and elections) by family.
    auto flagged = [&](const char* f) { return std::find(flags.begin(), flags.end(), f) != flags.end(); };
    F categories = {"@dkv"};
    if (flagged("admin")) {
      // Not @read / @write: a user allowed to read and write keys runs no admin command.
      categories.insert(categories.end(), {"@admin", "@slow", "@dangerous"});
    } else {
      categories.push_back(flagged("write") ? "@write" : "@read");
    }
    if (name.starts_with("kv.watch") || name == "kv.unwatch") categories.push_back("@watch");
    if (name.starts_with("lease.")) categories.push_back("@lease");
    if (name.starts_with("lock.") || name.starts_with("elect.")) categories.push_back("@lock");
    t.push_back(CommandSpec{std::move(name), arity, std::move(flags), fk, lk, step, h, std::move(categories)});
  };
  const F w = {"write", "fast"};
  const F r = {"readonly", "fast"};
  add("kv.put", -3, w, 1, 1, 1, cmd_kv_put);
  add("kv.get", -2, r, 1, 1, 1, cmd_kv_get);
  add("kv.del", -2, w, 1, 1, 1, cmd_kv_del);
  add("kv.mput", -4, {"write"}, 2, -1, 2, cmd_kv_mput);
  add("kv.mget", -2, {"readonly"}, 1, -1, 1, cmd_kv_mget);
  add("kv.mdel", -2, {"write"}, 1, -1, 1, cmd_kv_mdel);
  add("kv.range", -3, {"readonly"}, 0, 0, 0, cmd_kv_range);
  add("kv.clear", -1, {"write"}, 0, 0, 0, cmd_kv_clear);
  add("kv.count", -1, {"readonly"}, 0, 0, 0, cmd_kv_count);
  auto session = [](Context&) {
    Prepared p;
    p.kind = Kind::kSession;
    return p;
  };
  add("kv.watch", -3, {"pubsub"}, 0, 0, 0, session);
  add("kv.unwatch", 2, {"pubsub"}, 0, 0, 0, session);
  add("ctr.add", -3, w, 1, 1, 1, cmd_ctr_add);
  add("ctr.get", 2, r, 1, 1, 1, cmd_ctr_get);
  add("ctr.set", -3, w, 1, 1, 1, cmd_ctr_set);
  add("lease.grant", 2, {"write"}, 0, 0, 0, cmd_lease_grant);
  add("lease.keepalive", 2, {"write"}, 0, 0, 0, cmd_lease_keepalive);
  add("lease.revoke", 2, {"write"}, 0, 0, 0, cmd_lease_revoke);
  add("lease.ttl", -2, {"readonly"}, 0, 0, 0, cmd_lease_ttl);
  add("lease.list", 1, {"readonly"}, 0, 0, 0, cmd_lease_list);
  add("lock.acquire", -3, {"write", "blocking"}, 0, 0, 0, cmd_lock_acquire);
  add("lock.release", 3, {"write"}, 0, 0, 0, cmd_lock_release);
  add("lock.owner", 2, {"readonly"}, 0, 0, 0, cmd_lock_owner);
  add("elect.campaign", -4, {"write", "blocking"}, 0, 0, 0, cmd_elect_campaign);
  add("elect.leader", 2, {"readonly"}, 0, 0, 0, cmd_elect_leader);
  add("elect.resign", 3, {"write"}, 0, 0, 0, cmd_elect_resign);
  add("elect.proclaim", 4, {"write"}, 0, 0, 0, cmd_elect_proclaim);
  add("txn.commit", -1, {"write"}, 0, 0, 0, cmd_txn_commit);
  add("query", -2, {"readonly"}, 0, 0, 0, cmd_query);
  add("compact", 2, {"write", "admin"}, 0, 0, 0, cmd_compact);
  add("snapshot", 1, {"admin"}, 0, 0, 0, cmd_snapshot);
  add("backup", 1, {"admin"}, 0, 0, 0, cmd_backup);
  add("session.req", -5, {"write"}, 0, 0, 0, cmd_session_req);
  add("member.list", 1, {"readonly", "admin"}, 0, 0, 0, cmd_member_list);
  add("member.add", 3, {"write", "admin"}, 0, 0, 0, cmd_member_add);
  add("member.promote", 2, {"write", "admin"}, 0, 0, 0, cmd_member_promote);
  add("member.remove", 2, {"write", "admin"}, 0, 0, 0, cmd_member_remove);
  add("member.transfer", 2, {"write", "admin"}, 0, 0, 0, cmd_member_transfer);
}

}  // namespace dkv::server
