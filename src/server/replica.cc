#include "server/replica.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <utility>

namespace dkv::server {

namespace fs = std::filesystem;

namespace {

int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The data directory records which node owns it, so that starting node 2 on node 1's directory
// (a mistyped flag) is refused instead of corrupting a cluster.
Status claim_data_dir(const std::string& dir, raft::NodeId id) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status(Code::kInvalidArgument, "cannot create data directory " + dir + ": " + ec.message());
  const std::string identity = dir + "/NODE";
  std::ifstream in(identity);
  if (in) {
    std::string word;
    raft::NodeId owner = 0;
    in >> word >> owner;
    if (word != "node" || owner == 0) {
      return Status(Code::kInvalidArgument, "data directory " + dir + " has an unreadable " +
                                                identity + " file; is it a DKV data directory?");
    }
    if (owner != id) {
      return Status(Code::kInvalidArgument,
                    "data directory " + dir + " belongs to node " + std::to_string(owner) +
                        ", not node " + std::to_string(id) +
                        " (pass --node-id " + std::to_string(owner) + " or another --data-dir)");
    }
    // Already ours. Not written again: a node must restart on a full disk too (it then refuses
    // writes until space returns), so only permission is checked here.
    if (::access(dir.c_str(), W_OK) != 0) {
      return Status(Code::kInvalidArgument, "data directory " + dir + " is not writable: " + std::strerror(errno));
    }
    return Status();
  }
  const std::string tmp = identity + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "node " << id << "\n";
    out.flush();
    if (!out) {
      return Status(Code::kInvalidArgument, "data directory " + dir + " is not writable: " + std::strerror(errno));
    }
  }
  fs::rename(tmp, identity, ec);
  if (ec) return Status(Code::kInvalidArgument, "data directory " + dir + " is not writable: " + ec.message());
  return Status();
}

const char* role_word(const raft::Raft& r) {
  if (r.is_learner()) return "learner";
  switch (r.role()) {
    case raft::Role::kLeader: return "leader";
    case raft::Role::kFollower: return "follower";
    case raft::Role::kPreCandidate:
    case raft::Role::kCandidate: return "candidate";
  }
  return "follower";
}

}  // namespace

Replica::Replica(asio::io_context& io, Options options)
    : io_(io),
      options_(std::move(options)),
      hub_(options_.watch, 0),
      duties_timer_(io) {
  if (!options_.clock) options_.clock = system_now_ms;
}

Replica::~Replica() {
  *alive_ = false;
  if (node_) node_->stop();
  if (transport_) transport_->close();
  node_.reset();
  transport_.reset();
  storage_.reset();  // finishes what the sync thread has queued
}

