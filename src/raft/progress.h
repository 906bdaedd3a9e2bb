// Progress: what a leader knows of one follower's log, and the flow control of what it sends.
//
// States (as in etcd raft):
// - kProbe: the leader does not know where the follower's log matches; it sends one kAppend at
//   a time (then waits for an answer or the next heartbeat) and walks `next` back on rejection.
// - kReplicate: logs match up to `match`; the leader streams entries optimistically, advancing
//   `next` as it sends, with at most max_inflight_msgs messages unacknowledged (Inflights).
// - kSnapshot: the follower needs entries the leader has compacted; the leader streams snapshot
//   chunks and sends no entries until the follower has installed it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/container/btree_map.h"
#include "raft/types.h"

namespace dkv::raft {

enum class ProgressState : uint8_t { kProbe, kReplicate, kSnapshot };

const char* progress_state_name(ProgressState state);

// The last index of each kAppend in flight, oldest first, in a fixed-size ring.
class Inflights {
 public:
  explicit Inflights(size_t capacity) : ring_(capacity) {}

  bool full() const { return count_ == ring_.size(); }
  size_t count() const { return count_; }
  void add(uint64_t last_index);
  // Frees every message whose last index is <= index (the follower acknowledged up to it).
  void free_to(uint64_t index);
  // Frees the oldest: a heartbeat answer shows the follower is alive, and if an append of a
  // full window was lost, nothing else would ever free it.
  void free_first_one() { if (count_ > 0) free_to(ring_[start_]); }
  void reset() { start_ = 0; count_ = 0; }

 private:
  std::vector<uint64_t> ring_;
  size_t start_ = 0;
  size_t count_ = 0;
};

struct Progress {
  explicit Progress(size_t max_inflight, uint64_t next_index, bool is_learner)
      : next(next_index), learner(is_learner), inflights(max_inflight) {}

  uint64_t match = 0;
  uint64_t next = 1;
  ProgressState state = ProgressState::kProbe;
  bool probe_sent = false;     // kProbe: a message is out; wait for its answer or a heartbeat
  bool recent_active = false;  // heard from since the last check-quorum round
  bool learner = false;
  Inflights inflights;

  // kSnapshot: the snapshot being streamed and how far.
  uint64_t snapshot_index = 0;
  uint64_t snapshot_sent = 0;   // bytes sent so far
  uint64_t snapshot_acked = 0;  // bytes the follower confirmed
  uint64_t snapshot_acked_at_beat = 0;  // snapshot_acked at the last heartbeat answer: no
                                        // progress between two of them means a chunk was lost

  void become_probe();
  void become_replicate();
  void become_snapshot(uint64_t index);

  // The follower matched up to n: returns false if that is old news.
  bool maybe_update(uint64_t n);
  // A rejection of the append at `rejected` with the follower's hint: moves next back and
  // returns true, or false if the rejection is stale.
  bool maybe_decrease_to(uint64_t rejected, uint64_t hint);
  // Whether the leader should hold back entries for now.
  bool paused() const;
};

// Ordered by node id so that iteration (and hence message order) is deterministic.
using ProgressMap = absl::btree_map<NodeId, Progress>;

}  // namespace dkv::raft
