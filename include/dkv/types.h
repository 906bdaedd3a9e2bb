// The request and reply types of DKV's API. The embedded store, the remote client and the core
// state machine all speak these; the core's replicated commands are built from them.
//
// Conventions: times are milliseconds since the Unix epoch as stamped by the leader; 0 in an
// *_at_ms or id field means "none". Keys and values are arbitrary bytes held in std::string.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dkv {

// Ordered so that every replica iterates labels identically.
using Labels = std::map<std::string, std::string>;

// A write succeeds only while `token` is the current fencing token of the lock or election
// called `name` (tokens are revisions, so they are unique across both).
struct Fence {
  std::string name;
  int64_t token = 0;
};

// ttl_ms, expires_at_ms, keep_ttl and lease are mutually exclusive (INVALID_ARGUMENT naming
// both); so are if_absent and if_exists, and if_absent and if_match.
struct PutOptions {
  int64_t ttl_ms = 0;               // expire this long after the write; 0 = never
  int64_t lease = 0;                // attach to a lease; exclusive with ttl_ms
  bool if_absent = false;           // CONFLICT unless the key is absent (Redis NX)
  std::optional<int64_t> if_match;  // CONFLICT unless the key's current version equals this
  bool keep_ttl = false;            // keep the existing key's expiry (Redis KEEPTTL)
  std::optional<Fence> fence;
  std::string entity;
  std::string content_type;
  Labels labels;
  bool if_exists = false;  // CONFLICT unless the key is live (Redis XX)
  // Expire at this absolute time (Redis EXAT/PXAT); 0 = never, negative is refused. A time at
  // or before the command's timestamp still writes (new version, PUT event) and then removes
  // the key at once in the same revision (EXPIRE event): the put succeeds, the key is gone.
  int64_t expires_at_ms = 0;
  // Return the previous live value in PutResult::prev (Redis SET ... GET). Also when the put
  // fails with CONFLICT: that CommandResult still carries a PutResult body with prev.
  // Honoured by PutCmd and MultiPut items (on success); TxnCmd ignores it.
  bool prev_kv = false;
};

struct DeleteOptions {
  std::optional<int64_t> if_match;
  std::optional<Fence> fence;
  // Return the deleted live value in DeleteResult::prev (Redis GETDEL). Also when the delete
  // fails with CONFLICT: that CommandResult still carries a DeleteResult body with prev.
  bool prev_kv = false;
};

struct GetOptions {
  int64_t revision = 0;  // read as of this revision; 0 = latest
};

// A key with its value and every piece of metadata.
struct KeyValue {
  std::string key;
  std::string value;
  int64_t version = 0;  // 1 on create, +1 per update; reset when re-created
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  int64_t expires_at_ms = 0;  // 0 = no expiry
  int64_t ttl_ms = -1;        // remaining time to live at the read; -1 = no expiry
  int64_t lease = 0;
  std::string entity;
  std::string content_type;
  Labels labels;

  friend bool operator==(const KeyValue&, const KeyValue&) = default;
};

struct PutResult {
  int64_t version = 0;
  int64_t revision = 0;
  std::optional<KeyValue> prev;  // with PutOptions::prev_kv, when a live key was replaced
  friend bool operator==(const PutResult&, const PutResult&) = default;
};

struct DeleteResult {
  bool deleted = false;  // false when the key was absent
  int64_t revision = 0;  // the revision of the delete; the current revision if nothing changed
  std::optional<KeyValue> prev;  // with DeleteOptions::prev_kv, when a live key was deleted
  friend bool operator==(const DeleteResult&, const DeleteResult&) = default;
};

struct PutItem {
  std::string key;
  std::string value;
  PutOptions options;
};

// Keys k with start <= k < end in byte order; an empty end means "to the last key".
struct KeyRange {
  std::string start;
  std::string end;

  static KeyRange all() { return {}; }
  static KeyRange prefix(std::string prefix);
};

// The smallest key greater than every key that starts with `prefix`; empty if there is none.
std::string prefix_end(std::string prefix);

struct RangeOptions {
  int64_t limit = 0;     // 0 = no limit
  int64_t revision = 0;  // 0 = latest
  bool keys_only = false;
  bool count_only = false;
};

struct RangeResult {
  std::vector<KeyValue> items;  // empty when count_only
  int64_t count = 0;            // keys in the range, regardless of limit
  bool more = false;            // limit cut the result short
  int64_t revision = 0;         // the revision read at
};

struct ClearResult {
  int64_t deleted = 0;
  int64_t revision = 0;
};

// --- Counters: int64 values kept as decimal text under an ordinary key ---

struct CounterOptions {
  std::optional<int64_t> min;
  std::optional<int64_t> max;
  int64_t ttl_ms = 0;  // applied only when the add creates the counter (fixed windows)
};

struct CounterResult {
  int64_t previous = 0;
  int64_t current = 0;
  int64_t revision = 0;
  friend bool operator==(const CounterResult&, const CounterResult&) = default;
};

// --- Leases ---

struct LeaseGrant {
  int64_t id = 0;
  int64_t ttl_ms = 0;
};

struct LeaseInfo {
  int64_t id = 0;
  int64_t granted_ttl_ms = 0;
  int64_t remaining_ms = 0;
  std::vector<std::string> keys;  // filled only when asked for
  friend bool operator==(const LeaseInfo&, const LeaseInfo&) = default;
};

struct RevokeResult {
  int64_t deleted = 0;   // keys removed with the lease
  int64_t revision = 0;  // revision of the removal; the current one if nothing else changed
};

