// dkv: the command-line client (docs/cli.md). Every subcommand is one or a few dkv::Client
// calls on the store named by --endpoints / $DKV_ENDPOINTS; --json prints machine-readable
// output. Exit status: 0 on success, 1 when the store refused or failed the request, 2 on a
// usage error.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "cli_output.h"
#include "top.h"
#include "client/remote.h"
#include "dkv/client.h"
#include "dkv/connect.h"
#include "txn_file.h"
#include "wal/posix_file.h"
#include "wal/snapshot_file.h"

namespace dkv::cli {
namespace {

struct Globals {
  std::string endpoints;
  bool json = false;
};

// --user / --password ($DKV_USER, $DKV_PASSWORD): every connection authenticates with them.
// --tls, --cacert, --cert, --key (redis-cli's names): every connection speaks TLS.
struct Login {
  std::string user = "default";
  std::string password;
  dkv::client::TlsOptions tls;
};
Login& login() {
  static Login l;
  return l;
}

// Remote options for one node, with the login.
Remote::Options node_options() {
  Remote::Options o;
  o.user = login().user;
  o.password = login().password;
  o.tls = login().tls;
  return o;
}

int fail(const Status& status) {
  std::fprintf(stderr, "dkv: %s\n", status.to_string().c_str());
  return 1;
}

void print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

void print_json(const Json& json) { print(json.text() + "\n"); }

std::string url_of(const std::string& endpoints) {
  if (endpoints.find("://") != std::string::npos) return endpoints;
  const dkv::client::TlsOptions& tls = login().tls;
  std::string url = tls.enabled ? "dkvs://" : "dkv://";
  if (!login().password.empty()) url += login().user + ":" + login().password + "@";
  url += endpoints;
  std::string query;
  for (const auto& [name, file] : {std::pair{"cacert", tls.ca_file}, {"cert", tls.cert_file}, {"key", tls.key_file}}) {
    if (!file.empty()) query += (query.empty() ? "?" : "&") + std::string(name) + "=" + file;
  }
  return url + query;
}

// Blocks SIGINT and SIGTERM in this thread and every thread started after, so that sigwait
// receives them.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// Waits up to ms for SIGINT/SIGTERM (ms < 0: forever); true if one came.
bool wait_stop_signal(const sigset_t& set, int64_t ms) {
  if (ms < 0) {
    int sig = 0;
    sigwait(&set, &sig);
    return true;
  }
  timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1'000'000)};
  for (;;) {
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig > 0) return true;
    if (errno == EINTR) continue;
    return false;
  }
}

std::string labels_text(const Labels& labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    if (!out.empty()) out += ",";
    out += name + "=" + value;
  }
  return out;
}

std::string items_table(const std::vector<KeyValue>& items) {
  std::vector<std::vector<std::string>> rows;
  for (const KeyValue& kv : items) {
    rows.push_back({kv.key, kv.value, std::to_string(kv.version), std::to_string(kv.mod_revision),
                    kv.ttl_ms < 0 ? "-" : std::to_string(kv.ttl_ms), labels_text(kv.labels)});
  }
  return table({"KEY", "VALUE", "VERSION", "MOD_REV", "TTL_MS", "LABELS"}, rows);
}

// Parses "label OP value..." (OP: eq ne gt ge lt le prefix between in).
Result<QueryClause> parse_where(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  if (words.size() < 3) {
    return Status(Code::kInvalidArgument, "--where takes 'LABEL OP VALUE...', got '" + text + "'");
  }
  static const std::map<std::string, QueryOp> kOps = {
      {"eq", QueryOp::kEq}, {"ne", QueryOp::kNe}, {"gt", QueryOp::kGt},
      {"ge", QueryOp::kGe}, {"lt", QueryOp::kLt}, {"le", QueryOp::kLe},
      {"prefix", QueryOp::kPrefix}, {"between", QueryOp::kBetween}, {"in", QueryOp::kIn}};
  std::string op = words[1];
  for (char& c : op) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto it = kOps.find(op);
  if (it == kOps.end()) return Status(Code::kInvalidArgument, "unknown --where operator '" + words[1] + "'");
  return QueryClause{words[0], it->second, std::vector<std::string>(words.begin() + 2, words.end())};
}

Result<Labels> parse_labels(const std::vector<std::string>& specs) {
  Labels labels;
  for (const std::string& spec : specs) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status(Code::kInvalidArgument, "--label takes NAME=VALUE, got '" + spec + "'");
    }
    labels[spec.substr(0, eq)] = spec.substr(eq + 1);
  }
  return labels;
}

Result<Fence> parse_fence(const std::vector<std::string>& fence) {
  if (fence.size() != 2) return Status(Code::kInvalidArgument, "--fence takes NAME TOKEN");
  try {
    return Fence{fence[0], std::stoll(fence[1])};
  } catch (const std::exception&) {
    return Status(Code::kInvalidArgument, "--fence TOKEN must be an integer, got '" + fence[1] + "'");
  }
}

}  // namespace

