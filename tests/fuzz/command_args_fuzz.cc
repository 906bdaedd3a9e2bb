// Fuzzes the server's command layer (src/server/command.h): every handler of the command table
// (redis_commands.cc, dkv_commands.cc) parsing arbitrary arguments and options, and writing its
// reply from the state machine's result.
//
// Input: a stream of RESP requests (arrays or inline commands, as clients send them), parsed
// with resp::RequestParser; parsing stops at a protocol error. Each request runs as
// Connection::dispatch/execute would: find_command, the arity check, the handler with a
// Context, then, by the kind of work the handler prepared:
//  - Immediate: its reply as written;
//  - Write: the write limits (check_write_limits) and the core command applied straight to a
//    core::StateMachine (no Raft: this is about arguments, not replication), then on_result;
//  - KeysRead / Read: on_values / on_read against that machine;
//  - Session: HELLO 2|3 switches the reply protocol, MULTI / EXEC / DISCARD queue commands and
//    apply them as one MultiCmd as Connection::exec does; the rest (WATCH, KV.WATCH, CLIENT, QUIT)
//    are skipped;
//  - Async (SNAPSHOT, BACKUP, MEMBER.*, waits): parsed only, never started.
// The Context's Server and Replica are a real single node opened once, in-process, on port 0 in
// a temporary directory removed at once (its files stay open); its event loop never runs, so
// nothing is proposed or sent. A fresh state machine and session per input; the clock moves on
// 250 ms per command, and what is due expires between commands, as the leader's duty does.
//
// Each request's names also go through the ACL's argument parsing (server/acl.h:
// command_allowed, request_keys, keys_allowed for a restricted user; write_keys for each write's
// body), as the connection checks a user that is not allowed everything.
//
// Asserts: nothing crashes (ASan, UBSan); every reply is exactly one well-formed RESP value in
// the session's protocol (ReplyParser consumes all of it); a handler that prepares work writes
// no reply of its own.
//
// Seeds: scripts of requests covering every command and its options (fuzz_util.h), RESP-encoded
// and a few inline; the dictionary tests/fuzz/command_args.dict holds every command name and
// option word. DKV_FUZZ_WRITE_CORPUS=<dir> writes the seeds, DKV_FUZZ_WRITE_DICT=<file> the
// dictionary.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <asio.hpp>

#include "core/limits.h"
#include "core/state_machine.h"
#include "fuzz_util.h"
#include "resp/parser.h"
#include "resp/writer.h"
#include "core/acl.h"
#include "server/acl.h"
#include "server/command.h"
#include "server/server.h"
#include "server/session.h"

