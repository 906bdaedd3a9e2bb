#include "raft/raft.h"

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <string>
#include <utility>

#include "raft/codec.h"

namespace dkv::raft {

namespace {

constexpr const char* kTransferContext = "transfer";

bool contains(const std::vector<NodeId>& ids, NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

void erase_id(std::vector<NodeId>& ids, NodeId id) {
  ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
}

MessageType response_type(MessageType request) {
  return request == MessageType::kVote ? MessageType::kVoteResp : MessageType::kPreVoteResp;
}

}  // namespace

Raft::Raft(const Config& config, InitialState initial)
    : id_(config.id),
      group_(config.group),
      config_(config),
      rng_(config.seed * 0x9E3779B97F4A7C15ULL + config.id),
      log_(std::move(initial.snapshot), std::move(initial.entries)) {
  assert(config.id != 0 && config.election_ticks > config.heartbeat_ticks);
  conf_ = log_.snapshot().meta.conf;
  term_ = initial.hard.term;
  vote_ = initial.hard.vote;
  log_.commit_to(std::min(initial.hard.commit, log_.last_index()));
  log_.applied_to(std::min(std::max(initial.applied, log_.applied()), log_.committed()));
  become_follower(term_, 0);
  prev_hard_ = HardState{term_, vote_, log_.committed()};
  prev_soft_ = SoftState{leader_, role_};
}

// ---------------------------------------------------------------------------------------------
// Membership helpers

bool Raft::is_voter(NodeId id) const { return contains(conf_.voters, id); }
bool Raft::is_member(NodeId id) const { return is_voter(id) || contains(conf_.learners, id); }
bool Raft::is_learner() const { return contains(conf_.learners, id_); }
size_t Raft::quorum() const { return conf_.voters.size() / 2 + 1; }

// A node may campaign only as a voter, and not while a snapshot it received awaits the host.
bool Raft::promotable() const { return is_voter(id_) && !log_.pending_snapshot(); }

// While a follower hears from a leader (or a leader from its quorum), it refuses to help elect
// another: a node that was partitioned away cannot depose a working leader.
bool Raft::in_lease() const {
  return config_.check_quorum && leader_ != 0 && election_elapsed_ < config_.election_ticks;
}

// ---------------------------------------------------------------------------------------------
// Role transitions

void Raft::reset(uint64_t term) {
  if (term_ != term) {
    term_ = term;
    vote_ = 0;
  }
  leader_ = 0;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  reset_randomized_timeout();
  transferee_ = 0;
  votes_.clear();
  progress_.clear();
  pending_conf_index_ = 0;
  pending_broadcast_ = false;
  // Reads in progress are dropped: the host sees the role change and answers its clients.
  reads_waiting_for_commit_.clear();
  read_rounds_.clear();
  read_round_open_ = false;
}

void Raft::reset_randomized_timeout() {
  randomized_election_timeout_ =
      config_.election_ticks + static_cast<int>(rng_() % static_cast<uint64_t>(config_.election_ticks));
}

void Raft::become_follower(uint64_t term, NodeId leader) {
  reset(term);
  leader_ = leader;
  role_ = Role::kFollower;
}

void Raft::become_pre_candidate() {
  // Pre-vote changes neither term nor vote: it only asks whether an election could be won.
  votes_.clear();
  progress_.clear();
  leader_ = 0;
  reset_randomized_timeout();
  role_ = Role::kPreCandidate;
}

void Raft::become_candidate() {
  reset(term_ + 1);
  vote_ = id_;
  role_ = Role::kCandidate;
}

void Raft::become_leader() {
  reset(term_);
  leader_ = id_;
  role_ = Role::kLeader;
  for (NodeId v : conf_.voters) progress_.emplace(v, Progress(config_.max_inflight_msgs, log_.last_index() + 1, false));
  for (NodeId l : conf_.learners) progress_.emplace(l, Progress(config_.max_inflight_msgs, log_.last_index() + 1, true));
  if (auto self = progress_.find(id_); self != progress_.end()) {
    self->second.become_replicate();
    self->second.match = log_.stabled();
    self->second.next = log_.last_index() + 1;
    self->second.recent_active = true;
  }
  // No configuration change until everything before this term is applied (see
  // propose_conf_change).
  pending_conf_index_ = log_.last_index();
  // The empty entry of this term commits every earlier entry with it (section 5.4.2).
  append_entries({Entry{}});
}

// ---------------------------------------------------------------------------------------------
// Ticks

void Raft::tick() {
  if (role_ == Role::kLeader) {
    tick_leader();
  } else {
    tick_election();
  }
}

void Raft::tick_election() {
  ++election_elapsed_;
  if (promotable() && election_elapsed_ >= randomized_election_timeout_) {
    election_elapsed_ = 0;
    start_election(config_.pre_vote, false);
  }
}

bool Raft::quorum_active() {
  size_t active = 0;
  for (auto& [id, pr] : progress_) {
    if (id == id_) {
      pr.recent_active = true;
    }
    if (!pr.learner && pr.recent_active) ++active;
    if (id != id_) pr.recent_active = false;
  }
  return active >= quorum();
}

void Raft::tick_leader() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= config_.election_ticks) {
    election_elapsed_ = 0;
    if (config_.check_quorum && !quorum_active()) {
      become_follower(term_, 0);
      return;
    }
    transferee_ = 0;  // a transfer that did not finish in an election timeout is abandoned
  }
  if (heartbeat_elapsed_ >= config_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    broadcast_heartbeat("");
  }
}

