#include "sim/checker.h"

#include <algorithm>
#include <cstdlib>

#include "sim/hash.h"

namespace dkv::sim {

namespace {

std::string u(uint64_t v) { return std::to_string(v); }

uint64_t content_hash(const raft::Entry& e) {
  return hash_combine(hash_bytes(e.data), static_cast<uint64_t>(e.type));
}

}  // namespace

void Checker::report(std::string invariant, std::string detail) {
  if (!violation_) violation_ = Violation{std::move(invariant), std::move(detail)};
}

uint64_t Checker::applied_term(uint64_t index) const {
  return index < applied_.size() && applied_[index].set ? applied_[index].term : 0;
}

// ---------------------------------------------------------------------------------------------
// Leaders

void Checker::on_leader(raft::NodeId node, const raft::Raft& raft) {
  uint64_t term = raft.term();
  auto it = leaders_.find(term);
  if (it != leaders_.end() && it->second == node) {
    on_leader_commit(term, raft.commit_index());
    return;
  }
  check_election_safety(node, term);
  if (!ok()) return;
  leaders_[term] = node;
  check_leader_completeness(node, raft);
  on_leader_commit(term, raft.commit_index());
}

void Checker::check_election_safety(raft::NodeId node, uint64_t term) {
  auto it = leaders_.find(term);
  if (it != leaders_.end() && it->second != node) {
    report("election safety", "nodes " + u(it->second) + " and " + u(node) +
                                  " were both leader of term " + u(term));
  }
}

void Checker::on_leader_commit(uint64_t term, uint64_t commit) {
  uint64_t& c = commit_by_term_[term];
  c = std::max(c, commit);
  highest_commit_ = std::max(highest_commit_, commit);
}

void Checker::check_leader_completeness(raft::NodeId node, const raft::Raft& raft) {
  uint64_t term = raft.term();
  // Entries committed by leaders of earlier terms are what this leader must hold. A leader of
  // a later term may have committed more before this one was elected (votes can be late), so
  // only earlier terms count.
  uint64_t bound = 0;
  for (auto it = commit_by_term_.begin(); it != commit_by_term_.end() && it->first < term; ++it) {
    bound = std::max(bound, it->second);
  }
  bound = std::min<uint64_t>(bound, applied_.size() - 1);
  const raft::SnapshotMeta& snap = raft.log().snapshot().meta;
  for (uint64_t i = std::max<uint64_t>(snap.index, 1); i <= bound; ++i) {
    const Applied& a = applied_[i];
    if (!a.set) continue;
    auto t = raft.log().term(i);
    if (!t) {
      report("leader completeness",
             "node " + u(node) + " became leader of term " + u(term) + " without entry " + u(i) +
                 " (term " + u(a.term) + "), committed before and applied by node " + u(a.first) +
                 "; its log ends at " + u(raft.last_index()));
      return;
    }
    if (*t != a.term) {
      report("leader completeness",
             "node " + u(node) + " became leader of term " + u(term) + " holding entry " + u(i) +
                 " of term " + u(*t) + ", but entry " + u(i) + " of term " + u(a.term) +
                 " was committed before and applied by node " + u(a.first));
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Logs and state machines

void Checker::on_durable_entry(raft::NodeId node, const raft::Entry& e, uint64_t prev_term) {
  check_log_matching(node, e, prev_term);
}

void Checker::check_log_matching(raft::NodeId node, const raft::Entry& e, uint64_t prev_term) {
  auto value = std::make_pair(content_hash(e), prev_term);
  auto [it, inserted] = durable_.try_emplace(std::make_pair(e.index, e.term), value);
  if (inserted || it->second == value) return;
  if (it->second.first != value.first) {
    report("log matching", "node " + u(node) + " persisted entry " + u(e.index) + " of term " +
                               u(e.term) + " with other content than another node's entry " +
                               u(e.index) + " of term " + u(e.term));
  } else {
    report("log matching", "node " + u(node) + " persisted entry " + u(e.index) + " of term " +
                               u(e.term) + " after an entry of term " + u(prev_term) +
                               ", another node holds it after an entry of term " +
                               u(it->second.second));
  }
}

void Checker::on_apply(raft::NodeId node, const raft::Entry& e, uint64_t fingerprint) {
  check_acknowledged_write(node, e);
  check_state_machine_safety(node, e, fingerprint);
  if (!ok()) return;

  // The proposer acknowledges its client when it applies the entry it was given.
  auto key = std::make_pair(node, e.index);
  auto it = proposals_.find(key);
  if (it == proposals_.end()) return;
  if (it->second.term == e.term) {
    if (it->second.data != e.data) {
      report("acknowledged writes", "node " + u(node) + " applied another entry at index " +
                                        u(e.index) + " of term " + u(e.term) +
                                        " than the proposal it accepted there");
      return;
    }
    acked_[e.index] = {e.term, content_hash(e)};
    acked_by_node_[key] = e.term;
    highest_acked_ = std::max(highest_acked_, e.index);
    ++writes_acknowledged_;
  }
  proposals_.erase(it);  // acknowledged, or lost (another term won the index): the client knows
}

void Checker::check_acknowledged_write(raft::NodeId node, const raft::Entry& e) {
  auto it = acked_.find(e.index);
  if (it == acked_.end()) return;
  if (it->second != std::make_pair(e.term, content_hash(e))) {
    report("acknowledged writes",
           "node " + u(node) + " applied entry " + u(e.index) + " of term " + u(e.term) +
               " where a write of term " + u(it->second.first) +
               " had been acknowledged to its client");
  }
}

void Checker::check_state_machine_safety(raft::NodeId node, const raft::Entry& e,
                                         uint64_t fingerprint) {
  if (e.index >= applied_.size()) applied_.resize(e.index + 1);
  Applied& a = applied_[e.index];
  if (!a.set) {
    a = Applied{true, e.term, e.type, content_hash(e), fingerprint, node};
    highest_commit_ = std::max(highest_commit_, e.index);
    return;
  }
  if (a.term != e.term || a.type != e.type || a.content != content_hash(e)) {
    report("state machine safety", "node " + u(node) + " applied entry " + u(e.index) +
                                       " of term " + u(e.term) + ", node " + u(a.first) +
                                       " applied an entry of term " + u(a.term) + " there");
  } else if (a.fingerprint != fingerprint) {
    report("state machine safety", "node " + u(node) + " applied entry " + u(e.index) +
                                       " onto a state machine that differs from node " +
                                       u(a.first) + "'s at that index");
  }
}

void Checker::on_install_snapshot(raft::NodeId node, uint64_t index, uint64_t fingerprint) {
  if (index < applied_.size() && applied_[index].set && applied_[index].fingerprint != fingerprint) {
    report("state machine safety", "node " + u(node) + " installed a snapshot at " + u(index) +
                                       " whose state differs from node " +
                                       u(applied_[index].first) + "'s at that index");
  }
  // Proposals the snapshot jumped over have an unknown fate: their clients time out.
  for (auto it = proposals_.lower_bound({node, 0}); it != proposals_.end() && it->first.first == node &&
                                                    it->first.second <= index;) {
    it = proposals_.erase(it);
  }
}

// ---------------------------------------------------------------------------------------------
// Clients

void Checker::on_proposed(raft::NodeId node, uint64_t index, uint64_t term, const std::string& data) {
  proposals_[{node, index}] = Proposal{term, data};
}

void Checker::on_node_lost(raft::NodeId node) {
  proposals_.erase(proposals_.lower_bound({node, 0}), proposals_.lower_bound({node + 1, 0}));
}

bool Checker::acknowledged(raft::NodeId node, uint64_t index, uint64_t term) const {
  auto it = acked_by_node_.find({node, index});
  return it != acked_by_node_.end() && it->second == term;
}

std::string Checker::on_read_invoked(raft::NodeId node) {
  uint64_t id = next_read_++;
  reads_[id] = Read{node, highest_acked_};
  // Appended rather than "r" + u(id): GCC 12 at -O3 warns falsely (-Wrestrict) on the latter.
  std::string context = "r";
  context += u(id);
  return context;
}

void Checker::on_read_served(raft::NodeId node, const raft::ReadState& rs, uint64_t applied,
                             uint64_t fingerprint) {
  ++reads_served_;
  check_linearizable_read(node, rs, applied, fingerprint);
}

void Checker::check_linearizable_read(raft::NodeId node, const raft::ReadState& rs,
                                      uint64_t applied, uint64_t fingerprint) {
  uint64_t id = rs.context.size() > 1 ? std::strtoull(rs.context.c_str() + 1, nullptr, 10) : 0;
  auto it = reads_.find(id);
  if (rs.context.empty() || rs.context[0] != 'r' || it == reads_.end()) {
    report("linearizable reads", "node " + u(node) + " got a read state for unknown context '" +
                                     rs.context + "'");
    return;
  }
  const Read& r = it->second;
  if (r.node != node) {
    report("linearizable reads", "read " + rs.context + " was invoked at node " + u(r.node) +
                                     " but answered at node " + u(node));
  } else if (rs.index < r.must_see) {
    report("linearizable reads",
           "read " + rs.context + " at node " + u(node) + " got read index " + u(rs.index) +
               ", but the write at index " + u(r.must_see) +
               " was acknowledged before the read began");
  } else if (applied < rs.index) {
    report("linearizable reads", "read " + rs.context + " served at applied index " + u(applied) +
                                     " below its read index " + u(rs.index));
  } else if (rs.index > highest_commit_) {
    report("linearizable reads", "read " + rs.context + " got read index " + u(rs.index) +
                                     " beyond anything committed (" + u(highest_commit_) + ")");
  } else if (applied > 0 && (applied >= applied_.size() || !applied_[applied].set ||
                              applied_[applied].fingerprint != fingerprint)) {
    report("linearizable reads", "read " + rs.context + " at node " + u(node) +
                                     " observed a state at index " + u(applied) +
                                     " that is not the committed state there");
  }
}

}  // namespace dkv::sim
