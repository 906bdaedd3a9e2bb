// EmbeddedLog: what makes `embedded:///path` durable. Every command the embedded engine applies
// is first appended to a write-ahead log (src/wal) and fdatasynced, so a call returns only once
// its write is on disk; every `snapshot_every` commands the state machine is saved to a snapshot
// file and the log is released behind it. Opening restores the newest snapshot and re-applies
// the logged commands after it, with the timestamps they were stamped with (the state machine is
// deterministic, so the state comes back exactly).
//
// There is no Raft here: one process owns the directory, and the log's entries all have term 1.
// One thread at a time (the embedded engine thread).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/command.h"
#include "core/state_machine.h"
#include "dkv/status.h"
#include "wal/wal.h"

namespace dkv {

class EmbeddedLog {
 public:
  // Opens (creating) dir/wal and dir/snap.
  static Result<std::unique_ptr<EmbeddedLog>> open(const std::string& dir, uint64_t snapshot_every);

  // Restores the newest snapshot into `machine` (a fresh one) and re-applies every logged
  // command after it. An error names the file and what is wrong.
  Status replay(core::StateMachine* machine);
  // Appends one command and syncs it: durable when this returns OK. After an error the log is
  // stopped and every later append fails the same way.
  Status append(const core::Command& command);
  // The command appended last has been applied: every `snapshot_every` of them, saves a
  // snapshot and releases the log behind it.
  Status applied(const core::StateMachine& machine);
  // Saves a snapshot of `machine` at the last logged index now.
  Status snapshot(const core::StateMachine& machine);

 private:
  EmbeddedLog() = default;

  std::string snap_dir_;
  std::unique_ptr<wal::Wal> wal_;
  uint64_t snapshot_every_ = 0;
  uint64_t since_snapshot_ = 0;
};

}  // namespace dkv