// ---------------------------------------------------------------------------------------------
// Elections

void Raft::campaign() {
  if (promotable() && role_ != Role::kLeader) start_election(config_.pre_vote, false);
}

void Raft::start_election(bool pre_vote, bool transfer) {
  uint64_t vote_term;
  if (pre_vote) {
    become_pre_candidate();
    vote_term = term_ + 1;
  } else {
    become_candidate();
    vote_term = term_;
  }
  votes_[id_] = true;
  if (quorum() == 1) {
    // A single voter wins at once.
    if (pre_vote) {
      start_election(false, transfer);
    } else {
      become_leader();
    }
    return;
  }
  for (NodeId v : conf_.voters) {
    if (v == id_) continue;
    Message m;
    m.type = pre_vote ? MessageType::kPreVote : MessageType::kVote;
    m.to = v;
    m.term = vote_term;
    m.index = log_.last_index();
    m.log_term = log_.last_term();
    if (transfer) m.context = kTransferContext;
    send(std::move(m));
  }
}

void Raft::handle_vote_request(const Message& m) {
  // We can vote for m.from if we already did in this term, or have voted for no one and know of
  // no leader; a pre-vote for a later term is always answerable (it changes nothing).
  bool can_vote = vote_ == m.from || (vote_ == 0 && leader_ == 0) ||
                  (m.type == MessageType::kPreVote && m.term > term_);
  Message r;
  r.type = response_type(m.type);
  r.to = m.from;
  if (can_vote && log_.is_up_to_date(m.index, m.log_term)) {
    r.term = m.term;
    if (m.type == MessageType::kVote) {
      election_elapsed_ = 0;
      vote_ = m.from;
    }
  } else {
    r.term = term_;
    r.reject = true;
  }
  send(std::move(r));
}

void Raft::handle_vote_response(const Message& m) {
  bool expected = (role_ == Role::kPreCandidate && m.type == MessageType::kPreVoteResp) ||
                  (role_ == Role::kCandidate && m.type == MessageType::kVoteResp);
  if (!expected || !is_voter(m.from)) return;
  votes_.emplace(m.from, !m.reject);  // the first answer from each voter counts
  size_t granted = 0, rejected = 0;
  for (const auto& [id, yes] : votes_) {
    if (!is_voter(id)) continue;
    (yes ? granted : rejected) += 1;
  }
  if (granted >= quorum()) {
    if (role_ == Role::kPreCandidate) {
      start_election(false, false);
    } else {
      become_leader();
      pending_broadcast_ = true;
    }
  } else if (rejected >= quorum()) {
    become_follower(term_, 0);
  }
}

// ---------------------------------------------------------------------------------------------
// Stepping messages

