// Commands: the replicated inputs of the state machine, and their results.
//
// A Command is what Raft replicates: the leader stamps its clock into timestamp_ms and every
// replica applies the same bytes to the same state. The binary form starts with a format
// version byte so that a newer server can still read older logs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "dkv/status.h"
#include "dkv/types.h"

namespace dkv::core {

struct PutCmd {
  std::string key;
  std::string value;
  PutOptions options;
};
struct DeleteCmd {
  std::string key;
  DeleteOptions options;
};
struct MultiPutCmd {
  std::vector<PutItem> items;
};
struct MultiDeleteCmd {
  std::vector<std::string> keys;
};
struct ClearCmd {
  std::string prefix;  // empty = every key
};
// Proposed by the leader for keys and leases its timing wheel reports due. Applying re-checks
// each deadline against timestamp_ms, so a stale proposal is harmless.
struct ExpireCmd {
  std::vector<std::string> keys;
  std::vector<int64_t> leases;
};
struct CounterAddCmd {
  std::string key;
  int64_t delta = 0;
  CounterOptions options;
};
struct CounterSetCmd {
  std::string key;
  int64_t value = 0;
  int64_t ttl_ms = 0;
};
struct LeaseGrantCmd {
  int64_t ttl_ms = 0;
};
struct LeaseKeepAliveCmd {
  int64_t id = 0;
};
struct LeaseRevokeCmd {
  int64_t id = 0;
};
struct LockAcquireCmd {
  std::string name;
  int64_t lease = 0;
};
struct LockReleaseCmd {
  std::string name;
  int64_t token = 0;
};
struct CampaignCmd {
  std::string name;
  int64_t lease = 0;
  std::string value;
};
struct ResignCmd {
  std::string name;
  int64_t token = 0;
};
struct ProclaimCmd {
  std::string name;
  int64_t token = 0;
  std::string value;
};
struct TxnCmd {
  TxnRequest txn;
};
struct CompactCmd {
  int64_t revision = 0;
};
// Redis APPEND: appends `suffix` to the live value, or creates the key with it (version 1, no
// expiry). An existing key keeps its expiry, lease, entity, content type and labels; it gets a
// new version and mod_revision (PUT event). -> AppendResult.
struct AppendCmd {
  std::string key;
  std::string suffix;
};
// Redis EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT (with NX|XX|GT|LT) and PERSIST. -> ChangedResult.
//
// kExpireIn: the deadline is timestamp + ms (INVALID_ARGUMENT if that overflows); kExpireAt: the
// deadline is ms. kPersist: removes the expiry (ms ignored; cond must be kAlways).
// In Redis 7's order:
//  - a key that is not live: changed = false, nothing happens;
//  - the condition (against the key's own expiry; no expiry counts as infinite): kNx sets only
//    if there is none, kXx only if there is one, kGt only if the new deadline is later (never on
//    a key without expiry), kLt only if earlier (always on a key without expiry); failing it:
//    changed = false;
//  - a deadline at or before the timestamp deletes the key (DELETE event, as Redis 7 emits a
//    del), changed = true; this also deletes a key attached to a lease, like DEL;
//  - otherwise the deadline is set: a write with the value unchanged (new version,
//    mod_revision and updated_at, PUT event), changed = true. A key attached to a lease is
//    detached from it and gets the deadline instead (a key never has both; SET would detach
//    it too).
// kPersist on a live key with an expiry is such a write too (changed = true); without one
// (including a leased key) changed = false.
struct KeyTtlCmd {
  enum class Mode : unsigned char { kExpireIn, kExpireAt, kPersist };
  enum class Cond : unsigned char { kAlways, kNx, kXx, kGt, kLt };
  std::string key;
  Mode mode = Mode::kExpireIn;
  int64_t ms = 0;
  Cond cond = Cond::kAlways;
};
// The live values of `keys` at the command's timestamp (ttl_ms computed as get() does), in
// order; nullopt for an absent key. Changes nothing (no revision, no events). Meant for use
// inside MultiCmd, where Redis reads (GET, MGET, EXISTS, TTL, ...) must see the effects of the
// transaction's earlier commands; also valid on its own. An empty key: INVALID_ARGUMENT.
// -> ReadResult.
struct ReadCmd {
  std::vector<std::string> keys;
};
struct MultiOp;
// Redis MULTI/EXEC with WATCH, applied atomically as one command. -> MultiResult.
//
// First every op must be one of PutCmd, DeleteCmd, MultiPutCmd, MultiDeleteCmd, ClearCmd,
// CounterAddCmd, CounterSetCmd, AppendCmd, KeyTtlCmd or ReadCmd, and every watched key valid;
// otherwise INVALID_ARGUMENT for the whole command and nothing is applied (the server refuses
// other commands while queueing, as Redis answers EXECABORT). A nested MultiCmd does not even
// decode. Then, if any watched key's live mod_revision differs from the recorded one (0 = must
// be absent), the command does nothing and fails with
// CONFLICT naming the keys (EXEC replies nil). Otherwise the ops apply in order, each seeing the
// effects of the ones before, each with its own CommandResult (an op that fails does not undo
// the others: Redis has no rollback). Everything shares one revision, which increments once if
// anything changed; a key written several times gets a new version each time, all with that
// mod_revision, and the events come out in op order.
//
// WATCH compares mod_revisions (0 = absent), not versions: versions restart at 1 when a key is
// re-created, mod_revisions never repeat, so a delete and re-create between WATCH and EXEC aborts
// as it does in Redis. A key that expired in between reads as absent and aborts too.
struct WatchedKey {
  std::string key;
  int64_t mod_revision = 0;  // 0 = the key was absent at WATCH
};
struct MultiCmd {
  std::vector<WatchedKey> watched;
  std::vector<MultiOp> ops;
};
// Proposed by a leader when it takes office (also a single node after a restart), before any
// ExpireCmd: every lease's deadline becomes max(deadline, timestamp + ttl). Changes no revision
// and emits nothing. -> std::monostate.
struct LeaseRefreshCmd {
  // The proposing leader's Raft term, kept (StateMachine::lease_refresh_term) so that every
  // replica, one restored from a snapshot included, knows whether this term's refresh applied.
  uint64_t term = 0;
};
// Records (or, with an empty Raft address, forgets, as removed for good) the addresses of a
// cluster member, so that
// every member, and one restored from a snapshot, can reach members added after it started, and
// clients can discover every member from one (MEMBER.LIST). Proposed by the leader before the
// membership change that adds the node (Raft address only), and by each member for its own
// client address. -> std::monostate.
struct MemberAddressCmd {
  uint64_t node = 0;
  std::string raft_address;    // host:port
  std::string client_address;  // host:port for RESP clients; "" keeps the one recorded
};

// ACL SETUSER (core/acl.h): creates the user (off, allowed nothing) if absent, then applies
// `rules` in order; all or nothing: with a bad rule nothing changes (INVALID_ARGUMENT).
// -> std::monostate.
struct AclSetUserCmd {
  std::string name;
  std::vector<std::string> rules;
};
// ACL DELUSER: removes the named users ("default" cannot be). -> ClearResult (deleted = users
// removed; the revision does not move).
struct AclDelUserCmd {
  std::vector<std::string> names;
};

// The order of alternatives is the wire op code: append only.
using CommandBody =
    std::variant<PutCmd, DeleteCmd, MultiPutCmd, MultiDeleteCmd, ClearCmd, ExpireCmd,
                 CounterAddCmd, CounterSetCmd, LeaseGrantCmd, LeaseKeepAliveCmd, LeaseRevokeCmd,
                 LockAcquireCmd, LockReleaseCmd, CampaignCmd, ResignCmd, ProclaimCmd, TxnCmd,
                 CompactCmd, AppendCmd, KeyTtlCmd, ReadCmd, MultiCmd, LeaseRefreshCmd,
                 MemberAddressCmd, AclSetUserCmd, AclDelUserCmd>;

// One queued command of a MultiCmd.
struct MultiOp {
  CommandBody body;
};

// Who proposed a command: a member and its own sequence number. A follower forwards a client's
// write to the leader and answers the client once it applies that entry itself; the origin is
// how it recognises the entry. The state machine does not interpret it. {0, 0}: untracked.
struct Origin {
  uint64_t node = 0;
  uint64_t seq = 0;
  friend bool operator==(const Origin&, const Origin&) = default;
};

// A client's numbered request, for exactly-once writes (StateMachine, "sessions"): the client
// picks a random session id, numbers its writes 1, 2, ... and says with each the lowest number
// it has not had an answer for yet (`acked`: answers below it may be forgotten). A write retried
// with the same id and number is applied once; the retry gets the first answer. id 0: none.
struct SessionRequest {
  uint64_t id = 0;
  uint64_t seq = 0;
  uint64_t acked = 0;
  friend bool operator==(const SessionRequest&, const SessionRequest&) = default;
};

struct Command {
  int64_t timestamp_ms = 0;
  CommandBody body;
  Origin origin;
  SessionRequest session;
};

std::string encode_command(const Command& command);
// INVALID_ARGUMENT naming what was wrong for truncated, unknown or malformed input.
Result<Command> decode_command(std::string_view bytes);

// The alternative's name without "Cmd" ("Put", "KeyTtl", ...), for messages.
std::string_view command_name(const CommandBody& body);

// --- Results ---

struct ExpireResult {
  int64_t keys = 0;
  int64_t leases = 0;
  int64_t revision = 0;
};
struct KeepAliveResult {
  int64_t ttl_ms = 0;
};
struct TokenResult {
  int64_t token = 0;
};
struct RevisionResult {
  int64_t revision = 0;
};
using MultiPutResult = std::vector<Result<PutResult>>;
using MultiDeleteResult = std::vector<Result<DeleteResult>>;
struct AppendResult {
  int64_t length = 0;  // of the value after the append
  int64_t version = 0;
  int64_t revision = 0;
};
// KeyTtlCmd: whether the key's expiry changed (or the key was deleted).
struct ChangedResult {
  bool changed = false;
  int64_t revision = 0;  // of the change; the current revision if nothing changed
};
struct ReadResult {
  std::vector<std::optional<KeyValue>> values;  // one per key, nullopt when absent
};
struct CommandResult;
struct MultiResult {
  // One per op, in order, each as that command would have answered on its own at that point
  // ("nothing changed" results carry the revision before the MultiCmd).
  std::vector<CommandResult> results;
  int64_t revision = 0;  // every change carries this; the current revision if none
};

using ResultBody =
    std::variant<std::monostate, PutResult, DeleteResult, MultiPutResult, MultiDeleteResult,
                 ClearResult, ExpireResult, CounterResult, LeaseGrant, KeepAliveResult,
                 RevokeResult, TokenResult, RevisionResult, CampaignResult, TxnResult,
                 AppendResult, ChangedResult, ReadResult, MultiResult>;

struct CommandResult {
  Status status;
  ResultBody body;

  CommandResult() = default;
  CommandResult(Status s) : status(std::move(s)) {}  // NOLINT: errors convert implicitly
  template <typename T>
    requires std::is_constructible_v<ResultBody, T>
  CommandResult(T value) : body(std::move(value)) {}  // NOLINT

  // The body as T, or the status when it failed. Precondition: on success the body holds T.
  template <typename T>
  Result<T> as() && {
    if (!status.ok()) return status;
    return std::get<T>(std::move(body));
  }
};

}  // namespace dkv::core
