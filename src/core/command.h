// Commands: the replicated inputs of the state machine, and their results.
//
// A Command is what Raft replicates: the leader stamps its clock into timestamp_ms and every
// replica applies the same bytes to the same state. The binary form starts with a format
// version byte so that a newer server can still read older logs.
#pragma once

#include <cstdint>
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

// The order of alternatives is the wire op code: append only.
using CommandBody =
    std::variant<PutCmd, DeleteCmd, MultiPutCmd, MultiDeleteCmd, ClearCmd, ExpireCmd,
                 CounterAddCmd, CounterSetCmd, LeaseGrantCmd, LeaseKeepAliveCmd, LeaseRevokeCmd,
                 LockAcquireCmd, LockReleaseCmd, CampaignCmd, ResignCmd, ProclaimCmd, TxnCmd,
                 CompactCmd>;

struct Command {
  int64_t timestamp_ms = 0;
  CommandBody body;
};

std::string encode_command(const Command& command);
// INVALID_ARGUMENT naming what was wrong for truncated, unknown or malformed input.
Result<Command> decode_command(std::string_view bytes);

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

using ResultBody =
    std::variant<std::monostate, PutResult, DeleteResult, MultiPutResult, MultiDeleteResult,
                 ClearResult, ExpireResult, CounterResult, LeaseGrant, KeepAliveResult,
                 RevokeResult, TokenResult, RevisionResult, CampaignResult, TxnResult>;

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
