#include "server/acl.h"

#include <openssl/evp.h>

#include <algorithm>
#include <variant>

#include "server/glob.h"

namespace dkv::server {
namespace {

bool has(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

bool is_glob_char(char c) { return c == '*' || c == '?' || c == '[' || c == '\\'; }

// The literal start of a glob pattern: every key it matches begins with it.
std::string_view literal_prefix(std::string_view pattern) {
  size_t i = 0;
  while (i < pattern.size() && !is_glob_char(pattern[i])) ++i;
  return pattern.substr(0, i);
}

// Whether `pattern` matches every key that begins with `prefix`.
bool covers_prefix(std::string_view pattern, std::string_view prefix) {
  if (pattern.empty() || pattern.back() != '*') return false;
  std::string_view literal = pattern.substr(0, pattern.size() - 1);
  if (literal_prefix(literal).size() != literal.size()) return false;
  return prefix.substr(0, literal.size()) == literal;
}

bool key_allowed(const core::AclUser& user, const KeyAccess& k) {
  for (const std::string& p : user.key_patterns) {
    if (p == "*") return true;
    switch (k.scope) {
      case KeyScope::kKey:
        if (glob_match(p, k.name)) return true;
        break;
      case KeyScope::kPrefix:
        if (covers_prefix(p, k.name)) return true;
        break;
      case KeyScope::kRange: {
        // Every key in [start, end) shares their common prefix.
        size_t n = 0;
        while (n < k.name.size() && n < k.end.size() && k.name[n] == k.end[n]) ++n;
        if (covers_prefix(p, std::string_view(k.name).substr(0, n))) return true;
        break;
      }
      case KeyScope::kAll:
        break;
    }
  }
  return false;
}

void add_fence(const std::optional<Fence>& fence, std::vector<KeyAccess>* out) {
  if (fence) out->push_back({fence->name});
}

struct WriteKeys {
  std::vector<KeyAccess>* out;
  void key(const std::string& k) const { out->push_back({k}); }
  void operator()(const core::PutCmd& c) const { key(c.key); add_fence(c.options.fence, out); }
  void operator()(const core::DeleteCmd& c) const { key(c.key); add_fence(c.options.fence, out); }
  void operator()(const core::MultiPutCmd& c) const {
    for (const PutItem& i : c.items) {
      key(i.key);
      add_fence(i.options.fence, out);
    }
  }
  void operator()(const core::MultiDeleteCmd& c) const { for (const auto& k : c.keys) key(k); }
  void operator()(const core::ClearCmd& c) const {
    out->push_back({c.prefix, {}, c.prefix.empty() ? KeyScope::kAll : KeyScope::kPrefix});
  }
  void operator()(const core::ExpireCmd& c) const { for (const auto& k : c.keys) key(k); }
  void operator()(const core::CounterAddCmd& c) const { key(c.key); }
  void operator()(const core::CounterSetCmd& c) const { key(c.key); }
  void operator()(const core::LockAcquireCmd& c) const { key(c.name); }
  void operator()(const core::LockReleaseCmd& c) const { key(c.name); }
  void operator()(const core::CampaignCmd& c) const { key(c.name); }
  void operator()(const core::ResignCmd& c) const { key(c.name); }
  void operator()(const core::ProclaimCmd& c) const { key(c.name); }
  void operator()(const core::TxnCmd& c) const {
    for (const TxnRead& r : c.txn.reads) key(r.key);
    for (const TxnCondition& r : c.txn.conditions) key(r.key);
    for (const TxnWrite& w : c.txn.writes) {
      key(w.key);
      add_fence(w.kind == TxnWrite::Kind::kPut ? w.put.fence : w.del.fence, out);
    }
  }
  void operator()(const core::AppendCmd& c) const { key(c.key); }
  void operator()(const core::KeyTtlCmd& c) const { key(c.key); }
  void operator()(const core::ReadCmd& c) const { for (const auto& k : c.keys) key(k); }
  void operator()(const core::MultiCmd& c) const {
    for (const core::WatchedKey& w : c.watched) key(w.key);
    for (const core::MultiOp& op : c.ops) std::visit(*this, op.body);
  }
  // No keys: leases, compaction, membership, users.
  template <typename T>
  void operator()(const T&) const {}
};

const std::vector<std::string>& acl_subcommand_categories(std::string_view sub) {
  static const std::vector<std::string> kAdmin = {"@admin", "@slow", "@dangerous"};
  static const std::vector<std::string> kSlow = {"@slow"};
  const std::string s = lower(sub);
  return s == "whoami" || s == "cat" || s == "genpass" || s == "help" ? kSlow : kAdmin;
}

}  // namespace

std::string password_hash(std::string_view password) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(password.data(), password.size(), digest, &len, EVP_sha256(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

bool password_matches(const core::AclUser& user, std::string_view password) {
  if (!user.enabled) return false;
  return user.nopass || has(user.password_hashes, password_hash(password));
}

const std::vector<std::string>& acl_categories() {
  static const std::vector<std::string> kCategories = {
      "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
      "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous",
      "connection", "transaction", "scripting", "dkv", "watch", "lease", "lock"};
  return kCategories;
}

Result<std::vector<std::string>> prepare_acl_rules(const Args& rules) {
  std::vector<std::string> out;
  for (const std::string& rule : rules) {
    auto bad = [&](std::string_view why) {
      return Status(Code::kInvalidArgument, "Error in ACL SETUSER modifier '" + rule + "': " + std::string(why));
    };
    if (rule.empty()) return bad("Syntax error");
    if (rule[0] == '>' || rule[0] == '<') {
      out.push_back(std::string(rule[0] == '>' ? "#" : "!") + password_hash(std::string_view(rule).substr(1)));
      continue;
    }
    if ((rule[0] == '+' || rule[0] == '-') && rule.size() > 1) {
      std::string what = lower(std::string_view(rule).substr(1));
      if (what[0] == '@') {
        if (what != "@all" && !has(acl_categories(), what.substr(1))) return bad("Unknown command or category name in ACL");
      } else {
        const std::string name = what.substr(0, what.find('|'));
        if (find_command(name) == nullptr) return bad("Unknown command or category name in ACL");
      }
      out.push_back(rule);
      continue;
    }
    core::AclUser scratch;
    if (!core::apply_acl_rule(&scratch, rule).ok()) return bad("Syntax error");
    out.push_back(rule);
  }
  return out;
}

bool unrestricted(const core::AclUser& user) {
  return user.command_rules.size() == 1 && user.command_rules[0] == "+@all" && has(user.key_patterns, "*");
}

std::vector<std::string> request_categories(const CommandSpec& spec, const Args& args) {
  if (spec.name == "acl" && args.size() > 1) return acl_subcommand_categories(args[1]);
  return spec.categories;
}

bool command_allowed(const core::AclUser& user, const CommandSpec& spec, const Args& args) {
  if (has(spec.flags, "no_auth")) return true;  // AUTH, HELLO, QUIT: as in Redis
  if (spec.name == "session.req" && args.size() > 4) {
    const CommandSpec* inner = find_command(args[4]);
    if (inner != nullptr && !command_allowed(user, *inner, Args(args.begin() + 4, args.end()))) return false;
  }
  const std::vector<std::string> categories = request_categories(spec, args);
  bool allowed = false;
  for (const std::string& rule : user.command_rules) {
    const bool plus = rule[0] == '+';
    std::string_view what = std::string_view(rule).substr(1);
    if (what[0] == '@') {
      if (what == "@all" || has(categories, what)) allowed = plus;
      continue;
    }
    const size_t bar = what.find('|');
    if (what.substr(0, bar) != spec.name) continue;
    if (bar == std::string_view::npos || (args.size() > 1 && lower(args[1]) == what.substr(bar + 1))) {
      allowed = plus;
    }
  }
  return allowed;
}

void request_keys(const CommandSpec& spec, const Args& args, std::vector<KeyAccess>* out) {
  const std::string& name = spec.name;
  const size_t n = args.size();
  auto key = [&](size_t i) {
    if (i < n) out->push_back({args[i]});
  };
  auto prefix_or_all = [&](size_t i) {  // [PREFIX p] at i
    if (i + 1 < n && iequals(args[i], "prefix")) {
      out->push_back({args[i + 1], {}, KeyScope::kPrefix});
    } else {
      out->push_back({{}, {}, KeyScope::kAll});
    }
  };
  if (spec.first_key > 0) {
    const int last = spec.last_key < 0 ? static_cast<int>(n) + spec.last_key : spec.last_key;
    for (int i = spec.first_key; i <= last && i < static_cast<int>(n); i += std::max(spec.key_step, 1)) key(i);
  }
  if (name == "keys") {
    out->push_back({std::string(literal_prefix(args[1])), {}, KeyScope::kPrefix});
  } else if (name == "scan") {
    bool matched = false;
    for (size_t i = 2; i + 1 < n; i += 2) {
      if (iequals(args[i], "match")) {
        out->push_back({std::string(literal_prefix(args[i + 1])), {}, KeyScope::kPrefix});
        matched = true;
      }
    }
    if (!matched) out->push_back({{}, {}, KeyScope::kAll});
  } else if (name == "flushall" || name == "flushdb" || name == "query" ||
             (name == "lease.ttl" && n > 2 && iequals(args[2], "keys"))) {
    // Any key may match a query, or be attached to a lease.
    out->push_back({{}, {}, KeyScope::kAll});
  } else if (name == "kv.range") {
    if (iequals(args[1], "prefix")) {
      out->push_back({args[2], {}, KeyScope::kPrefix});
    } else {
      out->push_back({args[1], args[2], KeyScope::kRange});
    }
  } else if (name == "kv.clear" || name == "kv.count") {
    prefix_or_all(1);
  } else if (name == "kv.watch") {
    out->push_back({args[2], {}, iequals(args[1], "prefix") ? KeyScope::kPrefix : KeyScope::kKey});
  } else if (name.starts_with("lock.") || name.starts_with("elect.")) {
    key(1);
  } else if (name == "session.req" && n > 4) {
    const CommandSpec* inner = find_command(args[4]);
    const int m = static_cast<int>(n - 4);
    // A wrapped command of the wrong arity is refused by SESSION.REQ's handler; the positions
    // read below assume the arity holds.
    if (inner != nullptr && !(inner->arity > 0 ? m != inner->arity : m < -inner->arity)) {
      request_keys(*inner, Args(args.begin() + 4, args.end()), out);
    }
  }
}

void write_keys(const core::CommandBody& body, std::vector<KeyAccess>* out) {
  std::visit(WriteKeys{out}, body);
}

bool keys_allowed(const core::AclUser& user, const std::vector<KeyAccess>& keys, std::string* denied) {
  for (const KeyAccess& k : keys) {
    if (key_allowed(user, k)) continue;
    if (denied != nullptr) *denied = k.scope == KeyScope::kAll ? "*" : k.name;
    return false;
  }
  return true;
}

}  // namespace dkv::server
