// The values Raft exchanges with its host and its peers: log entries, hard state, membership,
// snapshots, messages, and the Ready batch. Plain structs, no behaviour; their binary forms are
// in codec.h.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dkv/status.h"

namespace dkv::raft {

using NodeId = uint64_t;   // 0 means "none"
using GroupId = uint64_t;  // one Raft group per shard; messages carry it so a host can route

enum class EntryType : uint8_t {
  kNormal = 0,      // host data (an encoded command); empty data is a leader's no-op
  kConfChange = 1,  // an encoded ConfChange
};

struct Entry {
  uint64_t term = 0;
  uint64_t index = 0;
  EntryType type = EntryType::kNormal;
  std::string data;

  friend bool operator==(const Entry&, const Entry&) = default;
};

// What must be on disk before a node answers anyone: its term, its vote in that term, and the
// highest index it knows to be committed.
struct HardState {
  uint64_t term = 0;
  NodeId vote = 0;
  uint64_t commit = 0;

  friend bool operator==(const HardState&, const HardState&) = default;
};

// Membership. Voters count toward quorums; learners receive the log but never vote.
// Both lists are sorted and disjoint.
struct ConfState {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;

  friend bool operator==(const ConfState&, const ConfState&) = default;
};

// One membership change, proposed as an entry and taking effect when the host applies it
// (Raft::apply_conf_change). Changes are one node at a time; a leader refuses a new one while
// an earlier one is not applied yet.
enum class ConfChangeType : uint8_t {
  kAddVoter = 0,    // also promotes a learner
  kAddLearner = 1,  // also demotes a voter
  kRemoveNode = 2,
};

struct ConfChange {
  ConfChangeType type = ConfChangeType::kAddVoter;
  NodeId node = 0;
  std::string context;  // opaque to Raft (e.g. the node's address)

  friend bool operator==(const ConfChange&, const ConfChange&) = default;
};

// A snapshot covers the log up to and including `index`; `conf` is membership as of `index`.
struct SnapshotMeta {
  uint64_t index = 0;
  uint64_t term = 0;
  ConfState conf;

  friend bool operator==(const SnapshotMeta&, const SnapshotMeta&) = default;
};

// A snapshot's image: the host's state machine bytes. Raft reads it in chunks only to send it to
// a follower, so the host may back it by its snapshot file instead of memory (a member that
// kept a copy of its whole state in memory for followers that may never need it would double
// its footprint).
class SnapshotData {
 public:
  virtual ~SnapshotData() = default;
  virtual uint64_t size() const = 0;
  // Appends bytes [offset, offset + len) to *out (offset + len <= size()). Fails only when a
  // file-backed image cannot be read; Raft then sends nothing and retries later.
  virtual Status read(uint64_t offset, uint64_t len, std::string* out) const = 0;
};
using SnapshotDataPtr = std::shared_ptr<const SnapshotData>;

// An image held in memory.
SnapshotDataPtr snapshot_data(std::string bytes);
// The whole image.
Result<std::string> read_all(const SnapshotData& data);

struct Snapshot {
  SnapshotMeta meta;
  SnapshotDataPtr data;  // never null
};

enum class MessageType : uint8_t {
  kAppend = 0,           // entries after (index, log_term), plus the leader's commit
  kAppendResp = 1,       // index: last matching index, or on reject the rejected index
  kVote = 2,             // index/log_term: the candidate's last entry
  kVoteResp = 3,
  kPreVote = 4,          // term: the term the sender would campaign at; changes no state
  kPreVoteResp = 5,
  kHeartbeat = 6,        // commit (capped at what the follower is known to have) and context
  kHeartbeatResp = 7,    // echoes context (a ReadIndex round)
  kSnapshot = 8,         // one chunk: snapshot meta, snap_offset, snap_total, data in snap_chunk
  kSnapshotResp = 9,     // snap_offset: bytes the follower holds; reject: start again from 0
  kReadIndex = 10,       // follower asks the leader for a read index; context identifies it
  kReadIndexResp = 11,   // index: the read index (reject: leader cannot serve it now)
  kTimeoutNow = 12,      // leadership transfer: campaign at once, ignoring leader leases
  // Not Raft's: hosts exchange it over the same transport. A follower's host forwards a client's
  // command (entries[0].data) to the leader's host, which proposes it. The core ignores it.
  kForward = 13,
};

struct Message {
  MessageType type = MessageType::kAppend;
  GroupId group = 0;
  NodeId from = 0;
  NodeId to = 0;
  uint64_t term = 0;
  uint64_t log_term = 0;
  uint64_t index = 0;
  uint64_t commit = 0;
  std::vector<Entry> entries;
  bool reject = false;
  uint64_t reject_hint = 0;  // kAppendResp reject: the follower's best guess of a match index
  std::string context;       // ReadIndex rounds and requests; "transfer" on campaign messages
  SnapshotMeta snapshot;     // kSnapshot
  uint64_t snap_offset = 0;  // kSnapshot: where snap_chunk starts; kSnapshotResp: bytes held
  uint64_t snap_total = 0;   // kSnapshot: size of the whole snapshot data
  std::string snap_chunk;

  friend bool operator==(const Message&, const Message&) = default;
};

enum class Role : uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };

const char* role_name(Role role);
const char* message_type_name(MessageType type);

struct SoftState {
  NodeId leader = 0;
  Role role = Role::kFollower;

  friend bool operator==(const SoftState&, const SoftState&) = default;
};

// A linearizable read may be served once the host has applied up to `index`.
struct ReadState {
  uint64_t index = 0;
  std::string context;  // as given to read_index()
};

// Everything the host must do, in this order:
//  1. persist `snapshot` (if any), then `entries` (which may overwrite the log from
//     entries.front().index on), then `hard_state` (if any); durably (fdatasync) when
//     must_sync() says so;
//  2. send `messages` (they may depend on step 1);
//  3. install `snapshot` into the state machine, then apply `committed_entries` in order;
//     serve `read_states` once applied >= their index;
//  4. call advance(ready).
struct Ready {
  std::optional<SoftState> soft_state;  // set when leader or role changed
  std::optional<HardState> hard_state;  // set when it changed
  std::vector<Entry> entries;
  std::optional<Snapshot> snapshot;
  std::vector<Entry> committed_entries;
  std::vector<Message> messages;
  std::vector<ReadState> read_states;
  // The term or vote in hard_state changed (a promise that must survive a crash).
  bool term_or_vote_changed = false;

  // Whether step 1 must be durable before step 2. A hard state whose only change is the commit
  // index need not be: commit is learned again from the leader (or, for a single voter, by
  // committing an entry of its new term) after a restart, so losing it loses nothing. A host
  // may write such a hard state lazily, or not at all.
  bool must_sync() const { return term_or_vote_changed || !entries.empty() || snapshot.has_value(); }
};

}  // namespace dkv::raft
