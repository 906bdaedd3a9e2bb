#include "core/limits.h"

#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace dkv::core {
namespace {

// Keys in messages are cut short: the message must not repeat a 64 KiB key.
std::string quoted(std::string_view key) {
  constexpr size_t kShown = 40;
  if (key.size() <= kShown) return "'" + std::string(key) + "'";
  return "'" + std::string(key.substr(0, kShown)) + "...'";
}

Status over(const std::string& what, size_t size, int64_t limit, const char* flag) {
  return Status(Code::kInvalidArgument, what + " is " + std::to_string(size) + " bytes, over the limit of " +
                                            std::to_string(limit) + " (" + flag + ")");
}

class Checker {
 public:
  explicit Checker(const WriteLimits& limits) : limits_(limits) {}

  Status key(std::string_view k, const char* what = "key") const {
    if (static_cast<int64_t>(k.size()) > limits_.max_key_bytes) {
      return over(std::string(what) + " " + quoted(k), k.size(), limits_.max_key_bytes, "--max-key-bytes");
    }
    return Status();
  }
  Status value(std::string_view k, std::string_view v, const char* what = "value") const {
    if (static_cast<int64_t>(v.size()) > limits_.max_value_bytes) {
      return over(std::string(what) + " of " + quoted(k), v.size(), limits_.max_value_bytes, "--max-value-bytes");
    }
    return Status();
  }
  Status count(size_t n, const char* what) const {
    if (static_cast<int64_t>(n) > limits_.max_txn_ops) {
      return Status(Code::kInvalidArgument, std::string(what) + " has " + std::to_string(n) +
                                                " operations, over the limit of " +
                                                std::to_string(limits_.max_txn_ops) + " (--max-txn-ops)");
    }
    return Status();
  }
  Status put(std::string_view k, std::string_view v, const PutOptions& o) const {
    Status s = key(k);
    if (s.ok()) s = value(k, v);
    if (s.ok() && static_cast<int64_t>(o.labels.size()) > limits_.max_labels) {
      s = Status(Code::kInvalidArgument, "key " + quoted(k) + " has " + std::to_string(o.labels.size()) +
                                             " labels, over the limit of " + std::to_string(limits_.max_labels) +
                                             " (--max-labels)");
    }
    if (s.ok()) s = key(o.entity, "entity");
    if (s.ok()) s = key(o.content_type, "content type");
    for (const auto& [name, label_value] : o.labels) {
      if (s.ok()) s = key(name, "label name");
      if (s.ok()) s = key(label_value, "label value");
    }
    if (s.ok() && o.fence) s = key(o.fence->name, "fence name");
    return s;
  }

  Status body(const CommandBody& b) const {
    return std::visit([this](const auto& c) { return check(c); }, b);
  }

 private:
  Status check(const PutCmd& c) const { return put(c.key, c.value, c.options); }
  Status check(const DeleteCmd& c) const { return key(c.key); }
  Status check(const MultiPutCmd& c) const {
    Status s = count(c.items.size(), "a multi-key put");
    for (const PutItem& i : c.items) {
      if (s.ok()) s = put(i.key, i.value, i.options);
    }
    return s;
  }
  Status check(const MultiDeleteCmd& c) const {
    Status s = count(c.keys.size(), "a multi-key delete");
    for (const std::string& k : c.keys) {
      if (s.ok()) s = key(k);
    }
    return s;
  }
  Status check(const ClearCmd& c) const { return key(c.prefix, "prefix"); }
  Status check(const CounterAddCmd& c) const { return key(c.key); }
  Status check(const CounterSetCmd& c) const { return key(c.key); }
  Status check(const LockAcquireCmd& c) const { return key(c.name, "lock name"); }
  Status check(const LockReleaseCmd& c) const { return key(c.name, "lock name"); }
  Status check(const CampaignCmd& c) const {
    Status s = key(c.name, "election name");
    return s.ok() ? value(c.name, c.value, "candidate value") : s;
  }
  Status check(const ResignCmd& c) const { return key(c.name, "election name"); }
  Status check(const ProclaimCmd& c) const {
    Status s = key(c.name, "election name");
    return s.ok() ? value(c.name, c.value, "leader value") : s;
  }
  Status check(const TxnCmd& c) const {
    const TxnRequest& t = c.txn;
    Status s = count(t.reads.size() + t.conditions.size() + t.writes.size(), "a transaction");
    for (const TxnRead& r : t.reads) {
      if (s.ok()) s = key(r.key);
    }
    for (const TxnCondition& cond : t.conditions) {
      if (s.ok()) s = key(cond.key);
    }
    for (const TxnWrite& w : t.writes) {
      if (!s.ok()) break;
      s = w.kind == TxnWrite::Kind::kPut ? put(w.key, w.value, w.put) : key(w.key);
    }
    return s;
  }
  Status check(const AppendCmd& c) const {
    Status s = key(c.key);
    return s.ok() ? value(c.key, c.suffix, "appended value") : s;
  }
  Status check(const KeyTtlCmd& c) const { return key(c.key); }
  Status check(const ReadCmd& c) const {
    Status s;
    for (const std::string& k : c.keys) {
      if (s.ok()) s = key(k);
    }
    return s;
  }
  Status check(const MultiCmd& c) const {
    Status s = count(c.ops.size(), "a MULTI transaction");
    for (const MultiOp& op : c.ops) {
      if (s.ok()) s = body(op.body);
    }
    return s;
  }
  Status check(const AclSetUserCmd& c) const {
    Status s = key(c.name, "user name");
    if (s.ok()) s = count(c.rules.size(), "an ACL SETUSER");
    for (const std::string& rule : c.rules) {
      if (s.ok()) s = key(rule, "ACL rule");
    }
    return s;
  }
  // Carry no client-sized data, or are made by the server itself.
  template <typename T>
  Status check(const T&) const {
    return Status();
  }

  const WriteLimits& limits_;
};

}  // namespace

Status check_write_limits(const CommandBody& body, const WriteLimits& limits) {
  return Checker(limits).body(body);
}

}  // namespace dkv::core
