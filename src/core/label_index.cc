#include "core/label_index.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <system_error>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/codec.h"

namespace dkv::core {

using label_index_internal::Entity;
using label_index_internal::Postings;

bool parse_label_number(std::string_view text, double* out) {
  if (text.empty()) return false;
  double v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v, std::chars_format::general);
  if (ec != std::errc() || ptr != end || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

namespace {

// This abseil may have its own string_view, which hash-map lookups need.
absl::string_view as_absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

struct Operand {
  std::string_view text;
  bool is_number = false;
  double number = 0;
};

// A validated clause with its operands parsed once.
struct Clause {
  std::string label;
  QueryOp op = QueryOp::kEq;
  std::vector<Operand> operands;  // for IN: without duplicates (numbers compared as numbers)

  bool indexable() const { return op != QueryOp::kNe; }
};

Operand make_operand(std::string_view text) {
  Operand o;
  o.text = text;
  o.is_number = parse_label_number(text, &o.number);
  return o;
}

Status compile(const Query& query, std::vector<Clause>* out) {
  if (query.limit < 0) {
    return Status(Code::kInvalidArgument, "query limit must not be negative");
  }
  for (size_t i = 0; i < query.where.size(); ++i) {
    const QueryClause& qc = query.where[i];
    auto bad = [&](std::string_view why) {
      return Status(Code::kInvalidArgument, "query clause " + std::to_string(i + 1) + " (" +
                                                query_op_name(qc.op) + " on label '" + qc.label +
                                                "'): " + std::string(why));
    };
    if (qc.label.empty()) return bad("empty label name");
    size_t n = qc.values.size();
    switch (qc.op) {
      case QueryOp::kEq: case QueryOp::kNe: case QueryOp::kGt: case QueryOp::kGe:
      case QueryOp::kLt: case QueryOp::kLe: case QueryOp::kPrefix:
        if (n != 1) return bad("needs exactly 1 value");
        break;
      case QueryOp::kBetween:
        if (n != 2) return bad("needs exactly 2 values");
        break;
      case QueryOp::kIn:
        if (n < 1) return bad("needs at least 1 value");
        break;
      default:
        return bad("unknown operator");
    }
    Clause c;
    c.label = qc.label;
    c.op = qc.op;
    for (const std::string& v : qc.values) {
      Operand o = make_operand(v);
      // IN scans one index range per operand: duplicates would yield a key twice.
      bool dup = c.op == QueryOp::kIn &&
                 std::any_of(c.operands.begin(), c.operands.end(), [&](const Operand& p) {
                   return p.is_number == o.is_number &&
                          (o.is_number ? p.number == o.number : p.text == o.text);
                 });
      if (!dup) c.operands.push_back(o);
    }
    out->push_back(std::move(c));
  }
  return Status::ok_status();
}

// <0, 0, >0 as `value` (with its parse) sorts before, equal to, or after `o` under the clause
// rules: numeric when both are numbers, else byte-wise.
int compare(std::string_view value, bool is_number, double number, const Operand& o) {
  if (is_number && o.is_number) return number < o.number ? -1 : (number > o.number ? 1 : 0);
  int c = value.compare(o.text);  // char_traits<char>: unsigned bytes, like memcmp
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

bool holds(const Clause& c, const Labels& labels) {
  auto it = labels.find(c.label);
  if (it == labels.end()) return false;
  std::string_view v = it->second;
  double num = 0;
  bool is_num = parse_label_number(v, &num);
  auto cmp = [&](const Operand& o) { return compare(v, is_num, num, o); };
  const std::vector<Operand>& ops = c.operands;
  switch (c.op) {
    case QueryOp::kEq: return cmp(ops[0]) == 0;
    case QueryOp::kNe: return cmp(ops[0]) != 0;
    case QueryOp::kGt: return cmp(ops[0]) > 0;
    case QueryOp::kGe: return cmp(ops[0]) >= 0;
    case QueryOp::kLt: return cmp(ops[0]) < 0;
    case QueryOp::kLe: return cmp(ops[0]) <= 0;
    case QueryOp::kPrefix: return v.starts_with(ops[0].text);
    case QueryOp::kBetween: return cmp(ops[0]) >= 0 && cmp(ops[1]) <= 0;
    case QueryOp::kIn:
      return std::any_of(ops.begin(), ops.end(), [&](const Operand& o) { return cmp(o) == 0; });
  }
  return false;
}

// --- Index scans. Each visits the keys of matching entries, in index order, and returns false
// as soon as visit(key) does (to stop a bounded count early).

template <typename V>
struct Bound {
  V value;
  bool inclusive;
};

// Entries with lo <(=) value <(=) hi of an ordered (value, key) set; a missing bound is open.
template <typename Set, typename V, typename Visit>
bool visit_range(const Set& set, const std::optional<Bound<V>>& lo,
                 const std::optional<Bound<V>>& hi, Visit& visit) {
  if (lo && hi) {
    // Guard inverted or empty ranges, whose bound iterators would cross.
    if (hi->value < lo->value) return true;
    bool same = !(lo->value < hi->value);
    if (same && !(lo->inclusive && hi->inclusive)) return true;
  }
  auto first = !lo ? set.begin() : lo->inclusive ? set.lower_bound(lo->value)
                                                 : set.upper_bound(lo->value);
  auto last = !hi ? set.end() : hi->inclusive ? set.upper_bound(hi->value)
                                              : set.lower_bound(hi->value);
  for (auto it = first; it != last; ++it) {
    if (!visit(std::string_view(it->second))) return false;
  }
  return true;
}

template <typename Set, typename Visit>
bool visit_prefix(const Set& set, std::string_view prefix, Visit& visit) {
  for (auto it = set.lower_bound(prefix); it != set.end() && it->first.starts_with(prefix); ++it) {
    if (!visit(std::string_view(it->second))) return false;
  }
  return true;
}

using TextBound = std::optional<Bound<std::string_view>>;
using NumberBound = std::optional<Bound<double>>;

TextBound text_bound(const Operand& o, bool inclusive) {
  return Bound<std::string_view>{o.text, inclusive};
}
NumberBound number_bound(const Operand& o, bool inclusive) {
  return Bound<double>{o.number, inclusive};
}

// Numeric values against one-sided or two-sided bounds that are both numbers or both text.
template <typename Visit>
bool visit_numbers(const Postings& p, const Operand* lo, bool lo_inc, const Operand* hi,
                   bool hi_inc, Visit& visit) {
  bool numeric = (lo ? lo->is_number : hi->is_number);
  if (numeric) {
    return visit_range(p.numbers, lo ? number_bound(*lo, lo_inc) : NumberBound(),
                       hi ? number_bound(*hi, hi_inc) : NumberBound(), visit);
  }
  return visit_range(p.number_texts, lo ? text_bound(*lo, lo_inc) : TextBound(),
                     hi ? text_bound(*hi, hi_inc) : TextBound(), visit);
}

template <typename Visit>
void scan(const Postings& p, const Clause& c, Visit&& visit) {
  const std::vector<Operand>& ops = c.operands;
  switch (c.op) {
    case QueryOp::kEq:
    case QueryOp::kIn:
      // A number equals only numbers and a text only texts (a text equal byte-wise to a number
      // would itself be a number).
      for (const Operand& o : ops) {
        bool go = o.is_number
                      ? visit_range(p.numbers, number_bound(o, true), number_bound(o, true), visit)
                      : visit_range(p.texts, text_bound(o, true), text_bound(o, true), visit);
        if (!go) return;
      }
      return;
    case QueryOp::kPrefix:
      if (visit_prefix(p.texts, ops[0].text, visit)) {
        visit_prefix(p.number_texts, ops[0].text, visit);
      }
      return;
    case QueryOp::kGt:
    case QueryOp::kGe:
    case QueryOp::kLt:
    case QueryOp::kLe: {
      bool lower = c.op == QueryOp::kGt || c.op == QueryOp::kGe;
      bool inclusive = c.op == QueryOp::kGe || c.op == QueryOp::kLe;
      const Operand& o = ops[0];
      // Text values compare byte-wise whatever the operand.
      bool go = visit_range(p.texts, lower ? text_bound(o, inclusive) : TextBound(),
                            lower ? TextBound() : text_bound(o, inclusive), visit);
      if (go) {
        visit_numbers(p, lower ? &o : nullptr, inclusive, lower ? nullptr : &o, inclusive, visit);
      }
      return;
    }
    case QueryOp::kBetween: {
      const Operand& lo = ops[0];
      const Operand& hi = ops[1];
      if (!visit_range(p.texts, text_bound(lo, true), text_bound(hi, true), visit)) return;
      if (lo.is_number == hi.is_number) {
        visit_numbers(p, &lo, true, &hi, true, visit);
        return;
      }
      // One numeric and one text bound: numeric values meet the text bound byte-wise (a range
      // of number_texts) and the numeric bound numerically (filtered here).
      const Operand& text = lo.is_number ? hi : lo;
      const Operand& number = lo.is_number ? lo : hi;
      auto filtered = [&](std::string_view key, std::string_view value) {
        double v = 0;
        parse_label_number(value, &v);
        bool ok = lo.is_number ? v >= number.number : v <= number.number;
        return !ok || visit(key);
      };
      auto it = lo.is_number ? p.number_texts.begin() : p.number_texts.lower_bound(text.text);
      auto end = lo.is_number ? p.number_texts.upper_bound(text.text) : p.number_texts.end();
      for (; it != end; ++it) {
        if (!filtered(it->second, it->first)) return;
      }
      return;
    }
    case QueryOp::kNe:
      return;  // not indexable: the planner never asks
  }
}

// --- Result order and cursors.

// Where an item sits in the result order. With order_by empty every item has rank kMissing, so
// the order is by key alone.
struct Position {
  enum Rank : uint8_t { kNumber = 0, kText = 1, kMissing = 2 };
  Rank rank = kMissing;
  double number = 0;
  std::string text;
  std::string key;
};

Position position_of(const KeyValue& kv, std::string_view key, const std::string& order_by) {
  Position p;
  p.key = key;
  if (order_by.empty()) return p;
  auto it = kv.labels.find(order_by);
  if (it == kv.labels.end()) return p;
  if (parse_label_number(it->second, &p.number)) {
    p.rank = Position::kNumber;
  } else {
    p.rank = Position::kText;
    p.text = it->second;
  }
  return p;
}

// The ascending order of the header's contract, as <0, 0, >0.
int compare_ascending(const Position& a, const Position& b) {
  if (a.rank != b.rank) return a.rank < b.rank ? -1 : 1;
  if (a.rank == Position::kNumber && a.number != b.number) return a.number < b.number ? -1 : 1;
  if (a.rank == Position::kText) {
    int c = a.text.compare(b.text);
    if (c != 0) return c < 0 ? -1 : 1;
  }
  int c = a.key.compare(b.key);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

// Strictly before, in the query's order. Descending reverses everything but "missing last".
bool before(const Position& a, const Position& b, bool descending) {
  bool a_missing = a.rank == Position::kMissing;
  bool b_missing = b.rank == Position::kMissing;
  if (a_missing != b_missing) return b_missing;
  int c = compare_ascending(a, b);
  return descending ? c > 0 : c < 0;
}

// Cursor: version, order_by, descending, then (when order_by is set) the rank and its value,
// then the key.
constexpr uint8_t kCursorVersion = 1;

std::string encode_cursor(const Query& q, const Position& p) {
  std::string out;
  ByteWriter w(&out);
  w.u8(kCursorVersion);
  w.bytes(q.order_by);
  w.boolean(q.descending);
  if (!q.order_by.empty()) {
    w.u8(p.rank);
    if (p.rank == Position::kNumber) w.fixed64(std::bit_cast<uint64_t>(p.number));
    if (p.rank == Position::kText) w.bytes(p.text);
  }
  w.bytes(p.key);
  return out;
}

Status decode_cursor(const Query& q, Position* p) {
  const Status malformed(Code::kInvalidArgument, "malformed query cursor");
  ByteReader r(q.cursor);
  if (r.u8() != kCursorVersion) return malformed;
  std::string_view order_by = r.bytes();
  uint8_t descending = r.u8();
  if (!r.ok() || descending > 1) return malformed;
  if (order_by != q.order_by || (descending == 1) != q.descending) {
    return Status(Code::kInvalidArgument,
                  "query cursor belongs to a different ordering (order_by/descending)");
  }
  p->rank = Position::kMissing;
  if (!q.order_by.empty()) {
    uint8_t rank = r.u8();
    if (rank == Position::kNumber) {
      p->number = std::bit_cast<double>(r.fixed64());
      if (!std::isfinite(p->number)) return malformed;
    } else if (rank == Position::kText) {
      p->text = r.bytes();
      double unused;
      if (parse_label_number(p->text, &unused)) return malformed;
    } else if (rank != Position::kMissing) {
      return malformed;
    }
    p->rank = static_cast<Position::Rank>(rank);
  }
  p->key = r.bytes();
  if (!r.ok() || !r.at_end()) return malformed;
  return Status::ok_status();
}

KeyValue project(KeyValue kv, const Query& q) {
  if (q.keys_only) {
    KeyValue k;
    k.key = std::move(kv.key);
    return k;
  }
  if (!q.select.empty()) {
    Labels kept;
    for (const std::string& name : q.select) {
      auto it = kv.labels.find(name);
      if (it != kv.labels.end()) kept.insert(*it);
    }
    kv.labels = std::move(kept);
    kv.value.clear();
  }
  return kv;
}

}  // namespace

// --- Maintenance.

void LabelIndex::add(std::string_view key, std::string_view entity, const Labels& labels) {
  if (entity.empty() && labels.empty()) return;
  auto eit = entities_.find(as_absl(entity));
  if (eit == entities_.end()) eit = entities_.emplace(std::string(entity), Entity()).first;
  Entity& e = eit->second;
  if (!e.keys.emplace(key).second) {
    // Already indexed: the caller broke the remove-before-add contract. Adding the labels below
    // is still harmless, since run() checks every candidate against fetch().
  } else {
    ++key_count_;
  }
  for (const auto& [name, value] : labels) {
    auto lit = e.labels.find(name);
    if (lit == e.labels.end()) lit = e.labels.emplace(name, Postings()).first;
    Postings& p = lit->second;
    double number = 0;
    bool inserted;
    if (parse_label_number(value, &number)) {
      inserted = p.numbers.emplace(number, std::string(key)).second;
      p.number_texts.emplace(value, std::string(key));
    } else {
      inserted = p.texts.emplace(value, std::string(key)).second;
    }
    if (inserted) ++entry_count_;
  }
}

void LabelIndex::remove(std::string_view key, std::string_view entity, const Labels& labels) {
  if (entity.empty() && labels.empty()) return;
  auto eit = entities_.find(as_absl(entity));
  if (eit == entities_.end()) return;
  Entity& e = eit->second;
  std::string k(key);
  if (e.keys.erase(k) > 0) --key_count_;
  for (const auto& [name, value] : labels) {
    auto lit = e.labels.find(name);
    if (lit == e.labels.end()) continue;
    Postings& p = lit->second;
    double number = 0;
    size_t erased;
    if (parse_label_number(value, &number)) {
      erased = p.numbers.erase(label_index_internal::NumberEntry(number, k));
      p.number_texts.erase(label_index_internal::TextEntry(value, k));
    } else {
      erased = p.texts.erase(label_index_internal::TextEntry(value, k));
    }
    entry_count_ -= erased;
    if (p.empty()) e.labels.erase(lit);
  }
  // Drop empty entities so the map holds only live ones.
  if (e.keys.empty() && e.labels.empty()) entities_.erase(eit);
}

void LabelIndex::clear() {
  entities_.clear();
  key_count_ = 0;
  entry_count_ = 0;
}

// --- Queries.

Result<QueryResult> LabelIndex::run(const Query& query, const FetchFn& fetch) const {
  std::vector<Clause> clauses;
  if (Status s = compile(query, &clauses); !s.ok()) return s;
  std::optional<Position> after;
  if (!query.cursor.empty()) {
    after.emplace();
    if (Status s = decode_cursor(query, &*after); !s.ok()) return s;
  }

  QueryResult result;
  auto eit = entities_.find(as_absl(query.entity));
  if (eit == entities_.end()) return result;
  const Entity& e = eit->second;

  // Plan: the indexable clause with the fewest matching entries. Each count stops at the best so
  // far, so planning costs at most (clauses x the winner's count) entries beyond the winner's.
  const Clause* best = nullptr;
  const Postings* best_postings = nullptr;
  size_t cap = e.keys.size();
  for (const Clause& c : clauses) {
    if (cap == 0) break;
    if (!c.indexable()) continue;
    auto lit = e.labels.find(as_absl(c.label));
    size_t n = 0;
    if (lit != e.labels.end()) scan(lit->second, c, [&](std::string_view) { return ++n < cap; });
    if (n < cap) {
      best = &c;
      best_postings = lit == e.labels.end() ? nullptr : &lit->second;
      cap = n;
    }
  }

  // Candidates, in key order and without duplicates.
  std::vector<std::string_view> candidates;
  if (best == nullptr) {
    candidates.assign(e.keys.begin(), e.keys.end());
  } else if (best_postings != nullptr) {
    candidates.reserve(cap);
    scan(*best_postings, *best, [&](std::string_view key) {
      candidates.push_back(key);
      return true;
    });
    std::sort(candidates.begin(), candidates.end());
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  }

  // Evaluate. With a limit, keep only the first `limit` items after the cursor, in a heap whose
  // top is the last of them.
  struct Item {
    Position pos;
    KeyValue kv;
  };
  const bool desc = query.descending;
  auto item_before = [desc](const Item& a, const Item& b) { return before(a.pos, b.pos, desc); };
  const size_t limit = static_cast<size_t>(query.limit);
  std::vector<Item> page;
  size_t remaining = 0;  // matches after the cursor
  for (std::string_view key : candidates) {
    std::optional<KeyValue> kv = fetch(key);
    if (!kv || kv->entity != query.entity) continue;
    bool match = std::all_of(clauses.begin(), clauses.end(),
                             [&](const Clause& c) { return holds(c, kv->labels); });
    if (!match) continue;
    ++result.count;
    if (query.count_only) continue;
    Position pos = position_of(*kv, key, query.order_by);
    if (after && !before(*after, pos, desc)) continue;
    ++remaining;
    if (limit > 0 && page.size() == limit && !before(pos, page.front().pos, desc)) continue;
    kv->key = key;
    page.push_back(Item{std::move(pos), project(std::move(*kv), query)});
    if (limit > 0) {
      std::push_heap(page.begin(), page.end(), item_before);
      if (page.size() > limit) {
        std::pop_heap(page.begin(), page.end(), item_before);
        page.pop_back();
      }
    }
  }
  if (limit > 0) {
    std::sort_heap(page.begin(), page.end(), item_before);
  } else {
    std::sort(page.begin(), page.end(), item_before);
  }
  if (limit > 0 && remaining > limit) result.next_cursor = encode_cursor(query, page.back().pos);
  result.items.reserve(page.size());
  for (Item& item : page) result.items.push_back(std::move(item.kv));
  return result;
}

}  // namespace dkv::core
