// LabelIndex: secondary indexes over key entities and labels, and the query planner that uses them.
//
// The state machine keeps one LabelIndex next to its key space and updates it as it applies writes
// (single-threaded, deterministic, no I/O). A key is indexed when it has a non-empty entity or at
// least one label; a key with labels but no entity belongs to entity "".
//
// Per entity the index holds the ordered set of its keys and, per label, ordered (value, key)
// entries split by kind: numeric values (those that parse fully, per parse_label_number, as a
// finite double) ordered by number and also by their text, and text values ordered by bytes. So
// EQ, IN, PREFIX and the range operators read only index entries that match (with one exception:
// BETWEEN with one numeric and one text bound filters the numeric values inside a half-open range).
//
// Query semantics (see dkv::Query):
//  - A clause compares a label's value with its operand(s). The comparison is numeric when both
//    parse as numbers, else byte-wise on the text; so for a numeric operand, text values compare
//    byte-wise against the operand's text. EQ on numbers is numeric ("10" EQ "10.0"). PREFIX is
//    byte-wise on the value's text. BETWEEN lo hi is inclusive (each bound compared on its own).
//    IN v1..vn is EQ against any. A clause on a label the key lacks never holds, NE included.
//  - Order: order_by empty -> key order. Else by that label's value: numbers (numerically) before
//    text (byte-wise), keys lacking the label after all others, ties by key. descending reverses
//    this (ties by key descending too), except that keys lacking the label still come last (in
//    descending key order).
//  - Paging: limit n (0 = all). next_cursor encodes the position after the last returned item and
//    the order_by/descending it belongs to; a query with it returns the items strictly after that
//    position, so it stays correct when keys are added or removed between pages (a key whose sort
//    value changed is placed by its new value). next_cursor is empty on the last page. count is
//    the total number of matches, independent of cursor and limit.
//  - Projection: count_only -> no items. keys_only -> items with only the key. select non-empty ->
//    the key, the selected labels it has, every other metadata field, and an empty value.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "dkv/status.h"
#include "dkv/types.h"

namespace dkv::core {

// True when `text` is entirely a finite double per std::from_chars (general format): "10", "-3.5",
// "1e3", ".5". Not numbers: "", "+1", " 1", "0x10", "inf", "nan", "1e999". Sets *out when true.
bool parse_label_number(std::string_view text, double* out);

namespace label_index_internal {

using NumberEntry = std::pair<double, std::string>;     // (value, key)
using TextEntry = std::pair<std::string, std::string>;  // (value, key)

// Transparent so that ranges can be sought by value alone.
struct NumberLess {
  using is_transparent = void;
  bool operator()(const NumberEntry& a, const NumberEntry& b) const { return a < b; }
  bool operator()(const NumberEntry& a, double b) const { return a.first < b; }
  bool operator()(double a, const NumberEntry& b) const { return a < b.first; }
};
struct TextLess {
  using is_transparent = void;
  bool operator()(const TextEntry& a, const TextEntry& b) const { return a < b; }
  bool operator()(const TextEntry& a, std::string_view b) const { return a.first < b; }
  bool operator()(std::string_view a, const TextEntry& b) const { return a < b.first; }
};

// One label of one entity. A numeric value is in `numbers` and in `number_texts` (which serves
// PREFIX and byte-wise comparisons against text operands); a text value only in `texts`.
struct Postings {
  absl::btree_set<NumberEntry, NumberLess> numbers;
  absl::btree_set<TextEntry, TextLess> number_texts;
  absl::btree_set<TextEntry, TextLess> texts;
  bool empty() const { return numbers.empty() && texts.empty(); }
};

struct Entity {
  absl::btree_set<std::string> keys;
  absl::flat_hash_map<std::string, Postings> labels;
};

}  // namespace label_index_internal

class LabelIndex {
 public:
  // The key's live state as the store sees it, or nullopt if it is absent or expired. run() treats
  // this as the truth: a candidate is a result only if fetch returns it with the query's entity and
  // with labels that satisfy every clause. fetch must not modify this index.
  using FetchFn = std::function<std::optional<KeyValue>(std::string_view key)>;

  LabelIndex() = default;
  // Movable (a moved-from index is empty), not copyable: copies are large and never needed.
  LabelIndex(LabelIndex&& other) noexcept { *this = std::move(other); }
  LabelIndex& operator=(LabelIndex&& other) noexcept {
    entities_ = std::move(other.entities_);
    key_count_ = std::exchange(other.key_count_, 0);
    entry_count_ = std::exchange(other.entry_count_, 0);
    other.entities_.clear();
    return *this;
  }
  LabelIndex(const LabelIndex&) = delete;
  LabelIndex& operator=(const LabelIndex&) = delete;

  // Indexes `key` under `entity` with `labels`; a no-op when entity is "" and labels are empty.
  // The caller removes a key's old entry (with the entity and labels it was added with) before
  // adding its new one. Stale entries would not produce wrong results (fetch decides), only waste.
  void add(std::string_view key, std::string_view entity, const Labels& labels);
  // Undoes add(key, entity, labels). Removing what is not indexed is a no-op.
  void remove(std::string_view key, std::string_view entity, const Labels& labels);
  void clear();

  // Keys indexed, over all entities.
  size_t key_count() const { return key_count_; }
  // (entity, label, key) entries held, over all entities and labels.
  size_t entry_count() const { return entry_count_; }

  // Runs `query`. kInvalidArgument for a malformed query (a clause with an empty label or the
  // wrong number of values, a negative limit) or cursor (undecodable, or from a different
  // order_by/descending). An unknown entity yields an empty result. Cost: the candidates of the
  // most selective indexable clause (EQ, IN, PREFIX, GT, GE, LT, LE, BETWEEN), chosen by counting
  // each clause's matching entries up to the best count so far, or all the entity's keys when no
  // clause is indexable (NE only, or none); each candidate is fetched once.
  Result<QueryResult> run(const Query& query, const FetchFn& fetch) const;

 private:
  absl::flat_hash_map<std::string, label_index_internal::Entity> entities_;
  size_t key_count_ = 0;
  size_t entry_count_ = 0;
};

}  // namespace dkv::core
