// Simulator: a deterministic, single-threaded world of Raft nodes (FoundationDB style).
//
// Nodes (sim/node.h) run on a virtual clock and talk through a faulty network (sim/network.h);
// every random choice (delays, losses, crashes, partitions, client requests, membership changes,
// each node's election timeouts) comes from one seed, so a seed replays exactly. After every
// step the checker (sim/checker.h) judges what happened; the run stops at the first violation
// and reports it with the last events of the trace.
//
// Random mode (run()): `steps` time units with clients, operators and faults, then a calm tail
// (network healed, crashed nodes restarted, no more faults) in which the group must elect a
// leader and commit a fresh entry within Options::liveness_ticks, and every member must then
// catch up with it.
//
// Manual mode (Options::manual): nothing happens by itself. Scenario tests tick nodes, deliver or
// drop chosen messages, cut links and crash nodes one call at a time; after each call every
// running node handles its Readys, then the checks run.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dkv/status.h"
#include "raft/raft.h"
#include "sim/checker.h"
#include "sim/network.h"
#include "sim/node.h"
#include "sim/options.h"
#include "sim/rng.h"
#include "sim/trace.h"

namespace dkv::sim {

struct RunResult {
  Stats stats;
  uint64_t digest = 0;  // of the whole event trace: equal for two runs of one seed
  std::optional<Failure> failure;
};

class Simulator {
 public:
  explicit Simulator(const Options& options);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // --- random mode ---
  RunResult run();

  // --- manual mode ---
  void tick(raft::NodeId id, int times = 1);
  void tick_all(int times = 1);
  // Delivers the messages in flight that match `f` (at most `max`), in send order; then every
  // node handles its Ready. Messages over cut links are lost. Returns how many arrived.
  size_t deliver(const MessageFilter& f = {}, size_t max = SIZE_MAX);
  size_t drop(const MessageFilter& f);
  // Delivers until nothing is in flight (or max_rounds passes).
  void settle(int max_rounds = 200);
  std::vector<raft::Message> in_flight(const MessageFilter& f = {}) const;
  // Links: nodes in different groups cannot talk; nodes in no group keep every link.
  void partition(const std::vector<std::vector<raft::NodeId>>& groups);
  void isolate(raft::NodeId id);
  void cut(raft::NodeId from, raft::NodeId to);  // one direction
  void heal();
  void crash(raft::NodeId id);
  // The node crashes in the middle of persisting its next Ready that writes.
  void crash_during_next_write(raft::NodeId id);
  void restart(raft::NodeId id);
  void campaign(raft::NodeId id);
  Result<raft::Proposed> propose(raft::NodeId id, std::string data);
  // Creates the node it adds if it does not exist yet.
  Result<raft::Proposed> change_membership(raft::NodeId at, const raft::ConfChange& change);
  Status transfer_leadership(raft::NodeId from, raft::NodeId to);
  // Invokes `count` reads at once (one host turn, so they can share a ReadIndex round); returns
  // their contexts. Served reads show up in node(id).served_reads().
  Result<std::vector<std::string>> read(raft::NodeId id, size_t count = 1);

  // --- observing ---
  Node& node(raft::NodeId id) { return *nodes_.at(id); }
  raft::Raft& raft(raft::NodeId id) { return nodes_.at(id)->raft(); }
  bool has_node(raft::NodeId id) const { return nodes_.count(id) > 0; }
  std::vector<raft::NodeId> node_ids() const;
  // The running leader of the highest term, 0 if none.
  raft::NodeId leader() const;
  uint64_t now() const { return now_; }
  bool ok() const { return checker_.ok(); }
  const Checker& checker() const { return checker_; }
  std::optional<Failure> failure() const;
  const Trace& trace() const { return trace_; }
  Stats stats() const;
  uint64_t digest() const { return trace_.digest(); }

 private:
  struct Profile;  // the fault mix of a random run, drawn from the seed

  Node& add_node(raft::NodeId id);
  void note(std::string text);
  void deliver_message(raft::Message m);
  void process_ready_all();
  void after_step();
  // A manual call ends: Readys, removed nodes, checks.
  void finish_call();

  // random mode
  // One time unit. The main phase has clients, operators and (if enabled) faults; the calm
  // tail has none of them.
  void random_step(bool main_phase);
  void inject_faults();
  void client_requests();
  void random_partition();
  void random_conf_change(raft::NodeId leader);
  bool calm_tail();
  std::vector<raft::NodeId> up_nodes() const;
  std::vector<raft::NodeId> leaders() const;
  void do_crash(raft::NodeId id);
  void do_restart(raft::NodeId id);
  void do_read(raft::NodeId id, size_t count, std::vector<std::string>* contexts);
  Result<raft::Proposed> do_propose(raft::NodeId id, std::string data);
  Status transfer(raft::NodeId from, raft::NodeId to);

  const Options options_;
  Rng rng_;
  Trace trace_;
  Checker checker_;
  Network network_;
  uint64_t now_ = 0;
  raft::Config raft_config_;
  raft::ConfState genesis_;
  uint64_t compact_every_ = 0;
  std::map<raft::NodeId, std::unique_ptr<Node>> nodes_;
  std::map<raft::NodeId, uint64_t> tick_phase_;
  std::vector<raft::NodeId> to_stop_;  // removed: stopped once their Readys are handled

  std::unique_ptr<Profile> profile_;
  std::map<raft::NodeId, uint64_t> restart_at_;
  std::map<raft::NodeId, uint64_t> crash_at_;
  std::map<raft::NodeId, uint64_t> leader_term_seen_;  // the last term each node was seen leading
  uint64_t heal_at_ = 0;
  uint64_t next_write_ = 1;

  Stats stats_;
};

}  // namespace dkv::sim
