#include "sim/disk.h"

#include <memory>
#include <utility>

namespace dkv::sim {

Disk::Disk(raft::ConfState genesis) {
  snapshot_.meta.conf = std::move(genesis);
  snapshot_.data = raft::snapshot_data("");
}

void Disk::write_entries(const std::vector<raft::Entry>& entries) {
  if (!entries.empty()) pending_entries_.push_back(entries);
}

bool Disk::has_buffered() const {
  return pending_snapshot_.has_value() || !pending_entries_.empty() || pending_hard_.has_value();
}

std::optional<uint64_t> Disk::term(uint64_t index) const {
  if (index == snapshot_.meta.index) return snapshot_.meta.term;
  if (index < snapshot_.meta.index || index > last_index()) return std::nullopt;
  return entries_[index - snapshot_.meta.index - 1].term;
}

void Disk::apply_snapshot(const raft::Snapshot& s) {
  snapshot_ = s;
  if (!snapshot_.data) snapshot_.data = raft::snapshot_data("");
  entries_.clear();
}

void Disk::apply_entries(const std::vector<raft::Entry>& entries, size_t count) {
  if (count == 0) return;
  uint64_t from = entries.front().index;
  if (from <= snapshot_.meta.index || from > last_index() + 1) {
    if (error_.empty()) {
      error_ = "Ready entries start at " + std::to_string(from) + " but the durable log holds (" +
               std::to_string(snapshot_.meta.index) + ", " + std::to_string(last_index()) + "]";
    }
    return;
  }
  // Overwrite: everything from `from` on is replaced.
  while (last_index() >= from) entries_.pop_back();
  for (size_t i = 0; i < count; ++i) {
    const raft::Entry& e = entries[i];
    if (e.index != last_index() + 1) {
      if (error_.empty()) error_ = "Ready entries are not contiguous at " + std::to_string(e.index);
      return;
    }
    uint64_t prev_term = *term(e.index - 1);
    entries_.push_back(e);
    if (listener_) listener_(e, prev_term);
  }
}

void Disk::sync() {
  if (pending_snapshot_) apply_snapshot(*pending_snapshot_);
  for (const auto& batch : pending_entries_) apply_entries(batch, batch.size());
  if (pending_hard_) hard_ = *pending_hard_;
  pending_snapshot_.reset();
  pending_entries_.clear();
  pending_hard_.reset();
}

size_t Disk::crash(Rng& rng) {
  size_t kept = 0;
  // Writes reach the platter in order; the crash cuts the sequence somewhere.
  bool intact = true;
  if (pending_snapshot_) {
    intact = rng.chance(500000);
    if (intact) apply_snapshot(*pending_snapshot_);
  }
  for (const auto& batch : pending_entries_) {
    if (!intact) break;
    size_t n = rng.uniform(batch.size() + 1);
    apply_entries(batch, n);
    kept += n;
    intact = n == batch.size();
  }
  pending_snapshot_.reset();
  pending_entries_.clear();
  pending_hard_.reset();
  return kept;
}

void Disk::save_snapshot(const raft::Snapshot& s) {
  if (s.meta.index <= snapshot_.meta.index) return;
  if (s.meta.index > last_index()) {
    if (error_.empty()) {
      error_ = "snapshot at " + std::to_string(s.meta.index) + " is past the durable log's end " +
               std::to_string(last_index());
    }
    return;
  }
  if (term(s.meta.index) != s.meta.term) {
    if (error_.empty()) {
      error_ = "snapshot at " + std::to_string(s.meta.index) + " has term " +
               std::to_string(s.meta.term) + " but the durable entry there has another";
    }
    return;
  }
  while (!entries_.empty() && entries_.front().index <= s.meta.index) entries_.pop_front();
  snapshot_ = s;
}

raft::InitialState Disk::recover() const {
  raft::InitialState init;
  init.hard = hard_;
  init.snapshot = snapshot_;
  init.entries.assign(entries_.begin(), entries_.end());
  init.applied = snapshot_.meta.index;
  return init;
}

}  // namespace dkv::sim