void Raft::step(Message m) {
  if (m.group != group_ || m.to != id_ || m.from == 0 || m.from == id_) return;
  if (m.term > term_) {
    bool campaign_msg = m.type == MessageType::kVote || m.type == MessageType::kPreVote;
    if (campaign_msg && m.context != kTransferContext && in_lease()) {
      return;  // we hear a leader: ignore the disruption (and do not adopt its term)
    }
    if (m.type == MessageType::kPreVote) {
      // A pre-vote never changes our term.
    } else if (m.type == MessageType::kPreVoteResp && !m.reject) {
      // A granted pre-vote carries the term we would campaign at; it is counted below.
    } else if (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
               m.type == MessageType::kSnapshot) {
      become_follower(m.term, m.from);
    } else {
      become_follower(m.term, 0);
    }
  } else if (m.term < term_) {
    if ((config_.check_quorum || config_.pre_vote) &&
        (m.type == MessageType::kHeartbeat || m.type == MessageType::kAppend)) {
      // A leader of an older term: tell it our term so it steps down. Without this, a node
      // that rejoins with a higher term (possible without pre-vote) could stay unheard.
      Message r;
      r.type = MessageType::kAppendResp;
      r.to = m.from;
      r.term = term_;
      send(std::move(r));
    } else if (m.type == MessageType::kPreVote) {
      Message r;
      r.type = MessageType::kPreVoteResp;
      r.to = m.from;
      r.term = term_;
      r.reject = true;
      send(std::move(r));
    }
    return;
  }

  if (m.type == MessageType::kVote || m.type == MessageType::kPreVote) {
    handle_vote_request(m);
    return;
  }
  switch (role_) {
    case Role::kLeader: step_leader(m); break;
    case Role::kCandidate:
    case Role::kPreCandidate: step_candidate(m); break;
    case Role::kFollower: step_follower(m); break;
  }
}

void Raft::step_candidate(Message& m) {
  switch (m.type) {
    case MessageType::kAppend:
      become_follower(m.term, m.from);
      handle_append(m);
      break;
    case MessageType::kHeartbeat:
      become_follower(m.term, m.from);
      handle_heartbeat(m);
      break;
    case MessageType::kSnapshot:
      become_follower(m.term, m.from);
      handle_snapshot(m);
      break;
    case MessageType::kVoteResp:
    case MessageType::kPreVoteResp:
      handle_vote_response(m);
      break;
    default:
      break;
  }
}

void Raft::step_follower(Message& m) {
  switch (m.type) {
    case MessageType::kAppend:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_append(m);
      break;
    case MessageType::kHeartbeat:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_heartbeat(m);
      break;
    case MessageType::kSnapshot:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_snapshot(m);
      break;
    case MessageType::kTimeoutNow:
      // Leadership transfer: campaign at once, skipping pre-vote and other nodes' leases.
      if (promotable()) start_election(false, true);
      break;
    case MessageType::kReadIndexResp:
      if (!m.reject) read_states_.push_back(ReadState{m.index, std::move(m.context)});
      break;
    default:
      break;
  }
}

