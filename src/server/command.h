// The command table: every RESP command the server knows, what kind of work it is, and how its
// reply is written. Handlers know nothing of sockets; the connection (connection.h) runs them.
//
// A handler looks at the arguments and returns a Prepared, one of:
//   - Immediate: the reply is already written (PING, syntax errors, ...).
//   - Write: a state machine command to replicate, and how to reply from its result.
//   - KeysRead: keys whose current values (at a linearizable point) the reply is made from
//     (GET, MGET, EXISTS, TTL, ...). Inside MULTI these become a ReadCmd applied in the log, so
//     they see the transaction's earlier writes.
//   - Read: any other read of the state machine, at a linearizable point.
//   - Session: the connection itself handles it (MULTI/EXEC, WATCH, KV.WATCH, HELLO, QUIT...).
//   - Async: the handler completes the reply itself, later (LOCK.ACQUIRE WAIT, SNAPSHOT, ...).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/command.h"
#include "core/state_machine.h"
#include "dkv/status.h"
#include "resp/writer.h"

namespace dkv::server {

class Server;
class Replica;
struct Session;

using Args = std::vector<std::string>;
using KeyValues = std::vector<std::optional<KeyValue>>;

// Completes an Async command: writes its reply (in the protocol the command was sent in).
using ReplyFn = std::function<void(const std::function<void(resp::Writer&)>&)>;
// True once the connection that sent an Async command has closed (a wait is then abandoned).
using GoneFn = std::function<bool()>;

struct Prepared {
  enum class Kind : unsigned char { kImmediate, kWrite, kKeysRead, kRead, kSession, kAsync };
  Kind kind = Kind::kImmediate;
  // kWrite
  core::CommandBody body;
  core::SessionRequest session;  // SESSION.REQ: apply at most once per (id, number)
  std::function<void(core::CommandResult&, resp::Writer&)> on_result;
  // kKeysRead
  std::vector<std::string> keys;
  std::function<void(const KeyValues&, resp::Writer&)> on_values;
  // kRead
  std::function<void(const core::StateMachine&, int64_t now_ms, resp::Writer&)> on_read;
  // kAsync
  std::function<void(ReplyFn, GoneFn)> start;
};

// What a handler may use.
struct Context {
  Server& server;
  Replica& replica;
  Session& session;
  resp::Writer& out;  // for immediate replies
  const Args& args;   // args[0] is the command name as sent
};

struct CommandSpec {
  std::string name;  // lower case, as Redis's COMMAND reports it ("kv.put")
  // Redis arity: N > 0 exactly N arguments (name included); -N at least N.
  int arity = 0;
  // Redis command flags for COMMAND ("write", "readonly", "fast", "admin", ...).
  std::vector<std::string> flags;
  // The key positions for COMMAND (first key, last key, step; 0 0 0 when none).
  int first_key = 0, last_key = 0, key_step = 0;
  Prepared (*handler)(Context& ctx) = nullptr;
  // ACL categories for COMMAND ("@read", "@dkv" ...).
  std::vector<std::string> categories;
};

// The table, looked up by name case-insensitively. Null when unknown.
const CommandSpec* find_command(std::string_view name);
const std::vector<CommandSpec>& all_commands();

// Registration, one function per family.
void register_redis_commands(std::vector<CommandSpec>& table);
void register_dkv_commands(std::vector<CommandSpec>& table);
void register_acl_commands(std::vector<CommandSpec>& table);  // AUTH, ACL (acl_commands.cc)

// --- helpers every handler uses (command.cc) ---

// The RESP error for a status: "-NOTFOUND ...", "-CONFLICT ...", "-ERR ..." (see docs/protocol.md).
void write_status(resp::Writer& out, const Status& status);
Prepared immediate();
// The other kinds of Prepared, filled in.
Prepared write_of(core::CommandBody body,
                  std::function<void(core::CommandResult&, resp::Writer&)> on_result);
Prepared keys_read(std::vector<std::string> keys,
                   std::function<void(const KeyValues&, resp::Writer&)> on_values);
Prepared read_of(std::function<void(const core::StateMachine&, int64_t, resp::Writer&)> on_read);
Prepared session_command();
Prepared error(resp::Writer& out, std::string_view code, std::string_view message);
Prepared syntax_error(resp::Writer& out);
Prepared arity_error(resp::Writer& out, std::string_view name);
Prepared not_integer(resp::Writer& out);

bool iequals(std::string_view a, std::string_view b);
// `s` in ASCII lower case (command names, subcommands, ACL rules).
std::string lower(std::string_view s);
// Parses a whole base-10 int64 the way Redis does (no spaces, no '+', no leading zeros but "0").
std::optional<int64_t> parse_int(std::string_view s);
// Parses a double the way Redis does (inf, -inf allowed; nan refused).
std::optional<double> parse_double(std::string_view s);

}  // namespace dkv::server
