// StateMachine: every DKV primitive as one deterministic machine.
//
// apply() takes committed commands in log order and is a pure function of the commands seen so
// far: no clock, no randomness, no I/O, and iteration only over ordered containers. Every
// replica that applies the same commands holds the same state and gives the same answers, which
// is what lets Raft replicate it and a snapshot stand in for the log before it.
//
// Time comes only from the leader's stamp in each command. The machine's clock is the largest
// stamp seen so far, so time never runs backwards across leader changes.
//
// Revisions: the revision counts commands that made a visible change, i.e. emitted at least one
// event (keys written or removed, locks and elections changing hands). Lease grants and
// keep-alives, queueing as an election candidate and compaction change state but not the
// revision, as in etcd.
//
// Reads take `now_ms` from the caller (the local clock of the node serving them): a key whose
// expiry, or whose lease's deadline, is at or before now_ms is absent to every read at once, even
// before the leader's expire command removes it.
//
// Leases across leader changes: a lease's deadline is only extended by keep-alives, which only a
// leader receives. So that no lease ends earlier than promised because no leader was around to
// hear them (an election, or a restart of a single node), every new leader proposes a
// LeaseRefreshCmd before any ExpireCmd: each lease's deadline becomes
// max(deadline, timestamp + ttl), as etcd's lessor does on promotion. This includes leases whose
// deadline had already passed but which were not yet revoked: their keys, locks and elections
// become live again, as in etcd. Holders must rely on fencing tokens, never on timing alone.
//
// Exactly-once writes ("sessions"): a command with a SessionRequest (command.h) is applied at
// most once per (session id, number). The machine keeps, per session, the answers to numbers at
// or above the session's `acked` mark, and replays the first answer to a retry (no new
// revision, no events). A number below the mark was answered and forgotten: its retry gets
// INVALID_ARGUMENT. At most kMaxSessions sessions and kMaxAnswersPerSession answers each are
// kept; beyond them, and for sessions idle longer than kSessionIdleMs (leader time), the least
// recently used go first, so a retry after that long may apply again. The table is replicated
// state: it is in snapshots.
//
// Redis semantics: SET (PutOptions if_absent/if_exists/keep_ttl/expires_at_ms/prev_kv), GETDEL
// (DeleteOptions::prev_kv), APPEND (AppendCmd), INCR & co (CounterAddCmd: WRONG_TYPE for a
// non-integer value, OVERFLOW past int64, keeps expiry, lease and labels), EXPIRE & co and
// PERSIST (KeyTtlCmd), MULTI/EXEC with WATCH (MultiCmd with ReadCmd for reads): each one
// replicated command, see command.h.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/node_hash_map.h"
#include "core/acl.h"
#include "core/command.h"
#include "core/keyspace.h"
#include "core/label_index.h"
#include "core/timing_wheel.h"
#include "dkv/status.h"
#include "dkv/types.h"

namespace dkv::core {

// What the leader should propose an ExpireCmd for.
struct DueWork {
  std::vector<std::string> keys;
  std::vector<int64_t> leases;
  bool empty() const { return keys.empty() && leases.empty(); }
};

class StateMachine {
 public:
  StateMachine();
  ~StateMachine();
  StateMachine(const StateMachine&) = delete;
  StateMachine& operator=(const StateMachine&) = delete;

  // Applies one committed command; appends the events it caused to *events when not null.
  CommandResult apply(const Command& command, std::vector<Event>* events);
  CommandResult apply_encoded(std::string_view bytes, std::vector<Event>* events);

  // --- Reads ---
  // Keys with an expiry of their own (not yet removed; INFO's expires).
  size_t keys_with_ttl() const { return key_timers_.size(); }
  Result<KeyValue> get(std::string_view key, const GetOptions& options, int64_t now_ms) const;
  Result<RangeResult> range(const KeyRange& range, const RangeOptions& options,
                            int64_t now_ms) const;
  // Live keys starting with `prefix` (all keys when empty).
  int64_t count(std::string_view prefix, int64_t now_ms) const;
  Result<int64_t> counter_get(std::string_view key, int64_t now_ms) const;
  Result<LeaseInfo> lease_info(int64_t id, bool with_keys, int64_t now_ms) const;
  std::vector<LeaseInfo> leases(int64_t now_ms) const;
  Result<LockOwner> lock_owner(std::string_view name, int64_t now_ms) const;
  Result<ElectionLeader> election_leader(std::string_view name, int64_t now_ms) const;
  Result<QueryResult> query(const Query& query, int64_t now_ms) const;
  // The current values a watch asks to see first: one snapshot PUT event per live key, held
  // lock or led election that the request matches, at the current revision.
  std::vector<Event> current_events(const WatchRequest& request, int64_t now_ms) const;

