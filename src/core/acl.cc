#include "core/acl.h"

#include <algorithm>
#include <cctype>

namespace dkv::core {
namespace {

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

void add_once(std::vector<std::string>* list, std::string_view item) {
  if (std::find(list->begin(), list->end(), item) == list->end()) list->emplace_back(item);
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

}  // namespace

AclUser default_acl_user() {
  AclUser u;
  u.enabled = true;
  u.nopass = true;
  u.key_patterns = {"*"};
  u.channel_patterns = {"*"};
  u.command_rules = {"+@all"};
  return u;
}

Status apply_acl_rule(AclUser* u, std::string_view rule) {
  auto bad = [&] { return Status(Code::kInvalidArgument, "Syntax error in ACL rule '" + std::string(rule) + "'"); };
  if (rule.empty()) return bad();
  if (iequal(rule, "on")) {
    u->enabled = true;
  } else if (iequal(rule, "off")) {
    u->enabled = false;
  } else if (iequal(rule, "nopass")) {
    u->nopass = true;
    u->password_hashes.clear();
  } else if (iequal(rule, "resetpass")) {
    u->nopass = false;
    u->password_hashes.clear();
  } else if (rule[0] == '#' || rule[0] == '!') {
    std::string hash(rule.substr(1));
    if (!is_sha256_hex(hash)) return bad();
    if (rule[0] == '#') {
      add_once(&u->password_hashes, hash);
      u->nopass = false;
    } else {
      std::erase(u->password_hashes, hash);
    }
  } else if (rule[0] == '~') {
    if (rule.size() == 1) return bad();
    add_once(&u->key_patterns, rule.substr(1));
  } else if (iequal(rule, "allkeys")) {
    u->key_patterns = {"*"};
  } else if (iequal(rule, "resetkeys")) {
    u->key_patterns.clear();
  } else if (rule[0] == '&') {
    if (rule.size() == 1) return bad();
    add_once(&u->channel_patterns, rule.substr(1));
  } else if (iequal(rule, "allchannels")) {
    u->channel_patterns = {"*"};
  } else if (iequal(rule, "resetchannels")) {
    u->channel_patterns.clear();
  } else if (rule[0] == '+' || rule[0] == '-') {
    if (rule.size() == 1 || rule == "+@" || rule == "-@") return bad();
    std::string r(rule);
    std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (r == "+@all" || r == "-@all") u->command_rules.clear();
    u->command_rules.push_back(std::move(r));
  } else if (iequal(rule, "allcommands")) {
    u->command_rules = {"+@all"};
  } else if (iequal(rule, "nocommands")) {
    u->command_rules = {"-@all"};
  } else if (iequal(rule, "reset")) {
    *u = new_acl_user();
  } else {
    return bad();
  }
  return Status();
}

std::string describe_acl_user(const AclUser& u) {
  std::string out = u.enabled ? "on" : "off";
  if (u.nopass) out += " nopass";
  for (const std::string& h : u.password_hashes) out += " #" + h;
  if (u.key_patterns.empty()) out += " resetkeys";
  for (const std::string& p : u.key_patterns) out += " ~" + p;
  out += " resetchannels";
  for (const std::string& p : u.channel_patterns) out += " &" + p;
  if (u.command_rules.empty() || (u.command_rules[0] != "+@all" && u.command_rules[0] != "-@all")) {
    out += " -@all";
  }
  for (const std::string& r : u.command_rules) out += " " + r;
  return out;
}

}  // namespace dkv::core