// --- Locks and elections: fencing tokens are revisions, strictly increasing per name ---

struct LockOwner {
  std::string name;
  int64_t lease = 0;
  int64_t token = 0;
  int64_t acquired_at_ms = 0;
  friend bool operator==(const LockOwner&, const LockOwner&) = default;
};

struct CampaignResult {
  bool leader = false;
  int64_t token = 0;     // set when leader
  int64_t position = 0;  // 0 when leader, else 1 for next in line, 2 after that...
  friend bool operator==(const CampaignResult&, const CampaignResult&) = default;
};

struct ElectionLeader {
  std::string name;
  std::string value;
  int64_t lease = 0;
  int64_t token = 0;
  friend bool operator==(const ElectionLeader&, const ElectionLeader&) = default;
};

// --- Watches ---

enum class EventType : unsigned char { kPut = 0, kDelete = 1, kExpire = 2 };

// What a watch observes. Keys: the keyspace. Locks and elections: their holders, where an
// event's kv.key is the lock or election name, kv.value the holder's token (locks) or the
// leader's value (elections), kv.lease the holder's lease and kv.create_revision its token.
enum class WatchSpace : unsigned char { kKeys = 0, kLocks = 1, kElections = 2 };

struct Event {
  int64_t revision = 0;
  EventType type = EventType::kPut;
  WatchSpace space = WatchSpace::kKeys;
  KeyValue kv;                  // for deletes: the key and mod_revision = the delete revision
  std::optional<KeyValue> prev;  // the previous value, when the watch asked for it
  bool snapshot = false;         // part of a watch's initial snapshot, not a change
};

struct WatchRequest {
  WatchSpace space = WatchSpace::kKeys;
  std::string key;  // exact key, or the prefix when `prefix`
  bool prefix = false;
  int64_t from_revision = 0;  // deliver events from this revision on; 0 = only new events
  bool snapshot = false;      // first deliver the current values (as snapshot events)
  bool prev_value = false;    // include the previous value in events
};

// --- Transactions ---

// The read set entry: the key must still be at `version` (0 = must be absent).
struct TxnRead {
  std::string key;
  int64_t version = 0;
};

enum class CompareTarget : unsigned char { kVersion, kCreateRevision, kModRevision, kValue, kLease };
enum class CompareOp : unsigned char { kEqual, kNotEqual, kLess, kGreater };

// An extra condition on a key's current state, as in etcd's Compare. An absent key has
// version, revisions and lease 0 and an empty value.
struct TxnCondition {
  std::string key;
  CompareTarget target = CompareTarget::kVersion;
  CompareOp op = CompareOp::kEqual;
  int64_t number = 0;  // operand for every target but kValue
  std::string text;    // operand for kValue
};

struct TxnWrite {
  enum class Kind : unsigned char { kPut, kDelete };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;
  PutOptions put;
  DeleteOptions del;

  static TxnWrite make_put(std::string key, std::string value, PutOptions options = {});
  static TxnWrite make_delete(std::string key, DeleteOptions options = {});
};

struct TxnRequest {
  std::vector<TxnRead> reads;
  std::vector<TxnCondition> conditions;
  std::vector<TxnWrite> writes;
};

struct TxnResult {
  int64_t revision = 0;               // every write carries this revision
  std::vector<int64_t> versions;      // per write: the new version (0 for deletes)
  friend bool operator==(const TxnResult&, const TxnResult&) = default;
};

// --- Queries over labels ---

enum class QueryOp : unsigned char { kEq, kNe, kGt, kGe, kLt, kLe, kPrefix, kBetween, kIn };
// The operator's word in QUERY (docs/protocol.md 3.7): "EQ", "BETWEEN" ...; "?" if out of range.
inline const char* query_op_name(QueryOp op) {
  switch (op) {
    case QueryOp::kEq: return "EQ";
    case QueryOp::kNe: return "NE";
    case QueryOp::kGt: return "GT";
    case QueryOp::kGe: return "GE";
    case QueryOp::kLt: return "LT";
    case QueryOp::kLe: return "LE";
    case QueryOp::kPrefix: return "PREFIX";
    case QueryOp::kBetween: return "BETWEEN";
    case QueryOp::kIn: return "IN";
  }
  return "?";
}

// Comparisons are numeric when both the label value and the operand parse as numbers, else
// byte-wise. kBetween takes two values (inclusive), kIn one or more, the others exactly one.
struct QueryClause {
  std::string label;
  QueryOp op = QueryOp::kEq;
  std::vector<std::string> values;
};

struct Query {
  std::string entity;
  std::vector<QueryClause> where;  // all must hold
  std::string order_by;            // a label; empty = key order
  bool descending = false;
  int64_t limit = 0;     // 0 = no limit
  std::string cursor;    // from a previous page's next_cursor
  std::vector<std::string> select;  // return only these labels (and no value); empty = all
  bool keys_only = false;
  bool count_only = false;
};

struct QueryResult {
  std::vector<KeyValue> items;
  int64_t count = 0;         // matches in all pages
  std::string next_cursor;  // empty when this is the last page
};

// --- Store-wide ---

struct StoreStats {
  int64_t revision = 0;
  int64_t compacted_revision = 0;
  int64_t keys = 0;
  int64_t leases = 0;
  int64_t locks = 0;
  int64_t elections = 0;
  int64_t history_versions = 0;  // superseded versions kept for reads at older revisions
};

}  // namespace dkv
