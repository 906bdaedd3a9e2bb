// Replay: rebuilds a WAL's contents from its records, in the order they were written.
//
// - kEntry at index i overwrites: entries >= i are dropped first (a new leader rewrote the tail).
//   An entry more than one past the last one kept is a gap, which only a damaged or misused log
//   can produce: an error. (When nothing is kept yet, any index may start the run, because
//   released segments may have held the entries before it.)
// - kHardState replaces the previous one.
// - kSnapshot at index S: entries <= S are covered by the snapshot and dropped.
//   kSnapshotInstalled: the log restarts after S (RaftLog::restore), so every entry is dropped.
//
// The result's entries are contiguous and start at the latest snapshot's index + 1 (or at 1).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "dkv/status.h"
#include "raft/types.h"
#include "wal/record.h"

namespace dkv::wal {

struct Recovered {
  std::optional<raft::HardState> hard_state;  // the latest written
  std::optional<raft::SnapshotMeta> snapshot;  // the latest snapshot marker written
  std::vector<raft::Entry> entries;  // the live log after snapshot->index (or from index 1)
};

class Replayer {
 public:
  // Applies one record; an error (payload that does not decode, a gap) describes the record.
  Status apply(RecordType type, std::string_view payload);
  // The final state, or an error if the entries do not follow the snapshot.
  Result<Recovered> finish() &&;

 private:
  void drop_through(uint64_t index);  // entries <= index

  Recovered state_;
};

}  // namespace dkv::wal
