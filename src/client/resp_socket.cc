#include "client/resp_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "resp/writer.h"

namespace dkv::client {
namespace {

// Milliseconds to pass to poll(2) for `deadline`: -1 for none, at least 0.
int poll_timeout(Deadline deadline) {
  if (deadline == Deadline::max()) return -1;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return left > 1'000'000 ? 1'000'000 : static_cast<int>(left);
}

// Waits for `events` on fd: 1 ready, 0 timed out, -1 error (errno set).
int wait_fd(int fd, short events, Deadline deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, poll_timeout(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 && deadline != Deadline::max() && Clock::now() < deadline) continue;
    return n;
  }
}

}  // namespace

Deadline deadline_after(int64_t ms) {
  if (ms <= 0) return Deadline::max();
  return Clock::now() + std::chrono::milliseconds(ms);
}

Result<std::unique_ptr<RespSocket>> RespSocket::open(const Endpoint& endpoint, int64_t timeout_ms,
                                                     const Credentials* credentials) {
  const Deadline deadline = deadline_after(timeout_ms);
  auto unavailable = [&](const std::string& why) {
    return Status(Code::kUnavailable, "cannot connect to " + endpoint.to_string() + ": " + why);
  };
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  const std::string port = std::to_string(endpoint.port);
  if (int rc = ::getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &addresses); rc != 0) {
    return unavailable(gai_strerror(rc));
  }
  std::string last_error = "no address";
  int fd = -1;
  for (addrinfo* a = addresses; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      int ready = wait_fd(fd, POLLOUT, deadline);
      int err = 0;
      socklen_t len = sizeof err;
      if (ready <= 0) {
        err = ready == 0 ? ETIMEDOUT : errno;
      } else {
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      }
      rc = err == 0 ? 0 : -1;
      errno = err;
    }
    if (rc != 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(addresses);
  if (fd < 0) return unavailable(last_error);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  std::unique_ptr<RespSocket> socket(new RespSocket(fd, endpoint));
  std::vector<std::string> hello_request = {"HELLO", "3"};
  if (credentials != nullptr) {
    hello_request.insert(hello_request.end(), {"AUTH", credentials->user, credentials->password});
  }
  Status sent = socket->send({hello_request}, deadline);
  if (!sent.ok()) return sent;
  Result<resp::Value> hello = socket->read_reply(deadline);
  if (!hello.ok()) return hello.status();
  if (hello->is_error()) {
    const std::string_view code = hello->error_code();
    if (code == "WRONGPASS" || code == "NOAUTH") {
      return Status(Code::kPermissionDenied, "HELLO 3 refused by " + endpoint.to_string() + ": " + hello->str);
    }
    return unavailable("HELLO 3 refused: " + hello->str);
  }
  return socket;
}

RespSocket::~RespSocket() { ::close(fd_); }

void RespSocket::fail(std::string message) {
  std::lock_guard lock(error_mu_);
  if (broken_) return;
  error_ = Status(Code::kUnavailable, "connection to " + endpoint_.to_string() + " " + message);
  broken_ = true;
}

Status RespSocket::error() const {
  std::lock_guard lock(error_mu_);
  return error_;
}

Status RespSocket::send(const std::vector<std::vector<std::string>>& requests, Deadline deadline) {
  if (broken_) return error();
  std::string bytes;
  std::vector<std::string_view> args;
  for (const auto& request : requests) {
    args.assign(request.begin(), request.end());
    resp::append_request(&bytes, args);
  }
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + written, bytes.size() - written, MSG_NOSIGNAL);
    if (n > 0) {
      written += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int ready = wait_fd(fd_, POLLOUT, deadline);
      if (ready > 0) continue;
      fail(ready == 0 ? "timed out while sending" : std::string("failed: ") + std::strerror(errno));
      return error();
    }
    fail(std::string("failed: ") + std::strerror(errno));
    return error();
  }
  return Status::ok_status();
}

RespSocket::ReadOutcome RespSocket::read_frame(Deadline deadline, resp::Value* out) {
  if (broken_) return ReadOutcome::kBroken;
  for (;;) {
    size_t consumed = 0;
    auto status = parser_.parse(buffer_, out, &consumed);
    buffer_.erase(0, consumed);
    if (status == resp::ReplyParser::Status::kValue) return ReadOutcome::kValue;
    if (status == resp::ReplyParser::Status::kError) {
      fail("sent a malformed reply: " + parser_.error());
      return ReadOutcome::kBroken;
    }
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      fail("closed by the server");
      return ReadOutcome::kBroken;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      fail(std::string("failed: ") + std::strerror(errno));
      return ReadOutcome::kBroken;
    }
    int ready = wait_fd(fd_, POLLIN, deadline);
    if (ready == 0) return ReadOutcome::kTimeout;
    if (ready < 0) {
      fail(std::string("failed: ") + std::strerror(errno));
      return ReadOutcome::kBroken;
    }
  }
}

Result<resp::Value> RespSocket::read_reply(Deadline deadline) {
  for (;;) {
    resp::Value value;
    switch (read_frame(deadline, &value)) {
      case ReadOutcome::kValue:
        if (value.type == resp::Type::kPush) continue;
        return value;
      case ReadOutcome::kTimeout:
        fail("timed out waiting for a reply");
        return error();
      case ReadOutcome::kBroken:
        return error();
    }
  }
}

bool RespSocket::alive() {
  if (broken_) return false;
  char byte;
  ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) {
    fail("closed by the server");
    return false;
  }
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    fail(std::string("failed: ") + std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace dkv::client