// `dkv status` with several endpoints: each member's own view (INFO), one row per endpoint, and
// each one's lag behind the most advanced applied index seen.
int print_cluster_status(const std::vector<client::Endpoint>& members, bool json) {
  struct Row {
    std::string endpoint, node = "-", role = "unreachable", leader = "-", term = "-";
    int64_t applied = -1;
    std::string revision = "-", keys = "-";
  };
  std::vector<Row> rows;
  int64_t most = 0;
  for (const client::Endpoint& e : members) {
    Row row;
    row.endpoint = e.to_string();
    Remote::Options o = node_options();
    o.connect_timeout_ms = 500;
    o.request_timeout_ms = 2'000;
    Remote one({e}, o);
    auto info = one.info();
    if (info.ok()) {
      std::map<std::string, std::string> f(info->begin(), info->end());
      row.node = f["node_id"];
      row.role = f["role"];
      row.leader = f["leader_id"];
      row.term = f["term"];
      row.applied = f["applied_index"].empty() ? 0 : std::stoll(f["applied_index"]);
      row.revision = f["revision"];
      row.keys = "0";
      if (auto it = f.find("db0"); it != f.end() && it->second.starts_with("keys=")) {
        row.keys = it->second.substr(5, it->second.find(',') - 5);
      }
      most = std::max(most, row.applied);
    }
    rows.push_back(std::move(row));
  }
  if (json) {
    Json j;
    j.begin_array();
    for (const Row& r : rows) {
      j.begin_object().key("endpoint").string(r.endpoint).key("role").string(r.role);
      if (r.applied >= 0) {
        j.key("node").number(std::stoll(r.node)).key("leader").number(std::stoll(r.leader));
        j.key("term").number(std::stoll(r.term)).key("applied_index").number(r.applied);
        j.key("lag").number(most - r.applied).key("revision").number(std::stoll(r.revision));
        j.key("keys").number(std::stoll(r.keys));
      }
      j.end_object();
    }
    print_json(j.end_array());
  } else {
    std::vector<std::vector<std::string>> cells;
    for (const Row& r : rows) {
      const bool up = r.applied >= 0;
      cells.push_back({r.endpoint, r.node, r.role, r.leader, r.term, up ? std::to_string(r.applied) : "-",
                       up ? std::to_string(most - r.applied) : "-", r.revision, r.keys});
    }
    print(table({"ENDPOINT", "NODE", "ROLE", "LEADER", "TERM", "APPLIED", "LAG", "REVISION", "KEYS"}, cells));
  }
  bool any = false;
  for (const Row& r : rows) any = any || r.applied >= 0;
  return any ? 0 : 1;
}

// MEMBER.* through each endpoint in turn until one answers other than "go to the leader"
// (membership changes are the leader's; MEMBER.LIST is best asked of the leader too).
// dkv backup FILE: BACKUP from the first endpoint (a snapshot file's bytes), written to FILE.tmp,
// fsynced, checked as a snapshot file and renamed to FILE.
int run_backup(const std::string& endpoints, const std::string& file, bool json) {
  std::string list = endpoints.starts_with("dkv://") ? endpoints.substr(6) : endpoints;
  auto members = client::parse_endpoints(list);
  if (!members.ok()) return fail(members.status());
  Remote::Options o = node_options();
  o.request_timeout_ms = 600'000;  // a large store's snapshot takes a while
  o.discover_members = false;      // the backup comes from the node named
  Remote node({members->front()}, o);
  Result<resp::Value> reply = node.raw({"BACKUP"});
  if (!reply.ok()) return fail(reply.status());
  const std::string tmp = file + ".tmp";
  {
    auto f = wal::open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC);
    if (!f.ok()) return fail(f.status());
    Status s = wal::write_at(f->get(), tmp, 0, reply->str);
    if (s.ok()) s = wal::sync_file(f->get(), tmp);
    if (!s.ok()) return fail(s);
  }
  auto checked = wal::read_backup(tmp);
  if (!checked.ok()) return fail(checked.status());
  if (Status s = wal::rename_file(tmp, file); !s.ok()) return fail(s);
  if (json) {
    Json j;
    j.begin_object().key("file").string(file).key("index").number(static_cast<int64_t>(checked->meta.index));
    j.key("term").number(static_cast<int64_t>(checked->meta.term)).key("bytes").number(static_cast<int64_t>(reply->str.size()));
    print_json(j.end_object());
  } else {
    print("backup of index " + std::to_string(checked->meta.index) + " (term " + std::to_string(checked->meta.term) +
          "), " + std::to_string(reply->str.size()) + " bytes, written to " + file + "\n");
  }
  return 0;
}