namespace dkv::fuzz {
namespace {

using server::Args;
using server::CommandSpec;
using server::Prepared;

// The node's clock: each input starts at kStartMs, each command moves it on by kStepMs, so keys
// given a TTL in a script expire within it.
constexpr int64_t kStartMs = 1'764'000'000'000;
constexpr int64_t kStepMs = 250;
int64_t g_now_ms = kStartMs;

struct Node {
  asio::io_context io;
  std::unique_ptr<server::Server> server;
};

// Opened once per process; never destroyed (LeakSanitizer sees it reachable).
Node* node() {
  static Node* n = [] {
    auto* created = new Node;
    char dir_template[] = "/tmp/dkv-fuzz-XXXXXX";
    const char* dir = ::mkdtemp(dir_template);
    if (dir == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    server::Server::Options o;
    o.port = 0;
    o.admin_port = 0;
    o.replica.raft_port = 0;
    o.replica.data_dir = std::string(dir) + "/data";
    o.replica.clock = [] { return g_now_ms; };
    auto opened = server::Server::open(created->io, std::move(o));
    if (!opened.ok()) {
      std::fprintf(stderr, "cannot open an in-process server: %s\n", opened.status().message().c_str());
      std::abort();
    }
    created->server = std::move(opened).value();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);  // its files stay open; nothing is left behind
    return created;
  }();
  return n;
}

// Exactly one complete RESP value, in `protocol`.
void check_reply(const std::string& reply, int protocol, const Args& args) {
  resp::ReplyParser parser;
  resp::Value v;
  size_t consumed = 0;
  const auto s = parser.parse(reply, &v, &consumed);
  FUZZ_CHECK(s == resp::ReplyParser::Status::kValue && consumed == reply.size(),
             "the reply to '%s' (%zu arguments) is not one RESP value: status %d, %zu of %zu bytes, error '%s'",
             args[0].c_str(), args.size(), static_cast<int>(s), consumed, reply.size(), parser.error().c_str());
  if (protocol == 2) {
    const std::string_view resp3_only = "_%~>,#=(|!";
    FUZZ_CHECK(resp3_only.find(reply[0]) == std::string_view::npos, "a RESP3 reply to '%s' on a RESP2 session",
               args[0].c_str());
  }
}

// A user limited to some commands and key patterns: every ACL check runs in full for it.
const core::AclUser& restricted_user() {
  static const core::AclUser user = [] {
    core::AclUser u = core::new_acl_user();
    for (const char* rule : {"on", "nopass", "~user/*", "~config/*", "~k", "+@read", "+kv.put", "+set", "-@admin",
                             "+acl|whoami"}) {
      Status s = core::apply_acl_rule(&u, rule);
      if (!s.ok()) {
        std::fprintf(stderr, "ACL rule %s: %s\n", rule, s.message().c_str());
        std::abort();
      }
    }
    return u;
  }();
  return user;
}

void check_acl(const CommandSpec& spec, const Args& args) {
  (void)server::command_allowed(restricted_user(), spec, args);
  (void)server::request_categories(spec, args);
  std::vector<server::KeyAccess> keys;
  server::request_keys(spec, args, &keys);
  (void)server::keys_allowed(restricted_user(), keys);
}

void check_acl(const core::CommandBody& body) {
  std::vector<server::KeyAccess> keys;
  server::write_keys(body, &keys);
  (void)server::keys_allowed(restricted_user(), keys);
}

class Runner {
 public:
  Runner() : server_(*node()->server), replica_(server_.replica()) {}

  void run(Args args) {
    g_now_ms += kStepMs;
    std::string reply;
    const int protocol = session_.protocol;
    const Args copy = args;
    dispatch(args, reply);
    // HELLO answers in the protocol it switches to.
    if (!reply.empty()) check_reply(reply, server::iequals(copy[0], "hello") ? session_.protocol : protocol, copy);
    // The leader's duty between commands: expire what is due (Replica::run_duties).
    core::DueWork due = machine_.due(g_now_ms, 1000);
    if (!due.empty()) {
      machine_.apply(core::Command{g_now_ms, core::ExpireCmd{std::move(due.keys), std::move(due.leases)}}, nullptr);
    }
  }

 private:
  // As Connection::dispatch: unknown command, arity, then the handler.
  void dispatch(Args& args, std::string& reply) {
    resp::Writer out(&reply, session_.protocol);
    const CommandSpec* spec = server::find_command(args[0]);
    if (spec == nullptr) return out.error("ERR", "unknown command");
    const int n = static_cast<int>(args.size());
    if ((spec->arity > 0 && n != spec->arity) || (spec->arity < 0 && n < -spec->arity)) {
      server::arity_error(out, spec->name);
      if (session_.in_multi) session_.multi_failed = true;
      return;
    }
    check_acl(*spec, args);
    const std::string& name = spec->name;
    if (session_.in_multi && name != "exec" && name != "discard" && name != "multi") {
      session_.queued.push_back(std::move(args));
      return out.simple("QUEUED");
    }
    server::Context ctx{server_, replica_, session_, out, args};
    Prepared p = spec->handler(ctx);
    if (p.kind != Prepared::Kind::kImmediate) {
      FUZZ_CHECK(reply.empty(), "'%s' prepared work and also wrote a reply", name.c_str());
    }
    switch (p.kind) {
      case Prepared::Kind::kImmediate: return;
      case Prepared::Kind::kWrite: return write(std::move(p), out);
      case Prepared::Kind::kKeysRead: return p.on_values(read_keys(p.keys), out);
      case Prepared::Kind::kRead: return p.on_read(machine_, g_now_ms, out);
      case Prepared::Kind::kSession: return session_command(name, args, reply);
      case Prepared::Kind::kAsync: return;  // would snapshot, change membership or wait
    }
  }

