// AUTH and ACL: who a connection is and the users' rules (protocol.md 2.6). Users live in the
// replicated state (core/acl.h): ACL SETUSER / DELUSER are log entries, so every member checks
// the same rules. HELLO's AUTH option is in connection.cc and uses authenticate() below.
#include <openssl/rand.h>

#include <algorithm>

#include "server/acl.h"
#include "server/command.h"
#include "server/session.h"
#include "server/replica.h"
#include "server/server.h"

namespace dkv::server {

Status authenticate(const core::StateMachine& machine, const std::string& user, std::string_view password,
                    Session* session) {
  const core::AclUser* u = machine.acl_user(user);
  if (u == nullptr || !password_matches(*u, password)) {
    return Status(Code::kInvalidArgument, "invalid username-password pair or user is disabled.");
  }
  session->user = user;
  session->authenticated = true;
  session->auth_decided = true;
  return Status();
}

void log_acl_refusal(Server& server, const Session& session, std::string reason, std::string object,
                     std::string username) {
  server.acl_log().add(std::move(reason), session.in_multi ? "multi" : "toplevel", std::move(object),
                       std::move(username), session.client_info(), server.replica().now_ms());
}

namespace {

// AUTH [username] password
Prepared cmd_auth(Context& c) {
  if (c.args.size() > 3) return syntax_error(c.out);
  const core::StateMachine& machine = c.replica.machine();
  std::string user = c.args.size() == 3 ? c.args[1] : "default";
  if (c.args.size() == 2) {
    const core::AclUser* d = machine.acl_user("default");
    if (d->nopass) {
      return error(c.out, "ERR",
                   "AUTH <password> called without any password configured for the default user. "
                   "Are you sure your configuration is correct?");
    }
  }
  Status s = authenticate(machine, user, c.args.back(), &c.session);
  if (!s.ok()) {
    log_acl_refusal(c.server, c.session, "auth", "AUTH", user);
    return error(c.out, "WRONGPASS", s.message());
  }
  c.out.ok();
  return immediate();
}

std::string joined(const std::vector<std::string>& items, std::string_view prefix) {
  std::string out;
  for (const std::string& i : items) {
    if (!out.empty()) out += ' ';
    out.append(prefix);
    out += i;
  }
  return out;
}

void write_getuser(const core::AclUser& u, resp::Writer& out) {
  out.map(6);
  out.bulk("flags");
  std::vector<std::string> flags = {u.enabled ? "on" : "off"};
  if (u.nopass) flags.push_back("nopass");
  out.array(flags.size());
  for (const std::string& f : flags) out.bulk(f);
  out.bulk("passwords");
  out.array(u.password_hashes.size());
  for (const std::string& h : u.password_hashes) out.bulk(h);
  out.bulk("commands");
  std::string commands = joined(u.command_rules, "");
  if (u.command_rules.empty() || (u.command_rules[0] != "+@all" && u.command_rules[0] != "-@all")) {
    commands = commands.empty() ? "-@all" : "-@all " + commands;
  }
  out.bulk(commands);
  out.bulk("keys");
  out.bulk(joined(u.key_patterns, "~"));
  out.bulk("channels");
  out.bulk(joined(u.channel_patterns, "&"));
  out.bulk("selectors");
  out.array(0);
}

bool valid_user_name(std::string_view name) {
  return !name.empty() && std::none_of(name.begin(), name.end(), [](char ch) {
    return ch == ' ' || ch == '\0' || ch == '\r' || ch == '\n';
  });
}

Prepared cmd_acl(Context& c) {
  const Args& a = c.args;
  const std::string sub = lower(a[1]);
  if (sub == "whoami" && a.size() == 2) {
    c.out.bulk(c.session.user);
    return immediate();
  }
  if (sub == "users" && a.size() == 2) {
    return read_of([](const core::StateMachine& m, int64_t, resp::Writer& out) {
      auto users = m.acl_users();
      out.array(users.size());
      for (const auto& [name, u] : users) out.bulk(name);
    });
  }
  if (sub == "list" && a.size() == 2) {
    return read_of([](const core::StateMachine& m, int64_t, resp::Writer& out) {
      auto users = m.acl_users();
      out.array(users.size());
      for (const auto& [name, u] : users) out.bulk("user " + name + " " + core::describe_acl_user(u));
    });
  }
  if (sub == "getuser" && a.size() == 3) {
    return read_of([name = a[2]](const core::StateMachine& m, int64_t, resp::Writer& out) {
      const core::AclUser* u = m.acl_user(name);
      if (u == nullptr) return out.null();
      write_getuser(*u, out);
    });
  }
  if (sub == "setuser" && a.size() >= 3) {
    if (!valid_user_name(a[2])) return error(c.out, "ERR", "Usernames can't contain spaces or null characters");
    auto rules = prepare_acl_rules(Args(a.begin() + 3, a.end()));
    if (!rules.ok()) return error(c.out, "ERR", rules.status().message());
    return write_of(core::AclSetUserCmd{a[2], std::move(rules).value()},
                    [](core::CommandResult& r, resp::Writer& out) {
                      if (!r.status.ok()) return write_status(out, r.status);
                      out.ok();
                    });
  }
  if (sub == "deluser" && a.size() >= 3) {
    return write_of(core::AclDelUserCmd{Args(a.begin() + 2, a.end())},
                    [](core::CommandResult& r, resp::Writer& out) {
                      if (!r.status.ok()) return write_status(out, r.status);
                      out.integer(std::get<ClearResult>(r.body).deleted);
                    });
  }
  if (sub == "cat" && a.size() <= 3) {
    if (a.size() == 2) {
      c.out.array(acl_categories().size());
      for (const std::string& cat : acl_categories()) c.out.bulk(cat);
      return immediate();
    }
    const std::string cat = "@" + lower(a[2]);
    if (std::find(acl_categories().begin(), acl_categories().end(), cat.substr(1)) == acl_categories().end()) {
      return error(c.out, "ERR", "Unknown category '" + a[2] + "'");
    }
    std::vector<std::string> names;
    for (const CommandSpec& spec : all_commands()) {
      if (std::find(spec.categories.begin(), spec.categories.end(), cat) != spec.categories.end()) {
        names.push_back(spec.name);
      }
    }
    c.out.array(names.size());
    for (const std::string& n : names) c.out.bulk(n);
    return immediate();
  }
  if (sub == "genpass" && a.size() <= 3) {
    int64_t bits = 256;
    if (a.size() == 3) {
      auto b = parse_int(a[2]);
      if (!b || *b <= 0 || *b > 4096) return error(c.out, "ERR", "ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096");
      bits = *b;
    }
    const size_t hex_chars = static_cast<size_t>((bits + 3) / 4);
    std::string bytes((hex_chars + 1) / 2, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(bytes.size())) != 1) {
      return error(c.out, "ERR", "no random bytes available");
    }
    static const char kHex[] = "0123456789abcdef";
    std::string pass;
    for (unsigned char b : bytes) {
      pass += kHex[b >> 4];
      pass += kHex[b & 15];
    }
    pass.resize(hex_chars);
    c.out.bulk(pass);
    return immediate();
  }
  if (sub == "log" && a.size() <= 3) {
    AclLog& log = c.server.acl_log();
    size_t count = 10;  // as Redis
    if (a.size() == 3) {
      if (iequals(a[2], "reset")) {
        log.reset();
        c.out.ok();
        return immediate();
      }
      auto n = parse_int(a[2]);
      if (!n || *n < 0) return error(c.out, "ERR", "value is out of range, must be positive");
      count = static_cast<size_t>(*n);
    }
    const int64_t now = c.replica.now_ms();
    const size_t shown = std::min(count, log.entries().size());
    c.out.array(shown);
    for (size_t i = 0; i < shown; ++i) {
      const AclLog::Entry& e = log.entries()[i];
      c.out.map(10);
      c.out.bulk("count");
      c.out.integer(e.count);
      c.out.bulk("reason");
      c.out.bulk(e.reason);
      c.out.bulk("context");
      c.out.bulk(e.context);
      c.out.bulk("object");
      c.out.bulk(e.object);
      c.out.bulk("username");
      c.out.bulk(e.username);
      c.out.bulk("age-seconds");
      c.out.number(static_cast<double>(now - e.updated_ms) / 1000.0);  // since the latest, as Redis
      c.out.bulk("client-info");
      c.out.bulk(e.client_info);
      c.out.bulk("entry-id");
      c.out.integer(e.entry_id);
      c.out.bulk("timestamp-created");
      c.out.integer(e.created_ms);
      c.out.bulk("timestamp-last-updated");
      c.out.integer(e.updated_ms);
    }
    return immediate();
  }
  if (sub == "save" || sub == "load") {
    return error(c.out, "ERR", "ACL " + sub + " is not needed: users are replicated through Raft and saved with the data");
  }
  if (sub == "help") {
    static const char* const kHelp[] = {
        "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "WHOAMI", "USERS", "LIST", "GETUSER <username>", "SETUSER <username> <attribute> ...",
        "DELUSER <username> [<username> ...]", "CAT [<category>]", "GENPASS [<bits>]", "LOG"};
    c.out.array(std::size(kHelp));
    for (const char* line : kHelp) c.out.simple(line);
    return immediate();
  }
  return error(c.out, "ERR", "unknown subcommand or wrong number of arguments for '" + a[1] + "'. Try ACL HELP.");
}

}  // namespace

void register_acl_commands(std::vector<CommandSpec>& t) {
  t.push_back(CommandSpec{"auth", -2, {"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}, 0, 0, 0,
                          cmd_auth, {"@fast", "@connection"}});
  t.push_back(CommandSpec{"acl", -2, {}, 0, 0, 0, cmd_acl, {"@slow"}});
}

}  // namespace dkv::server