int run_membership(const std::string& endpoints, const std::vector<std::string>& command, bool json) {
  std::string list = endpoints.starts_with("dkv://") ? endpoints.substr(6) : endpoints;
  auto members = client::parse_endpoints(list);
  if (!members.ok()) return fail(members.status());
  Status last(Code::kUnavailable, "no endpoint answered");
  std::optional<resp::Value> listed;
  for (const client::Endpoint& e : *members) {
    Remote::Options o = node_options();
    o.connect_timeout_ms = 500;
    Remote one({e}, o);
    Result<resp::Value> reply = one.raw(command);
    if (!reply.ok()) {
      // Not the leader, or not reachable: the next endpoint. Anything else is the answer.
      const Code code = reply.status().code();
      if (code != Code::kUnavailable && code != Code::kNotLeader) return fail(reply.status());
      last = reply.status();
      continue;
    }
    if (command[0] != "MEMBER.LIST") {
      print(json ? std::string("{\"ok\":true}\n") : std::string("OK\n"));
      return 0;
    }
    // A list with replication figures comes from the leader; otherwise keep looking.
    bool from_leader = false;
    for (const resp::Value& m : reply->elements) {
      const resp::Value* match = m.find("match");
      from_leader = from_leader || (match != nullptr && match->integer >= 0);
    }
    if (!listed || from_leader) listed = std::move(reply).value();
    if (from_leader) break;
  }
  if (!listed) return fail(last);
  std::vector<std::vector<std::string>> rows;
  Json j;
  j.begin_array();
  for (const resp::Value& m : listed->elements) {
    auto field = [&](std::string_view name) -> const resp::Value& {
      static const resp::Value missing;
      const resp::Value* f = m.find(name);
      return f == nullptr ? missing : *f;
    };
    const int64_t match = field("match").integer;
    const std::string& client = field("client_address").str;
    rows.push_back({std::to_string(field("id").integer), field("role").str, field("address").str,
                    client.empty() ? "-" : client, match < 0 ? "-" : std::to_string(match)});
    j.begin_object().key("id").number(field("id").integer).key("role").string(field("role").str);
    j.key("address").string(field("address").str).key("client_address").string(client);
    j.key("match").number(match).end_object();
  }
  if (json) {
    print_json(j.end_array());
  } else {
    print(table({"ID", "ROLE", "RAFT ADDRESS", "CLIENT ADDRESS", "MATCH"}, rows));
  }
  return 0;
}