  void write(Prepared p, resp::Writer& out) {
    check_acl(p.body);
    Status limits = core::check_write_limits(p.body, server_.options().limits.write);
    if (!limits.ok()) return out.error("ERR", limits.message());
    core::CommandResult result = machine_.apply(core::Command{g_now_ms, std::move(p.body), {}, p.session}, nullptr);
    p.on_result(result, out);
  }

  server::KeyValues read_keys(const std::vector<std::string>& keys) {
    server::KeyValues values;
    for (const std::string& k : keys) {
      auto kv = machine_.get(k, {}, g_now_ms);
      values.emplace_back(kv.ok() ? std::optional<KeyValue>(std::move(kv).value()) : std::nullopt);
    }
    return values;
  }

  void session_command(const std::string& name, const Args& args, std::string& reply) {
    resp::Writer out(&reply, session_.protocol);
    if (name == "hello") {
      if (args.size() > 1) {
        auto v = server::parse_int(args[1]);
        if (!v || (*v != 2 && *v != 3)) return out.error("NOPROTO", "unsupported protocol version");
        session_.protocol = static_cast<int>(*v);
      }
      // (The real reply is Connection::hello's map; any reply in the new protocol will do here.)
      return resp::Writer(&reply, session_.protocol).ok();
    }
    if (name == "multi") {
      if (session_.in_multi) return out.error("ERR", "MULTI calls can not be nested");
      session_.in_multi = true;
      session_.multi_failed = false;
      session_.queued.clear();
      return out.ok();
    }
    if (name == "discard") {
      session_.in_multi = false;
      session_.queued.clear();
      return out.ok();
    }
    if (name == "exec") return exec(out);
  }

  // As Connection::exec: writes and key reads become the ops of one MultiCmd.
  void exec(resp::Writer& out) {
    if (!session_.in_multi) return out.error("ERR", "EXEC without MULTI");
    session_.in_multi = false;
    std::vector<Args> queued = std::move(session_.queued);
    session_.queued.clear();
    if (session_.multi_failed) return out.error("EXECABORT", "Transaction discarded because of previous errors.");
    const int protocol = session_.protocol;
    struct Part {
      std::string reply;
      int op = -1;
      Prepared prepared;
    };
    std::vector<Part> parts;
    core::MultiCmd multi;
    for (Args& args : queued) {
      Part part;
      resp::Writer w(&part.reply, protocol);
      const CommandSpec* spec = server::find_command(args[0]);
      server::Context ctx{server_, replica_, session_, w, args};
      part.prepared = spec->handler(ctx);
      switch (part.prepared.kind) {
        case Prepared::Kind::kWrite:
          part.op = static_cast<int>(multi.ops.size());
          multi.ops.push_back(core::MultiOp{std::move(part.prepared.body)});
          break;
        case Prepared::Kind::kKeysRead:
          part.op = static_cast<int>(multi.ops.size());
          multi.ops.push_back(core::MultiOp{core::ReadCmd{part.prepared.keys}});
          break;
        case Prepared::Kind::kSession:
        case Prepared::Kind::kAsync:
          if (part.reply.empty()) w.error("ERR", "not queueable");
          break;
        default: break;
      }
      parts.push_back(std::move(part));
    }
    const size_t ops = multi.ops.size();
    core::CommandBody body = std::move(multi);
    check_acl(body);
    Status limits = core::check_write_limits(body, server_.options().limits.write);
    if (!limits.ok()) return out.error("ERR", limits.message());
    core::CommandResult result = machine_.apply(core::Command{g_now_ms, std::move(body)}, nullptr);
    if (result.status.code() == Code::kConflict) return out.null_array();
    if (!result.status.ok()) return server::write_status(out, result.status);
    auto& results = std::get<core::MultiResult>(result.body).results;
    FUZZ_CHECK(results.size() == ops, "MULTI answered %zu ops of %zu", results.size(), ops);
    out.array(parts.size());
    for (Part& part : parts) {
      resp::Writer w(&part.reply, protocol);
      Prepared& p = part.prepared;
      if (p.kind == Prepared::Kind::kWrite) {
        FUZZ_CHECK(part.op >= 0 && static_cast<size_t>(part.op) < results.size(), "a MULTI result is missing");
        p.on_result(results[part.op], w);
      } else if (p.kind == Prepared::Kind::kKeysRead) {
        core::CommandResult& r = results[part.op];
        if (r.status.ok()) {
          p.on_values(std::get<core::ReadResult>(r.body).values, w);
        } else {
          server::write_status(w, r.status);
        }
      } else if (p.kind == Prepared::Kind::kRead) {
        p.on_read(machine_, g_now_ms, w);
      }
      if (part.reply.empty()) w.error("ERR", "no reply");
      out.raw(part.reply);
    }
  }