void Raft::step_leader(Message& m) {
  switch (m.type) {
    case MessageType::kAppendResp: handle_append_response(m); break;
    case MessageType::kHeartbeatResp: handle_heartbeat_response(m); break;
    case MessageType::kSnapshotResp: handle_snapshot_response(m); break;
    case MessageType::kReadIndex:
      if (is_member(m.from)) handle_read_request(m.from, std::move(m.context));
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Follower: appends, heartbeats, snapshots

void Raft::handle_append(const Message& m) {
  Message r;
  r.type = MessageType::kAppendResp;
  r.to = m.from;
  r.term = term_;
  if (m.index < log_.committed()) {
    // Everything up to our commit index matches the leader's log by definition.
    r.index = log_.committed();
    send(std::move(r));
    return;
  }
  if (auto last = log_.maybe_append(m.index, m.log_term, m.entries)) {
    log_.commit_to(std::min(m.commit, *last));
    r.index = *last;
  } else {
    // Fast backtracking: point the leader at our last entry whose term is <= the term it
    // tried, so it skips a whole term of mismatches per round trip.
    uint64_t hint = log_.find_conflict_by_term(std::min(m.index, log_.last_index()), m.log_term);
    r.reject = true;
    r.index = m.index;
    r.reject_hint = hint;
    r.log_term = log_.term(hint).value_or(0);
  }
  send(std::move(r));
}

void Raft::handle_heartbeat(const Message& m) {
  // The leader caps m.commit at what it knows we hold, so this never commits a stale entry.
  log_.commit_to(std::min(m.commit, log_.last_index()));
  Message r;
  r.type = MessageType::kHeartbeatResp;
  r.to = m.from;
  r.term = term_;
  r.context = m.context;
  send(std::move(r));
}

void Raft::handle_snapshot(Message& m) {
  const SnapshotMeta& meta = m.snapshot;
  auto reply_committed = [&] {
    Message r;
    r.type = MessageType::kAppendResp;
    r.to = m.from;
    r.term = term_;
    r.index = log_.committed();
    send(std::move(r));
  };
  if (meta.index <= log_.committed()) {
    incoming_.reset();
    reply_committed();  // we already have it: the leader resumes sending entries
    return;
  }
  auto reply_offset = [&](uint64_t held, bool reject) {
    Message r;
    r.type = MessageType::kSnapshotResp;
    r.to = m.from;
    r.term = term_;
    r.index = meta.index;
    r.snap_offset = held;
    r.reject = reject;
    send(std::move(r));
  };
  if (!incoming_ || incoming_->meta != meta || incoming_->from != m.from ||
      incoming_->total != m.snap_total) {
    if (m.snap_offset != 0) {
      reply_offset(0, true);  // we hold nothing of this snapshot: start again
      return;
    }
    incoming_ = IncomingSnapshot{meta, m.snap_total, std::string(), m.from};
  }
  if (m.snap_offset != incoming_->data.size() ||
      m.snap_chunk.size() > incoming_->total - incoming_->data.size()) {
    reply_offset(incoming_->data.size(), false);  // out of order: resend from what we hold
    return;
  }
  incoming_->data += m.snap_chunk;
  if (incoming_->data.size() < incoming_->total) {
    reply_offset(incoming_->data.size(), false);
    return;
  }
  IncomingSnapshot done = std::move(*incoming_);
  incoming_.reset();
  restore(done.meta, snapshot_data(std::move(done.data)));
  reply_committed();
}

bool Raft::restore(const SnapshotMeta& meta, SnapshotDataPtr data) {
  if (meta.index <= log_.committed()) return false;
  if (log_.match_term(meta.index, meta.term)) {
    // Our log already holds the snapshot's last entry: keep the log, commit up to it.
    log_.commit_to(meta.index);
    return false;
  }
  log_.restore(Snapshot{meta, std::move(data)});
  apply_conf(meta.conf);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Leader: proposing and replicating

void Raft::append_entries(std::vector<Entry> entries) {
  uint64_t index = log_.last_index();
  for (auto& e : entries) {
    e.term = term_;
    e.index = ++index;
  }
  log_.append(std::move(entries));
  pending_broadcast_ = true;
}

Result<Proposed> Raft::propose(std::string data) {
  if (role_ != Role::kLeader) {
    if (leader_ != 0) return Status(Code::kNotLeader, "leader is node " + std::to_string(leader_));
    return Status(Code::kNotLeader, "no leader is known");
  }
  if (transferee_ != 0) {
    return Status(Code::kUnavailable,
                  "leadership is moving to node " + std::to_string(transferee_));
  }
  Entry e;
  e.data = std::move(data);
  append_entries({std::move(e)});
  return Proposed{log_.last_index(), term_};
}

Result<Proposed> Raft::propose_conf_change(const ConfChange& change) {
  if (role_ != Role::kLeader) {
    if (leader_ != 0) return Status(Code::kNotLeader, "leader is node " + std::to_string(leader_));
    return Status(Code::kNotLeader, "no leader is known");
  }
  if (transferee_ != 0) {
    return Status(Code::kUnavailable,
                  "leadership is moving to node " + std::to_string(transferee_));
  }
  // One change at a time, and only once everything of earlier terms is applied and an entry of
  // this term has committed (the fix to single-server changes in Ongaro's thesis, 4.1).
  if (pending_conf_index_ > log_.applied() || !committed_in_current_term()) {
    return Status(Code::kUnavailable, "an earlier configuration change is not applied yet");
  }
  if (change.node == 0) return Status(Code::kInvalidArgument, "node id 0 is reserved");
  switch (change.type) {
    case ConfChangeType::kAddVoter:
      if (is_voter(change.node)) {
        return Status(Code::kInvalidArgument, "node " + std::to_string(change.node) + " is already a voter");
      }
      break;
    case ConfChangeType::kAddLearner:
      if (contains(conf_.learners, change.node)) {
        return Status(Code::kInvalidArgument, "node " + std::to_string(change.node) + " is already a learner");
      }
      if (is_voter(change.node) && conf_.voters.size() == 1) {
        return Status(Code::kInvalidArgument, "cannot demote the last voter");
      }
      break;
    case ConfChangeType::kRemoveNode:
      if (!is_member(change.node)) {
        return Status(Code::kNotFound, "node " + std::to_string(change.node) + " is not a member");
      }
      if (is_voter(change.node) && conf_.voters.size() == 1) {
        return Status(Code::kInvalidArgument, "cannot remove the last voter");
      }
      break;
  }
  Entry e;
  e.type = EntryType::kConfChange;
  encode_conf_change(change, &e.data);
  append_entries({std::move(e)});
  pending_conf_index_ = log_.last_index();
  return Proposed{log_.last_index(), term_};
}

bool Raft::committed_in_current_term() const {
  return log_.term(log_.committed()).value_or(0) == term_;
}

bool Raft::maybe_commit() {
  std::vector<uint64_t> matches;
  for (NodeId v : conf_.voters) {
    auto it = progress_.find(v);
    matches.push_back(it == progress_.end() ? 0 : it->second.match);
  }
  if (matches.empty()) return false;
  std::sort(matches.begin(), matches.end(), std::greater<>());
  uint64_t replicated = matches[quorum() - 1];  // held by a quorum
#ifdef DKV_RAFT_BUG_COMMIT_OLD_TERMS
  // Deliberately wrong (Figure 8): commit whatever a quorum holds, whatever its term.
  if (replicated > log_.committed()) {
    log_.commit_to(replicated);
    start_read_rounds_for_waiting();
    return true;
  }
  return false;
#else
  // Section 5.4.2: count replicas only for an entry of the current term.
  if (!log_.maybe_commit(replicated, term_)) return false;
  start_read_rounds_for_waiting();
  return true;
#endif
}

void Raft::broadcast_append() {
  for (auto& [id, pr] : progress_) {
    if (id != id_) send_append(id);
  }
}

bool Raft::send_append(NodeId to, bool send_if_empty) {
  auto it = progress_.find(to);
  if (it == progress_.end()) return false;
  Progress& pr = it->second;
  if (pr.paused()) return false;
  uint64_t prev = pr.next - 1;
  auto prev_term = log_.term(prev);
  auto entries = log_.entries_from(pr.next, config_.max_msg_bytes);
  if (!prev_term || !entries) {
    // The follower needs entries we have compacted: send the snapshot instead.
    pr.become_snapshot(log_.snapshot().meta.index);
    send_snapshot_chunk(to, pr);
    return true;
  }
  if (entries->empty() && !send_if_empty) return false;
  Message m;
  m.type = MessageType::kAppend;
  m.to = to;
  m.term = term_;
  m.index = prev;
  m.log_term = *prev_term;
  m.commit = log_.committed();
  if (!entries->empty()) {
    uint64_t last = entries->back().index;
    if (pr.state == ProgressState::kReplicate) {
      // Optimistic: assume it arrives; a rejection walks next back.
      pr.next = last + 1;
      pr.inflights.add(last);
    } else {
      pr.probe_sent = true;
    }
  } else if (pr.state == ProgressState::kProbe) {
    pr.probe_sent = true;
  }
  m.entries = std::move(*entries);
  send(std::move(m));
  return true;
}

void Raft::send_snapshot_chunk(NodeId to, Progress& pr) {
  const Snapshot& s = log_.snapshot();
  // We compacted again since this transfer began: offsets refer to the old snapshot, so
  // start the newer one from its beginning.
  if (pr.snapshot_index != s.meta.index) pr.become_snapshot(s.meta.index);
  uint64_t total = s.data->size();
  uint64_t offset = std::min(pr.snapshot_sent, total);
  uint64_t len = std::min<uint64_t>(config_.snapshot_chunk_bytes, total - offset);
  Message m;
  m.type = MessageType::kSnapshot;
  m.to = to;
  m.term = term_;
  m.snapshot = s.meta;
  m.snap_offset = offset;
  m.snap_total = total;
  // A file-backed image that cannot be read now sends nothing: the heartbeat answers, which
  // show no progress, retry from here.
  if (!s.data->read(offset, len, &m.snap_chunk).ok()) return;
  pr.snapshot_sent = offset + len;
  send(std::move(m));
}

void Raft::send_heartbeat(NodeId to, const std::string& context) {
  auto it = progress_.find(to);
  if (it == progress_.end()) return;
  Message m;
  m.type = MessageType::kHeartbeat;
  m.to = to;
  m.term = term_;
  // Never tell a follower to commit past what it is known to hold.
  m.commit = std::min(it->second.match, log_.committed());
  m.context = context;
  send(std::move(m));
}

void Raft::broadcast_heartbeat(const std::string& context) {
  for (const auto& [id, pr] : progress_) {
    if (id != id_) send_heartbeat(id, context);
  }
}

void Raft::handle_append_response(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (m.reject) {
    uint64_t next_probe = m.reject_hint;
    if (m.log_term > 0) next_probe = log_.find_conflict_by_term(m.reject_hint, m.log_term);
    if (pr.maybe_decrease_to(m.index, next_probe)) {
      if (pr.state == ProgressState::kReplicate) pr.become_probe();
      send_append(m.from);
    }
    return;
  }
  bool was_paused = pr.paused();
  if (!pr.maybe_update(m.index)) return;
  switch (pr.state) {
    case ProgressState::kProbe: pr.become_replicate(); break;
    case ProgressState::kSnapshot:
      if (pr.match >= pr.snapshot_index) pr.become_replicate();
      break;
    case ProgressState::kReplicate: pr.inflights.free_to(m.index); break;
  }
  if (maybe_commit()) {
    broadcast_append();  // tell everyone the new commit index
  } else if (was_paused) {
    send_append(m.from);
  }
  while (send_append(m.from, false)) {
  }
  if (m.from == transferee_ && pr.match == log_.last_index()) {
    Message t;
    t.type = MessageType::kTimeoutNow;
    t.to = m.from;
    t.term = term_;
    send(std::move(t));
  }
}

void Raft::handle_heartbeat_response(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  pr.probe_sent = false;
  if (pr.state == ProgressState::kSnapshot) {
    // No progress since the last heartbeat answer: a chunk (or the final answer) was lost.
    if (pr.snapshot_acked == pr.snapshot_acked_at_beat) {
      pr.snapshot_sent = pr.snapshot_acked;
      send_snapshot_chunk(m.from, pr);
    }
    pr.snapshot_acked_at_beat = pr.snapshot_acked;
  } else {
    if (pr.state == ProgressState::kReplicate && pr.inflights.full()) pr.inflights.free_first_one();
    // An append may have been lost: sending again from `next` either continues the stream or
    // is rejected for the gap, which walks `next` back.
    if (pr.match < log_.last_index()) send_append(m.from);
  }

  if (m.context.empty() || !is_voter(m.from)) return;
  uint64_t round = std::strtoull(m.context.c_str(), nullptr, 10);
  // A quorum confirming round k confirms every earlier round too: release them in order.
  size_t confirmed = 0;
  for (size_t i = 0; i < read_rounds_.size(); ++i) {
    ReadRound& r = read_rounds_[i];
    if (r.id == round) r.acks.insert(m.from);
    size_t acks = 0;
    for (NodeId a : r.acks) acks += is_voter(a) ? 1 : 0;
    if (r.id <= round && acks >= quorum()) confirmed = i + 1;
  }
  for (size_t i = 0; i < confirmed; ++i) {
    for (auto& read : read_rounds_[i].reads) {
      answer_read(read.requester, read_rounds_[i].index, std::move(read.context));
    }
  }
  read_rounds_.erase(read_rounds_.begin(), read_rounds_.begin() + static_cast<std::ptrdiff_t>(confirmed));
}

void Raft::handle_snapshot_response(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (pr.state != ProgressState::kSnapshot || m.index != pr.snapshot_index) return;
  if (pr.snapshot_index != log_.snapshot().meta.index) {
    send_snapshot_chunk(m.from, pr);  // we compacted again: send the newer one
    return;
  }
  uint64_t total = log_.snapshot().data->size();
  if (m.reject) {
    pr.snapshot_sent = pr.snapshot_acked = 0;
    send_snapshot_chunk(m.from, pr);
    return;
  }
  uint64_t held = m.snap_offset;
  if (held > total) return;
  // Believe the follower even when it holds less than it once confirmed: it drops a partial
  // snapshot when another one's first chunk arrives (e.g. a delayed chunk of an older one).
  // A merely stale answer costs a resend; ignoring a true one would stall the transfer.
  pr.snapshot_acked = held;
  if (held != pr.snapshot_sent || held < total) {
    // Either the next chunk, or a resend from what the follower holds.
    pr.snapshot_sent = held;
    if (held < total) send_snapshot_chunk(m.from, pr);
  }
}

// ---------------------------------------------------------------------------------------------
// Linearizable reads

Status Raft::read_index(std::string context) {
  if (role_ == Role::kLeader) {
    handle_read_request(0, std::move(context));
    return Status();
  }
  if (leader_ == 0) return Status(Code::kUnavailable, "no leader is known");
  Message m;
  m.type = MessageType::kReadIndex;
  m.to = leader_;
  m.term = term_;
  m.context = std::move(context);
  send(std::move(m));
  return Status();
}

void Raft::handle_read_request(NodeId requester, std::string context) {
  // Until an entry of this term commits, our commit index may lag what earlier leaders
  // committed and acknowledged.
  if (!committed_in_current_term()) {
    reads_waiting_for_commit_.push_back(PendingRead{requester, std::move(context)});
    return;
  }
  if ((config_.lease_reads && config_.check_quorum) || (quorum() == 1 && is_voter(id_))) {
    answer_read(requester, log_.committed(), std::move(context));
    return;
  }
  if (!read_round_open_) {
    ReadRound round;
    round.id = next_read_round_++;
    if (is_voter(id_)) round.acks.insert(id_);
    read_rounds_.push_back(std::move(round));
    read_round_open_ = true;
  }
  // The round's heartbeats go out in the next Ready, after every read that joins it, so its
  // index is the commit index when the last of them arrived.
  ReadRound& round = read_rounds_.back();
  round.index = log_.committed();
  round.reads.push_back(PendingRead{requester, std::move(context)});
}

void Raft::start_read_rounds_for_waiting() {
  if (reads_waiting_for_commit_.empty() || !committed_in_current_term()) return;
  std::vector<PendingRead> waiting = std::move(reads_waiting_for_commit_);
  reads_waiting_for_commit_.clear();
  for (auto& r : waiting) handle_read_request(r.requester, std::move(r.context));
}

void Raft::answer_read(NodeId requester, uint64_t index, std::string context) {
  if (requester == 0 || requester == id_) {
    read_states_.push_back(ReadState{index, std::move(context)});
    return;
  }
  Message m;
  m.type = MessageType::kReadIndexResp;
  m.to = requester;
  m.term = term_;
  m.index = index;
  m.context = std::move(context);
  send(std::move(m));
}

// ---------------------------------------------------------------------------------------------
// Leadership transfer and membership

Status Raft::transfer_leadership(NodeId to) {
  if (role_ != Role::kLeader) return Status(Code::kNotLeader, "only the leader can transfer leadership");
  if (to == id_) return Status();
  if (!is_voter(to)) {
    return Status(Code::kInvalidArgument, "node " + std::to_string(to) + " is not a voter");
  }
  transferee_ = to;
  election_elapsed_ = 0;  // the transfer must finish within an election timeout
  Progress& pr = progress_.at(to);
  if (pr.match == log_.last_index()) {
    Message t;
    t.type = MessageType::kTimeoutNow;
    t.to = to;
    t.term = term_;
    send(std::move(t));
  } else {
    send_append(to);
  }
  return Status();
}

void Raft::abort_transfer() { transferee_ = 0; }

ConfState Raft::apply_conf_change(const ConfChange& change) {
  ConfState next = conf_;
  erase_id(next.voters, change.node);
  erase_id(next.learners, change.node);
  switch (change.type) {
    case ConfChangeType::kAddVoter: next.voters.push_back(change.node); break;
    case ConfChangeType::kAddLearner: next.learners.push_back(change.node); break;
    case ConfChangeType::kRemoveNode: break;
  }
  std::sort(next.voters.begin(), next.voters.end());
  std::sort(next.learners.begin(), next.learners.end());
  apply_conf(next);
  return conf_;
}

void Raft::apply_conf(const ConfState& conf) {
  conf_ = conf;
  if (role_ != Role::kLeader) return;
  for (auto it = progress_.begin(); it != progress_.end();) {
    if (!is_member(it->first)) {
      it = progress_.erase(it);
    } else {
      it->second.learner = !is_voter(it->first);
      ++it;
    }
  }
  for (NodeId v : conf_.voters) {
    progress_.try_emplace(v, config_.max_inflight_msgs, log_.last_index() + 1, false);
  }
  for (NodeId l : conf_.learners) {
    progress_.try_emplace(l, config_.max_inflight_msgs, log_.last_index() + 1, true);
  }
  if (transferee_ != 0 && !is_voter(transferee_)) abort_transfer();
  if (!is_voter(id_)) {
    // We removed (or demoted) ourselves: hand over to the most up-to-date voter at once
    // rather than make the cluster wait an election timeout.
    NodeId best = 0;
    uint64_t best_match = 0;
    for (const auto& [id, pr] : progress_) {
      if (is_voter(id) && pr.match >= best_match) {
        best = id;
        best_match = pr.match;
      }
    }
    if (best != 0 && best_match == log_.last_index()) {
      Message t;
      t.type = MessageType::kTimeoutNow;
      t.to = best;
      t.term = term_;
      send(std::move(t));
    }
    become_follower(term_, 0);
    return;
  }
  // A smaller quorum may commit more.
  if (maybe_commit()) broadcast_append();
  pending_broadcast_ = true;  // new members hear from us at once
}

Status Raft::compact(uint64_t index, SnapshotDataPtr data) {
  if (index != log_.applied()) {
    return Status(Code::kInvalidArgument, "snapshot index " + std::to_string(index) +
                                              " is not the applied index " + std::to_string(log_.applied()));
  }
  if (!data) return Status(Code::kInvalidArgument, "snapshot data is missing");
  if (index <= log_.snapshot().meta.index) return Status();
  log_.compact(index, conf_, std::move(data));
  return Status();
}

void Raft::replace_snapshot_data(uint64_t index, SnapshotDataPtr data) {
  if (data && index == log_.snapshot().meta.index) log_.replace_snapshot_data(std::move(data));
}

std::vector<PeerStatus> Raft::peers() const {
  std::vector<PeerStatus> out;
  for (const auto& [id, pr] : progress_) {
    out.push_back(PeerStatus{id, pr.learner, pr.match, pr.next, pr.state, pr.recent_active});
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Ready

void Raft::send(Message m) {
  m.group = group_;
  m.from = id_;
  msgs_.push_back(std::move(m));
}

bool Raft::has_ready() const {
  return pending_broadcast_ || read_round_open_ || !msgs_.empty() || !read_states_.empty() ||
         log_.has_unstable() || log_.pending_snapshot() || log_.has_next_committed() ||
         SoftState{leader_, role_} != prev_soft_ ||
         HardState{term_, vote_, log_.committed()} != prev_hard_;
}

Ready Raft::ready() {
  if (role_ == Role::kLeader) {
    if (pending_broadcast_) broadcast_append();
    if (read_round_open_) broadcast_heartbeat(std::to_string(read_rounds_.back().id));
  }
  pending_broadcast_ = false;
  read_round_open_ = false;

  Ready rd;
  SoftState soft{leader_, role_};
  if (soft != prev_soft_) {
    rd.soft_state = soft;
    prev_soft_ = soft;
  }
  HardState hard{term_, vote_, log_.committed()};
  if (hard != prev_hard_) {
    rd.hard_state = hard;
    rd.term_or_vote_changed = hard.term != prev_hard_.term || hard.vote != prev_hard_.vote;
    prev_hard_ = hard;
  }
  rd.entries = log_.unstable_entries();
  if (log_.pending_snapshot()) rd.snapshot = *log_.pending_snapshot();
  rd.committed_entries = log_.next_committed(config_.max_apply_bytes);
  rd.messages = std::move(msgs_);
  msgs_.clear();
  rd.read_states = std::move(read_states_);
  read_states_.clear();
  log_.handed_out(rd.entries.empty() ? 0 : rd.entries.back().index,
                  rd.committed_entries.empty() ? 0 : rd.committed_entries.back().index);
  return rd;
}

void Raft::advance(const Ready& rd) {
  if (rd.snapshot) log_.stable_snapshot();
  if (!rd.entries.empty()) log_.stable_to(rd.entries.back().index, rd.entries.back().term);
  if (!rd.committed_entries.empty()) log_.applied_to(rd.committed_entries.back().index);
  if (role_ == Role::kLeader) {
    // Our own log counts toward a quorum only once it is on disk.
    auto self = progress_.find(id_);
    if (self != progress_.end() && self->second.maybe_update(log_.stabled())) {
      if (maybe_commit()) pending_broadcast_ = true;
    }
  }
}

}  // namespace dkv::raft
