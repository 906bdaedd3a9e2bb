// Snapshot files: a state machine image with its Raft metadata, one file per snapshot, named
// <term>-<index>.snap (16 lower-case hex digits each) in a directory of their own.
//
//   offset 0   8 bytes  magic "DKVSNAP\n"
//          8   u32      format version (1)
//         12   u32      meta length M
//         16   u64      data length D
//         24   M bytes  raft::SnapshotMeta (raft/codec.h)
//     24 + M   D bytes  data
//  24 + M + D  u32      masked CRC32C of every byte before it
//
// save_snapshot writes <name>.tmp, fsyncs it, renames it into place and fsyncs the directory, so
// a file with a final name is always complete; a crash leaves at most a .tmp file, which
// load_latest_snapshot ignores and purge_snapshots removes.
//
// load_latest_snapshot does not fall back to an older snapshot when the newest is damaged: once a
// snapshot is saved, the host may record its marker in the WAL and release the segments it covers
// (Wal::release_to), after which an older snapshot plus the WAL can no longer rebuild the state.
// A damaged newest snapshot is an error naming the file, for an operator (or a fresh copy from
// the leader) to resolve.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "dkv/status.h"
#include "raft/types.h"

namespace dkv::wal {

struct SnapshotFile {
  raft::SnapshotMeta meta;
  std::string data;
  std::string path;
};

std::string snapshot_file_name(uint64_t term, uint64_t index);

// Writes the snapshot durably into `dir` (created if missing), reading `data` a few MiB at a time.
Status save_snapshot(const std::string& dir, const raft::SnapshotMeta& meta,
                     const raft::SnapshotData& data);

// The data of the snapshot file at `path`, read from the file when asked (the file stays open,
// so it remains readable after purge_snapshots removes its name). Checks the header only: use it
// for a file this process wrote or already checked with read_snapshot.
Result<raft::SnapshotDataPtr> open_snapshot_data(const std::string& path);

// Reads and checks one snapshot file: format, CRC, and a meta that agrees with its name.
Result<SnapshotFile> read_snapshot(const std::string& path);
// The same for a copy under any name (a backup, `dkv backup`): format and CRC.
Result<SnapshotFile> read_backup(const std::string& path);

// The snapshot with the highest index in `dir`; nullopt if there is none (or no directory).
Result<std::optional<SnapshotFile>> load_latest_snapshot(const std::string& dir);

// Removes all but the `keep` newest snapshots (keep >= 1), and leftover .tmp files.
Status purge_snapshots(const std::string& dir, size_t keep);

}  // namespace dkv::wal
