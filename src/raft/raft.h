// One Raft group member as a pure state machine, in the style of etcd's raft: no I/O, no clocks,
// no threads; randomness only from the seed in Config. The host drives it:
//
//   tick()                 once per tick of its clock (election and heartbeat timeouts count ticks)
//   step(message)          for each message from a peer of this group
//   propose(data) ...      for client requests
//   ready() / advance()    to learn what to persist, send and apply (see Ready in types.h)
//
// Safety rules kept here (Raft paper and Ongaro's thesis):
// - A leader commits only entries of its own term by counting replicas (section 5.4.2); earlier
//   entries commit with them. A new leader appends an empty entry of its term at once.
// - Votes and terms are persisted (Ready.hard_state) before any message that depends on them is
//   sent; a leader counts its own log toward a quorum only once it is persisted (advance()).
// - Membership changes one node at a time, effective when applied; a leader accepts a new change
//   only when the previous one is applied and an entry of its own term has committed.
// - Linearizable reads (ReadIndex) are answered only by a leader that has committed an entry in its
//   term and confirmed, by a round of heartbeats acknowledged by a quorum, that it still leads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "dkv/status.h"
#include "raft/log.h"
#include "raft/progress.h"
#include "raft/types.h"

namespace dkv::raft {

struct Config {
  NodeId id = 0;
  GroupId group = 0;
  // A follower that hears no leader for a random number of ticks in
  // [election_ticks, 2*election_ticks) starts an election.
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  uint64_t seed = 1;  // for the randomised election timeout

  bool pre_vote = true;     // ask before disrupting: a partitioned node cannot inflate terms
  bool check_quorum = true; // a leader that has not heard from a quorum for an election timeout
                            // steps down; followers ignore votes while they hear a leader

  // Lease-based reads answer a read index without a heartbeat round. Safe only if clocks on
  // all members advance at about the same rate (bounded drift): a new leader can be elected
  // only after an election timeout without heartbeats, and the old leader steps down (check
  // quorum) within that time. Off by default. Requires check_quorum.
  bool lease_reads = false;

  uint64_t max_msg_bytes = 1 << 20;      // entries per kAppend, by data size (at least one entry)
  size_t max_inflight_msgs = 256;        // kAppend messages in flight per follower (pipelining)
  uint64_t max_apply_bytes = 64 << 20;   // committed entries handed out per Ready
  uint64_t snapshot_chunk_bytes = 1 << 20;
};

// What a node recovered from its disk (or, for a new cluster, its bootstrap membership).
struct InitialState {
  HardState hard;
  // The snapshot the log starts after; for a new cluster, index 0 and term 0 with the
  // bootstrap membership in conf. data may be null only when index is 0.
  Snapshot snapshot;
  std::vector<Entry> entries;  // contiguous, starting at snapshot.meta.index + 1
  uint64_t applied = 0;        // what the host's state machine already reflects (>= snapshot index)
};

struct Proposed {
  uint64_t index = 0;
  uint64_t term = 0;  // if the entry applied at `index` has another term, the proposal was lost
};

// Per-follower replication state, as the leader sees it.
struct PeerStatus {
  NodeId id = 0;
  bool learner = false;
  uint64_t match = 0;
  uint64_t next = 0;
  ProgressState state = ProgressState::kProbe;
  bool recent_active = false;
};

class Raft {
 public:
  Raft(const Config& config, InitialState initial);

  // --- driving ---
  void tick();
  // Messages for another group are ignored; so are stale ones (older term), and answers
  // from nodes the leader does not track.
  void step(Message m);
  // Leader only (kNotLeader otherwise, naming the leader; kUnavailable during a transfer).
  Result<Proposed> propose(std::string data);
  // Leader only; kUnavailable while an earlier change is not yet applied.
  Result<Proposed> propose_conf_change(const ConfChange& change);
  // Asks for a linearizable read index; the answer comes back as a ReadState carrying
  // `context`. A follower forwards the request to the leader (kUnavailable if none is known).
  Status read_index(std::string context);
  // Leader only: brings `to` up to date, then tells it to campaign at once. Proposals are refused
  // until it completes or an election timeout passes.
  Status transfer_leadership(NodeId to);
  // Starts an election now (e.g. a single-node cluster at start-up).
  void campaign();

  // The host calls this when it applies a kConfChange entry; returns the new membership.
  ConfState apply_conf_change(const ConfChange& change);
  // The host has taken a snapshot of its state machine at `index` (its applied index, which
  // must be what advance() last acknowledged). Entries up to index are dropped from memory;
  // the snapshot is what lagging followers will receive.
  Status compact(uint64_t index, SnapshotDataPtr data);
  // The host has stored the image of the snapshot at `index` elsewhere (its file) and offers
  // `data` to replace the one Raft holds, so the in-memory copy can go. Ignored when the log's
  // snapshot is no longer the one at `index`.
  void replace_snapshot_data(uint64_t index, SnapshotDataPtr data);

