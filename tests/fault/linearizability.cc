#include "linearizability.h"

#include <algorithm>
#include <limits>
#include <map>
#include <unordered_set>

namespace dkv::fault {

namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

struct State {
  bool present = false;
  int64_t value = 0;
  bool operator==(const State&) const = default;
};

// The model: applies `op` to `s`; false if `op`'s observed result contradicts `s`.
bool step(const Op& op, State* s) {
  switch (op.kind) {
    case OpKind::kRead:
      return op.absent ? !s->present : (s->present && s->value == op.output);
    case OpKind::kWrite:
      *s = State{true, op.input};
      return true;
    case OpKind::kAdd: {
      const int64_t after = (s->present ? s->value : 0) + op.input;
      if (op.outcome == Outcome::kOk && after != op.output) return false;
      *s = State{true, after};
      return true;
    }
  }
  return false;
}

// One call or return in the time-ordered, doubly linked event list.
struct Event {
  bool is_call = false;
  size_t op = 0;  // index into the key's operations
  int64_t time = 0;
  Event* match = nullptr;  // the call's return, or the return's call
  Event* prev = nullptr;
  Event* next = nullptr;
};

struct CacheKey {
  std::vector<uint64_t> linearized;
  State state;
  bool operator==(const CacheKey&) const = default;
};
struct CacheKeyHash {
  size_t operator()(const CacheKey& k) const {
    uint64_t h = 1469598103934665603ull ^ (k.state.present ? 0x9e3779b97f4a7c15ull : 0) ^
                 static_cast<uint64_t>(k.state.value) * 0xff51afd7ed558ccdull;
    for (uint64_t w : k.linearized) h = (h ^ w) * 1099511628211ull + (h >> 29);
    return static_cast<size_t>(h);
  }
};

// Removes a call and its return from the list (they are linearized).
void lift(Event* call) {
  call->prev->next = call->next;
  call->next->prev = call->prev;
  Event* ret = call->match;
  ret->prev->next = ret->next;
  if (ret->next != nullptr) ret->next->prev = ret->prev;
}

void unlift(Event* call) {
  Event* ret = call->match;
  ret->prev->next = ret;
  if (ret->next != nullptr) ret->next->prev = ret;
  call->prev->next = call;
  call->next->prev = call;
}

struct KeyVerdict {
  bool linearizable = true;
  bool gave_up = false;
  std::string explanation;
};

KeyVerdict check_key(const std::vector<Op>& ops, size_t budget) {
  std::vector<Event> events(2 * ops.size() + 1);
  Event* head = &events.back();  // sentinel before the first event
  std::vector<Event*> order;
  for (size_t i = 0; i < ops.size(); ++i) {
    Event* call = &events[2 * i];
    Event* ret = &events[2 * i + 1];
    *call = Event{true, i, ops[i].invoked_ns, ret};
    *ret = Event{false, i, ops[i].outcome == Outcome::kUnknown ? kNever : ops[i].completed_ns, call};
    order.push_back(call);
    order.push_back(ret);
  }
  // By time; at equal times calls first, so touching operations count as concurrent (the
  // checker never reports an order the clocks cannot prove).
  std::stable_sort(order.begin(), order.end(), [](const Event* a, const Event* b) {
    if (a->time != b->time) return a->time < b->time;
    return a->is_call && !b->is_call;
  });
  Event* prev = head;
  for (Event* e : order) {
    prev->next = e;
    e->prev = prev;
    prev = e;
  }

  // Operations of unknown outcome that are alike (same kind and input, nothing observed) are
  // interchangeable: only orders that take them in call order are searched. Without this, n
  // pending unknown increments would be tried in all 2^n subsets.
  std::vector<size_t> twin_before(ops.size(), SIZE_MAX);
  {
    std::map<std::pair<int, int64_t>, size_t> last;
    std::vector<size_t> by_call(ops.size());
    for (size_t i = 0; i < ops.size(); ++i) by_call[i] = i;
    std::stable_sort(by_call.begin(), by_call.end(),
                     [&](size_t a, size_t b) { return ops[a].invoked_ns < ops[b].invoked_ns; });
    for (size_t i : by_call) {
      if (ops[i].outcome != Outcome::kUnknown) continue;
      auto [it, fresh] = last.try_emplace({static_cast<int>(ops[i].kind), ops[i].input}, i);
      if (!fresh) {
        twin_before[i] = it->second;
        it->second = i;
      }
    }
  }
  auto is_linearized = [](const std::vector<uint64_t>& set, size_t i) {
    return (set[i / 64] >> (i % 64)) & 1;
  };

  const size_t words = (ops.size() + 63) / 64;
  std::vector<uint64_t> linearized(words, 0);
  std::unordered_set<CacheKey, CacheKeyHash> cache;
  struct Frame {
    Event* call;
    State before;
  };
  std::vector<Frame> stack;
  State state;
  size_t longest = 0;
  size_t stuck = SIZE_MAX;  // the operation that could not follow the longest prefix
  std::vector<size_t> longest_order;
  Event* entry = head->next;
  while (true) {
    // Done when nothing is left, or only operations of unknown outcome, which may never have
    // taken effect (their returns, at infinity, sort last).
    if (head->next == nullptr || (!head->next->is_call && head->next->time == kNever)) {
      return {};
    }
    if (entry != nullptr && entry->is_call) {
      State next = state;
      const size_t i = entry->op;
      const bool twin_waits = twin_before[i] != SIZE_MAX && !is_linearized(linearized, twin_before[i]);
      if (!twin_waits && step(ops[i], &next)) {
        std::vector<uint64_t> with = linearized;
        with[i / 64] |= uint64_t{1} << (i % 64);
        if (cache.insert(CacheKey{with, next}).second) {
          if (cache.size() > budget) return {false, true, "search exceeded its state budget"};
          stack.push_back(Frame{entry, state});
          state = next;
          linearized = std::move(with);
          lift(entry);
          if (stack.size() > longest) {
            stuck = SIZE_MAX;
            longest = stack.size();
            longest_order.clear();
            for (const Frame& f : stack) longest_order.push_back(f.call->op);
          }
          entry = head->next;
          continue;
        }
      }
      entry = entry->next;
      continue;
    }
    if (entry != nullptr && entry->time == kNever) return {};  // only unknown operations remain
    // A return whose call cannot be placed here: undo the last choice.
    if (entry != nullptr && stack.size() == longest && stuck == SIZE_MAX) stuck = entry->op;
    if (stack.empty()) {
      std::string why = "no order explains the history; the longest consistent prefix (" +
                        std::to_string(longest) + " operations) ends with:";
      const size_t from = longest_order.size() > 5 ? longest_order.size() - 5 : 0;
      for (size_t k = from; k < longest_order.size(); ++k) why += "\n  " + describe(ops[longest_order[k]]);
      if (stuck != SIZE_MAX) why += "\nafter which this cannot take effect:\n  " + describe(ops[stuck]);
      return {false, false, why};
    }
    Frame f = stack.back();
    stack.pop_back();
    state = f.before;
    linearized[f.call->op / 64] &= ~(uint64_t{1} << (f.call->op % 64));
    unlift(f.call);
    entry = f.call->next;
  }
}

}  // namespace

