// The mapping between DKV's API types (dkv/types.h) and its RESP commands and replies
// (docs/protocol.md sections 3 and 4): argument lists to send, replies to decode, error replies
// to Status. Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dkv/status.h"
#include "dkv/types.h"
#include "resp/value.h"

namespace dkv::client {

using Args = std::vector<std::string>;

// --- Errors ---

// `-CODE message` to a Status by the table in protocol.md 1.5 (`ERR internal error: ...` is
// INTERNAL, other ERR replies INVALID_ARGUMENT; an unknown code is INTERNAL with the whole text).
Status status_from_error(const resp::Value& error);
// The Status of a reply: its error mapped, or OK.
Status reply_status(const resp::Value& reply);

// --- Requests ---

// KV.PUT's common options (protocol.md 3.0) appended to `args`. INVALID_ARGUMENT for the
// PutOptions fields the protocol cannot express (keep_ttl, if_exists, expires_at_ms, prev_kv).
Status append_put_options(const PutOptions& options, Args* args);
Status append_delete_options(const DeleteOptions& options, Args* args);
// KV.RANGE; INVALID_ARGUMENT for a start spelled "prefix" (any case), which the server reads as
// the PREFIX form.
Result<Args> range_command(const KeyRange& range, const RangeOptions& options);
// TXN.COMMIT. Conditions on version equality become READS entries; the protocol has no other
// comparisons, so any other condition is INVALID_ARGUMENT.
Result<Args> txn_command(const TxnRequest& txn);
Result<Args> query_command(const Query& query);
// KV.WATCH for `request`, resuming at `from_revision` when it is > 0 (then without SNAPSHOT).
Args watch_command(const WatchRequest& request, int64_t from_revision);

// --- Replies (each expects a non-error reply of the documented shape; INTERNAL otherwise) ---

Result<KeyValue> decode_key_value(const resp::Value& map);
Result<PutResult> decode_put(const resp::Value& map);
Result<RangeResult> decode_range(const resp::Value& map);
Result<CounterResult> decode_counter(const resp::Value& pair);
Result<LeaseInfo> decode_lease(const resp::Value& map);
Result<LockOwner> decode_lock_owner(const resp::Value& map);
Result<CampaignResult> decode_campaign(const resp::Value& map);
Result<ElectionLeader> decode_leader(const resp::Value& map);
Result<TxnResult> decode_txn(const resp::Value& map);
Result<QueryResult> decode_query(const resp::Value& map);
Result<int64_t> decode_integer(const resp::Value& value);

// INFO's text as field -> value (the later of a field given twice, e.g. `role`, wins, which
// makes `role` the Raft role of `# Cluster`).
std::vector<std::pair<std::string, std::string>> parse_info(std::string_view text);

// --- Watch pushes (protocol.md 4.2) ---

struct WatchPush {
  enum class Kind { kEvent, kSynced, kEnd, kOther };
  Kind kind = Kind::kOther;
  int64_t watch_id = 0;
  Event event;       // kEvent (kv.key, kv.value, revision, type; prev when sent)
  int64_t revision = 0;  // kSynced: R; kEnd: resume_from
  Status end;        // kEnd: LAGGING or CANCELLED with the server's message
};
// `space` fills Event::space and how the value is read (a lock event's value is its token).
WatchPush decode_push(const resp::Value& push, WatchSpace space);
// The watch id a push belongs to, 0 if it is not a watch push.
int64_t push_watch_id(const resp::Value& push);

}  // namespace dkv::client
