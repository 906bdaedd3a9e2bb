// RespSocket: one blocking TCP connection to a DKV server speaking RESP3, over TLS when given a
// TlsContext. Every wait is bounded by a deadline (poll(2)); a read that times out keeps the
// bytes received so far, so the connection stays usable. One reader and one writer may use it at
// once (send() from one thread while another reads); otherwise one user at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "client/endpoint.h"
#include "client/tls.h"
#include "dkv/status.h"
#include "resp/parser.h"
#include "resp/value.h"

struct ssl_st;  // OpenSSL's SSL

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
  // needed), UNAVAILABLE for other failures (a failed TLS handshake says why).
  static Result<std::unique_ptr<RespSocket>> open(const Endpoint& endpoint, int64_t timeout_ms,
                                                  const Credentials* credentials = nullptr,
                                                  const TlsContext* tls = nullptr);
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

  // One non-blocking transfer on the socket or through TLS.
  struct Io {
    enum Outcome { kMoved, kWait, kClosed, kFailed } outcome;
    size_t bytes = 0;     // kMoved
    short events = 0;     // kWait: what to poll(2) for
    std::string failure;  // kFailed
  };
  Io send_some(const char* data, size_t size);
  Io receive_some(char* data, size_t size);
  Status handshake(const TlsContext& tls, Deadline deadline);

  int fd_;
  ssl_st* ssl_ = nullptr;  // TLS, or null
  // OpenSSL's SSL object takes one call at a time; the reader's and writer's alternate (neither
  // holds it while waiting in poll).
  std::mutex ssl_mu_;
  Endpoint endpoint_;
  std::string buffer_;  // received, not yet consumed by the parser
  resp::ReplyParser parser_;
  // A watch stream's reader and writer threads may both find the connection broken.
  std::atomic<bool> broken_ = false;
  mutable std::mutex error_mu_;
  Status error_;
};

}  // namespace dkv::client
