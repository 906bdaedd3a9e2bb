#include "core/label_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace dkv::core {
namespace {

// A tiny key space with its index, maintained the way the state machine does it: remove the old
// entry, then add the new one. Counts fetches so tests can check that queries stay selective.
class Store {
 public:
  void put(const std::string& key, const std::string& entity, const Labels& labels,
           const std::string& value = "v") {
    del(key);
    KeyValue kv;
    kv.key = key;
    kv.value = value;
    kv.entity = entity;
    kv.labels = labels;
    kv.version = 7;
    kv.content_type = "text/plain";
    keys_[key] = kv;
    index_.add(key, entity, labels);
  }
  void del(const std::string& key) {
    auto it = keys_.find(key);
    if (it == keys_.end()) return;
    index_.remove(key, it->second.entity, it->second.labels);
    keys_.erase(it);
  }
  // Marks a key expired: still indexed, but fetch no longer returns it.
  void expire(const std::string& key) { expired_.insert(key); }

  Result<QueryResult> run(const Query& q) const {
    return index_.run(q, [this](std::string_view key) -> std::optional<KeyValue> {
      ++fetches_;
      auto it = keys_.find(std::string(key));
      if (it == keys_.end() || expired_.count(it->first)) return std::nullopt;
      return it->second;
    });
  }

  const std::map<std::string, KeyValue>& keys() const { return keys_; }
  const LabelIndex& index() const { return index_; }
  LabelIndex& index() { return index_; }
  int fetches() const { return fetches_; }
  void reset_fetches() { fetches_ = 0; }

 private:
  std::map<std::string, KeyValue> keys_;
  std::set<std::string> expired_;
  LabelIndex index_;
  mutable int fetches_ = 0;
};

QueryClause clause(std::string label, QueryOp op, std::vector<std::string> values) {
  return QueryClause{std::move(label), op, std::move(values)};
}

Query query(std::string entity, std::vector<QueryClause> where = {}) {
  Query q;
  q.entity = std::move(entity);
  q.where = std::move(where);
  return q;
}

std::vector<std::string> keys_of(const QueryResult& r) {
  std::vector<std::string> out;
  for (const KeyValue& kv : r.items) out.push_back(kv.key);
  return out;
}

// Keys matched by one clause, in key order; fails the test on an error.
std::vector<std::string> match(const Store& s, const std::string& entity, QueryClause c) {
  auto r = s.run(query(entity, {std::move(c)}));
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  if (!r.ok()) return {};
  EXPECT_EQ(r->count, static_cast<int64_t>(r->items.size()));
  return keys_of(*r);
}

using Keys = std::vector<std::string>;

// Values of label "v" under entity "e": numbers, text that looks almost numeric, and plain text.
Store mixed_store() {
  Store s;
  s.put("n1", "e", {{"v", "1"}});
  s.put("n2", "e", {{"v", "2"}});
  s.put("n10", "e", {{"v", "10"}});
  s.put("n10b", "e", {{"v", "10.0"}});
  s.put("nneg", "e", {{"v", "-3.5"}});
  s.put("nexp", "e", {{"v", "1e3"}});
  s.put("t2x", "e", {{"v", "2x"}});
  s.put("tabc", "e", {{"v", "abc"}});
  s.put("tab", "e", {{"v", "ab"}});
  s.put("tplus", "e", {{"v", "+1"}});  // from_chars rejects '+': text
  s.put("tempty", "e", {{"v", ""}});
  s.put("none", "e", {{"w", "1"}});    // lacks v
  s.put("other", "f", {{"v", "1"}});   // another entity
  return s;
}

TEST(LabelNumber, ParsesFiniteDoublesOnly) {
  double d = 0;
  EXPECT_TRUE(parse_label_number("10", &d));
  EXPECT_EQ(d, 10);
  EXPECT_TRUE(parse_label_number("-3.5", &d));
  EXPECT_EQ(d, -3.5);
  EXPECT_TRUE(parse_label_number("1e3", &d));
  EXPECT_EQ(d, 1000);
  EXPECT_TRUE(parse_label_number("007", &d));
  EXPECT_EQ(d, 7);
  for (const char* s : {"", "+1", " 1", "1 ", "0x10", "inf", "nan", "1e999", "abc", "1a", "-"}) {
    EXPECT_FALSE(parse_label_number(s, &d)) << s;
  }
}

TEST(LabelIndex, EqNumericAndText) {
  Store s = mixed_store();
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kEq, {"10"})), (Keys{"n10", "n10b"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kEq, {"1e1"})), (Keys{"n10", "n10b"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kEq, {"1000"})), (Keys{"nexp"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kEq, {"abc"})), (Keys{"tabc"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kEq, {"+1"})), (Keys{"tplus"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kEq, {""})), (Keys{"tempty"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kEq, {"3"})), Keys{});
  EXPECT_EQ(match(s, "f", clause("v", QueryOp::kEq, {"1.0"})), (Keys{"other"}));
}