Result<std::unique_ptr<Replica>> Replica::open(asio::io_context& io, Options options) {
  // Certificates first: a bad one is found before the data directory is touched.
  std::shared_ptr<asio::ssl::context> accept_tls, connect_tls;
  if (options.peer_tls.peers) {
    auto accepting = make_peer_context(options.peer_tls, true);
    if (!accepting.ok()) return accepting.status();
    auto connecting = make_peer_context(options.peer_tls, false);
    if (!connecting.ok()) return connecting.status();
    accept_tls = std::move(accepting).value();
    connect_tls = std::move(connecting).value();
  }
  Status claimed = claim_data_dir(options.data_dir, options.node_id);
  if (!claimed.ok()) return claimed;

  std::unique_ptr<Replica> r(new Replica(io, std::move(options)));
  const Options& o = r->options_;

  raft::ConfState conf;
  if (o.bootstrap.empty()) {
    conf.voters = {o.node_id};
  } else {
    for (const Peer& p : o.bootstrap) conf.voters.push_back(p.id);
    std::sort(conf.voters.begin(), conf.voters.end());
  }
  auto storage = WalStorage::open(io, o.data_dir,
                                  o.join ? std::optional<raft::ConfState>() : std::optional(conf),
                                  wal::WalOptions{.segment_bytes = o.wal_segment_bytes});
  if (!storage.ok()) {
    std::string message = "cannot open the log in " + o.data_dir + ": " + storage.status().message();
    if (message.find("wal: corrupt file") != std::string::npos) {
      // Damage the checksums caught: never served as is, and the way out depends on the setup.
      message += ". This node will not start on damaged data. If it is a member of a cluster whose other "
                 "members are healthy: move " + o.data_dir + " aside, then start this node with an empty data "
                 "directory and --join (after MEMBER.REMOVE of its old id), and it copies the state from the "
                 "others. If it is a single node: restore the latest backup (dkv-server --restore FILE) into a new "
                 "data directory";
    }
    return Status(storage.status().code(), std::move(message));
  }
  r->storage_ = std::move(storage).value();
  raft::InitialState initial = r->storage_->take_initial_state();
  // ACL changes in the log after the snapshot are not in machine_ until applied again: until
  // then connections wait (acl_settled), or one could get in on users as they were.
  for (const raft::Entry& e : initial.entries) {
    if (e.type != raft::EntryType::kNormal || e.data.empty()) continue;
    auto command = core::decode_command(e.data);
    if (command.ok() && (std::holds_alternative<core::AclSetUserCmd>(command->body) ||
                         std::holds_alternative<core::AclDelUserCmd>(command->body))) {
      r->acl_settled_at_ = initial.entries.back().index;
    }
  }
  if (initial.snapshot.meta.index > 0) {
    auto image = raft::read_all(*initial.snapshot.data);
    Status s = image.ok() ? r->machine_.restore_snapshot(*image) : image.status();
    if (!s.ok()) {
      return Status(s.code(), "the snapshot at index " + std::to_string(initial.snapshot.meta.index) +
                                  " in " + o.data_dir + "/snap does not load: " + s.message());
    }
  }
  r->snapshot_index_ = initial.snapshot.meta.index;
  initial.applied = initial.snapshot.meta.index;
  r->hub_.reset(r->machine_.revision());

  Replica* self = r.get();
  r->transport_ = std::make_unique<RaftTransport>(
      io, [self](raft::Message m) { if (self->node_) self->node_->step(std::move(m)); }, std::move(accept_tls),
      std::move(connect_tls));
  Status listening = r->transport_->listen(o.raft_host, o.raft_port);
  if (!listening.ok()) {
    return Status(listening.code(), "cannot listen for Raft peers on " + o.raft_host + ":" +
                                        std::to_string(o.raft_port) + ": " + listening.message());
  }

  RaftNode::Options node_options;
  node_options.raft.id = o.node_id;
  node_options.raft.election_ticks = o.election_ticks;
  node_options.raft.seed = std::random_device{}() ^ (uint64_t{o.node_id} << 32);
  node_options.tick = o.tick;
  node_options.orphaned_proposal_timeout = o.forward_timeout;
  RaftApplier applier;
  applier.apply = [self](const raft::Entry& e) { return self->apply_entry(e); };
  applier.install = [self](const raft::Snapshot& s) { self->install(s); };
  applier.role_changed = [self](const raft::SoftState& s) { self->on_role_changed(s); };
  applier.advanced = [self] { self->on_advanced(); };
  applier.conf_changed = [self](const raft::ConfChange& change, const raft::ConfState&) {
    self->sync_peers();
    if (change.type == raft::ConfChangeType::kRemoveNode && change.node != self->options_.node_id) {
      self->transport_->remove_peer(change.node);
      self->peer_addresses_.erase(change.node);
    }
  };
  applier.forwarded = [self](raft::NodeId from, std::string data) {
    self->on_forwarded(from, std::move(data));
  };
  r->next_forward_seq_ = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::system_clock::now().time_since_epoch()).count());
  r->node_ = std::make_unique<RaftNode>(io, node_options, std::move(initial), *r->storage_,
                                        *r->transport_, std::move(applier));
  r->sync_peers();
  return r;
}

void Replica::start() {
  node_->start();
  const raft::ConfState& conf = node_->raft().conf();
  if (conf.voters.size() == 1 && conf.voters[0] == options_.node_id) node_->campaign();
  schedule_duties();
}

Status Replica::failure() const { return node_->failure(); }

// --- writes -----------------------------------------------------------------------------------

void Replica::write(core::CommandBody body, WriteDone done, core::SessionRequest session) {
  if (storage_->low_space()) {
    return done(Status(Code::kUnavailable,
                       "the disk holding " + options_.data_dir + " is full (node " +
                           std::to_string(options_.node_id) +
                           "): writes are refused until space is freed; reads still work"));
  }
  propose_write(std::move(body), std::move(done), session);
}