  int64_t revision() const { return revision_; }
  int64_t compacted_revision() const { return compacted_; }
  StoreStats stats() const;

  static constexpr size_t kMaxSessions = 10000;
  static constexpr size_t kMaxAnswersPerSession = 1000;
  static constexpr int64_t kSessionIdleMs = 3'600'000;
  size_t sessions() const { return sessions_.size(); }
  // The highest Raft term whose leader's LeaseRefreshCmd has applied (0: none).
  uint64_t lease_refresh_term() const { return lease_refresh_term_; }
  // Raft and client addresses of cluster members recorded by MemberAddressCmd, by node id.
  const absl::btree_map<uint64_t, std::string>& member_addresses() const { return member_addresses_; }
  const absl::btree_map<uint64_t, std::string>& member_client_addresses() const {
    return member_client_addresses_;
  }
  // Node ids removed from the cluster (forgotten by MemberAddressCmd): never to be reused.
  const absl::btree_set<uint64_t>& removed_members() const { return removed_members_; }
  // The ACL user `name` (core/acl.h), null if there is none. "default" always exists.
  const AclUser* acl_user(std::string_view name) const;
  // Every ACL user by name, "default" included.
  absl::btree_map<std::string, AclUser> acl_users() const;

  // Leader side: up to `limit` keys and up to `limit` leases whose deadline is at or before
  // now_ms. They stay due until an ExpireCmd removes them.
  DueWork due(int64_t now_ms, size_t limit);

  // --- Snapshots (snapshot.cc) ---
  // The whole state as bytes; restore() of them yields a machine that answers every read and
  // applies every later command identically.
  std::string save_snapshot() const;
  // Replaces this machine's state. On error (corrupt or foreign bytes) the state is empty.
  Status restore_snapshot(std::string_view bytes);

 private:
  struct Lease : Timer {
    int64_t id = 0;
    int64_t ttl_ms = 0;
    int64_t deadline_ms = 0;
    absl::btree_set<std::string> keys;
    absl::btree_set<std::string> locks;
    absl::btree_set<std::string> elections;
  };
  struct KeyTimer : Timer {
    const std::string* key = nullptr;  // the map key that owns this timer
  };
  struct Candidate {
    int64_t lease = 0;
    std::string value;
  };
  struct Election {
    std::optional<ElectionLeader> leader;
    std::deque<Candidate> queue;
  };
  // The state of one apply(): the revision a change would carry, and the events so far.
  struct Write {
    int64_t revision = 0;
    int64_t now = 0;
    std::vector<Event>* events = nullptr;
    bool changed = false;
    // Records a visible change; builds its event only when the caller collects events.
    template <typename MakeEvent>
    void emit(MakeEvent make) {
      changed = true;
      if (events != nullptr) events->push_back(make());
    }
  };

  // --- visibility ---
  bool lease_alive(int64_t id, int64_t now) const;
  bool alive(const Record& record, int64_t now) const;
  const Record* live(std::string_view key, int64_t now) const;
  std::optional<KeyValue> live_value(std::string_view key, int64_t now) const;
  Status check_fence(const std::optional<Fence>& fence, int64_t now) const;
  // OK when a read at an older `revision` can be served: not in the future, not compacted.
  Status check_past_revision(int64_t revision) const;

  // --- keyspace changes (keep timers, lease attachments and the label index in step) ---
  Status check_put(std::string_view key, const PutOptions& options, int64_t now) const;
  PutResult do_put(Write& w, std::string_view key, std::string_view value,
                   const PutOptions& options);
  Status check_delete(std::string_view key, const DeleteOptions& options, int64_t now) const;
  DeleteResult do_delete(Write& w, std::string_view key, bool prev_kv = false);
  // Stores a new version of the live record `old` with `value` and `expires_at_ms`, keeping its
  // lease, entity, content type, labels and creation (new version, mod_revision, updated_at).
  const Record* update(Write& w, const Record& old, std::string_view value,
                       int64_t expires_at_ms);
  // Stores a new version; `old` is the live version it replaces (may be null).
  const Record* store(Write& w, RecordPtr record, const Record* old);
  void erase(Write& w, const Record& record, EventType type);
  // Removes `key` if it is stored but no longer alive, with EXPIRE events.
  void reap(Write& w, std::string_view key);
  void attach(const Record& record);
  void detach(const Record& record);
  Event key_event(const Write& w, EventType type, const Record* record, const Record* prev,
                  std::string_view key) const;

