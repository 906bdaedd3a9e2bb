// Replica: one member's copy of the store — the deterministic state machine (src/core) driven by
// a RaftNode on the WAL — and everything the command layer needs from it, on the event loop.
//
// Writes: write() stamps the leader's clock into a core::Command, proposes its encoding, and
// calls back with the state machine's result once the entry is applied here (so an
// acknowledged write is durable on a quorum and visible to every later read). On a follower,
// write() forwards the command (origin: this node and a sequence number) to the leader, which
// stamps its own clock and proposes it; the follower answers from its own apply of that entry.
// A forwarded write whose entry does not show up within `forward_timeout`, or whose leader
// changes first, fails with UNAVAILABLE saying its outcome is unknown.
//
// Reads: read() completes once this replica has applied everything committed before the call
// (Raft's ReadIndex, asked of the leader by a follower; a single voter that has committed an
// entry of its own term needs no round and answers at once), and the current term's lease
// refresh. The caller then reads machine() with now_ms().
//
// Leader duties: on taking office it first proposes a LeaseRefreshCmd (every lease gets its full
// TTL again: no lease ends early because nobody was leader to hear its keep-alives, including
// across a restart), then, every expiry interval, an ExpireCmd for what the state machine says is
// due, and a CompactCmd when MVCC history grows beyond the configured revisions.
//
// Snapshots: every `snapshot_entries` applied entries the state machine is saved, Raft's log is
// compacted behind it and the WAL releases the segments it covers.
//
// Watches: events of every applied command go to a WatchHub; after each batch of applied entries,
// deliveries are handed to the sink registered for each watch (the connection that owns it).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio.hpp>

#include "core/command.h"
#include "core/state_machine.h"
#include "core/watch_hub.h"
#include "dkv/status.h"
#include "server/raft_node.h"
#include "server/raft_transport.h"
#include "server/tls.h"
#include "server/wal_storage.h"

namespace dkv::server {

struct Peer {
  raft::NodeId id = 0;
  std::string host;
  uint16_t port = 0;
};

class Replica {
 public:
  struct Options {
    raft::NodeId node_id = 1;
    std::string data_dir = "dkv-data";
    std::string raft_host = "127.0.0.1";
    uint16_t raft_port = 7071;  // 0 picks a free port
    // Members of a new cluster (ids and Raft addresses, this node included). Empty: a single
    // voter, this node. Used only when the data directory holds no Raft state yet.
    std::vector<Peer> bootstrap;
    // A node that joins a running cluster (--join): no membership of its own; it waits for the
    // leader to add it (MEMBER.ADD) and to send it the state. Ignored once it holds Raft state.
    bool join = false;
    std::chrono::milliseconds tick{100};
    int election_ticks = 10;
    uint64_t snapshot_entries = 100000;
    // Size the WAL allocates for each log segment (and for the spare that shows a full disk
    // early: wal.h).
    uint64_t wal_segment_bytes = 64ull << 20;
    std::chrono::milliseconds expiry_interval{10};
    int64_t history_revisions = 10000;  // MVCC history kept for reads at older revisions
    // How long a forwarded write, or a proposal of a leader that stepped down, may stay unanswered
    // before it fails as "may or may not have been applied".
    std::chrono::milliseconds forward_timeout{5000};
    // host:port RESP clients reach this node at: once a member, the node records it in the
    // replicated member table (MEMBER.LIST), so clients discover every member from one. "" none.
    std::string client_address;
    // Mutual TLS between members when peer_tls.peers (server/tls.h).
    TlsOptions peer_tls;
    core::WatchHub::Options watch;
    // Milliseconds since the Unix epoch; the system clock when empty. Tests inject their own.
    std::function<int64_t()> clock;
  };

  using WriteDone = std::function<void(core::CommandResult)>;
  using ReadDone = std::function<void(Status)>;
  // Receives a watch's deliveries; the last one ends the watch when its status is not OK.
  using WatchSink = std::function<void(core::WatchHub::Delivery&)>;

  // Opens the data directory (creating it), checks that it belongs to this node id, recovers the
  // Raft state and the state machine from the latest snapshot, and listens on the Raft port.
  // Errors name the directory or address and what was wrong.
  static Result<std::unique_ptr<Replica>> open(asio::io_context& io, Options options);
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  void start();
  // Stops taking commands and calls `done` once every write in flight has completed (or after
  // `timeout`), then stops Raft and flushes the WAL. A leader with other voters first hands
  // leadership to the most up-to-date one, so the cluster does not wait out an election timeout.
  void shut_down(std::chrono::milliseconds timeout, std::function<void()> done);