std::string describe(const Op& op) {
  std::string s = "client " + std::to_string(op.client) + " ";
  if (op.member != 0) s += "via member " + std::to_string(op.member) + " ";
  switch (op.kind) {
    case OpKind::kRead: s += "read " + op.key + " -> " + (op.absent ? "absent" : std::to_string(op.output)); break;
    case OpKind::kWrite: s += "write " + op.key + " = " + std::to_string(op.input); break;
    case OpKind::kAdd:
      s += "add " + op.key + " " + std::to_string(op.input) + " -> " +
           (op.outcome == Outcome::kOk ? std::to_string(op.output) : "?");
      break;
  }
  s += " [" + std::to_string(op.invoked_ns / 1000) + " us, ";
  s += op.outcome == Outcome::kUnknown ? "unknown" : std::to_string(op.completed_ns / 1000) + " us";
  return s + "]";
}

CheckResult check_linearizable(const std::vector<Op>& history, size_t state_budget) {
  std::map<std::string, std::vector<Op>> by_key;
  CheckResult result;
  for (const Op& op : history) {
    if (op.outcome == Outcome::kFailed) continue;
    if (op.outcome == Outcome::kUnknown && op.kind == OpKind::kRead) continue;
    by_key[op.key].push_back(op);
    ++result.operations_checked;
  }
  for (auto& [key, ops] : by_key) {
    // An unknown write whose value no read returned can always be taken as never applied
    // (placing it could only contradict reads): leaving it out keeps the search small.
    std::unordered_set<int64_t> observed;
    for (const Op& op : ops) {
      if (op.kind == OpKind::kRead && !op.absent) observed.insert(op.output);
    }
    size_t before = ops.size();
    std::erase_if(ops, [&](const Op& op) {
      return op.outcome == Outcome::kUnknown && op.kind == OpKind::kWrite && !observed.count(op.input);
    });
    result.operations_checked -= before - ops.size();
    ++result.keys_checked;
    KeyVerdict v = check_key(ops, state_budget);
    if (v.gave_up) {
      result.gave_up = true;
      if (result.key.empty()) {
        result.key = key;
        result.explanation = v.explanation;
      }
      continue;
    }
    if (!v.linearizable) {
      result.linearizable = false;
      result.key = key;
      result.explanation = v.explanation;
      return result;
    }
  }
  return result;
}

}  // namespace dkv::fault