void Replica::propose_write(core::CommandBody body, WriteDone done, core::SessionRequest session) {
  if (stopping_) return done(Status(Code::kUnavailable, "the server is shutting down"));
  const raft::Raft& r = node_->raft();
  if (r.role() != raft::Role::kLeader) {
    if (r.leader() == 0) return done(Status(Code::kUnavailable, "no leader is elected yet; retry"));
    return forward_write(std::move(body), std::move(done), session);
  }
  std::string data =
      core::encode_command(core::Command{now_ms(), std::move(body), core::Origin{}, session});
  ++writes_in_flight_;
  node_->propose(std::move(data), [this, done = std::move(done), alive = alive_](Status s, std::string) {
    if (!*alive) return;
    --writes_in_flight_;
    if (!s.ok()) {
      done(std::move(s));
    } else {
      done(std::move(last_result_));
    }
    if (stopping_) maybe_finish_shutdown();
  });
}

void Replica::forward_write(core::CommandBody body, WriteDone done, core::SessionRequest session) {
  const uint64_t seq = ++next_forward_seq_;
  // The leader stamps its own clock: the timestamp sent is a placeholder.
  Status s = node_->forward(core::encode_command(
      core::Command{0, std::move(body), core::Origin{options_.node_id, seq}, session}));
  if (!s.ok()) return done(std::move(s));
  ++writes_in_flight_;
  forwards_.emplace(seq, Forward{node_->raft().leader(),
                                 now_ms() + options_.forward_timeout.count(), std::move(done)});
}

void Replica::on_forwarded(raft::NodeId from, std::string data) {
  // Not leading (any more): drop it; the follower's timeout or leader change tells its client.
  if (stopping_ || node_->raft().role() != raft::Role::kLeader) return;
  Result<core::Command> command = core::decode_command(data);
  if (!command.ok() || command->origin.node != from) {
    std::fprintf(stderr, "dkv: dropped a malformed write forwarded by node %llu\n",
                 static_cast<unsigned long long>(from));
    return;
  }
  command->timestamp_ms = now_ms();
  // The follower answers its client when it applies the entry; nothing to do here.
  node_->propose(core::encode_command(*command), [](Status, std::string) {});
}

void Replica::finish_forward(uint64_t seq, core::CommandResult result) {
  auto it = forwards_.find(seq);
  if (it == forwards_.end()) return;
  WriteDone done = std::move(it->second.done);
  forwards_.erase(it);
  --writes_in_flight_;
  done(std::move(result));
  if (stopping_) maybe_finish_shutdown();
}

void Replica::fail_forwards(const std::function<bool(raft::NodeId, int64_t)>& which,
                            const std::string& why) {
  std::vector<WriteDone> failed;
  for (auto it = forwards_.begin(); it != forwards_.end();) {
    if (which(it->second.leader, it->second.deadline_ms)) {
      failed.push_back(std::move(it->second.done));
      it = forwards_.erase(it);
      --writes_in_flight_;
    } else {
      ++it;
    }
  }
  for (WriteDone& done : failed) {
    done(core::CommandResult(Status(Code::kUnavailable, why)));
  }
  if (!failed.empty() && stopping_) maybe_finish_shutdown();
}

std::string Replica::apply_entry(const raft::Entry& entry) {
  Result<core::Command> command = core::decode_command(entry.data);
  if (!command.ok()) {
    // Every replica fails the same way on the same bytes, so state stays identical.
    last_result_ = core::CommandResult(command.status());
    return {};
  }
  std::vector<Event> events;
  last_result_ = machine_.apply(*command, &events);
  if (std::holds_alternative<core::MemberAddressCmd>(command->body)) sync_peers();
  note_applied(entry.index);
  if (command->origin.node == options_.node_id && !forwards_.empty()) {
    finish_forward(command->origin.seq, last_result_);
  }
  if (!events.empty()) {
    std::vector<core::EventPtr> shared;
    shared.reserve(events.size());
    for (Event& e : events) {
      if (e.type == EventType::kExpire) ++expired_keys_;
      shared.push_back(std::make_shared<const Event>(std::move(e)));
    }
    hub_.publish(std::move(shared));
  }
  // Deliveries and waiting reads are served once the whole batch is applied: one post per
  // batch, not per entry.
  if (!serve_posted_) {
    serve_posted_ = true;
    asio::post(io_, [this, alive = alive_] {
      if (!*alive) return;
      serve_posted_ = false;
      deliver();
      serve_local_reads();
      release_reads_after_refresh();
    });
  }
  return {};
}

void Replica::note_applied(uint64_t index) {
  if (acl_settled() || index < acl_settled_at_) return;
  acl_settled_at_ = 0;
  if (on_acl_settled_) asio::post(io_, on_acl_settled_);  // not from inside apply
}