  // `session`: SESSION.REQ's id and number, applied at most once (core/state_machine.h).
  // While this node's disk is full (low_space()), refused with UNAVAILABLE saying so; the
  // leader's own duties (expiry, lease refresh, compaction) still go on, from the space the WAL
  // keeps in hand.
  void write(core::CommandBody body, WriteDone done, core::SessionRequest session = {});
  void read(ReadDone done);

  const core::StateMachine& machine() const { return machine_; }
  // Whether machine()'s ACL users are as the log on disk has them. False only after a restart
  // whose log (after the snapshot) holds ACL changes, until they are applied again; then
  // `on_settled` is posted, once. Connections read no request meanwhile (acl.h).
  bool acl_settled() const { return acl_settled_at_ == 0; }
  void on_acl_settled(std::function<void()> on_settled) { on_acl_settled_ = std::move(on_settled); }
  int64_t now_ms() const { return options_.clock(); }
  asio::io_context& io() { return io_; }

  // Watches: subscribe with the events a SNAPSHOT watch must see first (read from machine()).
  Result<int64_t> watch(const WatchRequest& request, WatchSink sink);
  void unwatch(int64_t watch_id);
  size_t watchers() const { return hub_.watcher_count(); }
  // Keys removed by expiry (EXPIRE events) applied on this node since it started.
  int64_t expired_keys() const { return expired_keys_; }
  // Connections waiting in LOCK.ACQUIRE WAIT / ELECT.CAMPAIGN WAIT (INFO blocked_clients).
  int64_t blocked_clients() const { return blocked_clients_; }
  void add_blocked_client(int delta) { blocked_clients_ += delta; }

  // Membership (leader only; UNAVAILABLE naming the leader elsewhere). add_member records every
  // member's Raft address in the replicated table, then adds `node` as a learner;
  // change_member promotes a learner (kAddVoter) or removes a member (kRemoveNode). `done` is
  // called once the change is applied here.
  void add_member(raft::NodeId node, std::string raft_address, std::function<void(Status)> done);
  // A change refused at once because the previous one is not applied yet (a client that promotes
  // and then removes at once) is tried again every 20 ms for up to 2 s.
  void change_member(raft::ConfChangeType type, raft::NodeId node, std::function<void(Status)> done,
                     int retries_left = 100);
  // Leader only: hands leadership to voter `to` (Raft's TimeoutNow once it is up to date);
  // `done` gets OK once this node no longer leads, UNAVAILABLE after `timeout`.
  void transfer_leadership(raft::NodeId to, std::chrono::milliseconds timeout,
                           std::function<void(Status)> done);
  // OK on the leader; UNAVAILABLE naming the leader (membership changes go there) elsewhere.
  Status leader_only() const;
  // The Raft address this node knows for each member (the replicated table, else --bootstrap).
  std::map<raft::NodeId, std::string> member_addresses() const;
  // Client addresses members recorded for themselves (the replicated table).
  const absl::btree_map<uint64_t, std::string>& member_client_addresses() const {
    return machine_.member_client_addresses();
  }
  // Members' Raft addresses learned outside the log (a joining node asks a member for them):
  // the lowest precedence, used until the replicated table has them.
  void learn_addresses(const std::map<raft::NodeId, std::string>& addresses);
  // This node's own Raft address as peers should dial it.
  std::string raft_address() const;
  raft::NodeId node_id() const { return options_.node_id; }
  RaftNode& node() { return *node_; }

  // Forces a snapshot now (the SNAPSHOT command); `done` gets the snapshot's index.
  void snapshot_now(std::function<void(Result<uint64_t>)> done);
  // Where this node's snapshot files are (BACKUP reads the newest).
  std::string snapshot_dir() const { return options_.data_dir + "/snap"; }

  struct RaftInfo {
    raft::NodeId node_id = 0;
    raft::NodeId leader_id = 0;
    std::string role;  // leader, follower, learner, candidate
    uint64_t term = 0;
    uint64_t commit_index = 0;
    uint64_t applied_index = 0;
    uint64_t snapshot_index = 0;
    std::vector<raft::NodeId> voters;    // ascending
    std::vector<raft::NodeId> learners;  // ascending
    uint64_t wal_syncs = 0;
    bool disk_full = false;  // writes refused (low_space)
  };
  RaftInfo raft_info() const;
  uint16_t raft_port() const { return transport_->port(); }
  // False when the data directory held no Raft state at start-up (a new node).
  bool recovered_state() const { return storage_->recovered_anything(); }
  // Fault tests only (admin POST /debug/network with --fault-injection): a simulated bad network.
  RaftTransport& transport() { return *transport_; }
  bool stopping() const { return stopping_; }
  // A failure that stopped this replica (e.g. the disk); OK while it runs.
  Status failure() const;

