// RaftLog: a member's log as Raft sees it, in memory. It starts after a snapshot (index, term),
// holds every entry after it, and tracks three marks: `stabled` (the host has persisted up to
// here), `committed` and `applied`. Entries above `stabled` are handed to the host in Ready to be
// persisted; the host keeps the durable copy (the WAL) and gives it back on restart.
//
// Two more marks say what was handed out in Readys not yet advanced (a host may have several
// in flight, see Raft::ready): `in_progress` (entries being persisted) and `applying`
// (committed entries being applied). Each Ready hands out only what lies above them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "raft/types.h"

namespace dkv::raft {

class RaftLog {
 public:
  // Starts after `snapshot` (index 0 for an empty log), with `entries` following it, all of them
  // already persisted. committed and applied start at the snapshot index.
  RaftLog(Snapshot snapshot, std::vector<Entry> entries);

  uint64_t first_index() const { return snapshot_.meta.index + 1; }
  uint64_t last_index() const { return snapshot_.meta.index + entries_.size(); }
  uint64_t last_term() const { return *term(last_index()); }
  uint64_t committed() const { return committed_; }
  uint64_t applied() const { return applied_; }
  uint64_t stabled() const { return stabled_; }
  const Snapshot& snapshot() const { return snapshot_; }

  // The term of entry `index`; nullopt when it is compacted away (below the snapshot) or absent.
  std::optional<uint64_t> term(uint64_t index) const;
  bool match_term(uint64_t index, uint64_t term) const;
  const Entry* entry(uint64_t index) const;  // null when compacted or absent

  // Section 5.4.1: a log is at least as up to date as ours if its last term is higher, or equal
  // with a last index at least ours.
  bool is_up_to_date(uint64_t last_index, uint64_t last_term) const;

  // Follower append (AppendEntries): if our entry at prev_index has prev_term, keeps the matching
  // prefix of `entries`, overwrites from the first conflict, and returns the last index the
  // leader's message covers; nullopt if prev does not match. Requires prev_index >= committed().
  std::optional<uint64_t> maybe_append(uint64_t prev_index, uint64_t prev_term,
                                       std::vector<Entry> entries);
  // Leader append: entries follow last_index().
  void append(std::vector<Entry> entries);

  // For fast backtracking: the largest index <= `index` whose term is <= `term` (or the
  // snapshot index if none is left in memory).
  uint64_t find_conflict_by_term(uint64_t index, uint64_t term) const;

  // Entries [lo, last], at most max_bytes of data (but at least one); nullopt if lo is compacted.
  std::optional<std::vector<Entry>> entries_from(uint64_t lo, uint64_t max_bytes) const;

  // Entries the host has not yet persisted nor been handed: above max(stabled, in_progress).
  std::vector<Entry> unstable_entries() const;
  bool has_unstable() const { return last_index() > std::max(stabled_, in_progress_); }
  // Committed, persisted and not yet applied nor handed out:
  // (max(applied, applying), min(committed, stabled)], at most max_bytes of data (but at least
  // one).
  std::vector<Entry> next_committed(uint64_t max_bytes) const;
  bool has_next_committed() const;
  // A Ready handed the host entries up to `persisting` and committed entries up to `applying`
  // (each 0 for none).
  void handed_out(uint64_t persisting, uint64_t applying);

  void commit_to(uint64_t index);  // never moves backwards
  // Leader: commits `index` if its entry has `term` and index > committed.
  bool maybe_commit(uint64_t index, uint64_t term);
  void applied_to(uint64_t index);
  // The host persisted entries up to `index`, the last of them with `term` (ignored if the entry
  // was overwritten since).
  void stable_to(uint64_t index, uint64_t term);

  // Replaces the whole log by `snapshot` (a follower installing one). The snapshot awaits the
  // host in pending_snapshot() until stable_snapshot().
  void restore(Snapshot snapshot);
  const std::optional<Snapshot>& pending_snapshot() const { return pending_snapshot_; }
  void stable_snapshot() { pending_snapshot_.reset(); }

  // Drops entries up to `index` (<= applied), which a host snapshot with `data` now covers.
  void compact(uint64_t index, ConfState conf, SnapshotDataPtr data);
  // The same image stored elsewhere (see Raft::replace_snapshot_data).
  void replace_snapshot_data(SnapshotDataPtr data) { snapshot_.data = std::move(data); }

 private:
  Snapshot snapshot_;          // the log starts after snapshot_.meta.index
  std::deque<Entry> entries_;  // entries_[i] has index first_index() + i
  uint64_t stabled_ = 0;
  uint64_t committed_ = 0;
  uint64_t applied_ = 0;
  uint64_t in_progress_ = 0;  // entries up to here were handed to the host (may exceed stabled_)
  uint64_t applying_ = 0;     // committed entries up to here were handed out (may exceed applied_)
  std::optional<Snapshot> pending_snapshot_;
};

}  // namespace dkv::raft
