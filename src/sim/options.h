// Options of one simulation run, and the statistics and failure report it produces.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace dkv::sim {

struct Options {
  uint64_t seed = 1;
  size_t nodes = 3;     // voters the group starts with (ids 1..nodes)
  uint64_t steps = 2000;  // virtual time units of faults, before the calm tail (random mode)
  bool manual = false;  // scenario tests drive every tick and delivery themselves
  bool faults = true;   // random mode: inject crashes, partitions, network faults, changes
  bool verbose = false; // print every event as it happens
  size_t trace_tail = 50;  // events kept for the failure report

  uint64_t tick_interval = 5;  // time units between two ticks of a node's clock
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  bool pre_vote = true;
  bool check_quorum = true;
  // After the faults stop, the group must elect a leader and commit (and spread to every
  // member) a fresh entry within this many ticks.
  uint64_t liveness_ticks = 300;

  // Unset: drawn from the seed in random mode; in manual mode no compaction, 1 MiB chunks
  // and messages, 256 messages in flight.
  std::optional<uint64_t> compact_every;  // applied entries between snapshots; 0 = never
  std::optional<uint64_t> snapshot_chunk_bytes;
  std::optional<uint64_t> max_msg_bytes;
  std::optional<size_t> max_inflight_msgs;
};

struct Stats {
  uint64_t seeds = 0;
  uint64_t steps = 0;  // virtual time units simulated
  uint64_t ticks = 0;
  uint64_t messages = 0;  // delivered
  uint64_t leaders = 0;   // distinct (term, leader) pairs
  uint64_t committed = 0; // highest index applied anywhere
  uint64_t writes_acked = 0;
  uint64_t reads_served = 0;
  uint64_t crashes = 0;
  uint64_t torn_writes = 0;  // crashes in the middle of persisting a Ready
  uint64_t partitions = 0;
  uint64_t dropped = 0;
  uint64_t duplicated = 0;
  uint64_t conf_changes = 0;  // accepted proposals
  uint64_t transfers = 0;
  uint64_t snapshots_installed = 0;
  uint64_t compactions = 0;
  uint64_t pipelined = 0;  // Readys a leader took while earlier ones were in flight

  void add(const Stats& o);
  uint64_t faults() const { return crashes + partitions + dropped + duplicated; }
};

struct Failure {
  uint64_t seed = 0;
  uint64_t time = 0;
  std::string invariant;
  std::string detail;
  std::string trace;   // the last events, one per line
  std::string replay;  // a command that replays the run (set by whoever knows the flags)
};

}  // namespace dkv::sim
