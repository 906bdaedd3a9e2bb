// Access control for client requests, Redis ACL style: what a user (core/acl.h, replicated)
// may run and which keys it may name. The connection asks, before a command runs
// (command_allowed, request_keys) and before a write is proposed (write_keys).
//
// Key patterns apply to every name a command touches: keys, counter keys, lock and election
// names, and key prefixes and ranges. A prefix (KV.RANGE PREFIX, KV.COUNT / KV.CLEAR PREFIX,
// KV.WATCH PREFIX, a KEYS / SCAN MATCH pattern's literal start) is allowed only when one
// pattern covers every key that could start with it: "*", or "<literal>*" whose literal is a
// prefix of it. A request over every key (KV.CLEAR / KV.COUNT without PREFIX, FLUSHALL, KEYS or
// SCAN without a pattern, QUERY, which may match any key, LEASE.TTL ... KEYS) needs "*".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/acl.h"
#include "core/command.h"
#include "core/state_machine.h"
#include "dkv/status.h"
#include "server/command.h"

namespace dkv::server {

class Server;
struct Session;

// AUTH / HELLO AUTH: makes `session` act as `user` if `password` authenticates it; otherwise
// an error with Redis's WRONGPASS message and the session unchanged.
Status authenticate(const core::StateMachine& machine, const std::string& user, std::string_view password,
                    Session* session);

// Records a refusal in the server's ACL LOG (acl_log.h): reason "auth" (object "AUTH",
// `username` the one tried), "command" (the command) or "key" (the key or prefix).
void log_acl_refusal(Server& server, const Session& session, std::string reason, std::string object,
                     std::string username);

// SHA-256 of `password`, lower-case hex (as Redis stores and ACL GETUSER shows passwords).
std::string password_hash(std::string_view password);

// Whether `password` authenticates `user` (on, and nopass or a matching hash).
bool password_matches(const core::AclUser& user, std::string_view password);

// ACL SETUSER's rules as the log carries them: each checked (a known command or category),
// ">pw" / "<pw" turned into "#hash" / "!hash". ERR naming the first bad rule, Redis's words.
Result<std::vector<std::string>> prepare_acl_rules(const Args& rules);

// True for a user allowed every command and every key: nothing to check per request.
bool unrestricted(const core::AclUser& user);

// Whether `user` may run this request (its command, or subcommand "name|sub", by name and by
// category; SESSION.REQ by the command it wraps).
bool command_allowed(const core::AclUser& user, const CommandSpec& spec, const Args& args);

enum class KeyScope : unsigned char { kKey, kPrefix, kRange, kAll };
struct KeyAccess {
  std::string name;  // kKey: the key; kPrefix: the prefix; kRange: the start
  std::string end;   // kRange: the end (exclusive)
  KeyScope scope = KeyScope::kKey;
};

// What a request names, from its arguments (any kind of command; a write's body is checked
// again with write_keys, which sees exactly what it changes).
void request_keys(const CommandSpec& spec, const Args& args, std::vector<KeyAccess>* out);
// What a write reads or changes (a MULTI's every queued command, a transaction's reads).
void write_keys(const core::CommandBody& body, std::vector<KeyAccess>* out);
// `denied`, when not null, receives the first name refused ("*" for every key).
bool keys_allowed(const core::AclUser& user, const std::vector<KeyAccess>& keys, std::string* denied = nullptr);

// The categories ACL CAT lists, without '@'.
const std::vector<std::string>& acl_categories();
// The categories of a request, with '@': its spec's, or for ACL its subcommand's.
std::vector<std::string> request_categories(const CommandSpec& spec, const Args& args);

}  // namespace dkv::server
