// Disk: one node's durable storage, modelled at the level of a Ready (not of bytes).
//
// Writes are buffered until sync() (the fdatasync at the end of persisting a Ready that must be
// durable; a Ready whose hard state changed only its commit index is not synced). A crash
// loses every buffered write, except that, as with a real log file whose tail was partly
// flushed, it may keep the buffered snapshot and then a prefix of the buffered entries: a torn
// tail. It never keeps the buffered hard state: a vote or term that was not synced is gone.
//
// The log has overwrite semantics: entries written from index i replace everything from i on.
// A snapshot from Raft (a follower installing one) replaces the whole log; the host's own
// snapshot (compaction) is written atomically and drops only the entries it covers.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "raft/raft.h"
#include "raft/types.h"
#include "sim/rng.h"

namespace dkv::sim {

class Disk {
 public:
  // Called for every entry when it becomes durable, with the term of the entry before it (the
  // snapshot's term when it is the first after the snapshot): the log matching check.
  using DurableEntryFn = std::function<void(const raft::Entry& e, uint64_t prev_term)>;

  // A node's disk before its first boot: no log, a snapshot at index 0 with the bootstrap
  // membership.
  explicit Disk(raft::ConfState genesis);

  void set_listener(DurableEntryFn fn) { listener_ = std::move(fn); }

  // Buffered writes, in the order of Ready's step 1.
  void write_snapshot(const raft::Snapshot& s) { pending_snapshot_ = s; }
  void write_entries(const std::vector<raft::Entry>& entries);
  void write_hard_state(const raft::HardState& hs) { pending_hard_ = hs; }
  bool has_buffered() const;

  // Makes every buffered write durable.
  void sync();
  // Power loss: keeps a random prefix of the buffered snapshot and entries, never the hard
  // state. Returns how many buffered entries survived.
  size_t crash(Rng& rng);

  // The host's own snapshot at its applied index: atomic and durable at once.
  void save_snapshot(const raft::Snapshot& s);

  // Durable contents.
  const raft::HardState& hard_state() const { return hard_; }
  const raft::Snapshot& snapshot() const { return snapshot_; }
  const std::deque<raft::Entry>& entries() const { return entries_; }
  uint64_t last_index() const { return snapshot_.meta.index + entries_.size(); }

  // What a restart reads back: the node's state machine restarts from the snapshot.
  raft::InitialState recover() const;

  // The first contract violation seen (e.g. entries that would leave a gap), or empty.
  const std::string& error() const { return error_; }

 private:
  void apply_snapshot(const raft::Snapshot& s);
  void apply_entries(const std::vector<raft::Entry>& entries, size_t count);
  std::optional<uint64_t> term(uint64_t index) const;

  raft::HardState hard_;
  raft::Snapshot snapshot_;
  std::deque<raft::Entry> entries_;  // entries_[i] has index snapshot_.meta.index + 1 + i

  std::optional<raft::Snapshot> pending_snapshot_;
  std::vector<std::vector<raft::Entry>> pending_entries_;
  std::optional<raft::HardState> pending_hard_;

  DurableEntryFn listener_;
  std::string error_;
};

}  // namespace dkv::sim
