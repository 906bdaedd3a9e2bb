#include "server/command.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "absl/container/flat_hash_map.h"

namespace dkv::server {

namespace {

struct Table {
  std::vector<CommandSpec> commands;
  absl::flat_hash_map<std::string, size_t> by_name;  // lower case

  Table() {
    register_redis_commands(commands);
    register_dkv_commands(commands);
    register_acl_commands(commands);
    for (size_t i = 0; i < commands.size(); ++i) by_name[commands[i].name] = i;
  }
};

const Table& table() {
  static const Table t;
  return t;
}

}  // namespace

const CommandSpec* find_command(std::string_view name) {
  char lower[32];
  if (name.size() > sizeof(lower)) return nullptr;
  for (size_t i = 0; i < name.size(); ++i) {
    lower[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
  }
  const Table& t = table();
  auto it = t.by_name.find(std::string(lower, name.size()));  // short: no allocation (SSO)
  return it == t.by_name.end() ? nullptr : &t.commands[it->second];
}

const std::vector<CommandSpec>& all_commands() { return table().commands; }

void write_status(resp::Writer& out, const Status& status) {
  const std::string& m = status.message();
  switch (status.code()) {
    case Code::kOk: out.ok(); return;
    case Code::kNotFound: out.error("NOTFOUND", m); return;
    case Code::kConflict: out.error("CONFLICT", m); return;
    case Code::kOutOfRange: out.error("OUTOFRANGE", m); return;
    case Code::kOverflow: out.error("OVERFLOW", m); return;
    case Code::kLeaseNotFound: out.error("NOLEASE", m); return;
    case Code::kLocked: out.error("LOCKED", m); return;
    case Code::kFenced: out.error("FENCED", m); return;
    case Code::kCompacted: out.error("COMPACTED", m); return;
    case Code::kLagging: out.error("LAGGING", m); return;
    case Code::kInvalidArgument: out.error("ERR", m); return;
    case Code::kWrongType: out.error("WRONGTYPE", m); return;
    case Code::kCancelled: out.error("CANCELLED", m); return;
    case Code::kNotLeader: out.error("NOTLEADER", m); return;
    case Code::kUnavailable: out.error("UNAVAILABLE", m); return;
    case Code::kInternal: out.error("ERR", "internal error: " + m); return;
    case Code::kPermissionDenied: out.error("NOPERM", m); return;
  }
  out.error("ERR", m);
}

Prepared immediate() { return Prepared{}; }

Prepared error(resp::Writer& out, std::string_view code, std::string_view message) {
  out.error(code, message);
  return immediate();
}

Prepared write_of(core::CommandBody body,
                  std::function<void(core::CommandResult&, resp::Writer&)> on_result) {
  Prepared p;
  p.kind = Prepared::Kind::kWrite;
  p.body = std::move(body);
  p.on_result = std::move(on_result);
  return p;
}

Prepared keys_read(std::vector<std::string> keys,
                   std::function<void(const KeyValues&, resp::Writer&)> on_values) {
  Prepared p;
  p.kind = Prepared::Kind::kKeysRead;
  p.keys = std::move(keys);
  p.on_values = std::move(on_values);
  return p;
}

Prepared read_of(std::function<void(const core::StateMachine&, int64_t, resp::Writer&)> on_read) {
  Prepared p;
  p.kind = Prepared::Kind::kRead;
  p.on_read = std::move(on_read);
  return p;
}

Prepared session_command() {
  Prepared p;
  p.kind = Prepared::Kind::kSession;
  return p;
}

Prepared syntax_error(resp::Writer& out) { return error(out, "ERR", "syntax error"); }

Prepared arity_error(resp::Writer& out, std::string_view name) {
  return error(out, "ERR", "wrong number of arguments for '" + lower(name) + "' command");
}

Prepared not_integer(resp::Writer& out) {
  return error(out, "ERR", "value is not an integer or out of range");
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::optional<int64_t> parse_int(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  if (s.size() > 1 && (s[0] == '0' || (s[0] == '-' && s[1] == '0'))) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_double(std::string_view s) {
  if (s.empty() || s.size() > 64 || std::isspace(static_cast<unsigned char>(s[0]))) return std::nullopt;
  std::string copy(s);
  char* end = nullptr;
  double d = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || std::isnan(d)) return std::nullopt;
  return d;
}

}  // namespace dkv::server
