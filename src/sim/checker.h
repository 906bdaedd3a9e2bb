// Checker: the safety properties of Raft, checked while a simulation runs.
//
// It watches what hosts do (durable log writes, applied entries, leaders seen, proposals and
// reads) and keeps the global history needed to judge them. Each invariant is one function and
// the first violation is kept with a message saying what broke. Everything is incremental: the
// simulator calls it after every step, so no check may scan a whole run.
//
//  election safety       at most one leader per term, over the whole run
//  log matching          two durable logs holding an entry with the same index and term hold the
//                        same entry there and agree before it (checked entry by entry: the entry
//                        at (index, term) has one content and one predecessor term, run-wide)
//  leader completeness   a node that becomes leader of term T holds every applied entry that a
//                        leader of an earlier term had committed (unless its snapshot covers it)
//  state machine safety  no two nodes apply different entries at one index (and snapshots carry
//                        the state machine image every node had at that index)
//  acknowledged writes   a proposal acknowledged to its client (its proposer applied the entry
//                        at the returned index with the returned term) is never replaced
//  linearizable reads    a read sees every write acknowledged before it began, and only state
//                        that is a prefix of the global commit order
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "raft/raft.h"
#include "raft/types.h"

namespace dkv::sim {

struct Violation {
  std::string invariant;
  std::string detail;
};

class Checker {
 public:
  // --- observations ---

  // An entry became durable on `node`'s disk after an entry of term prev_term.
  void on_durable_entry(raft::NodeId node, const raft::Entry& e, uint64_t prev_term);
  // `node` is (still) leader; cheap after the first call for a term.
  void on_leader(raft::NodeId node, const raft::Raft& raft);
  // The leader of `term` has commit index `commit`.
  void on_leader_commit(uint64_t term, uint64_t commit);
  // `node` applied `e`; its state machine's fingerprint is now `fingerprint`.
  void on_apply(raft::NodeId node, const raft::Entry& e, uint64_t fingerprint);
  // `node` installed a snapshot at `index`, giving its state machine `fingerprint`.
  void on_install_snapshot(raft::NodeId node, uint64_t index, uint64_t fingerprint);

  // A client proposal was accepted by `node` at (index, term).
  void on_proposed(raft::NodeId node, uint64_t index, uint64_t term, const std::string& data);
  // `node` crashed or stopped: its clients lose their pending proposals and reads.
  void on_node_lost(raft::NodeId node);
  // Whether `node` has acknowledged its proposal at (index, term).
  bool acknowledged(raft::NodeId node, uint64_t index, uint64_t term) const;

  // A read is invoked at `node`: returns the context to give Raft::read_index.
  std::string on_read_invoked(raft::NodeId node);
  // `node` serves the ReadState `rs` with its state machine at (applied, fingerprint).
  void on_read_served(raft::NodeId node, const raft::ReadState& rs, uint64_t applied,
                      uint64_t fingerprint);

  // Anything else that is wrong (a broken host contract, liveness) is reported here.
  void report(std::string invariant, std::string detail);

  // --- results ---
  bool ok() const { return !violation_; }
  const std::optional<Violation>& violation() const { return violation_; }

  uint64_t leaders_elected() const { return leaders_.size(); }
  uint64_t highest_applied() const { return applied_.size() - 1; }
  uint64_t writes_acknowledged() const { return writes_acknowledged_; }
  uint64_t highest_acknowledged() const { return highest_acked_; }
  uint64_t reads_served() const { return reads_served_; }
  // The term of the entry applied at `index` anywhere (0 if none yet).
  uint64_t applied_term(uint64_t index) const;

 private:
  struct Applied {
    bool set = false;
    uint64_t term = 0;
    raft::EntryType type = raft::EntryType::kNormal;
    uint64_t content = 0;      // hash of the data
    uint64_t fingerprint = 0;  // of the state machine right after applying it
    raft::NodeId first = 0;    // the node that applied it first (for messages)
  };
  struct Proposal {
    uint64_t term = 0;
    std::string data;
  };
  struct Read {
    raft::NodeId node = 0;
    uint64_t must_see = 0;  // highest acknowledged index when the read began
  };

  void check_election_safety(raft::NodeId node, uint64_t term);
  void check_leader_completeness(raft::NodeId node, const raft::Raft& raft);
  void check_log_matching(raft::NodeId node, const raft::Entry& e, uint64_t prev_term);
  void check_state_machine_safety(raft::NodeId node, const raft::Entry& e, uint64_t fingerprint);
  void check_acknowledged_write(raft::NodeId node, const raft::Entry& e);
  void check_linearizable_read(raft::NodeId node, const raft::ReadState& rs, uint64_t applied,
                               uint64_t fingerprint);

  std::optional<Violation> violation_;

  std::map<uint64_t, raft::NodeId> leaders_;     // term -> leader
  std::map<uint64_t, uint64_t> commit_by_term_;  // term -> highest commit its leader reached
  // Log matching: (index, term) -> (content hash, predecessor term).
  absl::flat_hash_map<std::pair<uint64_t, uint64_t>, std::pair<uint64_t, uint64_t>> durable_;
  std::vector<Applied> applied_ = std::vector<Applied>(1);  // by index; [0] unused
  uint64_t highest_commit_ = 0;

  std::map<std::pair<raft::NodeId, uint64_t>, Proposal> proposals_;  // (proposer, index)
  std::map<std::pair<raft::NodeId, uint64_t>, uint64_t> acked_by_node_;  // -> term
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> acked_;  // index -> (term, content hash)
  uint64_t highest_acked_ = 0;
  uint64_t writes_acknowledged_ = 0;

  std::map<uint64_t, Read> reads_;
  uint64_t next_read_ = 1;
  uint64_t reads_served_ = 0;
};

}  // namespace dkv::sim
