#include "sim/simulator.h"

#include <algorithm>
#include <utility>

namespace dkv::sim {

namespace {

using raft::NodeId;

std::string u(uint64_t v) { return std::to_string(v); }

// Proposals a client will pile onto a leader beyond its commit index.
constexpr uint64_t kMaxUncommitted = 100;

// Per time unit, the chance of an event expected once every `units` time units.
uint64_t every(uint64_t units) { return units == 0 ? 0 : 1000000 / units; }

}  // namespace

// The fault mix of one random run. Drawn from the seed, so seeds differ in character as well
// as in detail: some lose many messages, some crash often, some never compact.
struct Simulator::Profile {
  NetworkFaults net;
  uint64_t crash_ppm = 0;
  uint64_t torn_ppm = 0;    // of crashes: strike in the middle of persisting a Ready
  uint64_t leader_ppm = 0;  // of crashes and isolations: aim at the leader
  uint64_t restart_min = 0, restart_max = 0;
  uint64_t partition_ppm = 0;
  uint64_t heal_min = 0, heal_max = 0;
  uint64_t propose_ppm = 0;
  uint64_t read_ppm = 0;
  uint64_t conf_ppm = 0;
  uint64_t transfer_ppm = 0;
  uint64_t tick_skip_ppm = 0;  // a node's clock misses a tick
  uint64_t new_leader_crash_ppm = 0;  // a node that has just become leader crashes soon
  uint64_t crash_loses_sent_ppm = 0;  // of a crashed node's messages still in flight
};

Simulator::Simulator(const Options& options)
    : options_(options),
      rng_(options.seed),
      trace_(options.trace_tail, options.verbose),
      network_(&rng_, &trace_, options.manual) {
  const uint64_t t = options_.tick_interval;
  raft_config_.election_ticks = options_.election_ticks;
  raft_config_.heartbeat_ticks = options_.heartbeat_ticks;
  raft_config_.pre_vote = options_.pre_vote;
  raft_config_.check_quorum = options_.check_quorum;
  raft_config_.group = 1;
  if (options_.manual) {
    compact_every_ = options_.compact_every.value_or(0);
    raft_config_.snapshot_chunk_bytes = options_.snapshot_chunk_bytes.value_or(1 << 20);
    raft_config_.max_msg_bytes = options_.max_msg_bytes.value_or(1 << 20);
    raft_config_.max_inflight_msgs = options_.max_inflight_msgs.value_or(256);
  } else {
    // Every value is drawn even when an option overrides it, so that overriding one leaves the
    // rest of the run's randomness as it was.
    const uint64_t compact_every = rng_.chance(150000) ? 0 : rng_.range(3, 30);
    compact_every_ = options_.compact_every.value_or(compact_every);
    raft_config_.snapshot_chunk_bytes = options_.snapshot_chunk_bytes.value_or(rng_.range(8, 64));
    // A third of the runs have flaky leaders: every new leader crashes within a few ticks, and
    // the messages it had in flight die with it. Leaders then come and go with their latest
    // entries on a minority: the histories of Figure 8 in the Raft paper, where a wrong commit
    // rule shows. One entry per append (max_msg_bytes 0) lets a new leader's old entries reach
    // a follower without its own no-op.
    const bool flaky_leaders = rng_.uniform(3) == 0;
    raft_config_.max_msg_bytes = options_.max_msg_bytes.value_or(
        flaky_leaders ? 0 : rng_.pick(std::vector<uint64_t>{0, 16, 1 << 20}));
    raft_config_.max_inflight_msgs =
        options_.max_inflight_msgs.value_or(rng_.pick(std::vector<size_t>{1, 4, 256}));

    profile_ = std::make_unique<Profile>();
    Profile& p = *profile_;
    p.net.drop_ppm = rng_.pick(std::vector<uint64_t>{0, 5000, 20000, 50000});
    p.net.duplicate_ppm = rng_.pick(std::vector<uint64_t>{0, 5000, 20000});
    p.net.min_delay = 1;
    p.net.max_delay = rng_.range(1, 2 * t);
    p.net.slow_ppm = rng_.pick(std::vector<uint64_t>{0, 10000, 50000});
    p.net.slow_delay = 10 * t;
    p.crash_ppm = every(rng_.range(20, 80) * t);
    p.torn_ppm = 300000;
    p.leader_ppm = 500000;
    p.restart_min = t;
    p.restart_max = rng_.range(5, 40) * t;
    p.partition_ppm = every(rng_.range(30, 100) * t);
    p.heal_min = 5 * t;
    p.heal_max = rng_.range(10, 60) * t;
    p.propose_ppm = every(rng_.range(1, 10));
    p.read_ppm = every(rng_.range(2, 20));
    p.conf_ppm = every(rng_.range(60, 200) * t);
    p.transfer_ppm = every(rng_.range(60, 200) * t);
    p.tick_skip_ppm = rng_.pick(std::vector<uint64_t>{0, 0, 20000});
    p.new_leader_crash_ppm = flaky_leaders ? 1000000 : rng_.pick(std::vector<uint64_t>{0, 100000});
    p.crash_loses_sent_ppm = flaky_leaders ? 1000000 : rng_.pick(std::vector<uint64_t>{0, 500000});
    network_.set_faults(options_.faults ? p.net : NetworkFaults{});
  }

  for (NodeId id = 1; id <= options_.nodes; ++id) genesis_.voters.push_back(id);
  for (NodeId id = 1; id <= options_.nodes; ++id) add_node(id).start();
}

Simulator::~Simulator() = default;

Node& Simulator::add_node(NodeId id) {
  NodeContext ctx;
  ctx.rng = &rng_;
  ctx.trace = &trace_;
  ctx.checker = &checker_;
  ctx.network = &network_;
  ctx.now = &now_;
  ctx.unreliable_snapshot_reads = !options_.manual && options_.seed % 2 == 1;
  // Half the random runs let leaders pipeline Readys (seeds 2, 3, 6, 7, ...).
  ctx.pipeline = !options_.manual && (options_.seed >> 1) % 2 == 1;
  ctx.on_conf_change = [this](NodeId, const raft::ConfChange& change) {
    if (change.type == raft::ConfChangeType::kRemoveNode) to_stop_.push_back(change.node);
  };
  auto node = std::make_unique<Node>(id, raft_config_, genesis_, options_.seed, compact_every_,
                                     std::move(ctx));
  Node& ref = *node;
  nodes_[id] = std::move(node);
  tick_phase_[id] = options_.manual ? 0 : rng_.uniform(options_.tick_interval);
  if (id > options_.nodes) {
    Event e;
    e.time = now_;
    e.kind = EventKind::kAddNode;
    e.node = id;
    trace_.add(std::move(e));
  }
  return ref;
}

void Simulator::note(std::string text) {
  Event e;
  e.time = now_;
  e.kind = EventKind::kNote;
  e.text = std::move(text);
  trace_.add(std::move(e));
}

std::vector<NodeId> Simulator::node_ids() const {
  std::vector<NodeId> ids;
  for (const auto& [id, n] : nodes_) ids.push_back(id);
  return ids;
}

std::vector<NodeId> Simulator::up_nodes() const {
  std::vector<NodeId> ids;
  for (const auto& [id, n] : nodes_) {
    if (n->up()) ids.push_back(id);
  }
  return ids;
}

std::vector<NodeId> Simulator::leaders() const {
  std::vector<NodeId> ids;
  for (const auto& [id, n] : nodes_) {
    if (n->up() && n->raft().role() == raft::Role::kLeader) ids.push_back(id);
  }
  return ids;
}

NodeId Simulator::leader() const {
  NodeId best = 0;
  uint64_t best_term = 0;
  for (NodeId id : leaders()) {
    uint64_t term = nodes_.at(id)->raft().term();
    if (term > best_term) {
      best = id;
      best_term = term;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// The host loop shared by both modes

void Simulator::deliver_message(raft::Message m) {
  auto it = nodes_.find(m.to);
  if (it == nodes_.end() || !it->second->up()) {
    trace_.add(Event::message(now_, EventKind::kDrop, m));
    return;
  }
  ++stats_.messages;
  it->second->deliver(std::move(m));
}

void Simulator::process_ready_all() {
  for (auto& [id, n] : nodes_) {
    if (n->up() && !n->process_ready()) {
      ++stats_.crashes;
      ++stats_.torn_writes;
      if (!options_.manual) restart_at_[id] = now_ + rng_.range(profile_->restart_min, profile_->restart_max);
    }
  }
  // Removed nodes stop once everything they had to say (e.g. a leader's TimeoutNow to its
  // successor) is sent.
  while (!to_stop_.empty()) {
    NodeId id = to_stop_.back();
    to_stop_.pop_back();
    auto it = nodes_.find(id);
    if (it == nodes_.end() || it->second->state() == Node::State::kStopped) continue;
    if (it->second->up() && it->second->raft().has_ready()) it->second->process_ready();
    it->second->stop();
    restart_at_.erase(id);
  }
}

void Simulator::after_step() {
  for (auto& [id, n] : nodes_) {
    if (!n->up()) continue;
    const raft::Raft& r = n->raft();
    if (r.role() == raft::Role::kLeader) checker_.on_leader(id, r);
  }
}

void Simulator::finish_call() {
  process_ready_all();
  after_step();
}

// ---------------------------------------------------------------------------------------------
// Manual mode

void Simulator::tick(NodeId id, int times) {
  for (int i = 0; i < times && ok(); ++i) {
    ++now_;
    Node& n = node(id);
    if (!n.up()) return;
    ++stats_.ticks;
    n.tick();
    finish_call();
  }
}

void Simulator::tick_all(int times) {
  for (int i = 0; i < times && ok(); ++i) {
    ++now_;
    for (NodeId id : up_nodes()) {
      ++stats_.ticks;
      node(id).tick();
    }
    finish_call();
  }
}

size_t Simulator::deliver(const MessageFilter& f, size_t max) {
  ++now_;
  std::vector<raft::Message> msgs = network_.take(f, max);
  for (raft::Message& m : msgs) deliver_message(std::move(m));
  finish_call();
  return msgs.size();
}

size_t Simulator::drop(const MessageFilter& f) {
  ++now_;
  return network_.drop(f);
}

void Simulator::settle(int max_rounds) {
  for (int i = 0; i < max_rounds && network_.in_flight() > 0 && ok(); ++i) deliver();
}

std::vector<raft::Message> Simulator::in_flight(const MessageFilter& f) const {
  return network_.pending(f);
}

void Simulator::partition(const std::vector<std::vector<NodeId>>& groups) {
  ++now_;
  network_.heal();
  std::string text;
  for (size_t g = 0; g < groups.size(); ++g) {
    text += g ? " | " : "";
    for (NodeId a : groups[g]) {
      text += u(a) + " ";
      for (size_t h = 0; h < groups.size(); ++h) {
        if (h == g) continue;
        for (NodeId b : groups[h]) network_.cut(a, b);
      }
    }
  }
  ++stats_.partitions;
  Event e;
  e.time = now_;
  e.kind = EventKind::kPartition;
  e.text = text;
  trace_.add(std::move(e));
}

void Simulator::isolate(NodeId id) {
  std::vector<NodeId> rest;
  for (NodeId other : node_ids()) {
    if (other != id) rest.push_back(other);
  }
  partition({{id}, rest});
}

void Simulator::cut(NodeId from, NodeId to) {
  ++now_;
  network_.cut(from, to);
  Event e;
  e.time = now_;
  e.kind = EventKind::kPartition;
  e.text = "cut " + u(from) + "->" + u(to);
  trace_.add(std::move(e));
}

void Simulator::heal() {
  ++now_;
  network_.heal();
  Event e;
  e.time = now_;
  e.kind = EventKind::kHeal;
  trace_.add(std::move(e));
}

void Simulator::do_crash(NodeId id) {
  Node& n = node(id);
  if (!n.up()) return;
  ++stats_.crashes;
  Event e;
  e.time = now_;
  e.kind = EventKind::kCrash;
  e.node = id;
  trace_.add(std::move(e));
  n.crash();
  if (profile_ && options_.faults) network_.lose_sent_by(id, profile_->crash_loses_sent_ppm);
}

void Simulator::do_restart(NodeId id) {
  Node& n = node(id);
  if (n.state() != Node::State::kDown) return;
  Event e;
  e.time = now_;
  e.kind = EventKind::kRestart;
  e.node = id;
  trace_.add(std::move(e));
  n.start();
}

void Simulator::crash(NodeId id) {
  ++now_;
  do_crash(id);
  finish_call();
}

void Simulator::crash_during_next_write(NodeId id) { node(id).crash_during_next_write(); }

void Simulator::restart(NodeId id) {
  ++now_;
  do_restart(id);
  finish_call();
}

void Simulator::campaign(NodeId id) {
  ++now_;
  Event e;
  e.time = now_;
  e.kind = EventKind::kCampaign;
  e.node = id;
  trace_.add(std::move(e));
  node(id).raft().campaign();
  finish_call();
}

Result<raft::Proposed> Simulator::do_propose(NodeId id, std::string data) {
  auto r = node(id).raft().propose(data);
  Event e;
  e.time = now_;
  e.kind = EventKind::kPropose;
  e.node = id;
  if (r.ok()) {
    e.index = r->index;
    e.term = r->term;
    checker_.on_proposed(id, r->index, r->term, data);
  } else {
    e.reject = true;
  }
  trace_.add(std::move(e));
  return r;
}

Result<raft::Proposed> Simulator::propose(NodeId id, std::string data) {
  ++now_;
  auto r = do_propose(id, std::move(data));
  finish_call();
  return r;
}

Result<raft::Proposed> Simulator::change_membership(NodeId at, const raft::ConfChange& change) {
  ++now_;
  auto r = node(at).raft().propose_conf_change(change);
  Event e;
  e.time = now_;
  e.kind = EventKind::kConfChange;
  e.node = at;
  e.text = std::string(change.type == raft::ConfChangeType::kAddVoter     ? "add-voter "
                       : change.type == raft::ConfChangeType::kAddLearner ? "add-learner "
                                                                          : "remove ") +
           u(change.node);
  if (r.ok()) {
    e.index = r->index;
    e.term = r->term;
    ++stats_.conf_changes;
  } else {
    e.reject = true;
  }
  trace_.add(std::move(e));
  if (r.ok() && change.type != raft::ConfChangeType::kRemoveNode && !has_node(change.node)) {
    add_node(change.node).start();
  }
  finish_call();
  return r;
}

Status Simulator::transfer(NodeId from, NodeId to) {
  Status s = node(from).raft().transfer_leadership(to);
  Event e;
  e.time = now_;
  e.kind = EventKind::kTransfer;
  e.node = from;
  e.peer = to;
  e.reject = !s.ok();
  trace_.add(std::move(e));
  if (s.ok()) ++stats_.transfers;
  return s;
}

Status Simulator::transfer_leadership(NodeId from, NodeId to) {
  ++now_;
  Status s = transfer(from, to);
  finish_call();
  return s;
}

void Simulator::do_read(NodeId id, size_t count, std::vector<std::string>* contexts) {
  for (size_t i = 0; i < count; ++i) {
    std::string ctx = checker_.on_read_invoked(id);
    Status s = node(id).raft().read_index(ctx);
    Event e;
    e.time = now_;
    e.kind = EventKind::kRead;
    e.node = id;
    e.index = checker_.highest_acknowledged();
    e.text = ctx;
    e.reject = !s.ok();
    trace_.add(std::move(e));
    if (s.ok() && contexts) contexts->push_back(std::move(ctx));
  }
}

Result<std::vector<std::string>> Simulator::read(NodeId id, size_t count) {
  ++now_;
  std::vector<std::string> contexts;
  do_read(id, count, &contexts);
  finish_call();
  if (contexts.size() < count) return Status(Code::kUnavailable, "read_index refused");
  return contexts;
}

// ---------------------------------------------------------------------------------------------
// Random mode

RunResult Simulator::run() {
  for (uint64_t i = 0; i < options_.steps && ok(); ++i) random_step(true);
  if (ok()) calm_tail();
  RunResult result;
  result.stats = stats();
  result.digest = trace_.digest();
  result.failure = failure();
  return result;
}

void Simulator::random_step(bool main_phase) {
  const bool faults = main_phase && options_.faults;
  ++now_;
  ++stats_.steps;
  if (faults) inject_faults();
  for (auto it = restart_at_.begin(); it != restart_at_.end();) {
    if (it->second <= now_) {
      do_restart(it->first);
      it = restart_at_.erase(it);
    } else {
      ++it;
    }
  }
  if (heal_at_ != 0 && heal_at_ <= now_) {
    heal_at_ = 0;
    network_.heal();
    Event e;
    e.time = now_;
    e.kind = EventKind::kHeal;
    trace_.add(std::move(e));
  }
  if (main_phase) client_requests();

  for (raft::Message& m : network_.take_due(now_)) deliver_message(std::move(m));
  for (NodeId id : up_nodes()) {
    if ((now_ + tick_phase_[id]) % options_.tick_interval != 0) continue;
    if (faults && rng_.chance(profile_->tick_skip_ppm)) continue;
    ++stats_.ticks;
    node(id).tick();
  }
  finish_call();
}

void Simulator::inject_faults() {
  const Profile& p = *profile_;
  // Leaders elected since the last step may be doomed.
  for (NodeId id : leaders()) {
    uint64_t term = node(id).raft().term();
    uint64_t& seen = leader_term_seen_[id];
    if (seen == term) continue;
    seen = term;
    if (rng_.chance(p.new_leader_crash_ppm)) crash_at_[id] = now_ + rng_.range(0, 3 * options_.tick_interval);
  }
  for (auto it = crash_at_.begin(); it != crash_at_.end();) {
    if (it->second > now_) {
      ++it;
      continue;
    }
    if (node(it->first).up() && up_nodes().size() > 1) {
      do_crash(it->first);
      restart_at_[it->first] = now_ + rng_.range(p.restart_min, p.restart_max);
    }
    it = crash_at_.erase(it);
  }
  std::vector<NodeId> up = up_nodes();
  if (up.size() > 1 && rng_.chance(p.crash_ppm)) {
    std::vector<NodeId> ls = leaders();
    NodeId victim = !ls.empty() && rng_.chance(p.leader_ppm) ? rng_.pick(ls) : rng_.pick(up);
    if (rng_.chance(p.torn_ppm)) {
      // Strikes while it persists its next Ready; the restart is scheduled then.
      node(victim).crash_during_next_write();
    } else {
      do_crash(victim);
      restart_at_[victim] = now_ + rng_.range(p.restart_min, p.restart_max);
    }
  }
  if (rng_.chance(p.partition_ppm)) random_partition();
}

void Simulator::random_partition() {
  std::vector<NodeId> all;
  for (NodeId id : node_ids()) {
    if (node(id).state() != Node::State::kStopped) all.push_back(id);
  }
  if (all.size() < 2) return;
  network_.heal();
  std::string text;
  std::vector<NodeId> ls = leaders();
  switch (rng_.uniform(5)) {
    case 0: {  // isolate the leader (or anyone)
      NodeId victim = !ls.empty() && rng_.chance(profile_->leader_ppm) ? rng_.pick(ls) : rng_.pick(all);
      for (NodeId other : all) {
        if (other == victim) continue;
        network_.cut(victim, other);
        network_.cut(other, victim);
      }
      text = "isolate " + u(victim);
      break;
    }
    case 1:    // a minority against a majority, the leader on either side
    case 2: {  // an arbitrary split into two or three groups
      std::vector<int> group(all.size());
      size_t groups = rng_.range(2, 3);
      if (rng_.uniform(2) == 0) {
        // A random minority of size 1..(n-1)/2 goes to group 1.
        std::vector<NodeId> shuffled = all;
        for (size_t i = shuffled.size(); i > 1; --i) std::swap(shuffled[i - 1], shuffled[rng_.uniform(i)]);
        size_t minority = rng_.range(1, std::max<size_t>(1, (all.size() - 1) / 2));
        for (size_t i = 0; i < all.size(); ++i) {
          group[i] = std::find(shuffled.begin(), shuffled.begin() + static_cast<std::ptrdiff_t>(minority),
                               all[i]) != shuffled.begin() + static_cast<std::ptrdiff_t>(minority);
        }
      } else {
        for (auto& g : group) g = static_cast<int>(rng_.uniform(groups));
      }
      for (size_t i = 0; i < all.size(); ++i) {
        for (size_t j = 0; j < all.size(); ++j) {
          if (group[i] != group[j]) network_.cut(all[i], all[j]);
        }
      }
      for (int g = 0; g < 3; ++g) {
        std::string members;
        for (size_t i = 0; i < all.size(); ++i) {
          if (group[i] == g) members += u(all[i]) + " ";
        }
        if (!members.empty()) text += (text.empty() ? "" : "| ") + members;
      }
      break;
    }
    case 3: {  // a bridge: two sides that cannot talk, one node that talks to both
      NodeId bridge = rng_.pick(all);
      std::vector<int> side(all.size());
      for (auto& s : side) s = static_cast<int>(rng_.uniform(2));
      for (size_t i = 0; i < all.size(); ++i) {
        for (size_t j = 0; j < all.size(); ++j) {
          if (all[i] != bridge && all[j] != bridge && side[i] != side[j]) network_.cut(all[i], all[j]);
        }
      }
      text = "bridge " + u(bridge);
      break;
    }
    default: {  // one-way losses: some links deliver in one direction only
      size_t n = rng_.range(1, all.size());
      text = "one-way";
      for (size_t i = 0; i < n; ++i) {
        NodeId a = rng_.pick(all), b = rng_.pick(all);
        if (a == b) continue;
        network_.cut(a, b);
        text += " " + u(a) + "-x->" + u(b);
      }
      break;
    }
  }
  heal_at_ = now_ + rng_.range(profile_->heal_min, profile_->heal_max);
  ++stats_.partitions;
  Event e;
  e.time = now_;
  e.kind = EventKind::kPartition;
  e.text = text;
  trace_.add(std::move(e));
}

void Simulator::random_conf_change(NodeId leader) {
  const raft::ConfState conf = node(leader).raft().conf();
  std::vector<raft::ConfChange> choices;
  const size_t max_nodes = options_.nodes + 2;
  if (nodes_.size() < max_nodes) {
    choices.push_back({raft::ConfChangeType::kAddLearner, nodes_.rbegin()->first + 1, ""});
  }
  for (NodeId l : conf.learners) {
    choices.push_back({raft::ConfChangeType::kAddVoter, l, ""});
    choices.push_back({raft::ConfChangeType::kRemoveNode, l, ""});
  }
  // Keep at least three voters (or as many as the group started with) so one crash is survivable.
  if (conf.voters.size() > std::min<size_t>(3, options_.nodes)) {
    for (NodeId v : conf.voters) {
      choices.push_back({raft::ConfChangeType::kRemoveNode, v, ""});
      if (rng_.uniform(4) == 0) choices.push_back({raft::ConfChangeType::kAddLearner, v, ""});
    }
  }
  if (choices.empty()) return;
  raft::ConfChange change = rng_.pick(choices);
  auto r = node(leader).raft().propose_conf_change(change);
  Event e;
  e.time = now_;
  e.kind = EventKind::kConfChange;
  e.node = leader;
  e.text = std::string(change.type == raft::ConfChangeType::kAddVoter     ? "add-voter "
                       : change.type == raft::ConfChangeType::kAddLearner ? "add-learner "
                                                                          : "remove ") +
           u(change.node);
  e.reject = !r.ok();
  if (r.ok()) {
    e.index = r->index;
    e.term = r->term;
    ++stats_.conf_changes;
  }
  trace_.add(std::move(e));
  if (r.ok() && !has_node(change.node)) add_node(change.node).start();
}

void Simulator::client_requests() {
  const Profile& p = *profile_;
  std::vector<NodeId> up = up_nodes();
  if (up.empty()) return;
  if (rng_.chance(p.propose_ppm)) {
    std::vector<NodeId> ls = leaders();
    // Mostly at a leader (sometimes a stale one); now and then wherever, to be refused.
    NodeId at = !ls.empty() && rng_.uniform(10) != 0 ? rng_.pick(ls) : rng_.pick(up);
    // Clients back off while a leader has a long uncommitted tail (as a real store bounds
    // uncommitted bytes): an unbounded backlog only makes the calm tail's catch-up slower.
    const raft::Raft& r = node(at).raft();
    if (r.last_index() - r.commit_index() < kMaxUncommitted) do_propose(at, "w" + u(next_write_++));
  }
  if (rng_.chance(p.read_ppm)) {
    std::vector<NodeId> ls = leaders();
    NodeId at = !ls.empty() && rng_.uniform(2) == 0 ? rng_.pick(ls) : rng_.pick(up);
    do_read(at, rng_.range(1, 3), nullptr);
  }
  // The operator's requests: membership changes and leadership transfers.
  std::vector<NodeId> ls = leaders();
  if (!ls.empty() && rng_.chance(p.conf_ppm)) random_conf_change(rng_.pick(ls));
  if (!ls.empty() && rng_.chance(p.transfer_ppm)) {
    NodeId from = rng_.pick(ls);
    std::vector<NodeId> voters = node(from).raft().conf().voters;
    voters.erase(std::remove(voters.begin(), voters.end(), from), voters.end());
    if (!voters.empty()) transfer(from, rng_.pick(voters));
  }
}

bool Simulator::calm_tail() {
  network_.heal();
  heal_at_ = 0;
  network_.set_faults(NetworkFaults{0, 0, 1, 2, 0, 1});
  for (auto& [id, n] : nodes_) {
    if (n->state() == Node::State::kDown) do_restart(id);
    n->disarm_crash();
  }
  restart_at_.clear();
  crash_at_.clear();
  note("faults stop: network healed, crashed nodes restarted");
  finish_call();

  // The fresh entry must commit within liveness_ticks; members far behind (one entry per
  // append, one append in flight) then get three times as long to catch up.
  const uint64_t window = options_.liveness_ticks * options_.tick_interval;
  uint64_t deadline = now_ + window;
  bool committed = false;
  NodeId proposer = 0;
  raft::Proposed proposed;
  uint64_t attempts = 0;
  while (now_ < deadline && ok()) {
    random_step(false);
    if (!ok()) return false;
    bool acked = proposer != 0 && checker_.acknowledged(proposer, proposed.index, proposed.term);
    if (!acked) {
      bool stale = proposer == 0 || !node(proposer).up() ||
                   node(proposer).raft().role() != raft::Role::kLeader ||
                   node(proposer).raft().term() != proposed.term;
      NodeId l = leader();
      if (stale && l != 0) {
        auto r = do_propose(l, "live" + u(++attempts));
        if (r.ok()) {
          proposer = l;
          proposed = *r;
        }
      }
      continue;
    }
    if (!committed) {
      committed = true;
      deadline = now_ + 3 * window;
    }
    // Committed: every running member (as the current leader sees membership) must catch up.
    NodeId judge = leader();
    if (judge == 0) continue;
    const raft::ConfState conf = node(judge).raft().conf();
    bool caught_up = true;
    for (const auto& ids : {conf.voters, conf.learners}) {
      for (NodeId id : ids) {
        if (has_node(id) && node(id).up() && node(id).state_machine().applied() < proposed.index) {
          caught_up = false;
        }
      }
    }
    if (caught_up) return true;
  }
  if (!ok()) return false;
  std::string why;
  if (proposer == 0) {
    why = "no leader accepted a proposal";
  } else if (!checker_.acknowledged(proposer, proposed.index, proposed.term)) {
    why = "node " + u(proposer) + "'s proposal at " + u(proposed.index) + " (term " +
          u(proposed.term) + ") was not committed";
  } else {
    why = "the fresh entry " + u(proposed.index) + " committed but did not reach every member:";
    for (const auto& [id, n] : nodes_) {
      if (n->up()) why += " node " + u(id) + " applied " + u(n->state_machine().applied()) + ";";
    }
  }
  why += committed ? " within " + u(4 * options_.liveness_ticks) + " ticks after the faults stopped"
                   : " within " + u(options_.liveness_ticks) + " ticks after the faults stopped";
  if (NodeId l = leader(); l != 0) {
    const raft::Raft& r = node(l).raft();
    why += "; leader " + u(l) + " (term " + u(r.term()) + ", last index " + u(r.last_index()) +
           ", commit " + u(r.commit_index()) + ") sees:";
    for (const raft::PeerStatus& p : r.peers()) {
      why += " [node " + u(p.id) + (p.learner ? " learner" : "") + " match=" + u(p.match) +
             " next=" + u(p.next) + " " + raft::progress_state_name(p.state) + "]";
    }
  } else {
    why += "; no leader";
  }
  checker_.report("liveness", why);
  return false;
}

// ---------------------------------------------------------------------------------------------
// Results

std::optional<Failure> Simulator::failure() const {
  if (ok()) return std::nullopt;
  Failure f;
  f.seed = options_.seed;
  f.time = now_;
  f.invariant = checker_.violation()->invariant;
  f.detail = checker_.violation()->detail;
  f.trace = trace_.tail();
  return f;
}

Stats Simulator::stats() const {
  Stats s = stats_;
  s.seeds = 1;
  s.leaders = checker_.leaders_elected();
  s.committed = checker_.highest_applied();
  s.writes_acked = checker_.writes_acknowledged();
  s.reads_served = checker_.reads_served();
  s.dropped = network_.dropped();
  s.duplicated = network_.duplicated();
  for (const auto& [id, n] : nodes_) {
    s.snapshots_installed += n->snapshots_installed();
    s.pipelined += n->pipelined();
    s.compactions += n->compactions();
  }
  return s;
}

}  // namespace dkv::sim
