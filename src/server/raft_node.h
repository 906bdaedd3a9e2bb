// RaftNode: the host that drives one Raft group member on a single-threaded Asio event loop.
//
// It ticks the Raft core on a timer, feeds it messages from the transport, and turns each Ready
// into work in the order the contract requires: persist through RaftStorage (asynchronously:
// the WAL's sync thread), then send, then advance. Committed entries, being durable already,
// are applied as soon as the Ready is taken, while its new entries sync. A follower has one
// Ready in flight at a time; a leader takes the next one while earlier ones sync (they are
// persisted, sent and advanced in order; see Raft::can_pipeline), so everything proposed in one
// turn of the loop forms one Ready and the WAL's thread syncs all the Readys waiting when its
// previous sync ends at once: group commit without any added delay. Proposals complete when
// their entry is applied (or is known lost); linearizable reads complete when the applied index
// reaches their read index.
//
// All methods must be called on the event loop's thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <asio.hpp>

#include "dkv/status.h"
#include "raft/raft.h"
#include "server/raft_transport.h"

namespace dkv::server {

// The durable home of a member's Raft state (the WAL and snapshot files).
class RaftStorage {
 public:
  virtual ~RaftStorage() = default;
  // Makes ready's snapshot, entries and hard state durable, then calls `done` on the event loop,
  // never before persist() has returned.
  // A failure is final: the node stops (it cannot acknowledge anything after a failed sync).
  virtual void persist(std::shared_ptr<const raft::Ready> ready, std::function<void(Status)> done) = 0;
};

// What the node's state machine does with committed entries.
struct RaftApplier {
  // A committed normal entry (the leader's no-op entries have empty data and are skipped).
  // Returns the result handed to the proposer, if this node proposed it.
  std::function<std::string(const raft::Entry&)> apply;
  // A snapshot received from the leader: replace the state machine's state with it.
  std::function<void(const raft::Snapshot&)> install;
  // Membership changed (after Raft applied it): e.g. to update the transport's peers.
  std::function<void(const raft::ConfChange&, const raft::ConfState&)> conf_changed;
  // Leader or role changed.
  std::function<void(const raft::SoftState&)> role_changed;
  // A follower forwarded a command to this node (RaftNode::forward): propose it if leading.
  std::function<void(raft::NodeId from, std::string data)> forwarded;
  // A Ready was acknowledged: Raft's applied index now equals applied_index(), so this is when
  // the host may snapshot its state machine and compact the log (Raft::compact).
  std::function<void()> advanced;
};

class RaftNode {
 public:
  struct Options {
    raft::Config raft;
    std::chrono::milliseconds tick{100};
    // A proposal whose leader stepped down is answered when its index applies (kept or lost);
    // if that has not happened this long after the step-down (e.g. the old leader is cut off),
    // it fails saying the write may or may not have been applied.
    std::chrono::milliseconds orphaned_proposal_timeout{5000};
  };

  // Called with OK and the apply result, or with an error if the proposal was refused or lost
  // (NOT_LEADER, UNAVAILABLE, or CANCELLED when the node stops).
  using ProposeDone = std::function<void(Status, std::string result)>;
  using ReadDone = std::function<void(Status)>;

  RaftNode(asio::io_context& io, Options options, raft::InitialState initial, RaftStorage& storage,
           RaftTransport& transport, RaftApplier applier);
  ~RaftNode();

  void start();  // starts ticking
  void stop();   // fails everything pending with CANCELLED

  void step(raft::Message m);
  void propose(std::string data, ProposeDone done);
  // Sends `data` to the leader's host (a kForward message beside Raft's), whose applier's
  // `forwarded` proposes it. Nothing comes back: the caller recognises the entry when it applies
  // it, or never (the message or the leadership was lost). UNAVAILABLE if no other node is
  // known to lead.
  Status forward(std::string data);
  void propose_conf_change(const raft::ConfChange& change, ProposeDone done);
  // Completes once this node has applied everything committed before the call (ReadIndex). A
  // follower asks the leader; without an answer within two election timeouts (the request or
  // the answer was lost, or the leader could not serve it yet) it fails with UNAVAILABLE.
  void read_barrier(ReadDone done);
  void campaign();
  // Leader only: hands leadership to voter `to` (Raft's TimeoutNow once it is up to date).
  Status transfer_leadership(raft::NodeId to);

  const raft::Raft& raft() const { return raft_; }
  raft::Raft& raft() { return raft_; }
  uint64_t applied_index() const { return applied_; }
  // Takes no further Ready while others are in flight until Raft's applied index has caught up
  // with applied_index() (they differ while a leader pipelines), for a host that needs the two
  // equal, e.g. to snapshot its state machine at Raft's applied index.
  void hold_pipeline() { hold_pipeline_ = true; }
  bool stopped() const { return stopped_; }
  const Status& failure() const { return failure_; }

 private:
  void schedule_pump();
  void pump();
  void apply(const raft::Ready& rd);
  void finish_persisted();
  void apply_entries(const raft::Ready& rd);
  void serve_reads();
  void fail_all(const Status& status);
  void on_tick();

  asio::io_context& io_;
  Options options_;
  raft::Raft raft_;
  RaftStorage& storage_;
  RaftTransport& transport_;
  RaftApplier applier_;
  asio::steady_timer ticker_;

  uint64_t applied_ = 0;  // the last entry handed to the applier (ahead of Raft's until advance)
  bool pump_scheduled_ = false;
  // Readys taken and not yet advanced, oldest first (more than one only while pipelining).
  struct InFlight {
    std::shared_ptr<const raft::Ready> rd;
    bool applied = false;    // its committed entries were applied when it was taken
    bool persisted = false;  // durable (or nothing to write): ready to send and advance
  };
  std::deque<InFlight> in_flight_;
  bool hold_pipeline_ = false;
  bool stopped_ = false;
  Status failure_;

  struct Waiter {
    uint64_t term = 0;
    ProposeDone done;
    uint64_t orphaned_at_tick = 0;  // when this node stopped leading; 0 while it leads
  };
  std::map<uint64_t, Waiter> proposals_;  // by log index
  bool has_orphans_ = false;              // some waiter has orphaned_at_tick set

  uint64_t next_read_id_ = 1;
  struct ReadRequest {
    uint64_t tick = 0;  // when it was asked
    ReadDone done;
  };
  uint64_t ticks_ = 0;
  std::map<uint64_t, ReadRequest> reads_requested_;       // by read id, waiting for a read index
  std::multimap<uint64_t, ReadDone> reads_ready_;          // by read index, waiting for apply
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace dkv::server