void Replica::install(const raft::Snapshot& snapshot) {
  auto image = raft::read_all(*snapshot.data);
  Status s = image.ok() ? machine_.restore_snapshot(*image) : image.status();
  if (!s.ok()) {
    // A snapshot the leader built that does not load here: applying anything more would diverge.
    std::fprintf(stderr, "dkv: fatal: the leader's snapshot at index %llu does not load: %s\n",
                 static_cast<unsigned long long>(snapshot.meta.index), s.to_string().c_str());
    std::abort();
  }
  // The watches saw nothing of the revisions the snapshot skipped: after what they are owed,
  // each ends with LAGGING (protocol.md 4.2). Resuming FROM the first skipped revision answers
  // COMPACTED (the history restarts here), which tells the client to re-read with SNAPSHOT.
  const int64_t skipped_from = hub_.current_revision() + 1;
  const bool skipped = machine_.revision() >= skipped_from;
  if (skipped) deliver();
  hub_.reset(machine_.revision());
  snapshot_index_ = snapshot.meta.index;
  note_applied(snapshot.meta.index);
  std::fprintf(stderr, "dkv: installed the leader's snapshot at index %llu (revision %lld)\n",
               static_cast<unsigned long long>(snapshot.meta.index), static_cast<long long>(machine_.revision()));
  hold_snapshot_in_file(snapshot.meta);
  sync_peers();
  if (!skipped) return;
  auto sinks = std::move(sinks_);
  sinks_.clear();
  for (auto& [id, sink] : sinks) {
    hub_.unsubscribe(id);
    core::WatchHub::Delivery end;
    end.watch_id = id;
    end.resume_from = skipped_from;
    end.end = Status(Code::kLagging, "watch " + std::to_string(id) +
                                         " missed revisions: this node installed a snapshot; resume from revision " +
                                         std::to_string(skipped_from));
    sink(end);
  }
}

// --- membership ---

void Replica::learn_addresses(const std::map<raft::NodeId, std::string>& addresses) {
  for (const auto& [id, address] : addresses) learned_addresses_[id] = address;
  sync_peers();
}

std::map<raft::NodeId, std::string> Replica::member_addresses() const {
  std::map<raft::NodeId, std::string> out = learned_addresses_;
  for (const Peer& p : options_.bootstrap) out[p.id] = p.host + ":" + std::to_string(p.port);
  for (const auto& [id, address] : machine_.member_addresses()) out[id] = address;
  return out;
}

std::string Replica::raft_address() const {
  for (const Peer& p : options_.bootstrap) {
    if (p.id == options_.node_id) return p.host + ":" + std::to_string(p.port);
  }
  return options_.raft_host + ":" + std::to_string(transport_->port());
}

void Replica::sync_peers() {
  // Every known address, not only current members': a joining node has no membership yet and
  // must still answer the leader. (The transport only dials a peer when there is a message.)
  for (const auto& [id, address] : member_addresses()) {
    if (id == options_.node_id || peer_addresses_[id] == address) continue;
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos) continue;
    transport_->set_peer(id, address.substr(0, colon),
                         static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
    peer_addresses_[id] = address;
  }
}

void Replica::write_all(std::vector<core::CommandBody> bodies, std::function<void(Status)> done) {
  if (bodies.empty()) return done(Status());
  core::CommandBody first = std::move(bodies.front());
  bodies.erase(bodies.begin());
  write(std::move(first), [this, rest = std::move(bodies), done = std::move(done)](
                              core::CommandResult r) mutable {
    if (!r.status.ok()) return done(r.status);
    write_all(std::move(rest), std::move(done));
  });
}

namespace {
Status not_the_leader(const raft::Raft& r) {
  if (r.leader() == 0) return Status(Code::kUnavailable, "no leader is elected yet; retry");
  return Status(Code::kUnavailable,
                "membership changes go to the leader, node " + std::to_string(r.leader()));
}
bool holds(const std::vector<raft::NodeId>& ids, raft::NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}
}  // namespace

void Replica::transfer_leadership(raft::NodeId to, std::chrono::milliseconds timeout,
                                  std::function<void(Status)> done) {
  Status s = leader_only();
  if (s.ok() && transfer_ && transfer_->to != to) {
    s = Status(Code::kUnavailable, "leadership is already moving to node " + std::to_string(transfer_->to));
  }
  if (s.ok() && !transfer_) s = node_->transfer_leadership(to);
  if (!s.ok()) return done(s);
  if (!transfer_) {
    transfer_ = std::make_unique<Transfer>(io_, to);
    transfer_->timer.expires_after(timeout);
    transfer_->timer.async_wait([this, to, timeout, alive = alive_](const asio::error_code& ec) {
      if (ec || !*alive || !transfer_) return;
      finish_transfer(Status(Code::kUnavailable, "leadership did not move to node " + std::to_string(to) +
                                                     " within " + std::to_string(timeout.count()) + " ms"));
    });
  }
  transfer_->waiters.push_back(std::move(done));
}

