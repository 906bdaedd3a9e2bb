#include "sim/node.h"

#include <algorithm>
#include <utility>

#include "raft/codec.h"

namespace dkv::sim {

namespace {
// Stands in for a host's file-backed snapshot image: every third read fails, as a file read can,
// so the simulator checks that Raft retries a snapshot transfer it could not read.
class UnreliableSnapshotData final : public raft::SnapshotData {
 public:
  explicit UnreliableSnapshotData(raft::SnapshotDataPtr inner) : inner_(std::move(inner)) {}
  uint64_t size() const override { return inner_->size(); }
  Status read(uint64_t offset, uint64_t len, std::string* out) const override {
    if (++reads_ % 3 == 0) return Status(Code::kUnavailable, "simulated snapshot read failure");
    return inner_->read(offset, len, out);
  }

 private:
  raft::SnapshotDataPtr inner_;
  mutable uint64_t reads_ = 0;
};
}  // namespace

Node::Node(raft::NodeId id, const raft::Config& config, raft::ConfState genesis, uint64_t run_seed,
           uint64_t compact_every, NodeContext ctx)
    : id_(id),
      config_(config),
      run_seed_(run_seed),
      compact_every_(compact_every),
      ctx_(std::move(ctx)),
      disk_(std::move(genesis)) {
  disk_.set_listener([this](const raft::Entry& e, uint64_t prev_term) {
    ctx_.checker->on_durable_entry(id_, e, prev_term);
  });
}

Event Node::event(EventKind kind) const {
  Event e;
  e.time = *ctx_.now;
  e.kind = kind;
  e.node = id_;
  return e;
}

void Node::start() {
  raft::InitialState init = disk_.recover();
  sm_ = StateMachine();
  if (init.snapshot.meta.index > 0) {
    auto image = raft::read_all(*init.snapshot.data);
    auto sm = image.ok() ? StateMachine::deserialize(*image) : std::nullopt;
    if (!sm || sm->applied() != init.snapshot.meta.index) {
      ctx_.checker->report("host contract", "node " + std::to_string(id_) +
                                                "'s durable snapshot at " +
                                                std::to_string(init.snapshot.meta.index) +
                                                " does not hold a state machine image of that index");
    } else {
      sm_ = std::move(*sm);
    }
  }
  raft::Config c = config_;
  c.id = id_;
  // Each incarnation draws its own election timeouts, all from the run's seed.
  c.seed = mix64(run_seed_ ^ mix64(id_ * 1000003 + incarnation_));
  ++incarnation_;
  raft_ = std::make_unique<raft::Raft>(c, std::move(init));
  waiting_reads_.clear();
  torn_armed_ = false;
  state_ = State::kUp;
}

void Node::crash() {
  if (state_ != State::kUp) return;
  disk_.crash(*ctx_.rng);  // whatever was written but not synced
  state_ = State::kDown;
  raft_.reset();
  waiting_reads_.clear();
  in_flight_.clear();
  torn_armed_ = false;
  ctx_.checker->on_node_lost(id_);
}

void Node::stop() {
  if (state_ == State::kStopped) return;
  if (state_ == State::kUp) ctx_.checker->on_node_lost(id_);
  state_ = State::kStopped;
  raft_.reset();
  waiting_reads_.clear();
  in_flight_.clear();
  ctx_.trace->add(event(EventKind::kStop));
}

void Node::tick() {
  ctx_.trace->add(event(EventKind::kTick));
  raft_->tick();
}

void Node::deliver(raft::Message m) {
  ctx_.trace->add(Event::message(*ctx_.now, EventKind::kDeliver, m));
  raft_->step(std::move(m));
}

bool Node::process_ready() {
  // Bounded: a Raft that always has another Ready is a bug the checker should name.
  // Readys in flight from an earlier call are finished now or left for a later one, at random.
  if (!in_flight_.empty() && ctx_.rng->chance(500000) && !finish_in_flight()) return false;
  for (int i = 0; i < 10000; ++i) {
    if (!up()) return false;
    if (!raft_->has_ready()) return true;
    if (ctx_.pipeline && raft_->can_pipeline() && (!in_flight_.empty() || ctx_.rng->chance(500000))) {
      take_pipelined();
      continue;
    }
    if (!in_flight_.empty() && !finish_in_flight()) return false;
    if (!raft_->has_ready()) return true;
    if (!handle_ready()) return false;
  }
  ctx_.checker->report("host contract", "node " + std::to_string(id_) +
                                            " produced 10000 Readys in a row without settling");
  return true;
}

void Node::record_role(const raft::SoftState& soft) {
  Event e = event(EventKind::kRole);
  e.peer = soft.leader;
  e.term = raft_->term();
  e.text = raft::role_name(soft.role);
  ctx_.trace->add(std::move(e));
}

bool Node::handle_ready() {
  raft::Ready rd = raft_->ready();
  if (rd.soft_state) record_role(*rd.soft_state);
  if (raft_->role() == raft::Role::kLeader) ctx_.checker->on_leader(id_, *raft_);

  // 1. Persist, then sync if the Ready says so. A hard state whose only change is the commit
  // index is written lazily: it stays buffered (and a crash loses it) until a later sync.
  // A crash armed for this write strikes before the sync.
  if (rd.snapshot) disk_.write_snapshot(*rd.snapshot);
  disk_.write_entries(rd.entries);
  if (rd.hard_state) disk_.write_hard_state(*rd.hard_state);
  const bool sync = rd.must_sync();
  if (!sync_or_tear(sync)) return false;

  // 2. Send.
  for (raft::Message& m : rd.messages) {
    if (m.from != id_) {
      ctx_.checker->report("host contract", "node " + std::to_string(id_) +
                                                " sent a message from node " + std::to_string(m.from));
    }
    ctx_.network->send(*ctx_.now, std::move(m));
  }

  // 3. Install the snapshot, apply, serve reads.
  if (rd.snapshot) {
    const raft::Snapshot& s = *rd.snapshot;
    auto image = raft::read_all(*s.data);
    auto sm = image.ok() ? StateMachine::deserialize(*image) : std::nullopt;
    if (!sm || sm->applied() != s.meta.index) {
      ctx_.checker->report("host contract", "node " + std::to_string(id_) + " received snapshot " +
                                                std::to_string(s.meta.index) +
                                                " whose data is not the state machine image at that index");
    } else {
      sm_ = std::move(*sm);
      ++snapshots_installed_;
      Event e = event(EventKind::kInstallSnapshot);
      e.index = s.meta.index;
      e.term = s.meta.term;
      ctx_.trace->add(std::move(e));
      ctx_.checker->on_install_snapshot(id_, s.meta.index, sm_.fingerprint());
    }
  }
  for (const raft::Entry& e : rd.committed_entries) apply(e);
  for (raft::ReadState& rs : rd.read_states) waiting_reads_.push_back(std::move(rs));
  serve_reads();

  // 4. Advance.
  raft_->advance(rd);
  maybe_compact();
  return true;
}

void Node::take_pipelined() {
  if (!in_flight_.empty()) ++pipelined_;
  raft::Ready rd = raft_->ready();
  if (rd.soft_state) record_role(*rd.soft_state);
  if (raft_->role() == raft::Role::kLeader) ctx_.checker->on_leader(id_, *raft_);
  if (rd.snapshot) {
    ctx_.checker->report("host contract", "node " + std::to_string(id_) +
                                              " was handed a snapshot while it may pipeline");
  }
  disk_.write_entries(rd.entries);
  if (rd.hard_state) disk_.write_hard_state(*rd.hard_state);
  // Committed entries are durable already: applied now, while this Ready's writes wait.
  for (const raft::Entry& e : rd.committed_entries) apply(e);
  for (raft::ReadState& rs : rd.read_states) waiting_reads_.push_back(std::move(rs));
  rd.read_states.clear();
  serve_reads();
  in_flight_.push_back(std::move(rd));
}

// Syncs what was written (if `sync`), unless a crash is armed for this write: then it strikes
// before the sync, tearing the buffered writes, and this returns false.
bool Node::sync_or_tear(bool sync) {
  if (torn_armed_ && sync) {
    size_t kept = disk_.crash(*ctx_.rng);
    Event e = event(EventKind::kCrash);
    e.count = 1;
    e.index = kept;
    ctx_.trace->add(std::move(e));
    crash();
    return false;
  }
  if (sync) disk_.sync();
  if (!disk_.error().empty()) {
    ctx_.checker->report("host contract", "node " + std::to_string(id_) + ": " + disk_.error());
  }
  return true;
}

bool Node::finish_in_flight() {
  bool sync = false;
  for (const raft::Ready& rd : in_flight_) sync = sync || rd.must_sync();
  if (!sync_or_tear(sync)) return false;
  while (!in_flight_.empty()) {
    raft::Ready rd = std::move(in_flight_.front());
    in_flight_.pop_front();
    for (raft::Message& m : rd.messages) ctx_.network->send(*ctx_.now, std::move(m));
    rd.messages.clear();
    raft_->advance(rd);
  }
  maybe_compact();
  return true;
}

void Node::apply(const raft::Entry& e) {
  if (e.index != sm_.applied() + 1) {
    ctx_.checker->report("host contract", "node " + std::to_string(id_) + " was given entry " +
                                              std::to_string(e.index) + " to apply after " +
                                              std::to_string(sm_.applied()));
    return;
  }
  sm_.apply(e);
  ctx_.checker->on_apply(id_, e, sm_.fingerprint());
  if (e.type != raft::EntryType::kConfChange) return;
  auto change = raft::decode_conf_change(e.data);
  if (!change) {
    ctx_.checker->report("host contract", "node " + std::to_string(id_) +
                                              " cannot decode the conf change at " +
                                              std::to_string(e.index));
    return;
  }
  raft_->apply_conf_change(*change);
  if (ctx_.on_conf_change) ctx_.on_conf_change(id_, *change);
}

void Node::serve_reads() {
  auto ready = [&](const raft::ReadState& rs) { return rs.index <= sm_.applied(); };
  for (const raft::ReadState& rs : waiting_reads_) {
    if (!ready(rs)) continue;
    Event e = event(EventKind::kReadServed);
    e.index = rs.index;
    e.commit = sm_.applied();
    e.text = rs.context;
    ctx_.trace->add(std::move(e));
    ctx_.checker->on_read_served(id_, rs, sm_.applied(), sm_.fingerprint());
    served_reads_.push_back(ServedRead{rs.context, rs.index, sm_.applied()});
  }
  waiting_reads_.erase(std::remove_if(waiting_reads_.begin(), waiting_reads_.end(), ready),
                       waiting_reads_.end());
}

void Node::maybe_compact() {
  if (compact_every_ == 0) return;
  uint64_t applied = sm_.applied();
  if (applied < raft_->first_index() - 1 + compact_every_ || raft_->applied_index() != applied) return;
  auto status = raft_->compact(applied, raft::snapshot_data(sm_.serialize()));
  if (!status.ok()) {
    ctx_.checker->report("host contract", "node " + std::to_string(id_) + " could not compact at " +
                                              std::to_string(applied) + ": " + status.to_string());
    return;
  }
  disk_.save_snapshot(raft_->log().snapshot());
  if (ctx_.unreliable_snapshot_reads) {
    raft_->replace_snapshot_data(
        applied, std::make_shared<const UnreliableSnapshotData>(raft_->log().snapshot().data));
  }
  ++compactions_;
  Event e = event(EventKind::kCompact);
  e.index = applied;
  e.term = raft_->log().snapshot().meta.term;
  ctx_.trace->add(std::move(e));
}

}  // namespace dkv::sim
