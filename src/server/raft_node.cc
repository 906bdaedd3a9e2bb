#include "server/raft_node.h"

#include <algorithm>
#include <utility>

#include "raft/codec.h"

namespace dkv::server {

RaftNode::RaftNode(asio::io_context& io, Options options, raft::InitialState initial,
                   RaftStorage& storage, RaftTransport& transport, RaftApplier applier)
    : io_(io),
      options_(options),
      raft_(options.raft, std::move(initial)),
      storage_(storage),
      transport_(transport),
      applier_(std::move(applier)),
      ticker_(io) {
  applied_ = raft_.applied_index();
}

RaftNode::~RaftNode() {
  *alive_ = false;
  stop();
}

void RaftNode::start() {
  ticker_.expires_after(options_.tick);
  ticker_.async_wait([this, alive = alive_](const asio::error_code& ec) {
    if (ec || !*alive || stopped_) return;
    on_tick();
    start();
  });
  schedule_pump();
}

void RaftNode::stop() {
  if (stopped_) return;
  stopped_ = true;
  ticker_.cancel();
  fail_all(failure_.ok() ? Status(Code::kCancelled, "the node is stopping") : failure_);
}

void RaftNode::on_tick() {
  ++ticks_;
  raft_.tick();
  // Read ids increase with time: the oldest requests come first.
  const uint64_t limit = 2 * static_cast<uint64_t>(options_.raft.election_ticks);
  while (!reads_requested_.empty() && reads_requested_.begin()->second.tick + limit <= ticks_) {
    auto node = reads_requested_.extract(reads_requested_.begin());
    node.mapped().done(Status(Code::kUnavailable, "no read index from the leader in time; retry"));
  }
  const uint64_t orphan_ticks = std::max<uint64_t>(
      1, static_cast<uint64_t>(options_.orphaned_proposal_timeout / options_.tick));
  bool orphans_left = false;
  for (auto it = proposals_.begin(); has_orphans_ && it != proposals_.end();) {
    if (it->second.orphaned_at_tick == 0 || it->second.orphaned_at_tick + orphan_ticks > ticks_) {
      orphans_left = orphans_left || it->second.orphaned_at_tick != 0;
      ++it;
      continue;
    }
    ProposeDone done = std::move(it->second.done);
    it = proposals_.erase(it);
    done(Status(Code::kUnavailable,
                "this node stopped leading before the write committed and did not learn its fate within " +
                    std::to_string(options_.orphaned_proposal_timeout.count()) +
                    " ms; it may or may not have been applied"),
         {});
  }
  has_orphans_ = orphans_left;
  schedule_pump();
}

void RaftNode::step(raft::Message m) {
  if (stopped_) return;
  if (m.type == raft::MessageType::kForward) {
    if (m.group != options_.raft.group || m.to != options_.raft.id || !applier_.forwarded) return;
    for (raft::Entry& e : m.entries) applier_.forwarded(m.from, std::move(e.data));
    return;
  }
  raft_.step(std::move(m));
  schedule_pump();
}

Status RaftNode::transfer_leadership(raft::NodeId to) {
  if (stopped_) return Status(Code::kCancelled, "the node is stopping");
  Status s = raft_.transfer_leadership(to);
  schedule_pump();
  return s;
}

void RaftNode::campaign() {
  raft_.campaign();
  schedule_pump();
}

void RaftNode::propose(std::string data, ProposeDone done) {
  if (stopped_) return done(Status(Code::kCancelled, "the node is stopping"), {});
  auto p = raft_.propose(std::move(data));
  if (!p.ok()) return done(p.status(), {});
  proposals_[p->index] = Waiter{p->term, std::move(done)};
  schedule_pump();
}

Status RaftNode::forward(std::string data) {
  if (stopped_) return Status(Code::kCancelled, "the node is stopping");
  const raft::NodeId leader = raft_.leader();
  if (leader == 0 || leader == options_.raft.id) {
    return Status(Code::kUnavailable, "no other node is known to lead; retry");
  }
  raft::Message m;
  m.type = raft::MessageType::kForward;
  m.group = options_.raft.group;
  m.from = options_.raft.id;
  m.to = leader;
  m.term = raft_.term();
  m.entries.push_back(raft::Entry{0, 0, raft::EntryType::kNormal, std::move(data)});
  transport_.send(m);
  return Status();
}

void RaftNode::propose_conf_change(const raft::ConfChange& change, ProposeDone done) {
  if (stopped_) return done(Status(Code::kCancelled, "the node is stopping"), {});
  auto p = raft_.propose_conf_change(change);
  if (!p.ok()) return done(p.status(), {});
  proposals_[p->index] = Waiter{p->term, std::move(done)};
  schedule_pump();
}

void RaftNode::read_barrier(ReadDone done) {
  if (stopped_) return done(Status(Code::kCancelled, "the node is stopping"));
  uint64_t id = next_read_id_++;
  Status s = raft_.read_index(std::to_string(id));
  if (!s.ok()) return done(s);
  reads_requested_.emplace(id, ReadRequest{ticks_, std::move(done)});
  schedule_pump();
}

// Everything that happens in one turn of the event loop joins one Ready.
void RaftNode::schedule_pump() {
  if (pump_scheduled_ || stopped_) return;
  pump_scheduled_ = true;
  asio::post(io_, [this, alive = alive_] {
    if (!*alive) return;
    pump_scheduled_ = false;
    pump();
  });
}

void RaftNode::pump() {
  if (stopped_ || !raft_.has_ready()) return;
  // A leader takes the next Ready while earlier ones sync (Raft::can_pipeline), so the WAL's
  // thread finds the next batch waiting when a sync ends instead of waiting for this loop.
  if (!in_flight_.empty() && (!raft_.can_pipeline() || hold_pipeline_)) return;
  auto rd = std::make_shared<const raft::Ready>(raft_.ready());
  // Committed entries are already durable (Raft hands out only persisted ones), so they are
  // applied at once, while this Ready's new entries are being synced. A received snapshot is
  // the exception: it is installed only once it is on disk.
  const bool apply_now = !rd->snapshot;
  // A Ready with nothing that must survive a crash (a hard state that only moved the commit
  // index, see Ready::must_sync) is not written at all: it is done once those before it are.
  const bool sync = rd->must_sync();
  in_flight_.push_back(InFlight{rd, apply_now, !sync});
  if (sync) {
    storage_.persist(rd, [this, alive = alive_](Status s) {
      if (!*alive || stopped_) return;
      if (!s.ok()) {
        failure_ = s;
        stop();
        return;
      }
      // Persists complete in the order they were asked for.
      for (InFlight& f : in_flight_) {
        if (!f.persisted) {
          f.persisted = true;
          break;
        }
      }
      finish_persisted();
    });
  }
  // Applied after the persist is handed over, so the disk syncs the new entries while the
  // committed ones are applied and answered (persist never completes before it returns).
  if (apply_now) apply(*rd);
  if (!sync) finish_persisted();
}

// Sends, applies (what was not applied when taken) and advances the persisted Readys at the
// front of in_flight_, in order.
void RaftNode::finish_persisted() {
  while (!in_flight_.empty() && in_flight_.front().persisted && !stopped_) {
    InFlight f = std::move(in_flight_.front());
    in_flight_.pop_front();
    for (const raft::Message& m : f.rd->messages) transport_.send(m);
    if (!f.applied) apply(*f.rd);
    raft_.advance(*f.rd);
    if (hold_pipeline_ && applied_ == raft_.applied_index()) hold_pipeline_ = false;
    if (applier_.advanced) applier_.advanced();
  }
  schedule_pump();
}

void RaftNode::apply(const raft::Ready& rd) {
  if (rd.soft_state) {
    // Read requests in flight belong to the old leadership; their answers will not come.
    auto requested = std::move(reads_requested_);
    reads_requested_.clear();
    for (auto& [id, request] : requested) {
      request.done(Status(Code::kUnavailable, "leadership changed during the read; retry"));
    }
    if (rd.soft_state->role != raft::Role::kLeader) {
      for (auto& [index, w] : proposals_) {
        if (w.orphaned_at_tick == 0) w.orphaned_at_tick = ticks_ + 1;
        has_orphans_ = true;
      }
    }
    if (applier_.role_changed) applier_.role_changed(*rd.soft_state);
  }
  if (rd.snapshot) {
    if (applier_.install) applier_.install(*rd.snapshot);
    applied_ = rd.snapshot->meta.index;
  }
  apply_entries(rd);
  for (const raft::ReadState& r : rd.read_states) {
    auto it = reads_requested_.find(std::strtoull(r.context.c_str(), nullptr, 10));
    if (it == reads_requested_.end()) continue;
    reads_ready_.emplace(r.index, std::move(it->second.done));
    reads_requested_.erase(it);
  }
  serve_reads();
}

void RaftNode::apply_entries(const raft::Ready& rd) {
  for (const raft::Entry& e : rd.committed_entries) {
    std::string result;
    if (e.type == raft::EntryType::kConfChange) {
      if (auto cc = raft::decode_conf_change(e.data)) {
        raft::ConfState conf = raft_.apply_conf_change(*cc);
        if (applier_.conf_changed) applier_.conf_changed(*cc, conf);
      }
    } else if (!e.data.empty() && applier_.apply) {
      result = applier_.apply(e);
    }
    applied_ = e.index;
    // Complete proposals up to this index: ours if the term matches, lost otherwise.
    while (!proposals_.empty() && proposals_.begin()->first <= e.index) {
      auto node = proposals_.extract(proposals_.begin());
      Waiter& w = node.mapped();
      if (node.key() == e.index && w.term == e.term) {
        w.done(Status(), std::move(result));
      } else {
        w.done(Status(Code::kUnavailable, "the proposal was lost in a leader change; retry"), {});
      }
    }
  }
}

void RaftNode::serve_reads() {
  uint64_t applied = applied_;
  while (!reads_ready_.empty() && reads_ready_.begin()->first <= applied) {
    auto node = reads_ready_.extract(reads_ready_.begin());
    node.mapped()(Status());
  }
}

void RaftNode::fail_all(const Status& status) {
  auto proposals = std::move(proposals_);
  proposals_.clear();
  for (auto& [index, w] : proposals) w.done(status, {});
  auto requested = std::move(reads_requested_);
  reads_requested_.clear();
  for (auto& [id, request] : requested) request.done(status);
  auto ready = std::move(reads_ready_);
  reads_ready_.clear();
  for (auto& [index, done] : ready) done(status);
}

}  // namespace dkv::server