void Replica::finish_transfer(Status status) {
  std::unique_ptr<Transfer> t = std::move(transfer_);
  t->timer.cancel();
  for (auto& done : t->waiters) done(status);
}

Status Replica::leader_only() const {
  const raft::Raft& r = node_->raft();
  return r.role() == raft::Role::kLeader ? Status() : not_the_leader(r);
}

void Replica::add_member(raft::NodeId node, std::string raft_address, std::function<void(Status)> done) {
  const raft::Raft& r = node_->raft();
  if (r.role() != raft::Role::kLeader) return done(not_the_leader(r));
  if (node == 0) return done(Status(Code::kInvalidArgument, "node id 0 is reserved"));
  if (holds(r.conf().voters, node) || holds(r.conf().learners, node)) {
    return done(Status(Code::kInvalidArgument, "node " + std::to_string(node) + " is already a member"));
  }
  // A removed node's acknowledgements and votes may still count in some member's view; a new
  // node under its id, with an empty log, could then help elect a leader that lacks committed
  // entries. Ids are never reused (as in etcd).
  if (machine_.removed_members().contains(node)) {
    return done(Status(Code::kInvalidArgument, "node " + std::to_string(node) +
                                                   " was removed from this cluster and its id is never reused: "
                                                   "start the new node with another --node-id"));
  }
  // Every member's address goes into the replicated table first: the new node learns them from
  // the log (or the snapshot) it receives, as it has no --bootstrap list.
  std::vector<core::CommandBody> writes;
  const auto known = machine_.member_addresses();
  for (const auto& [id, address] : member_addresses()) {
    if (!known.contains(id)) writes.push_back(core::MemberAddressCmd{id, address});
  }
  if (!known.contains(options_.node_id)) writes.push_back(core::MemberAddressCmd{options_.node_id, this->raft_address()});
  writes.push_back(core::MemberAddressCmd{node, std::move(raft_address)});
  write_all(std::move(writes), [this, node, done = std::move(done)](Status s) {
    if (!s.ok()) return done(s);
    change_member(raft::ConfChangeType::kAddLearner, node, done);
  });
}

void Replica::change_member(raft::ConfChangeType type, raft::NodeId node, std::function<void(Status)> done,
                            int retries_left) {
  const raft::Raft& r = node_->raft();
  if (r.role() != raft::Role::kLeader) return done(not_the_leader(r));
  if (type == raft::ConfChangeType::kAddVoter && !holds(r.conf().learners, node)) {
    return done(Status(Code::kInvalidArgument, "node " + std::to_string(node) + " is not a learner"));
  }
  if (type == raft::ConfChangeType::kRemoveNode) {
    if (!holds(r.conf().voters, node) && !holds(r.conf().learners, node)) {
      return done(Status(Code::kInvalidArgument, "node " + std::to_string(node) + " is not a member"));
    }
    if (node == options_.node_id) {
      return done(Status(Code::kInvalidArgument,
                         "the leader cannot remove itself: transfer leadership first (MEMBER.TRANSFER)"));
    }
  }
  raft::ConfChange change;
  change.type = type;
  change.node = node;
  // Refusals come back before propose_conf_change returns; later failures (a lost leadership)
  // may have applied and are not retried.
  auto refused_now = std::make_shared<bool>(true);
  node_->propose_conf_change(change, [this, type, node, done, retries_left, refused_now](Status s, std::string) {
    if (*refused_now && s.code() == Code::kUnavailable && retries_left > 0 && !stopping_) {
      auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(20));
      timer->async_wait([this, timer, type, node, done, retries_left, alive = alive_](const asio::error_code& ec) {
        if (ec || !*alive) return;  // the replica is gone, and the connection waiting with it
        change_member(type, node, done, retries_left - 1);
      });
      return;
    }
    if (!s.ok() || type != raft::ConfChangeType::kRemoveNode) return done(s);
    // Forget its addresses, which records the id as removed for good (MEMBER.ADD refuses it).
    write(core::MemberAddressCmd{node, "", ""}, [done](core::CommandResult r) { done(r.status); });
  });
  *refused_now = false;
}

// --- reads ------------------------------------------------------------------------------------

