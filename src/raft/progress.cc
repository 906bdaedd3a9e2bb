#include "raft/progress.h"

#include <algorithm>

namespace dkv::raft {

const char* progress_state_name(ProgressState state) {
  switch (state) {
    case ProgressState::kProbe: return "probe";
    case ProgressState::kReplicate: return "replicate";
    case ProgressState::kSnapshot: return "snapshot";
  }
  return "unknown";
}

void Inflights::add(uint64_t last_index) {
  ring_[(start_ + count_) % ring_.size()] = last_index;
  ++count_;
}

void Inflights::free_to(uint64_t index) {
  while (count_ > 0 && ring_[start_] <= index) {
    start_ = (start_ + 1) % ring_.size();
    --count_;
  }
}

void Progress::become_probe() {
  // After a snapshot, the follower has at least the snapshot's index.
  if (state == ProgressState::kSnapshot) {
    next = std::max(match + 1, snapshot_index + 1);
  } else {
    next = match + 1;
  }
  state = ProgressState::kProbe;
  probe_sent = false;
  snapshot_index = snapshot_sent = snapshot_acked = snapshot_acked_at_beat = 0;
  inflights.reset();
}

void Progress::become_replicate() {
  state = ProgressState::kReplicate;
  next = match + 1;
  probe_sent = false;
  snapshot_index = snapshot_sent = snapshot_acked = snapshot_acked_at_beat = 0;
  inflights.reset();
}

void Progress::become_snapshot(uint64_t index) {
  state = ProgressState::kSnapshot;
  probe_sent = false;
  snapshot_index = index;
  snapshot_sent = snapshot_acked = snapshot_acked_at_beat = 0;
  inflights.reset();
}

bool Progress::maybe_update(uint64_t n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::maybe_decrease_to(uint64_t rejected, uint64_t hint) {
  if (state == ProgressState::kReplicate) {
    // Only a rejection of something sent after the last match is news.
    if (rejected <= match) return false;
    next = match + 1;
    return true;
  }
  // In probe, only the answer to the probe in flight (next - 1) counts.
  if (next - 1 != rejected) return false;
  next = std::max(std::min(rejected, hint + 1), match + 1);
  probe_sent = false;
  return true;
}

bool Progress::paused() const {
  switch (state) {
    case ProgressState::kProbe: return probe_sent;
    case ProgressState::kReplicate: return inflights.full();
    case ProgressState::kSnapshot: return true;
  }
  return true;
}

}  // namespace dkv::raft
