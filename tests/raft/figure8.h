// Figure 8 of the Raft paper, driven step by step through the simulator's manual controls.
// Shared by scenarios_test.cc (the real core must come through with no violation) and
// raft_bug/checker_bites_test.cc (the core that commits earlier terms' entries by counting
// replicas must be caught by the checker).
//
//  1. S1 leads term 1 and commits its no-op everywhere.
//  2. S1 appends X at index 2 and replicates it to S2 only; S1 crashes.
//  3. S5 wins term 2 (votes of S3, S4) and appends its no-op at index 2 locally; S5 crashes.
//  4. S1 restarts and wins term 3 (S2, S3, S4). It sends X alone to S3, so X sits on a majority
//     (S1, S2, S3) while its own no-op of term 3 does not. A correct leader must not commit X
//     now: X is of an earlier term. S1 crashes.
//  5. S5 restarts and wins term 4 (S3, S4: its last entry, term 2, beats their X of term 1). It
//     overwrites X with its own entry 2 and commits. Had anyone applied X, state machine safety
//     would be broken.
#pragma once

#include <cstdint>

#include "sim/simulator.h"

namespace dkv::sim::figure8 {

struct Observed {
  uint64_t x_index = 0;
  uint64_t x_term = 0;
  uint64_t s1_commit_in_term3 = 0;  // S1's commit index once X sits on a majority
  raft::NodeId final_leader = 0;
};

inline Options options() {
  Options o;
  o.manual = true;
  o.nodes = 5;
  o.seed = 8;
  o.check_quorum = false;  // leases would only make the scripted elections longer
  o.max_msg_bytes = 0;     // one entry per append: X can travel without the no-op behind it
  return o;
}

inline bool is_vote(const raft::Message& m) {
  using raft::MessageType;
  return m.type == MessageType::kPreVote || m.type == MessageType::kPreVoteResp ||
         m.type == MessageType::kVote || m.type == MessageType::kVoteResp;
}

// Delivers election traffic only, losing whatever else is in flight meanwhile, until no votes
// are in flight. What the winner sends afterwards stays in flight for the caller.
inline void run_election(Simulator& sim) {
  for (int round = 0; round < 20; ++round) {
    bool votes = false;
    for (const raft::Message& m : sim.in_flight()) votes |= is_vote(m);
    if (!votes) return;
    for (auto type : {raft::MessageType::kAppend, raft::MessageType::kAppendResp,
                      raft::MessageType::kHeartbeat, raft::MessageType::kHeartbeatResp}) {
      sim.drop({.type = type});
    }
    for (auto type : {raft::MessageType::kPreVote, raft::MessageType::kPreVoteResp,
                      raft::MessageType::kVote, raft::MessageType::kVoteResp}) {
      sim.deliver({.type = type});
    }
  }
}

// Campaigns until `id` leads (a rejected pre-vote teaches it the current term first).
inline bool elect(Simulator& sim, raft::NodeId id) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    sim.campaign(id);
    run_election(sim);
    if (sim.raft(id).role() == raft::Role::kLeader) return true;
  }
  return false;
}

inline Observed run(Simulator& sim) {
  using raft::MessageType;
  Observed out;
  // 1.
  sim.campaign(1);
  sim.settle();
  // 2.
  auto x = sim.propose(1, "X");
  if (!x.ok()) return out;
  out.x_index = x->index;
  out.x_term = x->term;
  sim.deliver({.from = 1, .to = 2, .type = MessageType::kAppend});
  sim.drop({.from = 1});
  sim.deliver({.from = 2, .to = 1});
  sim.crash(1);
  // 3.
  if (!elect(sim, 5)) return out;
  sim.drop({.from = 5});
  sim.crash(5);
  // 4.
  sim.restart(1);
  if (!elect(sim, 1)) return out;
  // S1's first appends carry its no-op after X: S2 (which has X) takes it, S3 rejects it.
  sim.drop({.from = 1, .to = 4});
  sim.deliver({.from = 1, .to = 2, .type = MessageType::kAppend});
  sim.deliver({.from = 1, .to = 3, .type = MessageType::kAppend});
  sim.deliver({.from = 2, .to = 1});
  sim.deliver({.from = 3, .to = 1});  // the rejection: S1 probes back and sends X alone
  sim.deliver({.from = 1, .to = 3, .type = MessageType::kAppend}, 1);
  sim.drop({.from = 1, .to = 3});  // whatever follows X (the no-op) is lost
  sim.deliver({.from = 3, .to = 1});
  out.s1_commit_in_term3 = sim.raft(1).commit_index();
  sim.drop({.from = 1});
  sim.crash(1);
  // 5.
  sim.restart(5);
  if (!elect(sim, 5)) return out;
  sim.settle();
  sim.restart(1);
  for (int i = 0; i < 30; ++i) {
    sim.tick_all();
    sim.settle();
  }
  out.final_leader = sim.leader();
  return out;
}

}  // namespace dkv::sim::figure8
