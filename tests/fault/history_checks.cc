#include "history_checks.h"

#include <set>

namespace dkv::fault {

namespace {

HistoryCheck failed(std::string why) { return HistoryCheck{false, std::move(why)}; }

}  // namespace

HistoryCheck check_watch(const std::vector<WatchedEvent>& events, const std::vector<Op>& history,
                         const std::map<std::string, std::optional<int64_t>>& final_values) {
  struct KeyFacts {
    bool counter = false;
    std::set<int64_t> acknowledged;  // register writes
    std::set<int64_t> possible;      // acknowledged or unknown
  };
  std::map<std::string, KeyFacts> keys;
  for (const Op& op : history) {
    if (op.kind == OpKind::kRead) continue;
    KeyFacts& k = keys[op.key];
    if (op.kind == OpKind::kAdd) {
      k.counter = true;
      continue;
    }
    if (op.outcome == Outcome::kFailed) continue;
    k.possible.insert(op.input);
    if (op.outcome == Outcome::kOk) k.acknowledged.insert(op.input);
  }

  struct Seen {
    int64_t revision = 0;
    std::optional<int64_t> value;
    std::set<int64_t> values;
  };
  std::map<std::string, Seen> seen;
  for (const WatchedEvent& e : events) {
    auto facts = keys.find(e.key);
    if (facts == keys.end()) continue;
    Seen& s = seen[e.key];
    const std::string where = e.key + " at revision " + std::to_string(e.revision);
    if (e.revision <= s.revision) {
      return failed(where + ": revision not after the key's previous event (" + std::to_string(s.revision) + ")");
    }
    s.revision = e.revision;
    if (e.type != "PUT") {
      s.value.reset();
      continue;
    }
    int64_t value = 0;
    try {
      value = std::stoll(e.value);
    } catch (...) {
      return failed(where + ": value '" + e.value + "' is not a number");
    }
    if (facts->second.counter) {
      const int64_t expected = s.value.value_or(0) + 1;
      if (value != expected) {
        return failed(where + ": counter went to " + std::to_string(value) + ", expected " +
                      std::to_string(expected) + (value > expected ? " (an increment missed)" : " (applied twice?)"));
      }
    } else if (facts->second.possible.count(value) == 0) {
      return failed(where + ": value " + std::to_string(value) + " was never written, or its write was refused");
    }
    s.value = value;
    s.values.insert(value);
  }

  for (const auto& [key, facts] : keys) {
    const Seen& s = seen[key];
    for (int64_t v : facts.acknowledged) {
      if (s.values.count(v) == 0) {
        return failed(key + ": acknowledged write of " + std::to_string(v) + " never reached the watcher");
      }
    }
    auto fin = final_values.find(key);
    if (fin != final_values.end() && fin->second != s.value) {
      auto show = [](const std::optional<int64_t>& v) { return v ? std::to_string(*v) : std::string("absent"); };
      return failed(key + ": the watcher's last value is " + show(s.value) + " but the key's final value is " +
                    show(fin->second));
    }
  }
  return HistoryCheck{};
}

HistoryCheck check_fencing(const std::vector<LockGrant>& grants, const std::vector<int64_t>& fenced_tokens) {
  std::map<int64_t, int64_t> lease_of_token;
  for (const LockGrant& g : grants) {
    auto [it, inserted] = lease_of_token.emplace(g.token, g.lease);
    if (!inserted && it->second != g.lease) {
      return failed("token " + std::to_string(g.token) + " was granted to lease " + std::to_string(it->second) +
                    " and to lease " + std::to_string(g.lease));
    }
  }
  for (size_t i = 1; i < fenced_tokens.size(); ++i) {
    if (fenced_tokens[i] < fenced_tokens[i - 1]) {
      return failed("a write fenced with token " + std::to_string(fenced_tokens[i]) +
                    " was accepted after one fenced with token " + std::to_string(fenced_tokens[i - 1]));
    }
  }
  return HistoryCheck{};
}

}  // namespace dkv::fault