  bool has_ready() const;
  // The next Ready. Normally one at a time: advance() it before asking for the next. While
  // can_pipeline() holds, the host may take further Readys before advancing earlier ones (so its
  // disk never waits for it between syncs), provided it persists them in the order taken, sends
  // each one's messages only after that Ready is persisted, and advances them in order. Each
  // Ready hands out only entries and committed entries that earlier ones did not.
  Ready ready();
  // A leader with no snapshot pending: its log only grows at the end, so Readys in flight never
  // overlap or get overwritten (etcd's raft calls this asynchronous storage writes).
  bool can_pipeline() const { return role_ == Role::kLeader && !log_.pending_snapshot(); }
  // The host has done everything `ready` asked (persisted, sent, applied).
  void advance(const Ready& ready);

  // --- observing ---
  NodeId id() const { return id_; }
  GroupId group() const { return group_; }
  NodeId leader() const { return leader_; }
  Role role() const { return role_; }
  uint64_t term() const { return term_; }
  NodeId vote() const { return vote_; }
  uint64_t commit_index() const { return log_.committed(); }
  uint64_t applied_index() const { return log_.applied(); }
  uint64_t first_index() const { return log_.first_index(); }
  uint64_t last_index() const { return log_.last_index(); }
  // Whether the commit index has reached an entry of the current term: until then a new
  // leader's commit index may lag what an earlier leader acknowledged (section 6.4 of the thesis).
  bool committed_in_current_term() const;
  const ConfState& conf() const { return conf_; }
  const RaftLog& log() const { return log_; }
  bool is_learner() const;
  std::vector<PeerStatus> peers() const;  // empty unless leader

 private:
  friend class RaftTestPeer;

  // role transitions
  void become_follower(uint64_t term, NodeId leader);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void reset(uint64_t term);
  void reset_randomized_timeout();

  // elections
  void start_election(bool pre_vote, bool transfer);
  void handle_vote_request(const Message& m);
  void handle_vote_response(const Message& m);
  bool promotable() const;
  bool in_lease() const;

  // leader
  void tick_leader();
  void step_leader(Message& m);
  void append_entries(std::vector<Entry> entries);
  bool maybe_commit();
  void broadcast_append();
  void broadcast_heartbeat(const std::string& context);
  bool send_append(NodeId to, bool send_if_empty = true);
  void send_snapshot_chunk(NodeId to, Progress& pr);
  void handle_read_request(NodeId requester, std::string context);
  void start_read_rounds_for_waiting();
  bool quorum_active();
  void step_candidate(Message& m);
  void tick_election();
  void send_heartbeat(NodeId to, const std::string& context);
  void handle_append_response(const Message& m);
  void handle_heartbeat_response(const Message& m);
  void handle_snapshot_response(const Message& m);
  void release_pending_reads();
  void answer_read(NodeId requester, uint64_t index, std::string context);
  void abort_transfer();

  // follower
  void step_follower(Message& m);
  void handle_append(const Message& m);
  void handle_heartbeat(const Message& m);
  void handle_snapshot(Message& m);
  bool restore(const SnapshotMeta& meta, SnapshotDataPtr data);

  // membership
  void apply_conf(const ConfState& conf);
  bool is_voter(NodeId id) const;
  bool is_member(NodeId id) const;
  size_t quorum() const;

  void send(Message m);

  const NodeId id_;
  const GroupId group_;
  const Config config_;
  std::mt19937_64 rng_;

  uint64_t term_ = 0;
  NodeId vote_ = 0;
  NodeId leader_ = 0;
  Role role_ = Role::kFollower;
  RaftLog log_;
  ConfState conf_;
  ProgressMap progress_;  // leader only: one per member, self included

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;
  absl::btree_map<NodeId, bool> votes_;

  uint64_t pending_conf_index_ = 0;  // leader: index of the last conf change proposed
  NodeId transferee_ = 0;
  int transfer_elapsed_ = 0;

  // ReadIndex (leader). Reads join the round that is still collecting them (not yet sent);
  // a round is released when a quorum has acknowledged its heartbeat.
  struct PendingRead {
    NodeId requester = 0;  // 0 = this node
    std::string context;
  };
  struct ReadRound {
    uint64_t id = 0;
    uint64_t index = 0;  // commit index when the round started
    std::vector<PendingRead> reads;
    absl::btree_set<NodeId> acks;
  };
  std::vector<PendingRead> reads_waiting_for_commit_;  // until an entry of this term commits
  std::vector<ReadRound> read_rounds_;                 // in start order
  uint64_t next_read_round_ = 1;
  bool read_round_open_ = false;  // the last round has not been sent yet: new reads join it

  // Follower state for an incoming snapshot.
  struct IncomingSnapshot {
    SnapshotMeta meta;
    uint64_t total = 0;
    std::string data;
    NodeId from = 0;
  };
  std::optional<IncomingSnapshot> incoming_;

  // Ready bookkeeping. Appends are sent once per Ready, so proposals made between two Readys
  // share messages (and, on the followers, one disk sync).
  bool pending_broadcast_ = false;
  std::vector<Message> msgs_;
  std::vector<ReadState> read_states_;
  SoftState prev_soft_;
  HardState prev_hard_;
};

}  // namespace dkv::raft
