// WalStorage: RaftStorage on disk — the WAL (src/wal) behind a group-commit SyncThread, and
// snapshot files — for a member whose data directory is `dir`:
//   dir/wal/    segment files (wal.h)
//   dir/snap/   snapshot files (snapshot_file.h)
// persist() runs on the sync thread: a received snapshot is written to its file and marked in
// the WAL, then the entries and hard state are appended; one fdatasync covers everything queued
// meanwhile, and the completion is posted back to the event loop.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <asio.hpp>

#include "raft/raft.h"
#include "server/raft_node.h"
#include "wal/sync_thread.h"
#include "wal/wal.h"

namespace dkv::server {

class WalStorage : public RaftStorage {
 public:
  // Opens (or creates) the member's storage and recovers what it holds. If it holds nothing and
  // `bootstrap` is given (a member of a new cluster), that membership is recorded durably first
  // (a snapshot marker at index 0), so a restart finds it without being told again.
  static Result<std::unique_ptr<WalStorage>> open(asio::io_context& io, const std::string& dir,
                                                  std::optional<raft::ConfState> bootstrap = {},
                                                  wal::WalOptions options = {});
  ~WalStorage() override;

  // Makes `dir`, which must hold no Raft state, the start of a new group with membership `conf`
  // whose state is the backup at `backup_path` (a snapshot file, checked): its snapshot file
  // (the backup's index and term, the new membership) and a WAL that starts after it.
  static Status restore(const std::string& dir, const std::string& backup_path, const raft::ConfState& conf);

  // Whether the directory held any Raft state (false: a new member, to bootstrap).
  bool recovered_anything() const { return recovered_anything_; }
  // The recovered state for Raft (hard state, latest snapshot with its data, entries after it).
  // The snapshot's data is read from its file (checked at open). Moves the entries out: call once.
  raft::InitialState take_initial_state();

  void persist(std::shared_ptr<const raft::Ready> ready, std::function<void(Status)> done) override;

  // The host snapshotted its own state machine at meta.index: writes the snapshot file, marks it
  // in the WAL, and releases the segments it covers; `done` is posted to the event loop.
  void save_snapshot(raft::SnapshotMeta meta, raft::SnapshotDataPtr data,
                     std::function<void(Status)> done);

  // The data of a snapshot this storage has saved (by save_snapshot, or persist() of a received
  // one), read from its file when asked: what Raft should hold instead of an in-memory image.
  Result<raft::SnapshotDataPtr> snapshot_data(const raft::SnapshotMeta& meta) const;

  uint64_t syncs() const { return wal_->syncs(); }
  // The disk is (nearly) full: the WAL could not allocate its next segment (wal.h). Writes
  // should be refused until retry_space() succeeds, which allocates it if there is room now.
  bool low_space() const { return wal_->low_space(); }
  void retry_space();

 private:
  WalStorage() = default;

  std::string snap_dir_;
  std::unique_ptr<wal::Wal> wal_;
  std::unique_ptr<wal::SyncThread> sync_;
  raft::InitialState initial_;
  bool recovered_anything_ = false;
};

}  // namespace dkv::server
