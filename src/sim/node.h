// Node: one simulated host. It owns a Raft member, the member's disk and its state machine,
// and runs the Ready loop between them exactly as the contract in raft/types.h says:
//   1. persist the snapshot, entries and hard state, then sync when Ready::must_sync() (a crash
//      may strike here); a commit-only hard state is left unsynced, for a crash to lose;
//   2. send the messages;
//   3. install the snapshot and apply the committed entries; serve read states once applied;
//   4. advance().
// Every K applied entries it snapshots its state machine and compacts Raft's log.
//
// With NodeContext::pipeline, a leader also takes Readys while earlier ones are in flight
// (Raft::can_pipeline): it writes each one's entries and hard state unsynced and applies its
// committed entries at once; later (at random, and always before a Ready it cannot pipeline)
// it syncs them together, then sends their messages and advances them in order.
//
// A crash loses everything but the disk; a restart rebuilds Raft from the disk and the state
// machine from the disk's snapshot, then re-applies the committed entries Raft hands back.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "raft/raft.h"
#include "sim/checker.h"
#include "sim/disk.h"
#include "sim/network.h"
#include "sim/rng.h"
#include "sim/state_machine.h"
#include "sim/trace.h"

namespace dkv::sim {

// What a node needs from the simulation around it.
struct NodeContext {
  Rng* rng = nullptr;
  Trace* trace = nullptr;
  Checker* checker = nullptr;
  Network* network = nullptr;
  const uint64_t* now = nullptr;
  // After compacting, hand Raft a snapshot image that fails every third read, as a host's
  // file-backed one can (random runs with an odd seed; a failed read is retried on a later
  // heartbeat, which manual scenarios that never tick would not reach).
  bool unreliable_snapshot_reads = false;
  // Called when the node applies a membership change (the simulator stops removed nodes).
  std::function<void(raft::NodeId applier, const raft::ConfChange& change)> on_conf_change;
  // Leaders keep several Readys in flight (see above).
  bool pipeline = false;
};

// A linearizable read this node answered.
struct ServedRead {
  std::string context;
  uint64_t index = 0;    // the read index
  uint64_t applied = 0;  // the state it observed
};

class Node {
 public:
  enum class State { kUp, kDown, kStopped };

  // `config` is the Raft configuration shared by all nodes (id and seed are set here);
  // `genesis` the membership the group was bootstrapped with; compact_every 0 never compacts.
  Node(raft::NodeId id, const raft::Config& config, raft::ConfState genesis, uint64_t run_seed,
       uint64_t compact_every, NodeContext ctx);

  raft::NodeId id() const { return id_; }
  State state() const { return state_; }
  bool up() const { return state_ == State::kUp; }

  // Boots (or reboots) from the disk. Requires !up().
  void start();
  // Power loss: Raft's memory, the state machine, unserved reads and unsynced writes are lost.
  void crash();
  // Removed from the group: stops for good (its disk stays, for the checks).
  void stop();
  // The next Ready that must write crashes the node midway through persisting it.
  void crash_during_next_write() { torn_armed_ = true; }
  void disarm_crash() { torn_armed_ = false; }

  void tick();
  void deliver(raft::Message m);
  // Handles Readys until Raft has none. Returns false if the node crashed meanwhile.
  bool process_ready();

  // Requires up().
  raft::Raft& raft() { return *raft_; }
  const raft::Raft& raft() const { return *raft_; }
  const StateMachine& state_machine() const { return sm_; }
  const Disk& disk() const { return disk_; }
  uint64_t incarnation() const { return incarnation_; }
  // Every read served over all incarnations, in order.
  const std::vector<ServedRead>& served_reads() const { return served_reads_; }

  // Statistics.
  uint64_t snapshots_installed() const { return snapshots_installed_; }
  uint64_t compactions() const { return compactions_; }
  uint64_t pipelined() const { return pipelined_; }  // Readys taken while another was in flight

 private:
  bool handle_ready();
  void take_pipelined();
  bool finish_in_flight();  // false if the node crashed while syncing
  bool sync_or_tear(bool sync);
  void apply(const raft::Entry& e);
  void serve_reads();
  void maybe_compact();
  void record_role(const raft::SoftState& soft);
  Event event(EventKind kind) const;

  const raft::NodeId id_;
  const raft::Config config_;
  const uint64_t run_seed_;
  const uint64_t compact_every_;
  NodeContext ctx_;

  State state_ = State::kDown;
  uint64_t incarnation_ = 0;
  Disk disk_;
  std::unique_ptr<raft::Raft> raft_;
  StateMachine sm_;
  std::vector<raft::ReadState> waiting_reads_;
  std::deque<raft::Ready> in_flight_;  // written unsynced and applied; not yet sent or advanced
  std::vector<ServedRead> served_reads_;
  bool torn_armed_ = false;
  uint64_t snapshots_installed_ = 0;
  uint64_t compactions_ = 0;
  uint64_t pipelined_ = 0;
};

}  // namespace dkv::sim