TEST(LabelIndex, NeSkipsKeysLackingTheLabel) {
  Store s = mixed_store();
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kNe, {"10"})),
            (Keys{"n1", "n2", "nexp", "nneg", "t2x", "tab", "tabc", "tempty", "tplus"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kNe, {"abc"})),
            (Keys{"n1", "n10", "n10b", "n2", "nexp", "nneg", "t2x", "tab", "tempty", "tplus"}));
  EXPECT_EQ(match(s, "e", clause("w", QueryOp::kNe, {"2"})), (Keys{"none"}));
  EXPECT_EQ(match(s, "e", clause("nolabel", QueryOp::kNe, {"2"})), Keys{});
}

TEST(LabelIndex, RangesWithNumericOperand) {
  Store s = mixed_store();
  // Numbers compare numerically; text values byte-wise against "2".
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kGt, {"2"})),
            (Keys{"n10", "n10b", "nexp", "t2x", "tab", "tabc"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kGe, {"2"})),
            (Keys{"n10", "n10b", "n2", "nexp", "t2x", "tab", "tabc"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kLt, {"2"})),
            (Keys{"n1", "nneg", "tempty", "tplus"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kLe, {"2.0"})),
            (Keys{"n1", "n2", "nneg", "tempty", "tplus"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kLt, {"-3.5"})), (Keys{"tempty", "tplus"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kGt, {"1e3"})), (Keys{"t2x", "tab", "tabc"}));
}

TEST(LabelIndex, RangesWithTextOperand) {
  Store s = mixed_store();
  // Everything compares byte-wise, numbers by their text.
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kGt, {"1x"})),
            (Keys{"n2", "t2x", "tab", "tabc"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kLe, {"1x"})),
            (Keys{"n1", "n10", "n10b", "nexp", "nneg", "tempty", "tplus"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kGe, {"ab"})), (Keys{"tab", "tabc"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kLt, {"ab"})),
            (Keys{"n1", "n10", "n10b", "n2", "nexp", "nneg", "t2x", "tempty", "tplus"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kGt, {"abc"})), Keys{});
}

TEST(LabelIndex, Between) {
  Store s = mixed_store();
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kBetween, {"1", "10"})),
            (Keys{"n1", "n10", "n10b", "n2"}));  // "2x" and "abc" are > "10" byte-wise
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kBetween, {"-4", "1"})), (Keys{"n1", "nneg"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kBetween, {"ab", "abc"})), (Keys{"tab", "tabc"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kBetween, {"1", "1e3"})),
            (Keys{"n1", "n10", "n10b", "n2", "nexp"}));
  // Text bounds: numbers by their text ("2" is in ["1x", "2z"], "10" is not).
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kBetween, {"1x", "2z"})),
            (Keys{"n2", "t2x"}));
  // Inverted ranges are empty.
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kBetween, {"10", "1"})), Keys{});
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kBetween, {"b", "a"})), Keys{});
  // Mixed bounds: each compared on its own. 2 <= x (numeric) and x <= "a" (byte-wise).
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kBetween, {"2", "a"})),
            (Keys{"n10", "n10b", "n2", "nexp", "t2x"}));
  // "1x" <= x (byte-wise) and x <= 5 (numeric; text values byte-wise against "5").
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kBetween, {"1x", "5"})), (Keys{"n2", "t2x"}));
}

TEST(LabelIndex, PrefixIsByteWiseOnText) {
  Store s = mixed_store();
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kPrefix, {"1"})),
            (Keys{"n1", "n10", "n10b", "nexp"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kPrefix, {"10."})), (Keys{"n10b"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kPrefix, {"ab"})), (Keys{"tab", "tabc"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kPrefix, {"2"})), (Keys{"n2", "t2x"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kPrefix, {"-"})), (Keys{"nneg"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kPrefix, {""})).size(), 11u);
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kPrefix, {"zz"})), Keys{});
}

TEST(LabelIndex, InUnionsValuesWithoutDuplicates) {
  Store s = mixed_store();
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kIn, {"10", "abc", "2"})),
            (Keys{"n10", "n10b", "n2", "tabc"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kIn, {"10", "10.0", "1e1", "10"})),
            (Keys{"n10", "n10b"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kIn, {"abc", "abc"})), (Keys{"tabc"}));
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kIn, {"zzz"})), Keys{});
}

TEST(LabelIndex, MissingLabelsNeverMatch) {
  Store s = mixed_store();
  for (QueryOp op : {QueryOp::kEq, QueryOp::kNe, QueryOp::kGt, QueryOp::kGe, QueryOp::kLt,
                     QueryOp::kLe, QueryOp::kPrefix, QueryOp::kIn}) {
    EXPECT_EQ(match(s, "e", clause("absent", op, {"1"})), Keys{}) << static_cast<int>(op);
  }
  EXPECT_EQ(match(s, "e", clause("absent", QueryOp::kBetween, {"", "\xff"})), Keys{});
  // "none" has w but not v: a GE on v never yields it.
  auto got = match(s, "e", clause("v", QueryOp::kPrefix, {""}));
  EXPECT_EQ(std::count(got.begin(), got.end(), "none"), 0);
}

