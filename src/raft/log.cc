#include "raft/log.h"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace dkv::raft {

RaftLog::RaftLog(Snapshot snapshot, std::vector<Entry> entries) : snapshot_(std::move(snapshot)) {
  if (!snapshot_.data) snapshot_.data = snapshot_data("");
  for (auto& e : entries) {
    // The host's storage hands over a log that continues its snapshot. Checked in every build:
    // a gap would misplace every later entry, and a node must stop rather than serve that.
    if (e.index != last_index() + 1) {
      std::fprintf(stderr, "raft: the initial log has entry %llu where %llu should follow\n",
                   static_cast<unsigned long long>(e.index),
                   static_cast<unsigned long long>(last_index() + 1));
      std::abort();
    }
    entries_.push_back(std::move(e));
  }
  stabled_ = last_index();
  committed_ = snapshot_.meta.index;
  applied_ = snapshot_.meta.index;
}

std::optional<uint64_t> RaftLog::term(uint64_t index) const {
  if (index == snapshot_.meta.index) return snapshot_.meta.term;
  if (index < first_index() || index > last_index()) return std::nullopt;
  return entries_[index - first_index()].term;
}

bool RaftLog::match_term(uint64_t index, uint64_t t) const {
  auto mine = term(index);
  return mine && *mine == t;
}

const Entry* RaftLog::entry(uint64_t index) const {
  if (index < first_index() || index > last_index()) return nullptr;
  return &entries_[index - first_index()];
}

bool RaftLog::is_up_to_date(uint64_t their_last_index, uint64_t their_last_term) const {
  return their_last_term > last_term() ||
         (their_last_term == last_term() && their_last_index >= last_index());
}

std::optional<uint64_t> RaftLog::maybe_append(uint64_t prev_index, uint64_t prev_term,
                                              std::vector<Entry> entries) {
  // The caller answers appends below our commit index itself (they match by definition), so
  // prev_index is never inside the snapshot.
  assert(prev_index >= snapshot_.meta.index);
  if (!match_term(prev_index, prev_term)) return std::nullopt;
  uint64_t last_new = prev_index + entries.size();
  // Find the first entry that is new or conflicts; keep everything before it.
  size_t i = 0;
  for (; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (!match_term(e.index, e.term)) break;
  }
  if (i < entries.size()) {
    uint64_t from = entries[i].index;
    if (from <= committed_) {
      // A committed entry never conflicts in a correct cluster: better to stop than to apply a
      // different history. (The deliberately broken test build lets it through so that the
      // simulator's checker, not this line, must catch the damage.)
#ifndef DKV_RAFT_BUG_COMMIT_OLD_TERMS
      std::fprintf(stderr, "raft: entry %llu conflicts below commit index %llu\n",
                   static_cast<unsigned long long>(from), static_cast<unsigned long long>(committed_));
      std::abort();
#else
      committed_ = from - 1;
      applied_ = std::min(applied_, committed_);
#endif
    }
    if (from <= last_index()) {
      entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(from - first_index()),
                     entries_.end());
      stabled_ = std::min(stabled_, from - 1);
      in_progress_ = std::min(in_progress_, from - 1);  // the host's in-flight copy is stale
    }
    for (; i < entries.size(); ++i) entries_.push_back(std::move(entries[i]));
  }
  return last_new;
}

void RaftLog::append(std::vector<Entry> entries) {
  for (auto& e : entries) {
    assert(e.index == last_index() + 1);
    entries_.push_back(std::move(e));
  }
}

uint64_t RaftLog::find_conflict_by_term(uint64_t index, uint64_t t) const {
  index = std::min(index, last_index());
  while (index > snapshot_.meta.index) {
    if (entries_[index - first_index()].term <= t) return index;
    --index;
  }
  return snapshot_.meta.index;
}

std::optional<std::vector<Entry>> RaftLog::entries_from(uint64_t lo, uint64_t max_bytes) const {
  if (lo < first_index()) return std::nullopt;
  std::vector<Entry> out;
  uint64_t bytes = 0;
  for (uint64_t i = lo; i <= last_index(); ++i) {
    const Entry& e = entries_[i - first_index()];
    bytes += e.data.size();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

std::vector<Entry> RaftLog::unstable_entries() const {
  std::vector<Entry> out;
  for (uint64_t i = std::max(std::max(stabled_, in_progress_) + 1, first_index()); i <= last_index(); ++i) {
    out.push_back(entries_[i - first_index()]);
  }
  return out;
}

bool RaftLog::has_next_committed() const {
  return std::min(committed_, stabled_) > std::max(applied_, applying_) && !pending_snapshot_;
}

std::vector<Entry> RaftLog::next_committed(uint64_t max_bytes) const {
  std::vector<Entry> out;
  if (pending_snapshot_) return out;  // the snapshot must be installed first
  uint64_t hi = std::min(committed_, stabled_);
  uint64_t bytes = 0;
  for (uint64_t i = std::max(std::max(applied_, applying_) + 1, first_index()); i <= hi; ++i) {
    const Entry& e = entries_[i - first_index()];
    bytes += e.data.size();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

void RaftLog::commit_to(uint64_t index) {
  if (index > committed_) {
    assert(index <= last_index());
    committed_ = index;
  }
}

bool RaftLog::maybe_commit(uint64_t index, uint64_t t) {
  if (index > committed_ && match_term(index, t)) {
    committed_ = index;
    return true;
  }
  return false;
}

void RaftLog::applied_to(uint64_t index) {
  assert(index <= committed_);
  if (index > applied_) applied_ = index;
}

void RaftLog::handed_out(uint64_t persisting, uint64_t applying) {
  in_progress_ = std::max(in_progress_, persisting);
  applying_ = std::max(applying_, applying);
}

void RaftLog::stable_to(uint64_t index, uint64_t t) {
  if (match_term(index, t) && index > stabled_) stabled_ = index;
}

void RaftLog::restore(Snapshot snapshot) {
  entries_.clear();
  snapshot_ = snapshot;
  stabled_ = snapshot_.meta.index;
  committed_ = snapshot_.meta.index;
  applied_ = snapshot_.meta.index;  // the host installs the snapshot before applying more
  in_progress_ = snapshot_.meta.index;
  applying_ = snapshot_.meta.index;
  pending_snapshot_ = std::move(snapshot);
}

void RaftLog::compact(uint64_t index, ConfState conf, SnapshotDataPtr data) {
  assert(index <= applied_ && index >= snapshot_.meta.index);
  uint64_t t = *term(index);
  while (!entries_.empty() && entries_.front().index <= index) entries_.pop_front();
  snapshot_.meta.index = index;
  snapshot_.meta.term = t;
  snapshot_.meta.conf = std::move(conf);
  snapshot_.data = std::move(data);
}

}  // namespace dkv::raft