void Replica::read(ReadDone done) {
  if (stopping_) return done(Status(Code::kUnavailable, "the server is shutting down"));
  const raft::Raft& r = node_->raft();
  if (r.leader() == 0) return done(Status(Code::kUnavailable, "no leader is elected yet; retry"));
  if (machine_.lease_refresh_term() != r.term()) {
    // Until this term's lease refresh applies here, keys on leases whose deadline passed while
    // nobody led would read as gone and then come back: hold reads until then.
    reads_after_refresh_.push_back(std::move(done));
    return;
  }
  const raft::ConfState& conf = r.conf();
  if (r.role() == raft::Role::kLeader && conf.voters.size() == 1 &&
      conf.voters[0] == options_.node_id && r.committed_in_current_term()) {
    // A single voter is the quorum: whatever it has committed is everything acknowledged.
    uint64_t index = r.commit_index();
    if (node_->applied_index() >= index) return done(Status());
    local_reads_.emplace(index, std::move(done));
    return;
  }
  node_->read_barrier(std::move(done));
}

void Replica::release_reads_after_refresh() {
  if (reads_after_refresh_.empty() || machine_.lease_refresh_term() != node_->raft().term()) return;
  auto reads = std::move(reads_after_refresh_);
  reads_after_refresh_.clear();
  for (auto& done : reads) read(std::move(done));
}

void Replica::serve_local_reads() {
  uint64_t applied = node_->applied_index();
  while (!local_reads_.empty() && local_reads_.begin()->first <= applied) {
    auto node = local_reads_.extract(local_reads_.begin());
    node.mapped()(Status());
  }
}

// --- watches ----------------------------------------------------------------------------------

Result<int64_t> Replica::watch(const WatchRequest& request, WatchSink sink) {
  WatchRequest req = request;
  std::vector<core::EventPtr> initial;
  if (req.snapshot) {
    // The snapshot is the state at the current revision; changes follow from the next one.
    for (Event& e : machine_.current_events(req, now_ms())) {
      initial.push_back(std::make_shared<const Event>(std::move(e)));
    }
    req.from_revision = 0;
  }
  Result<int64_t> id = hub_.subscribe(req, std::move(initial));
  if (!id.ok()) return id;
  sinks_[*id] = std::move(sink);
  if (hub_.has_pending()) {
    asio::post(io_, [this, alive = alive_] {
      if (*alive) deliver();
    });
  }
  return id;
}

void Replica::unwatch(int64_t watch_id) {
  hub_.unsubscribe(watch_id);
  sinks_.erase(watch_id);
}

void Replica::deliver() {
  if (!hub_.has_pending()) return;
  for (core::WatchHub::Delivery& d : hub_.drain()) {
    auto it = sinks_.find(d.watch_id);
    if (it == sinks_.end()) continue;
    WatchSink sink = it->second;  // a copy: the sink may unwatch itself
    if (!d.end.ok()) sinks_.erase(it);
    sink(d);
  }
}

// --- leader duties ----------------------------------------------------------------------------

void Replica::on_role_changed(const raft::SoftState& soft) {
  const Status lost(Code::kUnavailable, "leadership changed during the read; retry");
  if (soft.role != raft::Role::kLeader) {
    // Reads waiting on a single voter's commit index belong to the old leadership.
    auto reads = std::move(local_reads_);
    local_reads_.clear();
    for (auto& [index, done] : reads) done(lost);
  }
  auto held = std::move(reads_after_refresh_);
  reads_after_refresh_.clear();
  for (auto& done : held) done(lost);
  fail_forwards([&](raft::NodeId leader, int64_t) { return leader != soft.leader; },
                "the leader changed while this write was forwarded to it; it may or may not have "
                "been applied");
  if (transfer_ && soft.role != raft::Role::kLeader) finish_transfer(Status());
  if (stopping_) maybe_finish_shutdown();
}

void Replica::schedule_duties() {
  duties_timer_.expires_after(options_.expiry_interval);
  duties_timer_.async_wait([this, alive = alive_](const asio::error_code& ec) {
    if (ec || !*alive || stopping_) return;
    if (!forwards_.empty()) {
      const int64_t now = now_ms();
      fail_forwards([now](raft::NodeId, int64_t deadline) { return deadline <= now; },
                    "the leader did not apply this forwarded write within " +
                        std::to_string(options_.forward_timeout.count()) +
                        " ms; it may or may not have been applied");
    }
    announce_client_address();
    watch_disk_space();
    run_duties();
    schedule_duties();
  });
}

