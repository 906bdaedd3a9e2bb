// Status and Result: how every DKV operation reports its outcome.
//
// Expected outcomes (a key that is absent, a failed condition, a held lock) are statuses, never
// exceptions. A Result<T> holds a value exactly when its status is OK.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace dkv {

enum class Code : unsigned char {
  kOk = 0,
  kNotFound,         // the key, lease, lock or election does not exist (or has expired)
  kConflict,         // a condition (IFABSENT, IFMATCH, transaction read set) did not hold
  kOutOfRange,       // a counter result would leave [min, max]
  kOverflow,         // a counter result would overflow int64
  kLeaseNotFound,    // the lease named by a write does not exist or has expired
  kLocked,           // the lock is held by another lease
  kFenced,           // the fencing token is not the current holder's
  kCompacted,        // the revision asked for has been compacted away
  kLagging,          // a watcher fell too far behind and was cut off
  kInvalidArgument,  // the request itself is malformed
  kWrongType,        // the operation does not fit the stored value (e.g. counter on text)
  kCancelled,        // the operation was abandoned (store closed, watch cancelled)
  kNotLeader,        // this replica is not the leader; the message names the leader if known
  kUnavailable,      // the replica cannot take this now (no leader, change pending): retry
  kInternal,         // a bug: please report
  kPermissionDenied, // authentication failed or required, or the user may not do this (ACL)
};

// Stable upper-case name of a code, e.g. "NOT_FOUND".
std::string_view code_name(Code code);

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "NOT_FOUND: key 'a' does not exist", or "OK".
  std::string to_string() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) { assert(!status_.ok()); }  // NOLINT
  Result(Code code, std::string message) : status_(code, std::move(message)) {
    assert(code != Code::kOk);
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  Code code() const { return status_.code(); }

  // Precondition: ok().
  const T& value() const& { assert(ok()); return *value_; }
  T& value() & { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace dkv
