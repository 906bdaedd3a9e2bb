// Wal: a Raft member's write-ahead log — hard state, entries and snapshot markers — in a
// directory of preallocated segment files (segment.h) holding checksummed records (record.h).
//
// Writing and syncing are separate: save() and save_snapshot_marker() hand records to the OS;
// sync() makes everything written so far durable (one fdatasync). Nothing may be acknowledged
// before the sync that covers it; SyncThread batches many writers into one sync.
//
// Recovery (open): segments are replayed in order (replay.h). A bad record at the end of the last
// segment — a write torn by a crash, or garbage after the data — is cut off, and the file is
// re-zeroed so later appends are clean. A bad record anywhere else, or one followed by a valid
// record, may be acknowledged data: open fails with a message naming the file and byte offset.
//
// Errors: after any failed write or sync the Wal refuses all further writes with that error
// (after a failed fdatasync the kernel may have dropped the dirty pages; retrying could report
// success for data that is gone). Errors name the file and the errno text.
//
// A full disk is not such an error. The next segment is always allocated ahead, as a spare file
// (spare.wal.tmp), so a full disk shows up when the spare cannot be made — while the current
// segment still has room — and low_space() tells the host to stop taking writes (reads need no
// disk). The spare is made again by prepare_spare(), which the host calls now and then while
// space is low. Should the current segment fill up anyway, the Wal waits for space (retrying
// every `space_retry`) rather than fail: nothing is lost, and a stalled member is what a disk
// that cannot take writes looks like to Raft.
//
// A Wal is not thread-safe: one thread at a time (with a SyncThread, only its thread).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dkv/status.h"
#include "raft/types.h"
#include "wal/posix_file.h"
#include "wal/replay.h"
#include "wal/segment.h"

namespace dkv::wal {

struct WalOptions {
  // Each segment is preallocated to this size; a batch that would not fit in the current segment
  // goes into a new one (a batch larger than a segment gets a segment of its own, grown to fit).
  uint64_t segment_bytes = 64ull << 20;
  // Tests only: called before each write ("write"), fdatasync ("fdatasync"), segment creation
  // ("create"), spare creation ("spare"); a non-zero return is taken as that errno from the
  // operation.
  std::function<int(std::string_view op)> inject_error;
  // How often a segment that cannot be created for lack of space is tried again.
  std::chrono::milliseconds space_retry{1000};
};

enum class SnapshotKind : uint8_t {
  kCompacted,  // the host snapshotted its own state machine: entries after the index are kept
  kInstalled,  // the host installed a snapshot from the leader (Ready.snapshot): the log restarts
};

class Wal {
 public:
  // Opens the log in `dir` (created if missing) and replays it; an empty directory gives an
  // empty log whose first entry must be index 1 (or follow a snapshot marker).
  static Result<std::unique_ptr<Wal>> open(std::string dir, WalOptions options = {});
  ~Wal();  // closes without syncing
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

  // What open() replayed. take_recovered() moves it out (the log may be large).
  const Recovered& recovered() const { return recovered_; }
  Recovered take_recovered() { return std::move(recovered_); }

  // Appends `entries` (contiguous; the first at most last_index() + 1, overwriting the log from
  // there, and above the latest snapshot marker), then `hard_state` if given.
  // kInvalidArgument for entries that break these rules; nothing is written then.
  Status save(const std::optional<raft::HardState>& hard_state,
              const std::vector<raft::Entry>& entries);
  // Records that a snapshot covers the log up to meta.index (never below an earlier marker).
  // Write the snapshot file (snapshot_file.h) durably first: replay trusts the marker.
  Status save_snapshot_marker(const raft::SnapshotMeta& meta, SnapshotKind kind);
  // Makes every record written so far durable; free when nothing was written since the last.
  Status sync();

  // Deletes whole segments that replay no longer needs once a snapshot covers `index`: those
  // before the last segment whose first index is <= index + 1. (Live entries of earlier segments
  // all have lower indexes — segment.h — and each segment starts with copies of the latest
  // snapshot marker and hard state, so nothing replay needs is lost.) Never deletes the current
  // segment. Requires a snapshot marker at >= index (kInvalidArgument otherwise); if that marker
  // is not synced yet, the release waits for the next successful sync() (so it may be submitted
  // in the same SyncThread round as the marker). A deferred release that fails is retried after
  // the following sync.
  Status release_to(uint64_t index);

  // The index the next appended entry would follow (the log's last index, or the snapshot's).
  uint64_t last_index() const { return last_index_; }
  // fdatasync calls made so far (including those when a segment fills up). Any thread.
  uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }
  // Allocates the spare segment if there is none: OK if there is one now, else why not (and
  // low_space() stays true).
  Status prepare_spare();
  // True while the spare segment cannot be allocated: the disk is (nearly) full. Any thread.
  bool low_space() const { return low_space_.load(std::memory_order_relaxed); }
  // Runs `attempt` until it succeeds or fails for another reason than a full disk. While the disk
  // is full, low_space() is true and `attempt` is tried again every `space_retry`, until
  // cancel_waits(). For writes a member cannot do without: the next segment, a snapshot received
  // from the leader. (`attempt` must leave nothing behind when it fails.)
  Status retry_while_full(const std::function<Status()>& attempt);
  // Makes a wait for space give up (the write fails and stops the Wal): for shutting down.
  // Any thread.
  void cancel_waits() { cancel_waits_.store(true, std::memory_order_relaxed); }

  // OK, or the error that stopped the Wal.
  const Status& failure() const { return failed_; }
  const std::vector<SegmentId>& segments() const { return segments_; }
  const std::string& dir() const { return dir_; }

 private:
  Wal(std::string dir, WalOptions options);

  Status recover();
  Status replay_segment(const SegmentId& id, bool last, Replayer* replayer, uint64_t* end,
                        bool* tail_zero);
  Status open_current(uint64_t end, bool tail_zero);
  Status create_segment(const SegmentId& id);
  Status create_segment_file(const std::string& path, const std::string& content);
  Status roll();
  Status append(const std::string& records);
  Status fault(std::string_view op, const std::string& path);
  Status fail(Status s);  // records a fatal error and returns it
  void marker_synced();
  Status remove_segments_before(uint64_t index);
  std::string path_of(const SegmentId& id) const;

  const std::string dir_;
  const WalOptions options_;
  Recovered recovered_;

  std::vector<SegmentId> segments_;  // every segment on disk, in seq order; the last is current
  FileHandle file_;                  // the current segment
  std::string path_;
  uint64_t offset_ = 0;      // end of written data in the current segment
  uint64_t data_start_ = 0;  // where its records after the copied state begin
  bool dirty_ = false;       // written since the last sync

  uint64_t last_index_ = 0;
  std::optional<raft::HardState> hard_state_;  // latest written, copied into each new segment
  std::optional<raft::SnapshotMeta> snapshot_;  // latest marker written, likewise
  uint64_t synced_marker_index_ = 0;  // the latest marker known durable
  uint64_t pending_release_ = 0;      // release_to waiting for its marker's sync; 0 = none

  const std::string spare_path_;
  bool has_spare_ = false;
  std::atomic<bool> low_space_{false};
  std::atomic<bool> cancel_waits_{false};

  Status failed_;
  std::atomic<uint64_t> syncs_{0};
  std::string buf_;  // records being assembled
};

}  // namespace dkv::wal