void Replica::watch_disk_space() {
  const bool full = storage_->low_space();
  if (full != disk_full_) {
    disk_full_ = full;
    std::fprintf(stderr, full ? "dkv: the disk holding %s is full: writes are refused until space is freed\n"
                              : "dkv: there is space on the disk holding %s again: writes resume\n",
                 options_.data_dir.c_str());
  }
  if (!full) return;
  const int64_t now = now_ms();
  if (now < space_retry_after_ms_) return;
  space_retry_after_ms_ = now + 1000;
  storage_->retry_space();
}

void Replica::announce_client_address() {
  const std::string& mine = options_.client_address;
  if (mine.empty() || announce_in_flight_) return;
  const auto& recorded = machine_.member_client_addresses();
  auto it = recorded.find(options_.node_id);
  if (it != recorded.end() && it->second == mine) return;
  const raft::Raft& r = node_->raft();
  if (r.leader() == 0 || !(holds(r.conf().voters, options_.node_id) || holds(r.conf().learners, options_.node_id))) {
    return;
  }
  const int64_t now = now_ms();
  if (now < announce_after_ms_) return;
  announce_in_flight_ = true;
  announce_after_ms_ = now + 1000;  // a failed attempt is retried after a second
  propose_write(core::MemberAddressCmd{options_.node_id, raft_address(), mine},
        [this](core::CommandResult) { announce_in_flight_ = false; });
}

void Replica::run_duties() {
  const raft::Raft& r = node_->raft();
  if (r.role() != raft::Role::kLeader || !r.committed_in_current_term()) return;
  const uint64_t term = r.term();
  if (machine_.lease_refresh_term() != term) {
    // First duty of a new leader: give every lease its full TTL again, before expiring any.
    if (refresh_in_flight_) return;
    refresh_in_flight_ = true;
    // Once applied, every replica's machine_.lease_refresh_term() is this term: held reads go.
    propose_write(core::LeaseRefreshCmd{term}, [this](core::CommandResult) { refresh_in_flight_ = false; });
    return;
  }
  if (!expire_in_flight_) {
    core::DueWork due = machine_.due(now_ms(), 1000);
    if (!due.empty()) {
      expire_in_flight_ = true;
      propose_write(core::ExpireCmd{std::move(due.keys), std::move(due.leases)},
            [this](core::CommandResult) { expire_in_flight_ = false; });
    }
  }
  const int64_t keep = options_.history_revisions;
  if (keep > 0 && !compact_in_flight_ &&
      machine_.revision() - machine_.compacted_revision() > 2 * keep) {
    compact_in_flight_ = true;
    propose_write(core::CompactCmd{machine_.revision() - keep},
          [this](core::CommandResult) { compact_in_flight_ = false; });
  }
}

// --- snapshots --------------------------------------------------------------------------------

void Replica::on_advanced() {
  const uint64_t applied = node_->raft().applied_index();
  if (snapshotting_) return;
  if (!snapshot_waiters_.empty() ||
      (applied >= snapshot_index_ + options_.snapshot_entries && now_ms() >= snapshot_retry_after_ms_)) {
    if (applied <= snapshot_index_) return;
    // Our state machine must be at Raft's applied index to be snapshotted there; a pipelining
    // leader may have applied further (a later Ready's committed entries) until it pauses.
    if (node_->applied_index() != applied) return node_->hold_pipeline();
    take_snapshot(nullptr);
  }
}

void Replica::snapshot_now(std::function<void(Result<uint64_t>)> done) {
  snapshot_waiters_.push_back(std::move(done));
  if (snapshotting_) return;  // answered when the next one (taken after it) completes
  const raft::Raft& r = node_->raft();
  if (r.applied_index() == snapshot_index_) {
    auto waiters = std::move(snapshot_waiters_);
    snapshot_waiters_.clear();
    for (auto& w : waiters) w(snapshot_index_);
    return;
  }
  // Raft compacts only at its own applied index, which matches ours between Readys.
  if (node_->applied_index() == r.applied_index()) take_snapshot(nullptr);
}

