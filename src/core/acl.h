// ACL users as the replicated state holds them (Redis ACL semantics; the server checks requests
// against them, server/acl.h).
//
// A user is the result of ACL SETUSER rules applied in order, Redis's way. The state machine
// knows nothing of commands: it keeps a user's command rules ("+@read", "-del", ...) as an
// ordered list, and the server, which has the command table, evaluates them. Rules reach the
// log already checked by the server and with passwords hashed (">pw" becomes "#<sha256 hex>",
// "<pw" becomes "!<sha256 hex>"), so no password is ever in the log or a snapshot.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dkv/status.h"

namespace dkv::core {

struct AclUser {
  bool enabled = false;  // "on": may authenticate
  bool nopass = false;   // any password authenticates
  std::vector<std::string> password_hashes;  // SHA-256 hex, lower case, each once
  std::vector<std::string> key_patterns;     // glob patterns ("~" rules); "*" = every key
  std::vector<std::string> channel_patterns;  // "&" rules: kept for Redis tools, unused
  // "+name", "-name", "+@category", "-@category", in order; the last word on a command wins.
  // "+@all" / "-@all" make every earlier rule moot, so the list starts again from them.
  std::vector<std::string> command_rules;

  friend bool operator==(const AclUser&, const AclUser&) = default;
};

// The user that exists before any ACL SETUSER: on, nopass, every key, every command (Redis's
// default user). Connections start authenticated as it while it is on and has nopass.
AclUser default_acl_user();
// A user ACL SETUSER creates: off, no passwords, no keys, no commands.
inline AclUser new_acl_user() { return AclUser{}; }

// Applies one rule: on, off, nopass, resetpass, #hash, !hash, ~pattern, allkeys, resetkeys,
// &pattern, allchannels, resetchannels, +cmd, -cmd, +@cat, -@cat, allcommands, nocommands,
// reset. INVALID_ARGUMENT for anything else (">pw" included: hash it first).
Status apply_acl_rule(AclUser* user, std::string_view rule);

// The user's rules in ACL LIST's order: "on #... ~app:* resetchannels &* -@all +@read".
std::string describe_acl_user(const AclUser& user);

}  // namespace dkv::core
