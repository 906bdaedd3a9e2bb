// RespSocket: one blocking TCP connection to a DKV server speaking RESP3. Every wait is bounded
// by a deadline (poll(2)); a read that times out keeps the bytes received so far, so the
// connection stays usable. One reader and one writer may use it at once (send() from one
// thread while another reads); otherwise one user at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "client/endpoint.h"
#include "dkv/status.h"
#include "resp/parser.h"
#include "resp/value.h"

namespace dkv::client {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// `ms` from now; a non-positive `ms` means no deadline.
Deadline deadline_after(int64_t ms);

// A user and password to authenticate with (HELLO 3 AUTH, protocol.md 2.6).
struct Credentials {
  std::string user = "default";
  std::string password;
};

class RespSocket {
 public:
  // Connects (within `timeout_ms`) and switches to RESP3 with HELLO 3, authenticating with
  // `credentials` if given. PERMISSION_DENIED for a wrong password (or none where one is
  // needed), UNAVAILABLE for other failures.
  static Result<std::unique_ptr<RespSocket>> open(const Endpoint& endpoint, int64_t timeout_ms,
                                                  const Credentials* credentials = nullptr);
  ~RespSocket();
  RespSocket(const RespSocket&) = delete;
  RespSocket& operator=(const RespSocket&) = delete;

  const Endpoint& endpoint() const { return endpoint_; }

  // Writes every request (pipelined, in order). UNAVAILABLE if the connection broke or the
  // deadline passed; the connection is then unusable.
  Status send(const std::vector<std::vector<std::string>>& requests, Deadline deadline);

  enum class ReadOutcome { kValue, kTimeout, kBroken };
  // Reads the next frame, reply or push. kBroken: closed, reset or a protocol error (error()
  // says which); the connection is unusable.
  ReadOutcome read_frame(Deadline deadline, resp::Value* out);
  // Reads the next reply, dropping pushes (a pooled connection has no watches). UNAVAILABLE on
  // timeout or a broken connection; the connection is then unusable (a late reply would
  // otherwise answer the next request).
  Result<resp::Value> read_reply(Deadline deadline);

  // False when the peer has closed the connection or it has failed: a cheap check, without
  // waiting, before reusing an idle connection.
  bool alive();
  bool broken() const { return broken_; }
  Status error() const;

 private:
  RespSocket(int fd, Endpoint endpoint) : fd_(fd), endpoint_(std::move(endpoint)) {}
  void fail(std::string message);

  int fd_;
  Endpoint endpoint_;
  std::string buffer_;  // received, not yet consumed by the parser
  resp::ReplyParser parser_;
  // A watch stream's reader and writer threads may both find the connection broken.
  std::atomic<bool> broken_ = false;
  mutable std::mutex error_mu_;
  Status error_;
};

}  // namespace dkv::client