void Replica::take_snapshot(std::function<void(Result<uint64_t>)>) {
  raft::Raft& r = node_->raft();
  const uint64_t index = r.applied_index();
  raft::SnapshotDataPtr data = raft::snapshot_data(machine_.save_snapshot());
  Status s = r.compact(index, data);
  auto waiters = std::move(snapshot_waiters_);
  snapshot_waiters_.clear();
  if (!s.ok()) {
    for (auto& w : waiters) w(s);
    return;
  }
  raft::SnapshotMeta meta = r.log().snapshot().meta;
  snapshotting_ = true;
  storage_->save_snapshot(meta, data, [this, index, meta, waiters = std::move(waiters),
                                       alive = alive_](Status saved) {
    if (!*alive) return;
    snapshotting_ = false;
    if (saved.ok()) {
      snapshot_index_ = index;
      hold_snapshot_in_file(meta);
    }
    for (auto& w : waiters) {
      if (saved.ok()) {
        w(index);
      } else {
        w(saved);
      }
    }
    if (!saved.ok()) {
      snapshot_retry_after_ms_ = now_ms() + 1000;  // not after every entry while the disk is full
      std::fprintf(stderr, "dkv: snapshot at index %llu failed: %s\n",
                   static_cast<unsigned long long>(index), saved.to_string().c_str());
    }
  });
}

// Raft keeps the latest snapshot for followers that fall behind. Once its file is durable, Raft
// reads it from there and the in-memory image, as large as the whole state, is freed.
void Replica::hold_snapshot_in_file(const raft::SnapshotMeta& meta) {
  auto data = storage_->snapshot_data(meta);
  if (!data.ok()) {
    std::fprintf(stderr, "dkv: keeping the snapshot at index %llu in memory: %s\n",
                 static_cast<unsigned long long>(meta.index), data.status().to_string().c_str());
    return;
  }
  node_->raft().replace_snapshot_data(meta.index, std::move(data).value());
}

// --- shutdown ---------------------------------------------------------------------------------

void Replica::shut_down(std::chrono::milliseconds timeout, std::function<void()> done) {
  if (stopping_) return;
  stopping_ = true;
  shutdown_done_ = std::move(done);
  duties_timer_.cancel();
  const raft::Raft& r = node_->raft();
  if (r.role() == raft::Role::kLeader) {
    raft::NodeId best = 0;
    uint64_t best_match = 0;
    for (const raft::PeerStatus& p : r.peers()) {
      const bool voter = std::find(r.conf().voters.begin(), r.conf().voters.end(), p.id) !=
                         r.conf().voters.end();
      if (p.id != options_.node_id && voter && (best == 0 || p.match > best_match)) {
        best = p.id;
        best_match = p.match;
      }
    }
    if (best != 0) {
      // Raft gives a transfer one election timeout; do not wait much longer for it.
      const auto limit = std::min<std::chrono::milliseconds>(timeout, 3 * options_.election_ticks * options_.tick);
      handing_over_ = true;
      transfer_leadership(best, limit, [this, best](Status s) {
        if (s.ok()) {
          std::fprintf(stderr, "dkv: handed leadership to node %llu\n", static_cast<unsigned long long>(best));
        } else {
          std::fprintf(stderr, "dkv: %s; stopping anyway\n", s.to_string().c_str());
        }
        handing_over_ = false;
        maybe_finish_shutdown();
      });
    }
  }
  shutdown_timer_ = std::make_unique<asio::steady_timer>(io_, timeout);
  shutdown_timer_->async_wait([this, alive = alive_](const asio::error_code& ec) {
    if (ec || !*alive) return;
    fail_forwards([](raft::NodeId, int64_t) { return true; },
                  "the server is shutting down; the forwarded write may or may not have been applied");
    writes_in_flight_ = 0;  // give up on what did not finish in time
    handing_over_ = false;
    maybe_finish_shutdown();
  });
  maybe_finish_shutdown();
}

void Replica::maybe_finish_shutdown() {
  if (!stopping_ || writes_in_flight_ > 0 || handing_over_ || !shutdown_done_) return;
  shutdown_timer_->cancel();
  if (transfer_) transfer_->timer.cancel();
  node_->stop();
  transport_->close();
  auto done = std::move(shutdown_done_);
  shutdown_done_ = nullptr;
  done();
}

Replica::RaftInfo Replica::raft_info() const {
  const raft::Raft& r = node_->raft();
  RaftInfo info;
  info.node_id = options_.node_id;
  info.leader_id = r.leader();
  info.role = role_word(r);
  info.term = r.term();
  info.commit_index = r.commit_index();
  info.applied_index = node_->applied_index();
  info.snapshot_index = snapshot_index_;
  info.voters = r.conf().voters;
  info.learners = r.conf().learners;
  std::sort(info.voters.begin(), info.voters.end());
  std::sort(info.learners.begin(), info.learners.end());
  info.wal_syncs = storage_->syncs();
  info.disk_full = storage_->low_space();
  return info;
}

}  // namespace dkv::server
