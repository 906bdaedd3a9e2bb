#include "wal/replay.h"

#include <string>
#include <utility>

#include "raft/codec.h"

namespace dkv::wal {

using raft::Entry;

namespace {

Status undecodable(std::string_view what) {
  return Status(Code::kInternal, "record does not decode as " + std::string(what));
}

}  // namespace

void Replayer::drop_through(uint64_t index) {
  std::vector<Entry>& es = state_.entries;
  if (es.empty() || es.front().index > index) return;
  if (es.back().index <= index) {
    es.clear();
    return;
  }
  es.erase(es.begin(), es.begin() + static_cast<ptrdiff_t>(index - es.front().index + 1));
}

Status Replayer::apply(RecordType type, std::string_view payload) {
  switch (type) {
    case RecordType::kEntry: {
      auto e = raft::decode_entry(payload);
      if (!e) return undecodable("an entry");
      std::vector<Entry>& es = state_.entries;
      if (!es.empty() && e->index > es.back().index + 1) {
        return Status(Code::kInternal, "entry " + std::to_string(e->index) + " follows entry " +
                                           std::to_string(es.back().index));
      }
      if (!es.empty() && e->index >= es.front().index) {
        es.resize(e->index - es.front().index);  // overwrite from e->index on
      } else {
        es.clear();
      }
      es.push_back(std::move(*e));
      return Status();
    }
    case RecordType::kHardState: {
      auto hs = raft::decode_hard_state(payload);
      if (!hs) return undecodable("a hard state");
      state_.hard_state = *hs;
      return Status();
    }
    case RecordType::kSnapshot:
    case RecordType::kSnapshotInstalled: {
      auto meta = raft::decode_snapshot_meta(payload);
      if (!meta) return undecodable("a snapshot marker");
      if (type == RecordType::kSnapshotInstalled) {
        state_.entries.clear();
      } else {
        drop_through(meta->index);
      }
      state_.snapshot = std::move(*meta);
      return Status();
    }
  }
  return Status(Code::kInternal, "unknown record type");
}

Result<Recovered> Replayer::finish() && {
  uint64_t base = state_.snapshot ? state_.snapshot->index : 0;
  drop_through(base);
  if (!state_.entries.empty() && state_.entries.front().index != base + 1) {
    return Status(Code::kInternal, "the log after the snapshot at " + std::to_string(base) +
                                       " starts at entry " +
                                       std::to_string(state_.entries.front().index));
  }
  return std::move(state_);
}

}  // namespace dkv::wal