  server::Server& server_;
  server::Replica& replica_;
  server::Session session_;
  core::StateMachine machine_;
};

void check(std::string_view input) {
  g_now_ms = kStartMs;
  Runner runner;
  resp::RequestParser parser;
  std::vector<std::string> args;
  while (!input.empty()) {
    size_t consumed = 0;
    const auto s = parser.parse(input, &args, &consumed);
    input.remove_prefix(consumed);
    if (s != resp::RequestParser::Status::kRequest) break;
    runner.run(args);
  }
}

std::string encode(const Request& r) {
  std::string out;
  std::vector<std::string_view> views(r.begin(), r.end());
  resp::append_request(&out, views);
  return out;
}

void write_corpus(const std::string& dir) {
  size_t n = 0;
  for (const Script& script : example_scripts()) {
    std::string pipeline;
    for (const Request& r : script) pipeline += encode(r);
    write_seed(dir, seed_name("script", n++, script[0][0]), pipeline);
  }
  // Every command once, on its own (the handler's option parsing from a clean state).
  std::set<std::string> seen;
  for (const Script& script : example_scripts()) {
    for (const Request& r : script) {
      std::string lower;
      for (char c : r[0]) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (seen.insert(lower).second) write_seed(dir, seed_name("cmd", n++, r[0]), encode(r));
    }
  }
  write_seed(dir, seed_name("inline", n++, "set_get"), "SET k \"v 1\"\r\nGET k\r\nKV.GET k\r\n");
}

void write_dict(const char* path) {
  std::set<std::string> words;
  for (const CommandSpec& spec : server::all_commands()) words.insert(spec.name);
  for (const Script& script : example_scripts()) {
    for (const Request& r : script) {
      for (const std::string& a : r) {
        bool word = !a.empty() && a.size() <= 16;
        for (char c : a) word = word && ((c >= 'A' && c <= 'Z') || c == '.');
        if (word) words.insert(a);
      }
    }
  }
  for (const char* extra : {"-1", "0", "9223372036854775807", "-9223372036854775808", "1e999", "nan", "inf", "\r\n",
                            "*", "$", "\"", "'"}) {
    words.insert(extra);
  }
  std::FILE* f = std::fopen(path, "w");
  if (f == nullptr) {
    std::perror(path);
    std::exit(1);
  }
  std::fprintf(f, "# Command names and option words for command_args_fuzz (DKV_FUZZ_WRITE_DICT writes it).\n");
  for (const std::string& w : words) {
    std::string escaped;
    for (char c : w) {
      if (c == '"' || c == '\\') {
        escaped += '\\';
        escaped += c;
      } else if (c == '\r') {
        escaped += "\\x0D";
      } else if (c == '\n') {
        escaped += "\\x0A";
      } else {
        escaped += c;
      }
    }
    std::fprintf(f, "\"%s\"\n", escaped.c_str());
  }
  std::fclose(f);
}

}  // namespace
}  // namespace dkv::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dict = std::getenv("DKV_FUZZ_WRITE_DICT"); dict != nullptr && *dict != '\0') {
    dkv::fuzz::write_dict(dict);
    std::exit(0);
  }
  dkv::fuzz::maybe_write_corpus(dkv::fuzz::write_corpus);
  (void)dkv::fuzz::node();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dkv::fuzz::check(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
