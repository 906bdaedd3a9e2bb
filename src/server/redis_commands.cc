// The Redis-compatible commands: the same syntax, replies and error words as Redis 7.0.
// Every write becomes one state machine command (a Redis write gives the key a new version, as
// KV.PUT does); reads are served at a linearizable point.
#include <algorithm>
#include <limits>

#include "server/command.h"
#include "server/glob.h"
#include "server/replica.h"
#include "server/server.h"
#include "server/session.h"

namespace dkv::server {

namespace {

using Kind = Prepared::Kind;

// Errors of the INCR family, in Redis's words.
void counter_error(resp::Writer& out, const Status& s) {
  if (s.code() == Code::kWrongType) return out.error("ERR", "value is not an integer or out of range");
  if (s.code() == Code::kOverflow) return out.error("ERR", "increment or decrement would overflow");
  write_status(out, s);
}

// --- connection ---

Prepared cmd_ping(Context& c) {
  if (c.args.size() > 2) return arity_error(c.out, "ping");
  if (c.session.watch_mode()) {
    // RESP2 watch mode, as Redis's subscribe mode: ["pong", message or ""] (protocol.md 4.3).
    c.out.array(2);
    c.out.bulk("pong");
    c.out.bulk(c.args.size() == 2 ? std::string_view(c.args[1]) : std::string_view());
    return immediate();
  }
  if (c.args.size() == 2) {
    c.out.bulk(c.args[1]);
  } else {
    c.out.simple("PONG");
  }
  return immediate();
}

Prepared cmd_echo(Context& c) {
  c.out.bulk(c.args[1]);
  return immediate();
}

Prepared cmd_select(Context& c) {
  auto db = parse_int(c.args[1]);
  if (!db) return not_integer(c.out);
  if (*db != 0) return error(c.out, "ERR", "DB index is out of range");
  c.out.ok();
  return immediate();
}

// READONLY / READWRITE (Redis Cluster's replica switch): this connection's reads stop / start
// waiting for a read index from the leader.
Prepared cmd_readonly(Context& c) {
  c.session.stale_reads = true;
  c.out.ok();
  return immediate();
}

Prepared cmd_readwrite(Context& c) {
  c.session.stale_reads = false;
  c.out.ok();
  return immediate();
}

Prepared cmd_config(Context& c) {
  const std::string& sub = c.args[1];
  if (iequals(sub, "get")) {
    if (c.args.size() < 3) return arity_error(c.out, "config|get");
    // A fixed table: DKV's settings are flags, these are what Redis tools ask about.
    static const std::pair<const char*, const char*> known[] = {
        {"save", ""},     {"appendonly", "no"},             {"databases", "1"},
        {"maxmemory", "0"}, {"maxmemory-policy", "noeviction"}, {"timeout", "0"}};
    std::vector<std::pair<std::string, std::string>> found;
    for (size_t i = 2; i < c.args.size(); ++i) {
      for (const auto& [k, v] : known) {
        if (glob_match(c.args[i], k) &&
            std::none_of(found.begin(), found.end(), [&, k = k](const auto& f) { return f.first == k; })) {
          found.emplace_back(k, v);
        }
      }
    }
    c.out.map(found.size());
    for (const auto& [k, v] : found) {
      c.out.bulk(k);
      c.out.bulk(v);
    }
    return immediate();
  }
  if (iequals(sub, "set")) {
    if (c.args.size() < 4) return arity_error(c.out, "config|set");
    return error(c.out, "ERR",
                 "Unknown option or number of arguments for CONFIG SET - '" + c.args[2] + "'");
  }
  return error(c.out, "ERR", "unknown subcommand '" + sub + "'. Try CONFIG HELP.");
}

// --- keyspace reads ---

Prepared cmd_get(Context& c) {
  return keys_read({c.args[1]}, [](const KeyValues& v, resp::Writer& out) {
    if (v[0]) {
      out.bulk(v[0]->value);
    } else {
      out.null();
    }
  });
}

Prepared cmd_mget(Context& c) {
  return keys_read({c.args.begin() + 1, c.args.end()}, [](const KeyValues& v, resp::Writer& out) {
    out.array(v.size());
    for (const auto& kv : v) {
      if (kv) {
        out.bulk(kv->value);
      } else {
        out.null();
      }
    }
  });
}

Prepared cmd_exists(Context& c) {
  return keys_read({c.args.begin() + 1, c.args.end()}, [](const KeyValues& v, resp::Writer& out) {
    out.integer(std::count_if(v.begin(), v.end(), [](const auto& kv) { return kv.has_value(); }));
  });
}

Prepared ttl_read(Context& c, bool millis) {
  return keys_read({c.args[1]}, [millis](const KeyValues& v, resp::Writer& out) {
    if (!v[0]) return out.integer(-2);
    if (v[0]->ttl_ms < 0) return out.integer(-1);
    out.integer(millis ? v[0]->ttl_ms : (v[0]->ttl_ms + 500) / 1000);
  });
}
Prepared cmd_ttl(Context& c) { return ttl_read(c, false); }
Prepared cmd_pttl(Context& c) { return ttl_read(c, true); }

Prepared cmd_strlen(Context& c) {
  return keys_read({c.args[1]}, [](const KeyValues& v, resp::Writer& out) {
    out.integer(v[0] ? static_cast<int64_t>(v[0]->value.size()) : 0);
  });
}

Prepared cmd_type(Context& c) {
  return keys_read({c.args[1]}, [](const KeyValues& v, resp::Writer& out) {
    out.simple(v[0] ? "string" : "none");
  });
}

Prepared cmd_dbsize(Context&) {
  return read_of([](const core::StateMachine& m, int64_t now, resp::Writer& out) {
    out.integer(m.count({}, now));
  });
}

Prepared cmd_keys(Context& c) {
  return read_of([pattern = c.args[1]](const core::StateMachine& m, int64_t now, resp::Writer& out) {
    std::string prefix = glob_literal_prefix(pattern);
    auto r = m.range(KeyRange::prefix(prefix), RangeOptions{.keys_only = true}, now);
    std::vector<const std::string*> keys;
    if (r.ok()) {
      for (const KeyValue& kv : r->items) {
        if (glob_match(pattern, kv.key)) keys.push_back(&kv.key);
      }
    }
    out.array(keys.size());
    for (const std::string* k : keys) out.bulk(*k);
  });
}

// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]. Cursors are numbers naming the key a scan
// stopped after (Server::save_cursor), so a scan sees every key present throughout it.
Prepared cmd_scan(Context& c) {
  auto cursor = parse_int(c.args[1]);
  if (!cursor || *cursor < 0) return error(c.out, "ERR", "invalid cursor");
  std::string pattern;
  bool has_pattern = false;
  int64_t count = 10;
  bool only_none = false;
  for (size_t i = 2; i < c.args.size(); ++i) {
    if (i + 1 >= c.args.size()) return syntax_error(c.out);
    const std::string& opt = c.args[i];
    const std::string& val = c.args[++i];
    if (iequals(opt, "match")) {
      pattern = val;
      has_pattern = true;
    } else if (iequals(opt, "count")) {
      auto n = parse_int(val);
      if (!n) return not_integer(c.out);
      if (*n < 1) return syntax_error(c.out);
      count = *n;
    } else if (iequals(opt, "type")) {
      only_none = !iequals(val, "string");  // every DKV key is a string
    } else {
      return syntax_error(c.out);
    }
  }
  std::string start;
  if (*cursor != 0) {
    auto last = c.server.find_cursor(static_cast<uint64_t>(*cursor));
    if (!last) return error(c.out, "ERR", "invalid cursor");
    start = *last + std::string(1, '\0');  // the first key after it
  }
  Server* server = &c.server;
  return read_of([=](const core::StateMachine& m, int64_t now, resp::Writer& out) {
    std::string prefix = has_pattern ? glob_literal_prefix(pattern) : std::string();
    KeyRange range = KeyRange::prefix(prefix);
    if (start > range.start) range.start = start;
    auto r = m.range(range, RangeOptions{.limit = count, .keys_only = true}, now);
    std::vector<const std::string*> keys;
    uint64_t next = 0;
    if (r.ok()) {
      for (const KeyValue& kv : r->items) {
        if (!only_none && (!has_pattern || glob_match(pattern, kv.key))) keys.push_back(&kv.key);
      }
      if (r->more && !r->items.empty()) next = server->save_cursor(r->items.back().key);
    }
    out.array(2);
    out.bulk(std::to_string(next));
    out.array(keys.size());
    for (const std::string* k : keys) out.bulk(*k);
  });
}

// --- keyspace writes ---

// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]
Prepared set_with(Context& c, const std::string& key, const std::string& value, size_t first_opt,
                  std::string_view command) {
  PutOptions o;
  bool nx = false, xx = false, get = false, has_expiry = false;
  for (size_t i = first_opt; i < c.args.size(); ++i) {
    const std::string& a = c.args[i];
    const bool has_next = i + 1 < c.args.size();
    if (iequals(a, "nx") && !xx) {
      nx = true;
    } else if (iequals(a, "xx") && !nx) {
      xx = true;
    } else if (iequals(a, "get")) {
      get = true;
    } else if (iequals(a, "keepttl") && !has_expiry) {
      o.keep_ttl = true;
      has_expiry = true;
    } else if ((iequals(a, "ex") || iequals(a, "px") || iequals(a, "exat") || iequals(a, "pxat")) &&
               !has_expiry && has_next) {
      auto n = parse_int(c.args[++i]);
      if (!n) return not_integer(c.out);
      const bool seconds = iequals(a, "ex") || iequals(a, "exat");
      const std::string invalid = "invalid expire time in '" + std::string(command) + "' command";
      if (*n <= 0) return error(c.out, "ERR", invalid);
      if (seconds && *n > std::numeric_limits<int64_t>::max() / 1000) return error(c.out, "ERR", invalid);
      const int64_t ms = seconds ? *n * 1000 : *n;
      if (iequals(a, "ex") || iequals(a, "px")) {
        o.ttl_ms = ms;
      } else {
        o.expires_at_ms = ms;
      }
      has_expiry = true;
    } else {
      return syntax_error(c.out);
    }
  }
  o.if_absent = nx;
  o.if_exists = xx;
  o.prev_kv = get;
  return write_of(core::PutCmd{key, value, std::move(o)},
                  [get](core::CommandResult& r, resp::Writer& out) {
                    auto* put = std::get_if<PutResult>(&r.body);
                    if (!r.status.ok() && r.status.code() != Code::kConflict) return write_status(out, r.status);
                    if (get) {
                      if (put && put->prev) return out.bulk(put->prev->value);
                      return out.null();
                    }
                    if (r.status.ok()) return out.ok();
                    out.null();  // NX or XX did not hold
                  });
}

Prepared cmd_set(Context& c) { return set_with(c, c.args[1], c.args[2], 3, "set"); }

Prepared cmd_setnx(Context& c) {
  return write_of(core::PutCmd{c.args[1], c.args[2], PutOptions{.if_absent = true}},
                  [](core::CommandResult& r, resp::Writer& out) {
                    if (r.status.ok()) return out.integer(1);
                    if (r.status.code() == Code::kConflict) return out.integer(0);
                    write_status(out, r.status);
                  });
}

Prepared setex_with(Context& c, bool seconds, std::string_view command) {
  auto n = parse_int(c.args[2]);
  if (!n) return not_integer(c.out);
  const std::string invalid = "invalid expire time in '" + std::string(command) + "' command";
  if (*n <= 0 || (seconds && *n > std::numeric_limits<int64_t>::max() / 1000)) {
    return error(c.out, "ERR", invalid);
  }
  return write_of(core::PutCmd{c.args[1], c.args[3], PutOptions{.ttl_ms = seconds ? *n * 1000 : *n}},
                  [](core::CommandResult& r, resp::Writer& out) {
                    if (r.status.ok()) return out.ok();
                    write_status(out, r.status);
                  });
}
Prepared cmd_setex(Context& c) { return setex_with(c, true, "setex"); }
Prepared cmd_psetex(Context& c) { return setex_with(c, false, "psetex"); }

Prepared cmd_getdel(Context& c) {
  if (c.args[1].empty()) {  // the empty key never exists for Redis commands
    c.out.null();
    return immediate();
  }
  return write_of(core::DeleteCmd{c.args[1], DeleteOptions{.prev_kv = true}},
                  [](core::CommandResult& r, resp::Writer& out) {
                    if (!r.status.ok()) return write_status(out, r.status);
                    auto& d = std::get<DeleteResult>(r.body);
                    if (d.prev) return out.bulk(d.prev->value);
                    out.null();
                  });
}

Prepared cmd_mset(Context& c) {
  if (c.args.size() % 2 != 1) return arity_error(c.out, "mset");
  core::MultiPutCmd cmd;
  for (size_t i = 1; i + 1 < c.args.size(); i += 2) cmd.items.push_back(PutItem{c.args[i], c.args[i + 1], {}});
  return write_of(std::move(cmd), [](core::CommandResult& r, resp::Writer& out) {
    if (!r.status.ok()) return write_status(out, r.status);
    for (const auto& item : std::get<core::MultiPutResult>(r.body)) {
      if (!item.ok()) return write_status(out, item.status());
    }
    out.ok();
  });
}

Prepared cmd_del(Context& c) {
  return write_of(core::MultiDeleteCmd{{c.args.begin() + 1, c.args.end()}},
                  [](core::CommandResult& r, resp::Writer& out) {
                    if (!r.status.ok()) return write_status(out, r.status);
                    int64_t n = 0;
                    for (const auto& item : std::get<core::MultiDeleteResult>(r.body)) {
                      n += item.ok() && item->deleted;
                    }
                    out.integer(n);
                  });
}

Prepared cmd_flushall(Context& c) {
  if (c.args.size() > 2 || (c.args.size() == 2 && !iequals(c.args[1], "sync") && !iequals(c.args[1], "async"))) {
    return syntax_error(c.out);
  }
  return write_of(core::ClearCmd{}, [](core::CommandResult& r, resp::Writer& out) {
    if (!r.status.ok()) return write_status(out, r.status);
    out.ok();
  });
}

// EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT key n [NX|XX|GT|LT]
Prepared expire_with(Context& c, bool seconds, bool absolute, std::string_view command) {
  auto n = parse_int(c.args[2]);
  if (!n) return not_integer(c.out);
  if (c.args[1].empty()) {  // the empty key never exists for Redis commands
    c.out.integer(0);
    return immediate();
  }
  using Cond = core::KeyTtlCmd::Cond;
  Cond cond = Cond::kAlways;
  bool nx = false, xx = false, gt = false, lt = false;
  for (size_t i = 3; i < c.args.size(); ++i) {
    const std::string& a = c.args[i];
    if (iequals(a, "nx")) {
      nx = true;
    } else if (iequals(a, "xx")) {
      xx = true;
    } else if (iequals(a, "gt")) {
      gt = true;
    } else if (iequals(a, "lt")) {
      lt = true;
    } else {
      return error(c.out, "ERR", "Unsupported option " + a);
    }
  }
  if (nx && (xx || gt || lt)) {
    return error(c.out, "ERR", "NX and XX, GT or LT options at the same time are not compatible");
  }
  if (gt && lt) return error(c.out, "ERR", "GT and LT options at the same time are not compatible");
  if (nx) cond = Cond::kNx;
  if (xx) cond = Cond::kXx;
  if (gt) cond = Cond::kGt;
  if (lt) cond = Cond::kLt;
  const int64_t limit = std::numeric_limits<int64_t>::max() / 1000;
  if (seconds && (*n > limit || *n < -limit)) {
    return error(c.out, "ERR", "invalid expire time in '" + std::string(command) + "' command");
  }
  const int64_t ms = seconds ? *n * 1000 : *n;
  core::KeyTtlCmd cmd;
  cmd.key = c.args[1];
  cmd.mode = absolute ? core::KeyTtlCmd::Mode::kExpireAt : core::KeyTtlCmd::Mode::kExpireIn;
  cmd.ms = ms;
  cmd.cond = cond;
  return write_of(std::move(cmd), [command = std::string(command)](core::CommandResult& r,
                                                                   resp::Writer& out) {
    // The deadline is computed in apply, from the leader's timestamp: only then is an
    // overflow known.
    if (r.status.code() == Code::kInvalidArgument) {
      return out.error("ERR", "invalid expire time in '" + command + "' command");
    }
    if (!r.status.ok()) return write_status(out, r.status);
    out.integer(std::get<core::ChangedResult>(r.body).changed ? 1 : 0);
  });
}
Prepared cmd_expire(Context& c) { return expire_with(c, true, false, "expire"); }
Prepared cmd_pexpire(Context& c) { return expire_with(c, false, false, "pexpire"); }
Prepared cmd_expireat(Context& c) { return expire_with(c, true, true, "expireat"); }
Prepared cmd_pexpireat(Context& c) { return expire_with(c, false, true, "pexpireat"); }

Prepared cmd_persist(Context& c) {
  if (c.args[1].empty()) {  // the empty key never exists for Redis commands
    c.out.integer(0);
    return immediate();
  }
  core::KeyTtlCmd cmd;
  cmd.key = c.args[1];
  cmd.mode = core::KeyTtlCmd::Mode::kPersist;
  return write_of(std::move(cmd), [](core::CommandResult& r, resp::Writer& out) {
    if (!r.status.ok()) return write_status(out, r.status);
    out.integer(std::get<core::ChangedResult>(r.body).changed ? 1 : 0);
  });
}

Prepared incr_by(Context&, std::string key, int64_t delta) {
  return write_of(core::CounterAddCmd{std::move(key), delta, {}},
                  [](core::CommandResult& r, resp::Writer& out) {
                    if (!r.status.ok()) return counter_error(out, r.status);
                    out.integer(std::get<CounterResult>(r.body).current);
                  });
}
Prepared cmd_incr(Context& c) { return incr_by(c, c.args[1], 1); }
Prepared cmd_decr(Context& c) { return incr_by(c, c.args[1], -1); }
Prepared cmd_incrby(Context& c) {
  auto n = parse_int(c.args[2]);
  if (!n) return not_integer(c.out);
  return incr_by(c, c.args[1], *n);
}
Prepared cmd_decrby(Context& c) {
  auto n = parse_int(c.args[2]);
  if (!n) return not_integer(c.out);
  if (*n == std::numeric_limits<int64_t>::min()) return error(c.out, "ERR", "decrement would overflow");
  return incr_by(c, c.args[1], -*n);
}

Prepared cmd_append(Context& c) {
  return write_of(core::AppendCmd{c.args[1], c.args[2]}, [](core::CommandResult& r, resp::Writer& out) {
    if (!r.status.ok()) return write_status(out, r.status);
    out.integer(std::get<core::AppendResult>(r.body).length);
  });
}

// --- server ---

// INFO describes this node as it is now: any node answers it at once (protocol.md 1.4), with no
// read barrier, so a follower or a node without a leader can still say what it is.
Prepared cmd_info(Context& c) {
  std::vector<std::string> sections(c.args.begin() + 1, c.args.end());
  std::string text = c.server.info(sections);
  if (c.out.protocol() == 3) {
    c.out.verbatim("txt", text);
  } else {
    c.out.bulk(text);
  }
  return immediate();
}

Prepared cmd_command(Context& c) {
  const auto& table = all_commands();
  auto write_info = [&](const CommandSpec& s) {
    c.out.array(10);
    c.out.bulk(s.name);
    c.out.integer(s.arity);
    c.out.set(s.flags.size());
    for (const std::string& f : s.flags) c.out.simple(f);
    c.out.integer(s.first_key);
    c.out.integer(s.last_key);
    c.out.integer(s.key_step);
    c.out.set(s.categories.size());
    for (const std::string& category : s.categories) c.out.simple(category);
    c.out.set(0);  // tips
    c.out.set(0);  // key specs
    c.out.set(0);  // subcommands
  };
  if (c.args.size() == 1) {
    c.out.array(table.size());
    for (const CommandSpec& s : table) write_info(s);
    return immediate();
  }
  const std::string& sub = c.args[1];
  if (iequals(sub, "count")) {
    c.out.integer(static_cast<int64_t>(table.size()));
  } else if (iequals(sub, "info")) {
    c.out.array(c.args.size() - 2);
    for (size_t i = 2; i < c.args.size(); ++i) {
      const CommandSpec* s = find_command(c.args[i]);
      if (s) {
        write_info(*s);
      } else {
        c.out.null();
      }
    }
  } else if (iequals(sub, "docs")) {
    c.out.map(0);  // redis-cli asks at start-up for hints; it does without
  } else if (iequals(sub, "list")) {
    c.out.array(table.size());
    for (const CommandSpec& s : table) c.out.bulk(s.name);
  } else {
    return error(c.out, "ERR", "unknown subcommand '" + sub + "'. Try COMMAND HELP.");
  }
  return immediate();
}

}  // namespace

void register_redis_commands(std::vector<CommandSpec>& t) {
  using F = std::vector<std::string>;
  // Name, arity, flags, key positions and ACL categories as Redis 7.0.15 reports them.
  auto add = [&](std::string name, int arity, F flags, int fk, int lk, int step, F categories,
                 Prepared (*h)(Context&)) {
    t.push_back(CommandSpec{std::move(name), arity, std::move(flags), fk, lk, step, h,
                            std::move(categories)});
  };
  add("ping", -1, {"fast"}, 0, 0, 0, {"@fast", "@connection"}, cmd_ping);
  add("echo", 2, {"loading", "stale", "fast"}, 0, 0, 0, {"@fast", "@connection"}, cmd_echo);
  add("select", 2, {"loading", "stale", "fast"}, 0, 0, 0, {"@fast", "@connection"}, cmd_select);
  add("config", -2, {}, 0, 0, 0, {"@slow"}, cmd_config);
  add("readonly", 1, {"loading", "stale", "fast"}, 0, 0, 0, {"@fast", "@connection"}, cmd_readonly);
  add("readwrite", 1, {"loading", "stale", "fast"}, 0, 0, 0, {"@fast", "@connection"}, cmd_readwrite);
  add("info", -1, {"loading", "stale"}, 0, 0, 0, {"@slow", "@dangerous"}, cmd_info);
  add("command", -1, {"loading", "stale"}, 0, 0, 0, {"@slow", "@connection"}, cmd_command);
  add("dbsize", 1, {"readonly", "fast"}, 0, 0, 0, {"@keyspace", "@read", "@fast"}, cmd_dbsize);
  add("flushall", -1, {"write"}, 0, 0, 0, {"@keyspace", "@write", "@slow", "@dangerous"}, cmd_flushall);
  add("flushdb", -1, {"write"}, 0, 0, 0, {"@keyspace", "@write", "@slow", "@dangerous"}, cmd_flushall);
  add("get", 2, {"readonly", "fast"}, 1, 1, 1, {"@read", "@string", "@fast"}, cmd_get);
  add("mget", -2, {"readonly", "fast"}, 1, -1, 1, {"@read", "@string", "@fast"}, cmd_mget);
  add("exists", -2, {"readonly", "fast"}, 1, -1, 1, {"@keyspace", "@read", "@fast"}, cmd_exists);
  add("ttl", 2, {"readonly", "fast"}, 1, 1, 1, {"@keyspace", "@read", "@fast"}, cmd_ttl);
  add("pttl", 2, {"readonly", "fast"}, 1, 1, 1, {"@keyspace", "@read", "@fast"}, cmd_pttl);
  add("strlen", 2, {"readonly", "fast"}, 1, 1, 1, {"@read", "@string", "@fast"}, cmd_strlen);
  add("type", 2, {"readonly", "fast"}, 1, 1, 1, {"@keyspace", "@read", "@fast"}, cmd_type);
  add("keys", 2, {"readonly"}, 0, 0, 0, {"@keyspace", "@read", "@slow", "@dangerous"}, cmd_keys);
  add("scan", -2, {"readonly"}, 0, 0, 0, {"@keyspace", "@read", "@slow"}, cmd_scan);
  add("set", -3, {"write", "denyoom"}, 1, 1, 1, {"@write", "@string", "@slow"}, cmd_set);
  add("setnx", 3, {"write", "denyoom", "fast"}, 1, 1, 1, {"@write", "@string", "@fast"}, cmd_setnx);
  add("setex", 4, {"write", "denyoom"}, 1, 1, 1, {"@write", "@string", "@slow"}, cmd_setex);
  add("psetex", 4, {"write", "denyoom"}, 1, 1, 1, {"@write", "@string", "@slow"}, cmd_psetex);
  add("getdel", 2, {"write", "fast"}, 1, 1, 1, {"@write", "@string", "@fast"}, cmd_getdel);
  add("mset", -3, {"write", "denyoom"}, 1, -1, 2, {"@write", "@string", "@slow"}, cmd_mset);
  add("del", -2, {"write"}, 1, -1, 1, {"@keyspace", "@write", "@slow"}, cmd_del);
  add("unlink", -2, {"write", "fast"}, 1, -1, 1, {"@keyspace", "@write", "@fast"}, cmd_del);
  add("expire", -3, {"write", "fast"}, 1, 1, 1, {"@keyspace", "@write", "@fast"}, cmd_expire);
  add("pexpire", -3, {"write", "fast"}, 1, 1, 1, {"@keyspace", "@write", "@fast"}, cmd_pexpire);
  add("expireat", -3, {"write", "fast"}, 1, 1, 1, {"@keyspace", "@write", "@fast"}, cmd_expireat);
  add("pexpireat", -3, {"write", "fast"}, 1, 1, 1, {"@keyspace", "@write", "@fast"}, cmd_pexpireat);
  add("persist", 2, {"write", "fast"}, 1, 1, 1, {"@keyspace", "@write", "@fast"}, cmd_persist);
  add("incr", 2, {"write", "denyoom", "fast"}, 1, 1, 1, {"@write", "@string", "@fast"}, cmd_incr);
  add("decr", 2, {"write", "denyoom", "fast"}, 1, 1, 1, {"@write", "@string", "@fast"}, cmd_decr);
  add("incrby", 3, {"write", "denyoom", "fast"}, 1, 1, 1, {"@write", "@string", "@fast"}, cmd_incrby);
  add("decrby", 3, {"write", "denyoom", "fast"}, 1, 1, 1, {"@write", "@string", "@fast"}, cmd_decrby);
  add("append", 3, {"write", "denyoom", "fast"}, 1, 1, 1, {"@write", "@string", "@fast"}, cmd_append);
  // Handled by the connection itself (connection.cc).
  auto session = [](Context&) { return session_command(); };
  add("hello", -1, {"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}, 0, 0, 0, {"@fast", "@connection"}, session);
  add("quit", -1, {"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}, 0, 0, 0, {"@fast", "@connection"}, session);
  add("client", -2, {}, 0, 0, 0, {"@slow"}, session);
  add("multi", 1, {"noscript", "loading", "stale", "fast", "allow_busy"}, 0, 0, 0, {"@fast", "@transaction"}, session);
  add("exec", 1, {"noscript", "loading", "stale", "skip_slowlog"}, 0, 0, 0, {"@slow", "@transaction"}, session);
  add("discard", 1, {"noscript", "loading", "stale", "fast", "allow_busy"}, 0, 0, 0, {"@fast", "@transaction"}, session);
  add("watch", -2, {"noscript", "loading", "stale", "fast", "allow_busy"}, 1, -1, 1, {"@fast", "@transaction"}, session);
  add("unwatch", 1, {"noscript", "loading", "stale", "fast", "allow_busy"}, 0, 0, 0, {"@fast", "@transaction"}, session);
}

}  // namespace dkv::server