int run(int argc, char** argv) {
  CLI::App app{"dkv: command-line client for DKV"};
  app.require_subcommand(1);
  Globals g;
  const char* env = std::getenv("DKV_ENDPOINTS");
  g.endpoints = env != nullptr && *env != '\0' ? env : "127.0.0.1:7070";
  app.add_option("--endpoints", g.endpoints,
                 "host:port[,host:port...] or a URL (dkv://..., embedded://); default "
                 "$DKV_ENDPOINTS, else 127.0.0.1:7070");
  app.add_flag("--json", g.json, "Print JSON instead of tables");
  if (const char* u = std::getenv("DKV_USER"); u != nullptr && *u != '\0') login().user = u;
  if (const char* p = std::getenv("DKV_PASSWORD"); p != nullptr) login().password = p;
  app.add_option("--user", login().user, "Authenticate as this user (default $DKV_USER, else default)");
  app.add_option("--password", login().password,
                 "Authenticate with this password (default $DKV_PASSWORD; none: no AUTH)");
  app.add_flag("--tls", login().tls.enabled,
               "Connect over TLS (servers started with --tls-clients); implied by --cacert and --cert");
  app.add_option("--cacert", login().tls.ca_file,
                 "CA certificate(s) that sign the server's certificate (default: the system's)");
  app.add_option("--cert", login().tls.cert_file, "Client certificate, for servers that ask for one");
  app.add_option("--key", login().tls.key_file, "The client certificate's private key");

  // Each subcommand sets `action`; it runs after parsing, with the client connected.
  std::function<int(Client&)> action;

  // --- get ---
  auto* get = app.add_subcommand("get", "Read a key");
  std::string key, value;
  int64_t rev = 0;
  get->add_option("key", key)->required();
  get->add_option("--rev", rev, "Read as of this revision");
  get->callback([&] {
    action = [&](Client& c) {
      Result<KeyValue> kv = c.get(key, {.revision = rev});
      if (!kv.ok()) return fail(kv.status());
      if (g.json) {
        Json j;
        print_json(j.key_value(*kv));
      } else {
        print(describe(*kv));
      }
      return 0;
    };
  });

  // --- put ---
  auto* put = app.add_subcommand("put", "Write a key (all KV.PUT options)");
  PutOptions put_opts;
  int64_t if_match = -1;
  std::vector<std::string> fence, labels;
  put->add_option("key", key)->required();
  put->add_option("value", value)->required();
  put->add_option("--ttl", put_opts.ttl_ms, "Expire this many ms after the write");
  put->add_option("--lease", put_opts.lease, "Attach to a lease");
  put->add_flag("--if-absent", put_opts.if_absent, "Only if the key does not exist");
  put->add_option("--if-match", if_match, "Only if the key is at this version (0 = absent)");
  put->add_option("--fence", fence, "Only while TOKEN holds lock/election NAME")->expected(2);
  put->add_option("--entity", put_opts.entity, "The key's entity (for query)");
  put->add_option("--content-type", put_opts.content_type, "Free text");
  put->add_option("--label", labels, "NAME=VALUE (repeatable)")->allow_extra_args(false);
  put->callback([&] {
    action = [&](Client& c) {
      if (if_match >= 0) put_opts.if_match = if_match;
      if (!fence.empty()) {
        Result<Fence> f = parse_fence(fence);
        if (!f.ok()) return fail(f.status());
        put_opts.fence = *f;
      }
      Result<Labels> l = parse_labels(labels);
      if (!l.ok()) return fail(l.status());
      put_opts.labels = *l;
      Result<PutResult> r = c.put(key, value, put_opts);
      if (!r.ok()) return fail(r.status());
      if (g.json) {
        Json j;
        print_json(j.begin_object().key("version").number(r->version).key("revision").number(r->revision).end_object());
      } else {
        print("OK version " + std::to_string(r->version) + " revision " + std::to_string(r->revision) + "\n");
      }
      return 0;
    };
  });

  // --- del ---
  auto* del = app.add_subcommand("del", "Delete a key");
  del->add_option("key", key)->required();
  del->add_option("--if-match", if_match, "Only if the key is at this version");
  del->add_option("--fence", fence, "Only while TOKEN holds lock/election NAME")->expected(2);
  del->callback([&] {
    action = [&](Client& c) {
      DeleteOptions o;
      if (if_match >= 0) o.if_match = if_match;
      if (!fence.empty()) {
        Result<Fence> f = parse_fence(fence);
        if (!f.ok()) return fail(f.status());
        o.fence = *f;
      }
      Result<DeleteResult> r = c.del(key, o);
      if (!r.ok()) return fail(r.status());
      if (g.json) {
        Json j;
        print_json(j.begin_object().key("deleted").boolean(r->deleted).end_object());
      } else {
        print(r->deleted ? "deleted\n" : "not found\n");
      }
      return 0;
    };
  });

  // --- range ---
  auto* range = app.add_subcommand("range", "List keys in [START, END) or under a prefix");
  std::string start, end, prefix;
  bool has_prefix = false;
  RangeOptions range_opts;
  range->add_option("start", start, "First key (inclusive)");
  range->add_option("end", end, "Last key (exclusive); empty = to the end");
  range->add_option("--prefix", prefix, "Every key starting with this")->each([&](const std::string&) { has_prefix = true; });
  range->add_option("--limit", range_opts.limit);
  range->add_option("--rev", range_opts.revision);
  range->add_flag("--keys-only", range_opts.keys_only);
  range->add_flag("--count", range_opts.count_only, "Only count");
  range->callback([&] {
    action = [&](Client& c) {
      KeyRange r = has_prefix ? KeyRange::prefix(prefix) : KeyRange{start, end};
      Result<RangeResult> result = c.range(r, range_opts);
      if (!result.ok()) return fail(result.status());
      if (g.json) {
        Json j;
        j.begin_object().key("items").begin_array();
        for (const KeyValue& kv : result->items) {
          if (range_opts.keys_only) {
            j.begin_object().key("key").string(kv.key).end_object();
          } else {
            j.key_value(kv);
          }
        }
        j.end_array().key("count").number(result->count).key("more").boolean(result->more);
        print_json(j.key("revision").number(result->revision).end_object());
      } else {
        if (!range_opts.count_only) {
          if (range_opts.keys_only) {
            for (const KeyValue& kv : result->items) print(kv.key + "\n");
          } else {
            print(items_table(result->items));
          }
        }
        print(std::to_string(result->count) + " keys" + (result->more ? " (more)" : "") +
              " at revision " + std::to_string(result->revision) + "\n");
      }
      return 0;
    };
  });

  // --- watch ---
  auto* watch = app.add_subcommand("watch", "Print changes as they happen, until Ctrl-C");
  WatchRequest watch_req;
  bool watch_lock = false, watch_election = false;
  watch->add_option("key", watch_req.key, "Key (or prefix with --prefix, name with --lock/--election)")->required();
  watch->add_flag("--prefix", watch_req.prefix, "Watch every key starting with KEY");
  watch->add_flag("--lock", watch_lock, "Watch the holder of lock KEY");
  watch->add_flag("--election", watch_election, "Watch the leader of election KEY");
  watch->add_option("--from", watch_req.from_revision, "Start at this revision");
  watch->add_flag("--snapshot", watch_req.snapshot, "First print the current values");
  watch->add_flag("--prev", watch_req.prev_value, "Include the previous value");
  watch->callback([&] {
    action = [&](Client& c) {
      if (watch_lock) watch_req.space = WatchSpace::kLocks;
      if (watch_election) watch_req.space = WatchSpace::kElections;
      const sigset_t stop = block_stop_signals();  // before the client starts its threads
      std::mutex out_mu;
      Status ended;
      Result<int64_t> id = c.watch(
          watch_req,
          [&](const Event& e) {
            std::lock_guard lock(out_mu);
            if (g.json) {
              Json j;
              j.begin_object().key("revision").number(e.revision).key("type").string(event_type_name(e.type));
              j.key("key").string(e.kv.key).key("value").string(e.kv.value);
              if (e.prev) j.key("prev").string(e.prev->value);
              print_json(j.key("snapshot").boolean(e.snapshot).end_object());
            } else {
              std::string line = std::string(event_type_name(e.type)) + " " + e.kv.key;
              if (e.type == EventType::kPut) line += " " + e.kv.value;
              if (e.prev) line += " (prev " + e.prev->value + ")";
              print(line + " @" + std::to_string(e.revision) + (e.snapshot ? " [snapshot]" : "") + "\n");
            }
          },
          [&](const Status& s) {
            std::lock_guard lock(out_mu);
            ended = s;
            ::kill(::getpid(), SIGTERM);  // wakes the main thread
          });
      if (!id.ok()) return fail(id.status());
      std::fprintf(stderr, "dkv: watching %s (Ctrl-C to stop)\n", watch_req.key.c_str());
      wait_stop_signal(stop, -1);
      c.unwatch(*id);
      std::lock_guard lock(out_mu);
      return ended.ok() ? 0 : fail(ended);
    };
  });

  // --- counter ---
  auto* counter = app.add_subcommand("counter", "Atomic int64 counters");
  counter->require_subcommand(1);
  int64_t number = 0, ttl = 0;
  std::optional<int64_t> min, max;
  auto print_counter = [&](const CounterResult& r) {
    if (g.json) {
      Json j;
      print_json(j.begin_object().key("previous").number(r.previous).key("current").number(r.current).end_object());
    } else {
      print(std::to_string(r.current) + " (was " + std::to_string(r.previous) + ")\n");
    }
  };
  auto* ctr_add = counter->add_subcommand("add", "Add DELTA (may be negative)");
  ctr_add->add_option("key", key)->required();
  ctr_add->add_option("delta", number)->required();
  ctr_add->add_option("--min", min);
  ctr_add->add_option("--max", max);
  ctr_add->add_option("--ttl", ttl, "TTL in ms if the add creates the counter");
  ctr_add->callback([&] {
    action = [&](Client& c) {
      Result<CounterResult> r = c.counter_add(key, number, {.min = min, .max = max, .ttl_ms = ttl});
      if (!r.ok()) return fail(r.status());
      print_counter(*r);
      return 0;
    };
  });
  auto* ctr_get = counter->add_subcommand("get", "Read a counter");
  ctr_get->add_option("key", key)->required();
  ctr_get->callback([&] {
    action = [&](Client& c) {
      Result<int64_t> r = c.counter_get(key);
      if (!r.ok()) return fail(r.status());
      if (g.json) {
        Json j;
        print_json(j.begin_object().key("value").number(*r).end_object());
      } else {
        print(std::to_string(*r) + "\n");
      }
      return 0;
    };
  });
  auto* ctr_set = counter->add_subcommand("set", "Set a counter");
  ctr_set->add_option("key", key)->required();
  ctr_set->add_option("value", number)->required();
  ctr_set->add_option("--ttl", ttl);
  ctr_set->callback([&] {
    action = [&](Client& c) {
      Result<CounterResult> r = c.counter_set(key, number, ttl);
      if (!r.ok()) return fail(r.status());
      print_counter(*r);
      return 0;
    };
  });

  // --- lease ---
  auto* lease = app.add_subcommand("lease", "Leases");
  lease->require_subcommand(1);
  int64_t lease_id = 0;
  bool once = false, with_keys = false;
  auto* lease_grant = lease->add_subcommand("grant", "Grant a lease of TTL ms");
  lease_grant->add_option("ttl", ttl)->required();
  lease_grant->callback([&] {
    action = [&](Client& c) {
      Result<LeaseGrant> r = c.lease_grant(ttl);
      if (!r.ok()) return fail(r.status());
      if (g.json) {
        Json j;
        print_json(j.begin_object().key("id").number(r->id).key("ttl_ms").number(r->ttl_ms).end_object());
      } else {
        print("lease " + std::to_string(r->id) + " granted with ttl " + std::to_string(r->ttl_ms) + " ms\n");
      }
      return 0;
    };
  });
  auto* lease_keepalive = lease->add_subcommand("keepalive", "Keep a lease alive until Ctrl-C");
  lease_keepalive->add_option("id", lease_id)->required();
  lease_keepalive->add_flag("--once", once, "Renew once and exit");
  lease_keepalive->callback([&] {
    action = [&](Client& c) {
      const sigset_t stop = block_stop_signals();
      for (;;) {
        Result<int64_t> r = c.lease_keepalive(lease_id);
        if (!r.ok()) return fail(r.status());
        if (g.json) {
          Json j;
          print_json(j.begin_object().key("id").number(lease_id).key("ttl_ms").number(*r).end_object());
        } else {
          print("lease " + std::to_string(lease_id) + " renewed, ttl " + std::to_string(*r) + " ms\n");
        }
        if (once || wait_stop_signal(stop, std::max<int64_t>(1, *r / 3))) return 0;
      }
    };
  });
  auto* lease_revoke = lease->add_subcommand("revoke", "Revoke a lease (deletes its keys)");
  lease_revoke->add_option("id", lease_id)->required();
  lease_revoke->callback([&] {
    action = [&](Client& c) {
      Result<RevokeResult> r = c.lease_revoke(lease_id);
      if (!r.ok()) return fail(r.status());
      if (g.json) {
        Json j;
        print_json(j.begin_object().key("deleted").number(r->deleted).end_object());
      } else {
        print("lease " + std::to_string(lease_id) + " revoked, " + std::to_string(r->deleted) + " keys deleted\n");
      }
      return 0;
    };
  });
  auto lease_json = [](Json& j, const LeaseInfo& l, bool keys) {
    j.begin_object().key("id").number(l.id).key("granted_ttl_ms").number(l.granted_ttl_ms);
    j.key("remaining_ms").number(l.remaining_ms);
    if (keys) {
      j.key("keys").begin_array();
      for (const std::string& k : l.keys) j.string(k);
      j.end_array();
    }
    j.end_object();
  };
  auto* lease_ttl = lease->add_subcommand("ttl", "A lease's TTL and remaining time");
  lease_ttl->add_option("id", lease_id)->required();
  lease_ttl->add_flag("--keys", with_keys, "List the attached keys");
  lease_ttl->callback([&] {
    action = [&](Client& c) {
      Result<LeaseInfo> r = c.lease_ttl(lease_id, with_keys);
      if (!r.ok()) return fail(r.status());
      if (g.json) {
        Json j;
        lease_json(j, *r, with_keys);
        print_json(j);
      } else {
        std::string keys;
        for (const std::string& k : r->keys) keys += (keys.empty() ? "" : ",") + k;
        std::vector<std::string> header = {"ID", "GRANTED_TTL_MS", "REMAINING_MS"};
        std::vector<std::string> row = {std::to_string(r->id), std::to_string(r->granted_ttl_ms),
                                        std::to_string(r->remaining_ms)};
        if (with_keys) {
          header.push_back("KEYS");
          row.push_back(keys);
        }
        print(table(header, {row}));
      }
      return 0;
    };
  });
  auto* lease_list = lease->add_subcommand("list", "Every live lease");
  lease_list->callback([&] {
    action = [&](Client& c) {
      Result<std::vector<LeaseInfo>> r = c.lease_list();
      if (!r.ok()) return fail(r.status());
      if (g.json) {
        Json j;
        j.begin_array();
        for (const LeaseInfo& l : *r) lease_json(j, l, false);
        print_json(j.end_array());
      } else {
        std::vector<std::vector<std::string>> rows;
        for (const LeaseInfo& l : *r) {
          rows.push_back({std::to_string(l.id), std::to_string(l.granted_ttl_ms), std::to_string(l.remaining_ms)});
        }
        print(table({"ID", "GRANTED_TTL_MS", "REMAINING_MS"}, rows));
      }
      return 0;
    };
  });

  // --- lock ---
  auto* lock = app.add_subcommand("lock", "Locks with fencing tokens");
  lock->require_subcommand(1);
  std::string name;
  int64_t wait_ms = 0, token = 0;
  auto* lock_acquire = lock->add_subcommand("acquire", "Acquire lock NAME for a lease");
  lock_acquire->add_option("name", name)->required();
  lock_acquire->add_option("--lease", lease_id, "The holder's lease")->required();
  lock_acquire->add_option("--wait", wait_ms, "Wait up to this many ms for the lock");
  lock_acquire->callback([&] {
    action = [&](Client& c) {
      Result<int64_t> r = c.lock_acquire_wait(name, lease_id, wait_ms);
      if (!r.ok()) return fail(r.status());
      if (g.json) {
        Json j;
        print_json(j.begin_object().key("token").number(*r).end_object());
      } else {
        print("acquired " + name + " token " + std::to_string(*r) + "\n");
      }
      return 0;
    };
  });
  auto* lock_release = lock->add_subcommand("release", "Release lock NAME held with TOKEN");
  lock_release->add_option("name", name)->required();
  lock_release->add_option("token", token)->required();
  lock_release->callback([&] {
    action = [&](Client& c) {
      Result<int64_t> r = c.lock_release(name, token);
      if (!r.ok()) return fail(r.status());
      if (g.json) {
        Json j;
        print_json(j.begin_object().key("revision").number(*r).end_object());
      } else {
        print("released " + name + " at revision " + std::to_string(*r) + "\n");
      }
      return 0;
    };
  });
  auto* lock_owner = lock->add_subcommand("owner", "Who holds lock NAME");
  lock_owner->add_option("name", name)->required();
  lock_owner->callback([&] {
    action = [&](Client& c) {
      Result<LockOwner> r = c.lock_owner(name);
      if (!r.ok()) return fail(r.status());
      if (g.json) {
        Json j;
        print_json(j.begin_object().key("name").string(r->name).key("lease").number(r->lease)
                       .key("token").number(r->token).key("acquired_at_ms").number(r->acquired_at_ms).end_object());
      } else {
        print(table({"NAME", "LEASE", "TOKEN", "ACQUIRED_AT_MS"},
                    {{r->name, std::to_string(r->lease), std::to_string(r->token), std::to_string(r->acquired_at_ms)}}));
      }
      return 0;
    };
  });

  // --- elect ---
  auto* elect = app.add_subcommand("elect", "Leader election");
  elect->require_subcommand(1);
  auto* campaign = elect->add_subcommand("campaign", "Run for leader of election NAME");
  campaign->add_option("name", name)->required();
  campaign->add_option("value", value, "The value to publish as leader")->required();
  campaign->add_option("--lease", lease_id, "The candidate's lease")->required();
  campaign->add_option("--wait", wait_ms, "Wait up to this many ms to become leader");
  campaign->callback([&] {
    action = [&](Client& c) {
      Result<CampaignResult> r = c.campaign_wait(name, lease_id, value, wait_ms);
      if (!r.ok()) return fail(r.status());
      if (g.json) {
        Json j;
        print_json(j.begin_object().key("leader").boolean(r->leader).key("token").number(r->token)
                       .key("position").number(r->position).end_object());
      } else if (r->leader) {
        print("leader of " + name + " token " + std::to_string(r->token) + "\n");
      } else {
        print("candidate for " + name + " at position " + std::to_string(r->position) + "\n");
      }
      return 0;
    };
  });
  auto* leader = elect->add_subcommand("leader", "The leader of election NAME");
  leader->add_option("name", name)->required();
  leader->callback([&] {
    action = [&](Client& c) {
      Result<ElectionLeader> r = c.election_leader(name);
      if (!r.ok()) return fail(r.status());
      if (g.json) {
        Json j;
        print_json(j.begin_object().key("name").string(r->name).key("value").string(r->value)
                       .key("lease").number(r->lease).key("token").number(r->token).end_object());
      } else {
        print(table({"NAME", "VALUE", "LEASE", "TOKEN"},
                    {{r->name, r->value, std::to_string(r->lease), std::to_string(r->token)}}));
      }
      return 0;
    };
  });

  // --- txn ---
  auto* txn = app.add_subcommand("txn", "Commit the transaction in FILE (- = stdin; docs/cli.md)");
  std::string txn_path;
  txn->add_option("file", txn_path)->required();
  txn->callback([&] {
    action = [&](Client& c) {
      std::stringstream text;
      if (txn_path == "-") {
        text << std::cin.rdbuf();
      } else {
        std::ifstream in(txn_path);
        if (!in) return fail(Status(Code::kInvalidArgument, "cannot read " + txn_path));
        text << in.rdbuf();
      }
      Result<TxnRequest> request = parse_txn_file(text.str());
      if (!request.ok()) return fail(request.status());
      Result<TxnResult> r = c.commit(*request);
      if (!r.ok()) return fail(r.status());
      if (g.json) {
        Json j;
        j.begin_object().key("revision").number(r->revision).key("versions").begin_array();
        for (int64_t v : r->versions) j.number(v);
        print_json(j.end_array().end_object());
      } else {
        std::string versions;
        for (int64_t v : r->versions) versions += " " + std::to_string(v);
        print("committed at revision " + std::to_string(r->revision) + ", versions" + versions + "\n");
      }
      return 0;
    };
  });

  // --- query ---
  auto* query = app.add_subcommand("query", "Find keys of ENTITY by labels");
  Query q;
  std::vector<std::string> wheres;
  query->add_option("entity", q.entity)->required();
  query->add_option("--where", wheres, "'LABEL OP VALUE...' (OP: eq ne gt ge lt le prefix between in); repeatable, all must hold")
      ->allow_extra_args(false);
  query->add_option("--order-by", q.order_by, "Order by this label");
  query->add_flag("--desc", q.descending);
  query->add_option("--limit", q.limit);
  query->add_option("--cursor", q.cursor, "next_cursor of the previous page");
  query->add_option("--select", q.select, "Return only these labels (repeatable)")->allow_extra_args(false);
  query->add_flag("--keys-only", q.keys_only);
  query->add_flag("--count", q.count_only);
  query->callback([&] {
    action = [&](Client& c) {
      for (const std::string& w : wheres) {
        Result<QueryClause> clause = parse_where(w);
        if (!clause.ok()) return fail(clause.status());
        q.where.push_back(*clause);
      }
      Result<QueryResult> r = c.query(q);
      if (!r.ok()) return fail(r.status());
      if (g.json) {
        Json j;
        j.begin_object().key("items").begin_array();
        for (const KeyValue& kv : r->items) {
          if (q.keys_only) {
            j.begin_object().key("key").string(kv.key).end_object();
          } else {
            j.key_value(kv);
          }
        }
        j.end_array().key("count").number(r->count).key("next_cursor").string(r->next_cursor);
        print_json(j.end_object());
      } else {
        if (!q.count_only) {
          if (q.keys_only) {
            for (const KeyValue& kv : r->items) print(kv.key + "\n");
          } else {
            print(items_table(r->items));
          }
        }
        print(std::to_string(r->count) + " matches" +
              (r->next_cursor.empty() ? "" : ", next cursor " + r->next_cursor) + "\n");
      }
      return 0;
    };
  });

  // --- member ---
  auto* member = app.add_subcommand("member", "Cluster membership: list, add, promote, remove, transfer-leader");
  member->require_subcommand(1);
  std::string member_id, member_address;
  auto membership = [&](std::vector<std::string> command) {
    action = [&, command](Client&) {
      return run_membership(g.endpoints, command, g.json);
    };
  };
  member->add_subcommand("list", "Members: id, role, Raft and client addresses, replicated index (from the leader)")
      ->callback([&] { membership({"MEMBER.LIST"}); });
  auto* madd = member->add_subcommand("add", "Add a node as a learner (it catches up, then promote it)");
  madd->add_option("id", member_id, "Node id")->required();
  madd->add_option("raft-address", member_address, "The node's Raft address HOST:PORT")->required();
  madd->callback([&] { membership({"MEMBER.ADD", member_id, member_address}); });
  auto* mpromote = member->add_subcommand("promote", "Make a learner a voter");
  mpromote->add_option("id", member_id, "Node id")->required();
  mpromote->callback([&] { membership({"MEMBER.PROMOTE", member_id}); });
  auto* mremove = member->add_subcommand("remove", "Remove a member");
  mremove->add_option("id", member_id, "Node id")->required();
  mremove->callback([&] { membership({"MEMBER.REMOVE", member_id}); });
  auto* mtransfer = member->add_subcommand("transfer-leader", "Hand leadership to a voter");
  mtransfer->add_option("id", member_id, "Node id")->required();
  mtransfer->callback([&] { membership({"MEMBER.TRANSFER", member_id}); });

  std::function<int()> standalone;  // a subcommand that needs no client connection

  // --- backup ---
  auto* backup = app.add_subcommand("backup", "Write a consistent snapshot of the node (BACKUP) to FILE, for dkv-server --restore");
  std::string backup_file;
  backup->add_option("file", backup_file, "Where to write it (replaced atomically)")->required();
  backup->callback([&] {
    standalone = [&] { return run_backup(g.endpoints, backup_file, g.json); };
  });

  // --- top ---
  auto* top = app.add_subcommand("top", "A live view of every member from their admin endpoints (/metrics)");
  std::string admins = "127.0.0.1:7072";
  TopOptions top_options;
  top->add_option("--admin", admins, "Members' admin HTTP addresses HOST:PORT,...")->capture_default_str();
  top->add_option("--interval", top_options.interval_ms, "Milliseconds between refreshes")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{100}, int64_t{3'600'000}));
  top->add_option("--frames", top_options.frames, "Print this many frames one after another, then exit (0: live until Ctrl-C)")
      ->check(CLI::NonNegativeNumber);
  top->callback([&] {
    standalone = [&] {
      auto list = client::parse_endpoints(admins);
      if (!list.ok()) return fail(list.status());
      top_options.admins = std::move(list).value();
      return run_top(top_options);
    };
  });

  // --- status ---
  auto* status = app.add_subcommand(
      "status", "The node's id, role, revision, keys and memory; with several endpoints, a row per member");
  status->callback([&] {
    action = [&](Client& c) {
      std::vector<std::pair<std::string, std::string>> rows;
      std::string list = g.endpoints.starts_with("dkv://") ? g.endpoints.substr(6) : g.endpoints;
      auto members = client::parse_endpoints(list);
      if (dynamic_cast<Remote*>(&c) != nullptr && members.ok() && members->size() > 1) {
        return print_cluster_status(*members, g.json);
      }
      if (auto* remote = dynamic_cast<Remote*>(&c)) {
        auto info = remote->info();
        if (!info.ok()) return fail(info.status());
        std::map<std::string, std::string> f(info->begin(), info->end());
        std::string keys = "0";
        if (auto it = f.find("db0"); it != f.end() && it->second.starts_with("keys=")) {
          keys = it->second.substr(5, it->second.find(',') - 5);
        }
        rows = {{"endpoint", g.endpoints}, {"node", f["node_id"]}, {"role", f["role"]},
                {"leader", f["leader_id"]}, {"term", f["term"]}, {"revision", f["revision"]},
                {"compacted_revision", f["compacted_revision"]}, {"keys", keys},
                {"memory", f["used_memory"]}, {"memory_human", f["used_memory_human"]}};
      } else {
        Result<StoreStats> s = c.stats();
        if (!s.ok()) return fail(s.status());
        rows = {{"endpoint", g.endpoints}, {"node", "embedded"}, {"role", "leader"},
                {"revision", std::to_string(s->revision)},
                {"compacted_revision", std::to_string(s->compacted_revision)},
                {"keys", std::to_string(s->keys)}};
      }
      if (g.json) {
        Json j;
        j.begin_object();
        for (const auto& [k, v] : rows) {
          bool numeric = !v.empty() && v.find_first_not_of("0123456789") == std::string::npos &&
                         k != "endpoint" && k != "node";
          if (numeric) {
            j.key(k).number(std::stoll(v));
          } else {
            j.key(k).string(v);
          }
        }
        print_json(j.end_object());
      } else {
        std::string out;
        for (const auto& [k, v] : rows) out += k + ": " + v + "\n";
        print(out);
      }
      return 0;
    };
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  dkv::client::TlsOptions& tls = login().tls;
  tls.enabled = tls.enabled || !tls.ca_file.empty() || !tls.cert_file.empty();  // a file given means TLS
  if (standalone) return standalone();
  if (!action) return 2;
  Result<std::unique_ptr<Client>> client = connect(url_of(g.endpoints));
  if (!client.ok()) return fail(client.status());
  return action(**client);
}

}  // namespace dkv::cli

int main(int argc, char** argv) { return dkv::cli::run(argc, argv); }
