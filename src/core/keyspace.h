// Keyspace: the multi-version key store. It holds the latest version of every key in key order
// and, for reads at older revisions, the versions they superseded until compaction drops them.
//
// It knows nothing of expiry, leases or indexes: the state machine decides what to store and
// keeps those in step. Pointers it returns stay valid until the next compact(),
// release_superseded() or destruction.
//
// One revision may write a key several times (a transaction or MULTI writing the same key
// twice). Only the state at the end of a revision is visible to reads at that revision, so a
// version replaced within the revision that made it never enters history: it is parked until
// release_superseded() (the state machine calls it after each command, when its events have
// been built). History thus holds at most one record per key and revision, in increasing
// revision order, followed at most once by a deletion marker at the same revision.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "core/record.h"
#include "dkv/types.h"

namespace dkv::core {

class Keyspace {
 public:
  // One superseded version: `record` became current at `revision`; nullptr marks a deletion.
  struct Version {
    int64_t revision = 0;
    Record* record = nullptr;
  };
  using History = absl::btree_map<std::string, std::vector<Version>, std::less<>>;

  Keyspace() = default;
  Keyspace(const Keyspace&) = delete;
  Keyspace& operator=(const Keyspace&) = delete;
  ~Keyspace();

  // The latest version of `key`, expired or not; nullptr when absent.
  const Record* find(std::string_view key) const;

  // Makes `record` the latest version of its key. Returns the version it replaced (kept as
  // history, or parked when it was made at record's mod_revision) or nullptr.
  const Record* install(RecordPtr record);

  // Deletes `key` at `revision`. Returns the removed version (kept as history, or parked when it
  // was made at `revision`) or nullptr.
  const Record* remove(std::string_view key, int64_t revision);

  // Frees the versions replaced within the revision that made them.
  void release_superseded();

  // The version of `key` current as of `revision`, or nullptr if the key was absent then.
  // Only meaningful for revisions not compacted away.
  const Record* find_at(std::string_view key, int64_t revision) const;

  // Calls fn(record) for the latest version of each key in `range`, in key order, until fn
  // returns false.
  void scan(const KeyRange& range, const std::function<bool(const Record&)>& fn) const;

  // As scan(), for the versions current as of `revision`.
  void scan_at(const KeyRange& range, int64_t revision,
               const std::function<bool(const Record&)>& fn) const;

  // Frees every version that no read at `revision` or later can see.
  void compact(int64_t revision);

  size_t size() const { return live_.size(); }
  size_t history_versions() const { return history_versions_; }
  const History& history() const { return history_; }

  // Snapshot restore: adds a superseded version (in increasing revision order per key).
  void restore_version(std::string_view key, int64_t revision, RecordPtr record);

  void clear();

 private:
  // Mutable so that an update swaps the record in place: the key, and so the order, is unchanged.
  struct Entry {
    mutable Record* record;
  };
  struct EntryLess {
    using is_transparent = void;
    static std::string_view key(const Entry& e) { return e.record->key(); }
    static std::string_view key(std::string_view k) { return k; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const { return key(a) < key(b); }
  };

  void push_history(std::string_view key, Version v);
  static const Record* visible_at(const std::vector<Version>& versions, int64_t revision,
                                  bool* found);

  absl::btree_set<Entry, EntryLess> live_;
  History history_;
  size_t history_versions_ = 0;
  std::vector<Record*> superseded_;  // see release_superseded()
};

}  // namespace dkv::core