TEST(LabelIndex, ClausesAreAnded) {
  Store s;
  s.put("a", "job", {{"state", "running"}, {"prio", "5"}, {"owner", "ann"}});
  s.put("b", "job", {{"state", "running"}, {"prio", "1"}, {"owner", "bob"}});
  s.put("c", "job", {{"state", "done"}, {"prio", "9"}, {"owner", "ann"}});
  s.put("d", "job", {{"state", "running"}, {"prio", "7"}});
  auto r = s.run(query("job", {clause("state", QueryOp::kEq, {"running"}),
                               clause("prio", QueryOp::kGe, {"5"})}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(keys_of(*r), (Keys{"a", "d"}));
  r = s.run(query("job", {clause("state", QueryOp::kEq, {"running"}),
                          clause("prio", QueryOp::kGe, {"5"}),
                          clause("owner", QueryOp::kNe, {"bob"})}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(keys_of(*r), (Keys{"a"}));  // d lacks owner
  r = s.run(query("job", {clause("state", QueryOp::kEq, {"done"}),
                          clause("state", QueryOp::kEq, {"running"})}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->count, 0);
}

TEST(LabelIndex, EntitiesAndUnlabelledKeys) {
  Store s;
  s.put("a", "user", {});
  s.put("b", "user", {{"x", "1"}});
  s.put("c", "", {{"x", "1"}});
  s.put("d", "", {});  // neither entity nor labels: not indexed
  EXPECT_EQ(s.index().key_count(), 3u);
  auto r = s.run(query("user"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(keys_of(*r), (Keys{"a", "b"}));
  r = s.run(query(""));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(keys_of(*r), (Keys{"c"}));
  r = s.run(query("nobody", {clause("x", QueryOp::kEq, {"1"})}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->count, 0);
  EXPECT_TRUE(r->items.empty());
  EXPECT_TRUE(r->next_cursor.empty());
}

TEST(LabelIndex, ExpiredOrVanishedKeysAreNotResults) {
  Store s = mixed_store();
  s.expire("n10");
  EXPECT_EQ(match(s, "e", clause("v", QueryOp::kEq, {"10"})), (Keys{"n10b"}));
  auto r = s.run(query("e"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->count, 11);
}

TEST(LabelIndex, Validation) {
  Store s = mixed_store();
  auto expect_invalid = [&](Query q, const std::string& needle) {
    auto r = s.run(q);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  expect_invalid(query("e", {clause("v", QueryOp::kBetween, {"1"})}), "BETWEEN");
  expect_invalid(query("e", {clause("v", QueryOp::kBetween, {"1", "2", "3"})}), "'v'");
  expect_invalid(query("e", {clause("v", QueryOp::kIn, {})}), "IN");
  expect_invalid(query("e", {clause("v", QueryOp::kEq, {})}), "EQ");
  expect_invalid(query("e", {clause("v", QueryOp::kGt, {"1", "2"})}), "GT");
  expect_invalid(query("e", {clause("v", QueryOp::kPrefix, {})}), "PREFIX");
  expect_invalid(query("e", {clause("v", QueryOp::kEq, {"1"}), clause("", QueryOp::kEq, {"1"})}),
                 "clause 2");
  expect_invalid(query("e", {clause("w", QueryOp::kNe, {})}), "'w'");
  expect_invalid(query("e", {clause("w", static_cast<QueryOp>(99), {"1"})}), "operator");
  Query q = query("e");
  q.limit = -1;
  expect_invalid(q, "limit");
  // Validation does not depend on the entity existing.
  expect_invalid(query("nobody", {clause("", QueryOp::kEq, {"1"})}), "empty label");
}

// The store for ordering: label "o" with numbers, texts, ties, and keys lacking it.
Store order_store() {
  Store s;
  s.put("k01", "e", {{"o", "10"}});
  s.put("k02", "e", {{"o", "9"}});
  s.put("k03", "e", {{"o", "b"}});
  s.put("k04", "e", {{"o", "10.0"}});  // ties with k01 numerically
  s.put("k05", "e", {{"o", "a"}});
  s.put("k06", "e", {{"p", "1"}});     // lacks o
  s.put("k07", "e", {{"o", "-1"}});
  s.put("k08", "e", {{"o", "a"}});     // ties with k05
  s.put("k09", "e", {});               // lacks o
  s.put("k10", "e", {{"o", "10"}});    // ties with k01, k04
  return s;
}

TEST(LabelIndex, OrderByKeyAndLabel) {
  Store s = order_store();
  Query q = query("e");
  auto r = s.run(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(keys_of(*r), (Keys{"k01", "k02", "k03", "k04", "k05", "k06", "k07", "k08", "k09",
                               "k10"}));
  q.descending = true;
  r = s.run(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(keys_of(*r), (Keys{"k10", "k09", "k08", "k07", "k06", "k05", "k04", "k03", "k02",
                               "k01"}));
  q.descending = false;
  q.order_by = "o";
  r = s.run(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(keys_of(*r), (Keys{"k07", "k02", "k01", "k04", "k10", "k05", "k08", "k03", "k06",
                               "k09"}));
  q.descending = true;
  r = s.run(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(keys_of(*r), (Keys{"k03", "k08", "k05", "k10", "k04", "k01", "k02", "k07", "k09",
                               "k06"}));
  // Ordering by a label and filtering on another.
  q = query("e", {clause("o", QueryOp::kGe, {"9"})});
  q.order_by = "o";
  q.descending = true;
  r = s.run(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(keys_of(*r), (Keys{"k03", "k08", "k05", "k10", "k04", "k01", "k02"}));
}

// Pages through q with `limit`, returning every key in order; checks count and cursors.
Keys page_all(Store& s, Query q, int64_t limit, int* pages = nullptr) {
  q.limit = limit;
  Keys all;
  int n = 0;
  int64_t count = -1;
  for (;;) {
    auto r = s.run(q);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    if (!r.ok()) break;
    if (count >= 0) {
      EXPECT_EQ(r->count, count);
    }
    count = r->count;
    ++n;
    if (limit > 0) {
      EXPECT_LE(r->items.size(), static_cast<size_t>(limit));
    }
    for (auto& k : keys_of(*r)) all.push_back(k);
    if (r->next_cursor.empty()) break;
    EXPECT_EQ(r->items.size(), static_cast<size_t>(limit));  // only the last page is short
    q.cursor = r->next_cursor;
    if (n > 1000) {
      ADD_FAILURE() << "paging does not end";
      break;
    }
  }
  if (pages) *pages = n;
  EXPECT_EQ(static_cast<int64_t>(all.size()), count);
  return all;
}

TEST(LabelIndex, PagingVisitsEveryItemOnceInOrder) {
  Store s = order_store();
  for (const std::string& order_by : {std::string(), std::string("o"), std::string("p")}) {
    for (bool desc : {false, true}) {
      Query q = query("e");
      q.order_by = order_by;
      q.descending = desc;
      auto full = s.run(q);
      ASSERT_TRUE(full.ok());
      EXPECT_TRUE(full->next_cursor.empty());
      for (int64_t limit : {1, 2, 3, 4, 9, 10, 11, 100}) {
        int pages = 0;
        EXPECT_EQ(page_all(s, q, limit, &pages), keys_of(*full))
            << "order_by=" << order_by << " desc=" << desc << " limit=" << limit;
        EXPECT_EQ(pages, std::max<int64_t>(1, (10 + limit - 1) / limit));
      }
    }
  }
}

TEST(LabelIndex, PagingSurvivesWritesBetweenPages) {
  Store s = order_store();
  Query q = query("e");
  q.order_by = "o";
  q.limit = 3;
  auto r = s.run(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(keys_of(*r), (Keys{"k07", "k02", "k01"}));
  // Removed before being returned: never seen. Added after the cursor: seen. Added before it:
  // not seen. A key that ties with the cursor's value but has a later key: seen.
  s.del("k05");
  s.put("k00", "e", {{"o", "-100"}});
  s.put("k11", "e", {{"o", "aa"}});
  s.put("k001", "e", {{"o", "10"}});  // value 10 but key before k01: before the cursor
  s.put("k012", "e", {{"o", "10"}});  // after the cursor
  s.del("k01");                        // the cursor's own key may vanish
  q.cursor = r->next_cursor;
  Keys rest;
  for (;;) {
    r = s.run(q);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->count, 12);
    for (auto& k : keys_of(*r)) rest.push_back(k);
    if (r->next_cursor.empty()) break;
    q.cursor = r->next_cursor;
  }
  EXPECT_EQ(rest, (Keys{"k012", "k04", "k10", "k08", "k11", "k03", "k06", "k09"}));
}

TEST(LabelIndex, PagingWithClauseAndMissingLabels) {
  Store s = order_store();
  Query q = query("e", {clause("o", QueryOp::kNe, {"a"})});
  q.order_by = "p";  // only k06 has p, and it lacks o
  q.descending = true;
  EXPECT_EQ(page_all(s, q, 2), (Keys{"k10", "k07", "k04", "k03", "k02", "k01"}));
}

TEST(LabelIndex, BadCursors) {
  Store s = order_store();
  Query q = query("e");
  q.order_by = "o";
  q.limit = 2;
  auto r = s.run(q);
  ASSERT_TRUE(r.ok());
  const std::string good = r->next_cursor;
  ASSERT_FALSE(good.empty());

  auto expect_invalid = [&](Query bad) {
    auto res = s.run(bad);
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.code(), Code::kInvalidArgument);
  };
  Query bad = q;
  bad.cursor = "garbage";
  expect_invalid(bad);
  for (size_t n = 1; n < good.size(); ++n) {
    bad.cursor = good.substr(0, n);
    expect_invalid(bad);
  }
  bad.cursor = good + "x";
  expect_invalid(bad);
  bad.cursor = good;
  bad.cursor[0] = 9;  // unknown version
  expect_invalid(bad);
  // From a different ordering.
  bad = q;
  bad.cursor = good;
  bad.descending = true;
  expect_invalid(bad);
  bad = q;
  bad.cursor = good;
  bad.order_by = "p";
  expect_invalid(bad);
  bad = q;
  bad.cursor = good;
  bad.order_by = "";
  expect_invalid(bad);
  // The good one still works.
  bad = q;
  bad.cursor = good;
  EXPECT_TRUE(s.run(bad).ok());
  // A key-order cursor used with a label order.
  Query by_key = query("e");
  by_key.limit = 1;
  auto rk = s.run(by_key);
  ASSERT_TRUE(rk.ok());
  bad = q;
  bad.cursor = rk->next_cursor;
  expect_invalid(bad);
}

TEST(LabelIndex, CountIsIndependentOfCursorAndLimit) {
  Store s = order_store();
  Query q = query("e", {clause("o", QueryOp::kGe, {"0"})});
  q.limit = 1;
  auto r = s.run(q);  // 10, 9, 10.0, 10 and the texts a, a, b (byte-wise >= "0")
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->count, 7);
  EXPECT_EQ(r->items.size(), 1u);
  q.cursor = r->next_cursor;
  q.limit = 100;
  r = s.run(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->count, 7);
  EXPECT_EQ(r->items.size(), 6u);
  EXPECT_TRUE(r->next_cursor.empty());
}

TEST(LabelIndex, Projection) {
  Store s;
  s.put("a", "e", {{"x", "1"}, {"y", "2"}, {"z", "3"}}, "value-a");
  s.put("b", "e", {{"x", "1"}}, "value-b");
  Query q = query("e", {clause("x", QueryOp::kEq, {"1"})});
  auto r = s.run(q);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->items.size(), 2u);
  EXPECT_EQ(r->items[0], s.keys().at("a"));  // everything by default

  q.select = {"y", "z", "nope"};
  r = s.run(q);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->items.size(), 2u);
  EXPECT_EQ(r->items[0].key, "a");
  EXPECT_EQ(r->items[0].value, "");
  EXPECT_EQ(r->items[0].labels, (Labels{{"y", "2"}, {"z", "3"}}));
  EXPECT_EQ(r->items[0].version, 7);
  EXPECT_EQ(r->items[0].entity, "e");
  EXPECT_EQ(r->items[0].content_type, "text/plain");
  EXPECT_EQ(r->items[1].key, "b");
  EXPECT_TRUE(r->items[1].labels.empty());

  // Ordering uses the label even when it is not selected.
  q.order_by = "y";
  q.descending = true;
  r = s.run(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(keys_of(*r), (Keys{"a", "b"}));

  q = query("e", {clause("x", QueryOp::kEq, {"1"})});
  q.keys_only = true;
  r = s.run(q);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->items.size(), 2u);
  KeyValue only_key;
  only_key.key = "b";
  EXPECT_EQ(r->items[1], only_key);

  q.keys_only = false;
  q.count_only = true;
  q.limit = 1;
  r = s.run(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->count, 2);
  EXPECT_TRUE(r->items.empty());
  EXPECT_TRUE(r->next_cursor.empty());
}

TEST(LabelIndex, AddRemoveUpdateKeepTheIndexExact) {
  Store s;
  s.put("a", "e", {{"x", "1"}, {"y", "t"}});
  s.put("b", "e", {{"x", "2"}});
  EXPECT_EQ(s.index().key_count(), 2u);
  EXPECT_EQ(s.index().entry_count(), 3u);

  // Update: the old values must be gone from the index, not just filtered by fetch.
  s.put("a", "e", {{"x", "5"}, {"z", "u"}});
  EXPECT_EQ(s.index().key_count(), 2u);
  EXPECT_EQ(s.index().entry_count(), 3u);
  s.reset_fetches();
  EXPECT_EQ(match(s, "e", clause("x", QueryOp::kEq, {"1"})), Keys{});
  EXPECT_EQ(match(s, "e", clause("y", QueryOp::kEq, {"t"})), Keys{});
  EXPECT_EQ(s.fetches(), 0);
  EXPECT_EQ(match(s, "e", clause("x", QueryOp::kEq, {"5"})), (Keys{"a"}));
  EXPECT_EQ(match(s, "e", clause("z", QueryOp::kPrefix, {"u"})), (Keys{"a"}));

  // Moving to another entity.
  s.put("a", "f", {{"x", "5"}});
  EXPECT_EQ(match(s, "e", clause("x", QueryOp::kEq, {"5"})), Keys{});
  EXPECT_EQ(match(s, "f", clause("x", QueryOp::kEq, {"5"})), (Keys{"a"}));
  // Numeric to text and back (with another key keeping label x of entity e alive).
  s.put("c", "e", {{"x", "m"}});
  s.put("b", "e", {{"x", "two"}});
  s.reset_fetches();
  EXPECT_EQ(match(s, "e", clause("x", QueryOp::kEq, {"2"})), Keys{});
  EXPECT_EQ(match(s, "e", clause("x", QueryOp::kPrefix, {"2"})), Keys{});
  EXPECT_EQ(match(s, "e", clause("x", QueryOp::kLt, {"a"})), Keys{});  // numbers by text
  EXPECT_EQ(s.fetches(), 0);
  EXPECT_EQ(match(s, "e", clause("x", QueryOp::kEq, {"two"})), (Keys{"b"}));
  s.put("b", "e", {{"x", "2.0"}});
  s.reset_fetches();
  EXPECT_EQ(match(s, "e", clause("x", QueryOp::kEq, {"two"})), Keys{});
  EXPECT_EQ(match(s, "e", clause("x", QueryOp::kGt, {"s"})), Keys{});
  EXPECT_EQ(s.fetches(), 0);
  EXPECT_EQ(match(s, "e", clause("x", QueryOp::kPrefix, {"2."})), (Keys{"b"}));

  s.del("a");
  s.del("b");
  s.del("c");
  EXPECT_EQ(s.index().key_count(), 0u);
  EXPECT_EQ(s.index().entry_count(), 0u);
  s.reset_fetches();
  auto r = s.run(query("e"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->count, 0);
  EXPECT_EQ(s.fetches(), 0);

  // Removing what is not there is harmless.
  s.index().remove("zz", "e", {{"x", "1"}});
  s.index().remove("zz", "", {});
  EXPECT_EQ(s.index().key_count(), 0u);

  s.put("c", "e", {{"x", "1"}});
  s.index().clear();
  EXPECT_EQ(s.index().key_count(), 0u);
  EXPECT_EQ(s.index().entry_count(), 0u);
  EXPECT_EQ(match(s, "e", clause("x", QueryOp::kEq, {"1"})), Keys{});
}

TEST(LabelIndex, FetchIsTheTruthForStaleEntries) {
  // A caller that breaks the remove-before-add contract leaves stale entries; results still
  // follow fetch(): its labels and its entity.
  LabelIndex index;
  index.add("a", "e", {{"x", "1"}});
  index.add("a", "e", {{"x", "2"}});  // no remove first
  index.add("b", "e", {{"x", "1"}});
  std::map<std::string, KeyValue> truth;
  truth["a"].key = "a";
  truth["a"].entity = "e";
  truth["a"].labels = {{"x", "2"}};
  truth["b"].key = "b";
  truth["b"].entity = "f";  // moved to another entity without telling the index
  truth["b"].labels = {{"x", "1"}};
  auto fetch = [&](std::string_view key) -> std::optional<KeyValue> {
    auto it = truth.find(std::string(key));
    if (it == truth.end()) return std::nullopt;
    return it->second;
  };
  auto r = index.run(query("e", {clause("x", QueryOp::kEq, {"1"})}), fetch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->count, 0);
  r = index.run(query("e", {clause("x", QueryOp::kLe, {"2"})}), fetch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(keys_of(*r), (Keys{"a"}));
  EXPECT_EQ(index.key_count(), 2u);

  LabelIndex moved(std::move(index));
  EXPECT_EQ(moved.key_count(), 2u);
  EXPECT_EQ(index.key_count(), 0u);  // NOLINT(bugprone-use-after-move): documented as empty
  r = moved.run(query("e", {clause("x", QueryOp::kEq, {"2"})}), fetch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(keys_of(*r), (Keys{"a"}));
}

TEST(LabelIndex, QueriesFetchOnlyCandidatesOfTheMostSelectiveClause) {
  Store s;
  for (int i = 0; i < 1000; ++i) {
    char key[16];
    std::snprintf(key, sizeof key, "k%04d", i);
    Labels labels = {{"n", std::to_string(i)}, {"parity", i % 2 ? "odd" : "even"}};
    if (i % 100 == 0) labels["rare"] = "yes";
    s.put(key, "e", labels);
  }
  for (int i = 0; i < 50; ++i) s.put("other" + std::to_string(i), "f", {{"n", "1"}});

  auto fetches_for = [&](Query q, int64_t expect_count) {
    s.reset_fetches();
    auto r = s.run(q);
    EXPECT_TRUE(r.ok());
    if (r.ok()) {
      EXPECT_EQ(r->count, expect_count);
    }
    return s.fetches();
  };
  EXPECT_EQ(fetches_for(query("e", {clause("parity", QueryOp::kEq, {"even"}),
                                    clause("rare", QueryOp::kEq, {"yes"})}), 10), 10);
  EXPECT_EQ(fetches_for(query("e", {clause("n", QueryOp::kBetween, {"10", "14"}),
                                    clause("parity", QueryOp::kEq, {"odd"})}), 2), 5);
  EXPECT_EQ(fetches_for(query("e", {clause("parity", QueryOp::kEq, {"odd"}),
                                    clause("n", QueryOp::kGe, {"995"})}), 3), 5);
  // Mixed BETWEEN bounds: 990 <= n numerically and n <= "99z" byte-wise: 990..999 only, though
  // nearly every number's text is <= "99z".
  EXPECT_EQ(fetches_for(query("e", {clause("parity", QueryOp::kEq, {"odd"}),
                                    clause("n", QueryOp::kBetween, {"990", "99z"})}), 5), 10);
  EXPECT_EQ(fetches_for(query("e", {clause("parity", QueryOp::kEq, {"odd"}),
                                    clause("n", QueryOp::kBetween, {"1", "2"})}), 1), 2);
  EXPECT_EQ(fetches_for(query("e", {clause("n", QueryOp::kLt, {"3"})}), 3), 3);
  EXPECT_EQ(fetches_for(query("e", {clause("n", QueryOp::kPrefix, {"99"})}), 11), 11);
  EXPECT_EQ(fetches_for(query("e", {clause("n", QueryOp::kIn, {"1", "2", "x"})}), 2), 2);
  EXPECT_EQ(fetches_for(query("e", {clause("rare", QueryOp::kEq, {"no"})}), 0), 0);
  EXPECT_EQ(fetches_for(query("e", {clause("nolabel", QueryOp::kEq, {"1"}),
                                    clause("parity", QueryOp::kNe, {"x"})}), 0), 0);
  // NE only: the entity's keys, not the whole store.
  EXPECT_EQ(fetches_for(query("f", {clause("n", QueryOp::kNe, {"2"})}), 50), 50);
  // Paging with a limit still fetches only the candidates.
  Query q = query("e", {clause("rare", QueryOp::kEq, {"yes"})});
  q.limit = 3;
  q.order_by = "n";
  EXPECT_EQ(fetches_for(q, 10), 10);
}

// --- Randomized comparison against a brute-force evaluator.

bool brute_number(const std::string& s, double* d) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *d);
  return ec == std::errc() && p == s.data() + s.size() && std::isfinite(*d);
}

// -1, 0, 1 for value vs operand under the clause rules.
int brute_cmp(const std::string& v, const std::string& o) {
  double a, b;
  if (brute_number(v, &a) && brute_number(o, &b)) return (a > b) - (a < b);
  return (v > o) - (v < o);
}

bool brute_holds(const QueryClause& c, const Labels& labels) {
  auto it = labels.find(c.label);
  if (it == labels.end()) return false;
  const std::string& v = it->second;
  switch (c.op) {
    case QueryOp::kEq: return brute_cmp(v, c.values[0]) == 0;
    case QueryOp::kNe: return brute_cmp(v, c.values[0]) != 0;
    case QueryOp::kGt: return brute_cmp(v, c.values[0]) > 0;
    case QueryOp::kGe: return brute_cmp(v, c.values[0]) >= 0;
    case QueryOp::kLt: return brute_cmp(v, c.values[0]) < 0;
    case QueryOp::kLe: return brute_cmp(v, c.values[0]) <= 0;
    case QueryOp::kPrefix: return v.compare(0, c.values[0].size(), c.values[0]) == 0;
    case QueryOp::kBetween:
      return brute_cmp(v, c.values[0]) >= 0 && brute_cmp(v, c.values[1]) <= 0;
    case QueryOp::kIn:
      for (const auto& o : c.values) {
        if (brute_cmp(v, o) == 0) return true;
      }
      return false;
  }
  return false;
}

// The sort key of the contract: (lacks label, kind, number, text, key), ascending.
struct BruteKey {
  bool missing = true;
  int kind = 0;  // 0 number, 1 text
  double number = 0;
  std::string text;
  std::string key;
};

BruteKey brute_key(const KeyValue& kv, const std::string& order_by) {
  BruteKey k;
  k.key = kv.key;
  if (order_by.empty()) return k;
  auto it = kv.labels.find(order_by);
  if (it == kv.labels.end()) return k;
  k.missing = false;
  k.kind = brute_number(it->second, &k.number) ? 0 : 1;
  if (k.kind == 1) k.text = it->second;
  return k;
}

bool brute_before(const BruteKey& a, const BruteKey& b, bool desc) {
  if (a.missing != b.missing) return b.missing;
  auto ta = std::make_tuple(a.kind, a.kind == 0 ? a.number : 0.0, a.text, a.key);
  auto tb = std::make_tuple(b.kind, b.kind == 0 ? b.number : 0.0, b.text, b.key);
  return desc ? tb < ta : ta < tb;
}

// Every match in order, unprojected.
std::vector<KeyValue> brute_run(const Store& s, const Query& q) {
  std::vector<KeyValue> out;
  for (const auto& [key, kv] : s.keys()) {
    if (kv.entity != q.entity) continue;
    if (kv.entity.empty() && kv.labels.empty()) continue;  // not indexed
    bool ok = true;
    for (const auto& c : q.where) ok = ok && brute_holds(c, kv.labels);
    if (ok) out.push_back(kv);
  }
  std::sort(out.begin(), out.end(), [&](const KeyValue& a, const KeyValue& b) {
    return brute_before(brute_key(a, q.order_by), brute_key(b, q.order_by), q.descending);
  });
  return out;
}

KeyValue brute_project(KeyValue kv, const Query& q) {
  if (q.keys_only) {
    KeyValue k;
    k.key = kv.key;
    return k;
  }
  if (!q.select.empty()) {
    Labels kept;
    for (const auto& name : q.select) {
      if (kv.labels.count(name)) kept[name] = kv.labels[name];
    }
    kv.labels = kept;
    kv.value.clear();
  }
  return kv;
}

TEST(LabelIndex, RandomizedAgainstBruteForce) {
  std::mt19937 rng(20240601);
  auto pick = [&](const auto& v) { return v[rng() % v.size()]; };
  auto chance = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };
  const std::vector<std::string> values = {
      "0", "-0", "1", "1.0", "01", "2", "10", "-1", "-2.5", "1e1", "1e-3", "3.25", "100", ".5",
      "+1", " 1", "inf", "nan", "1e999", "", "a", "ab", "abc", "b", "B", "1a", "10x", "-",
      "\xff", "\x01", "z9"};
  const std::vector<std::string> entities = {"", "e", "e", "f"};
  const std::vector<std::string> labels = {"x", "y", "z"};
  const std::vector<QueryOp> ops = {QueryOp::kEq, QueryOp::kNe, QueryOp::kGt, QueryOp::kGe,
                                    QueryOp::kLt, QueryOp::kLe, QueryOp::kPrefix,
                                    QueryOp::kBetween, QueryOp::kIn};
  Store s;
  auto mutate = [&] {
    std::string key = "k" + std::to_string(rng() % 60);
    if (chance(20)) {
      s.del(key);
      return;
    }
    Labels l;
    for (const auto& name : labels) {
      if (chance(70)) l[name] = pick(values);
    }
    s.put(key, pick(entities), l, "val" + std::to_string(rng() % 5));
  };
  for (int i = 0; i < 80; ++i) mutate();

  int checked_items = 0;
  for (int round = 0; round < 1500; ++round) {
    for (int m = rng() % 4; m > 0; --m) mutate();
    Query q;
    q.entity = pick(entities);
    for (int n = rng() % 4; n > 0; --n) {
      QueryClause c;
      c.label = pick(labels);
      c.op = pick(ops);
      size_t count = c.op == QueryOp::kBetween ? 2 : c.op == QueryOp::kIn ? 1 + rng() % 3 : 1;
      for (size_t i = 0; i < count; ++i) c.values.push_back(pick(values));
      q.where.push_back(c);
    }
    if (chance(60)) q.order_by = pick(labels);
    q.descending = chance(50);
    if (chance(15)) q.select = {pick(labels), pick(labels)};
    q.keys_only = chance(10);
    q.count_only = chance(5);
    SCOPED_TRACE("round " + std::to_string(round));

    // Unpaged: exactly the brute-force result.
    std::vector<KeyValue> want = brute_run(s, q);
    auto r = s.run(q);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ(r->count, static_cast<int64_t>(want.size()));
    ASSERT_TRUE(r->next_cursor.empty());
    if (q.count_only) {
      ASSERT_TRUE(r->items.empty());
    } else {
      ASSERT_EQ(r->items.size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(r->items[i], brute_project(want[i], q)) << "item " << i;
      }
      checked_items += static_cast<int>(want.size());
    }

    // Paged, with writes between pages: each page is the first `limit` items strictly after
    // the previous page's last item, in the brute-force order of the moment.
    if (q.count_only || want.empty()) continue;
    q.limit = 1 + rng() % 5;
    std::optional<BruteKey> last;
    for (int page = 0; page < 100; ++page) {
      want = brute_run(s, q);
      std::vector<KeyValue> expect;
      for (const auto& kv : want) {
        if (last && !brute_before(*last, brute_key(kv, q.order_by), q.descending)) continue;
        if (expect.size() < static_cast<size_t>(q.limit)) expect.push_back(kv);
      }
      auto pr = s.run(q);
      ASSERT_TRUE(pr.ok()) << pr.status().to_string();
      ASSERT_EQ(pr->count, static_cast<int64_t>(want.size()));
      ASSERT_EQ(pr->items.size(), expect.size()) << "page " << page;
      for (size_t i = 0; i < expect.size(); ++i) {
        ASSERT_EQ(pr->items[i].key, expect[i].key) << "page " << page << " item " << i;
      }
      if (pr->next_cursor.empty()) {
        // Last page: nothing is left after it.
        size_t after = 0;
        BruteKey end = expect.empty() ? BruteKey() : brute_key(expect.back(), q.order_by);
        for (const auto& kv : want) {
          if (!expect.empty() && brute_before(end, brute_key(kv, q.order_by), q.descending)) {
            ++after;
          }
        }
        ASSERT_EQ(after, 0u);
        break;
      }
      last = brute_key(expect.back(), q.order_by);
      q.cursor = pr->next_cursor;
      if (chance(50)) mutate();
    }
  }
  EXPECT_GT(checked_items, 1000);  // the random queries are not all trivially empty
}

}  // namespace
}  // namespace dkv::core
