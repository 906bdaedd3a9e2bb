#include "client/embedded_log.h"

#include <filesystem>
#include <system_error>
#include <vector>

#include "wal/snapshot_file.h"

namespace dkv {

namespace {
constexpr uint64_t kTerm = 1;  // no elections: every entry has the same term
}  // namespace

Result<std::unique_ptr<EmbeddedLog>> EmbeddedLog::open(const std::string& dir,
                                                       uint64_t snapshot_every) {
  std::unique_ptr<EmbeddedLog> log(new EmbeddedLog());
  log->snap_dir_ = dir + "/snap";
  log->snapshot_every_ = snapshot_every;
  std::error_code ec;
  std::filesystem::create_directories(log->snap_dir_, ec);
  if (ec) return Status(Code::kUnavailable, "cannot create " + log->snap_dir_ + ": " + ec.message());
  auto wal = wal::Wal::open(dir + "/wal");
  if (!wal.ok()) return wal.status();
  log->wal_ = std::move(wal).value();
  return log;
}

Status EmbeddedLog::replay(core::StateMachine* machine) {
  wal::Recovered rec = wal_->take_recovered();
  // The newest snapshot file may be newer than the log's marker (a crash between the two):
  // the file holds only applied commands, so it wins and the entries it covers are skipped.
  uint64_t from = rec.snapshot ? rec.snapshot->index : 0;
  auto file = wal::load_latest_snapshot(snap_dir_);
  if (!file.ok()) return file.status();
  if (file->has_value() && (*file)->meta.index >= from && (*file)->meta.index > 0) {
    Status s = machine->restore_snapshot((*file)->data);
    if (!s.ok()) return Status(s.code(), (*file)->path + ": " + s.message());
    from = (*file)->meta.index;
  } else if (from > 0) {
    return Status(Code::kInternal, "the log names a snapshot at index " + std::to_string(from) +
                                       " but " + snap_dir_ + " does not hold it");
  }
  for (const raft::Entry& e : rec.entries) {
    if (e.index <= from) continue;
    Result<core::Command> command = core::decode_command(e.data);
    if (!command.ok()) {
      return Status(Code::kInternal, "log entry " + std::to_string(e.index) +
                                         " does not decode: " + command.status().message());
    }
    machine->apply(*command, nullptr);  // a refused command is refused again: same state
  }
  return Status();
}

Status EmbeddedLog::append(const core::Command& command) {
  std::vector<raft::Entry> entries(1);
  entries[0].term = kTerm;
  entries[0].index = wal_->last_index() + 1;
  entries[0].data = core::encode_command(command);
  Status s = wal_->save(raft::HardState{kTerm, 0, entries[0].index}, entries);
  if (s.ok()) s = wal_->sync();
  return s;
}

Status EmbeddedLog::applied(const core::StateMachine& machine) {
  if (snapshot_every_ == 0 || ++since_snapshot_ < snapshot_every_) return Status();
  return snapshot(machine);
}

Status EmbeddedLog::snapshot(const core::StateMachine& machine) {
  since_snapshot_ = 0;
  raft::SnapshotMeta meta;
  meta.index = wal_->last_index();
  meta.term = kTerm;
  // The file first, then the marker that trusts it, then the release of what it covers.
  Status s = wal::save_snapshot(snap_dir_, meta, *raft::snapshot_data(machine.save_snapshot()));
  if (s.ok()) s = wal_->save_snapshot_marker(meta, wal::SnapshotKind::kCompacted);
  if (s.ok()) s = wal_->sync();
  if (s.ok()) s = wal_->release_to(meta.index);
  if (s.ok()) s = wal::purge_snapshots(snap_dir_, 2);
  return s;
}

}  // namespace dkv