 private:
  explicit Replica(asio::io_context& io, Options options);

  std::string apply_entry(const raft::Entry& entry);
  void install(const raft::Snapshot& snapshot);
  void on_role_changed(const raft::SoftState& soft);
  void on_advanced();
  void take_snapshot(std::function<void(Result<uint64_t>)> done);
  void hold_snapshot_in_file(const raft::SnapshotMeta& meta);
  void deliver();
  void schedule_duties();
  void run_duties();
  // Any member: records options_.client_address in the member table if it is not there.
  void announce_client_address();
  void serve_local_reads();
  void release_reads_after_refresh();
  void finish_transfer(Status status);
  // Points the transport at every member's current address.
  void sync_peers();
  void write_all(std::vector<core::CommandBody> bodies, std::function<void(Status)> done);
  // write() without the full-disk check.
  void propose_write(core::CommandBody body, WriteDone done, core::SessionRequest session = {});
  // Notices the disk filling up or space returning (says so on stderr), and asks the WAL to try
  // again for its spare segment once a second while full.
  void watch_disk_space();
  void note_applied(uint64_t index);  // for acl_settled
  void maybe_finish_shutdown();
  void forward_write(core::CommandBody body, WriteDone done, core::SessionRequest session);
  void on_forwarded(raft::NodeId from, std::string data);
  void finish_forward(uint64_t seq, core::CommandResult result);
  void fail_forwards(const std::function<bool(raft::NodeId leader, int64_t deadline)>& which,
                     const std::string& why);

  asio::io_context& io_;
  Options options_;
  core::StateMachine machine_;
  core::WatchHub hub_;
  std::unique_ptr<WalStorage> storage_;
  std::unique_ptr<RaftTransport> transport_;
  std::unique_ptr<RaftNode> node_;
  std::map<int64_t, WatchSink> sinks_;
  asio::steady_timer duties_timer_;

  // The result of the entry being applied, handed to its proposer: RaftNode completes a proposal
  // right after apply returns, on the same call stack.
  core::CommandResult last_result_;
  bool last_result_set_ = false;

  uint64_t snapshot_index_ = 0;
  int64_t expired_keys_ = 0;
  int64_t blocked_clients_ = 0;
  bool snapshotting_ = false;
  int64_t snapshot_retry_after_ms_ = 0;  // after a failed snapshot (e.g. a full disk)
  bool disk_full_ = false;               // as last seen by watch_disk_space()
  uint64_t acl_settled_at_ = 0;          // applied index that settles the ACL users; 0 = settled
  std::function<void()> on_acl_settled_;
  int64_t space_retry_after_ms_ = 0;
  std::vector<std::function<void(Result<uint64_t>)>> snapshot_waiters_;

  // Leader duties in flight: the lease refresh (the term whose refresh applied is replicated
  // state, machine_.lease_refresh_term()), expiry, compaction.
  bool refresh_in_flight_ = false;
  bool expire_in_flight_ = false;
  bool compact_in_flight_ = false;
  // This member's own duty: recording its client address (announce_client_address()).
  bool announce_in_flight_ = false;
  int64_t announce_after_ms_ = 0;

  // Single-voter reads waiting for apply to reach the commit index they saw.
  std::multimap<uint64_t, ReadDone> local_reads_;
  std::vector<ReadDone> reads_after_refresh_;

  // Writes this follower forwarded, by origin sequence number. Numbers start from the start-up
  // time in microseconds, so an entry forwarded by an earlier run of this node (still being
  // applied after a restart) never matches one of this run's.
  struct Forward {
    raft::NodeId leader = 0;
    int64_t deadline_ms = 0;
    WriteDone done;
  };
  std::map<uint64_t, Forward> forwards_;
  std::map<raft::NodeId, std::string> peer_addresses_;  // as last given to the transport
  std::map<raft::NodeId, std::string> learned_addresses_;
  uint64_t next_forward_seq_ = 0;

  size_t writes_in_flight_ = 0;
  bool stopping_ = false;
  bool handing_over_ = false;  // shutting down: leadership is moving to another voter
  struct Transfer {
    Transfer(asio::io_context& io, raft::NodeId to) : to(to), timer(io) {}
    raft::NodeId to;
    asio::steady_timer timer;
    std::vector<std::function<void(Status)>> waiters;
  };
  std::unique_ptr<Transfer> transfer_;  // a leadership transfer under way
  bool serve_posted_ = false;  // a deliver + serve_local_reads is queued on the loop
  std::function<void()> shutdown_done_;
  std::unique_ptr<asio::steady_timer> shutdown_timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace dkv::server
