#include "server/wal_storage.h"

#include <cstdio>
#include <filesystem>
#include <system_error>
#include <utility>

#include "raft/codec.h"
#include "wal/posix_file.h"
#include "wal/snapshot_file.h"

namespace dkv::server {

Result<std::unique_ptr<WalStorage>> WalStorage::open(asio::io_context& io, const std::string& dir,
                                                     std::optional<raft::ConfState> bootstrap,
                                                     wal::WalOptions options) {
  std::unique_ptr<WalStorage> s(new WalStorage());
  s->snap_dir_ = dir + "/snap";
  std::error_code ec;
  std::filesystem::create_directories(s->snap_dir_, ec);
  if (ec) return Status(Code::kUnavailable, "cannot create " + s->snap_dir_ + ": " + ec.message());

  auto wal = wal::Wal::open(dir + "/wal", std::move(options));
  if (!wal.ok()) return wal.status();
  s->wal_ = std::move(wal).value();
  wal::Recovered rec = s->wal_->take_recovered();
  bool fresh = !rec.hard_state && !rec.snapshot && rec.entries.empty();
  if (fresh && bootstrap) {
    // The membership is in two places: at index 0 (the bootstrap snapshot's meta), so that this
    // node can campaign at once, and as committed entries 1..N of term 1 (one AddVoter per
    // member, in id order, the same bytes on every bootstrapped member), so that a node that
    // joins later and receives the log from index 1 learns every original member. Re-applying
    // them here changes nothing.
    raft::SnapshotMeta meta;
    meta.conf = *bootstrap;
    std::vector<raft::Entry> members;
    for (raft::NodeId id : bootstrap->voters) {
      raft::Entry e;
      e.term = 1;
      e.index = members.size() + 1;
      e.type = raft::EntryType::kConfChange;
      e.data = raft::encode_conf_change(raft::ConfChange{raft::ConfChangeType::kAddVoter, id, ""});
      members.push_back(std::move(e));
    }
    const raft::HardState hard{1, 0, members.size()};
    Status st = s->wal_->save_snapshot_marker(meta, wal::SnapshotKind::kCompacted);
    if (st.ok()) st = s->wal_->save(hard, members);
    if (st.ok()) st = s->wal_->sync();
    if (!st.ok()) return st;
    rec.snapshot = meta;
    rec.hard_state = hard;
    rec.entries = std::move(members);
  }

  raft::InitialState& init = s->initial_;
  if (rec.hard_state) init.hard = *rec.hard_state;
  // The newest snapshot file may be newer than the WAL's newest marker: a crash after the file
  // was fsynced and renamed but before its marker reached the disk. A file holds only committed
  // state (an applied prefix, or a leader's snapshot being installed), so it is trusted.
  const uint64_t marker = rec.snapshot ? rec.snapshot->index : 0;
  auto file = wal::load_latest_snapshot(s->snap_dir_);
  if (!file.ok()) return file.status();
  if (file->has_value() && (*file)->meta.index > 0 && (*file)->meta.index >= marker) {
    init.snapshot.meta = (*file)->meta;
    auto data = wal::open_snapshot_data((*file)->path);  // checked just now by the load
    if (!data.ok()) return data.status();
    init.snapshot.data = std::move(data).value();
  } else if (marker > 0) {
    return Status(Code::kInternal, "the WAL in " + dir + " names a snapshot at index " +
                                       std::to_string(marker) + " but " + s->snap_dir_ +
                                       " does not hold it");
  } else if (rec.snapshot) {
    init.snapshot.meta = *rec.snapshot;  // the bootstrap membership at index 0
  }
  if (!init.snapshot.data) init.snapshot.data = raft::snapshot_data("");
  // Entries the snapshot covers go. If the log disagrees with the snapshot at its index (a
  // follower's uncommitted entries, superseded by the leader's snapshot), the whole log goes,
  // as a Raft install does; so does a log that does not continue right after the snapshot.
  const raft::SnapshotMeta& snap = init.snapshot.meta;
  std::vector<raft::Entry> entries;
  entries.reserve(rec.entries.size());
  bool conflict = false;
  for (raft::Entry& e : rec.entries) {
    if (e.index == snap.index && e.term != snap.term) conflict = true;
    if (e.index > snap.index) entries.push_back(std::move(e));
  }
  if (conflict || (!entries.empty() && entries.front().index != snap.index + 1)) entries.clear();
  init.entries = std::move(entries);
  if (init.hard.commit < snap.index) init.hard.commit = snap.index;
  init.applied = init.snapshot.meta.index;
  s->recovered_anything_ = !fresh;

  s->sync_ = std::make_unique<wal::SyncThread>(
      s->wal_.get(), [&io](std::function<void()> fn) { asio::post(io, std::move(fn)); });
  return s;
}

Status WalStorage::restore(const std::string& dir, const std::string& backup_path, const raft::ConfState& conf) {
  auto backup = wal::read_backup(backup_path);
  if (!backup.ok()) return backup.status();
  const std::string snap_dir = dir + "/snap";
  auto existing = wal::list_dir(dir + "/wal");
  if (existing.ok() && !existing->empty()) {
    return Status(Code::kInvalidArgument, "--restore needs a new data directory, and " + dir + " already holds a log");
  }
  raft::SnapshotMeta meta = backup->meta;
  meta.conf = conf;
  if (meta.index == 0 || meta.term == 0) {
    return Status(Code::kInvalidArgument, backup_path + " is an empty snapshot (index 0): nothing to restore");
  }
  Status s = wal::save_snapshot(snap_dir, meta, *raft::snapshot_data(std::move(backup->data)));
  if (!s.ok()) return s;
  auto log = wal::Wal::open(dir + "/wal", {});
  if (!log.ok()) return log.status();
  // The term of the backup's last entry, so the new log continues it; nothing is uncommitted.
  s = (*log)->save_snapshot_marker(meta, wal::SnapshotKind::kCompacted);
  if (s.ok()) s = (*log)->save(raft::HardState{meta.term, 0, meta.index}, {});
  if (s.ok()) s = (*log)->sync();
  return s;
}

WalStorage::~WalStorage() {
  if (sync_) sync_->stop();
}

raft::InitialState WalStorage::take_initial_state() { return std::move(initial_); }

void WalStorage::persist(std::shared_ptr<const raft::Ready> ready, std::function<void(Status)> done) {
  std::string snap_dir = snap_dir_;
  sync_->submit(
      [ready, snap_dir](wal::Wal& w) -> Status {
        if (ready->snapshot) {
          // A snapshot from the leader is not optional: on a full disk the member waits for
          // space (low_space() shows it) instead of stopping.
          const raft::Snapshot& s = *ready->snapshot;
          bool told = false;
          Status st = w.retry_while_full([&] {
            Status saved = wal::save_snapshot(snap_dir, s.meta, *s.data);
            if (!saved.ok() && wal::is_no_space(saved) && !told) {
              told = true;
              std::fprintf(stderr, "dkv-server: no space in %s for the snapshot the leader sent: waiting for space\n",
                           snap_dir.c_str());
            }
            return saved;
          });
          if (!st.ok()) return st;
          st = w.save_snapshot_marker(s.meta, wal::SnapshotKind::kInstalled);
          if (!st.ok()) return st;
        }
        return w.save(ready->hard_state, ready->entries);
      },
      std::move(done));
}

Result<raft::SnapshotDataPtr> WalStorage::snapshot_data(const raft::SnapshotMeta& meta) const {
  return wal::open_snapshot_data(wal::join_path(snap_dir_, wal::snapshot_file_name(meta.term, meta.index)));
}

void WalStorage::save_snapshot(raft::SnapshotMeta meta, raft::SnapshotDataPtr data,
                               std::function<void(Status)> done) {
  std::string snap_dir = snap_dir_;
  // File first, then the marker that trusts it, then the release of what it covers (the Wal
  // defers deleting segments until the marker is synced). A snapshot file that cannot be
  // written (e.g. the disk is full) leaves the log as it was: the next snapshot tries again.
  sync_->submit(
      [meta, data, snap_dir](wal::Wal& w) -> Status {
        Status st = wal::save_snapshot(snap_dir, meta, *data);
        if (st.ok()) st = w.save_snapshot_marker(meta, wal::SnapshotKind::kCompacted);
        if (st.ok()) st = w.release_to(meta.index);
        if (st.ok()) st = wal::purge_snapshots(snap_dir, 2);
        return st;
      },
      std::move(done));
}

void WalStorage::retry_space() {
  sync_->submit([](wal::Wal& w) { return w.prepare_spare(); }, [](Status) {});
}

}  // namespace dkv::server