  // --- leases, locks, elections ---
  Lease* find_lease(int64_t id) const;
  void revoke(Write& w, Lease* lease, EventType type);
  void grant_lock(Write& w, std::string_view name, int64_t lease);
  void release_lock(Write& w, std::string_view name);
  // Hands the election to the next candidate whose lease is alive, or vacates it.
  void elect_next(Write& w, std::string_view name);
  void emit_election(Write& w, std::string_view name, const Election& e);
  static Event lock_event(const LockOwner& owner, int64_t revision);
  static Event election_event(std::string_view name, const Election& e, int64_t revision,
                              int64_t now);
  LeaseInfo lease_info_of(const Lease& lease, bool with_keys, int64_t now) const;

  // --- command handlers ---
  CommandResult on(Write& w, const PutCmd& c);
  CommandResult on(Write& w, const DeleteCmd& c);
  CommandResult on(Write& w, const MultiPutCmd& c);
  CommandResult on(Write& w, const MultiDeleteCmd& c);
  CommandResult on(Write& w, const ClearCmd& c);
  CommandResult on(Write& w, const ExpireCmd& c);
  CommandResult on(Write& w, const CounterAddCmd& c);
  CommandResult on(Write& w, const CounterSetCmd& c);
  CommandResult on(Write& w, const LeaseGrantCmd& c);
  CommandResult on(Write& w, const LeaseKeepAliveCmd& c);
  CommandResult on(Write& w, const LeaseRevokeCmd& c);
  CommandResult on(Write& w, const LockAcquireCmd& c);
  CommandResult on(Write& w, const LockReleaseCmd& c);
  CommandResult on(Write& w, const CampaignCmd& c);
  CommandResult on(Write& w, const ResignCmd& c);
  CommandResult on(Write& w, const ProclaimCmd& c);
  CommandResult on(Write& w, const TxnCmd& c);
  CommandResult on(Write& w, const CompactCmd& c);
  CommandResult on(Write& w, const AppendCmd& c);
  CommandResult on(Write& w, const KeyTtlCmd& c);
  CommandResult on(Write& w, const ReadCmd& c);
  CommandResult on(Write& w, const MultiCmd& c);
  CommandResult on(Write& w, const LeaseRefreshCmd& c);
  CommandResult on(Write& w, const MemberAddressCmd& c);
  CommandResult on(Write& w, const AclSetUserCmd& c);
  CommandResult on(Write& w, const AclDelUserCmd& c);

  void reset();
  void rebuild_derived();  // timers, lease attachments, label index (after restore)

  struct ClientSession {
    int64_t last_used_ms = 0;
    uint64_t acked = 0;                             // answers below this number are forgotten
    absl::btree_map<uint64_t, CommandResult> answers;  // by request number
  };
  // The answer to replay for `req`, if it was applied before; otherwise nullptr (and the
  // session is registered, evicting the least recently used beyond the bounds).
  const CommandResult* replay(const SessionRequest& req, int64_t now, CommandResult* refusal);
  void remember(const SessionRequest& req, const CommandResult& result);
  void touch_session(uint64_t id, ClientSession& s, int64_t now);

  int64_t revision_ = 0;
  int64_t compacted_ = 0;   // reads below this revision get COMPACTED
  int64_t clock_ms_ = 0;    // largest leader timestamp applied
  int64_t next_lease_id_ = 1;

  Keyspace keys_;
  absl::btree_map<int64_t, std::unique_ptr<Lease>> leases_;
  absl::btree_map<std::string, LockOwner, std::less<>> locks_;
  absl::btree_map<std::string, Election, std::less<>> elections_;
  LabelIndex labels_;
  absl::btree_map<uint64_t, ClientSession> sessions_;
  absl::btree_map<uint64_t, std::string> member_addresses_;
  absl::btree_map<uint64_t, std::string> member_client_addresses_;
  absl::btree_set<uint64_t> removed_members_;
  // ACL users by name; "default" is default_acl_user() until ACL SETUSER changes it.
  absl::btree_map<std::string, AclUser> acl_users_;
  uint64_t lease_refresh_term_ = 0;
  absl::btree_set<std::pair<int64_t, uint64_t>> sessions_by_use_;  // (last_used_ms, id)

  // Derived state: rebuilt from the above on restore, not part of snapshots.
  absl::node_hash_map<std::string, KeyTimer> key_timers_;
  mutable TimingWheel key_wheel_;    // mutable: asking what is due advances the wheel
  mutable TimingWheel lease_wheel_;
};

}  // namespace dkv::core
