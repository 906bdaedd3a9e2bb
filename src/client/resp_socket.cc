#include "client/resp_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

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

// OpenSSL's words for the two mistakes users make, with what to do.
std::string explain_tls_failure(std::string why) {
  if (why.find("wrong version number") != std::string::npos || why.find("packet length too long") != std::string::npos) {
    why += " (the port does not speak TLS: connect without it?)";
  } else if (why.find("certificate required") != std::string::npos ||
             why.find("alert handshake failure") != std::string::npos) {
    why += " (the server wants a client certificate: give one)";
  }
  return why;
}

// OpenSSL writes to the socket with write(2), not send(MSG_NOSIGNAL): to a connection the server
// closed that raises SIGPIPE, which would kill a program that has not ignored it. While one
// exists, SIGPIPE is blocked in this thread, and one raised meanwhile is consumed.
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlocked() {
    if (!was_pending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const timespec now{0, 0};
        while (sigtimedwait(&pipe_, nullptr, &now) < 0 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlocked(const SigpipeBlocked&) = delete;
  SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
};

}  // namespace

Deadline deadline_after(int64_t ms) {
  if (ms <= 0) return Deadline::max();
  return Clock::now() + std::chrono::milliseconds(ms);
}

Result<std::unique_ptr<RespSocket>> RespSocket::open(const Endpoint& endpoint, int64_t timeout_ms,
                                                     const Credentials* credentials, const TlsContext* tls) {
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
  if (tls != nullptr) {
    if (Status s = socket->handshake(*tls, deadline); !s.ok()) return s;
  }
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

RespSocket::~RespSocket() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  ::close(fd_);
}

Status RespSocket::handshake(const TlsContext& tls, Deadline deadline) {
  auto failed = [&](const std::string& why) {
    return Status(Code::kUnavailable, "cannot connect to " + endpoint_.to_string() + ": TLS handshake failed: " + why);
  };
  ERR_clear_error();
  ssl_ = SSL_new(tls.native());
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) return failed(openssl_errors("cannot create the TLS session"));
  SSL_set_connect_state(ssl_);
  in6_addr address;
  const bool is_address = ::inet_pton(AF_INET, endpoint_.host.c_str(), &address) == 1 ||
                          ::inet_pton(AF_INET6, endpoint_.host.c_str(), &address) == 1;
  if (!is_address) SSL_set_tlsext_host_name(ssl_, endpoint_.host.c_str());  // SNI takes names only
  if (tls.verify_host()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    const int set = is_address ? X509_VERIFY_PARAM_set1_ip_asc(param, endpoint_.host.c_str())
                               : X509_VERIFY_PARAM_set1_host(param, endpoint_.host.c_str(), 0);
    if (set != 1) return failed("cannot check the certificate against '" + endpoint_.host + "'");
  }
  for (;;) {
    int rc = 0;
    {
      SigpipeBlocked quiet;
      rc = SSL_do_handshake(ssl_);
    }
    if (rc == 1) return Status::ok_status();
    const int error = SSL_get_error(ssl_, rc);
    short events = error == SSL_ERROR_WANT_READ ? POLLIN : error == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (events == 0) {
      const long verify = SSL_get_verify_result(ssl_);
      if (verify != X509_V_OK) return failed(std::string("the server's certificate: ") + X509_verify_cert_error_string(verify));
      std::string why = openssl_errors(error == SSL_ERROR_SYSCALL || error == SSL_ERROR_ZERO_RETURN
                                           ? "the server closed the connection"
                                           : "protocol error");
      return failed(explain_tls_failure(why));
    }
    const int ready = wait_fd(fd_, events, deadline);
    if (ready == 0) return failed("timed out");
    if (ready < 0) return failed(std::strerror(errno));
  }
}

RespSocket::Io RespSocket::send_some(const char* data, size_t size) {
  if (ssl_ == nullptr) {
    for (;;) {
      const ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL);
      if (n >= 0) return {Io::kMoved, static_cast<size_t>(n)};
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {Io::kWait, 0, POLLOUT};
      return {Io::kFailed, 0, 0, std::strerror(errno)};
    }
  }
  std::lock_guard lock(ssl_mu_);
  ERR_clear_error();
  size_t n = 0;
  errno = 0;
  SigpipeBlocked quiet;
  const int rc = SSL_write_ex(ssl_, data, size, &n);
  if (rc == 1) return {Io::kMoved, n};
  switch (const int error = SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ:
      return {Io::kWait, 0, POLLIN};
    case SSL_ERROR_WANT_WRITE:
      return {Io::kWait, 0, POLLOUT};
    case SSL_ERROR_ZERO_RETURN:
      return {Io::kClosed};
    default:
      return {Io::kFailed, 0, 0,
              openssl_errors(error == SSL_ERROR_SYSCALL && errno != 0 ? std::strerror(errno) : "TLS error")};
  }
}

RespSocket::Io RespSocket::receive_some(char* data, size_t size) {
  if (ssl_ == nullptr) {
    for (;;) {
      const ssize_t n = ::recv(fd_, data, size, 0);
      if (n > 0) return {Io::kMoved, static_cast<size_t>(n)};
      if (n == 0) return {Io::kClosed};
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {Io::kWait, 0, POLLIN};
      return {Io::kFailed, 0, 0, std::strerror(errno)};
    }
  }
  std::lock_guard lock(ssl_mu_);
  ERR_clear_error();
  errno = 0;
  size_t n = 0;
  SigpipeBlocked quiet;  // a read may write too (TLS 1.3 key updates)
  const int rc = SSL_read_ex(ssl_, data, size, &n);
  if (rc == 1) return {Io::kMoved, n};
  switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ:
      return {Io::kWait, 0, POLLIN};
    case SSL_ERROR_WANT_WRITE:
      return {Io::kWait, 0, POLLOUT};
    case SSL_ERROR_ZERO_RETURN:
      return {Io::kClosed};
    case SSL_ERROR_SYSCALL:
      // The server closed the socket without a TLS close_notify (as dkv-server does).
      if (errno == 0 && ERR_peek_error() == 0) return {Io::kClosed};
      return {Io::kFailed, 0, 0, explain_tls_failure(openssl_errors(errno != 0 ? std::strerror(errno) : "TLS error"))};
    default:
      return {Io::kFailed, 0, 0, explain_tls_failure(openssl_errors("TLS error"))};
  }
}

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
    Io io = send_some(bytes.data() + written, bytes.size() - written);
    if (io.outcome == Io::kMoved) {
      written += io.bytes;
      continue;
    }
    if (io.outcome == Io::kWait) {
      int ready = wait_fd(fd_, io.events, deadline);
      if (ready > 0) continue;
      fail(ready == 0 ? "timed out while sending" : std::string("failed: ") + std::strerror(errno));
      return error();
    }
    fail(io.outcome == Io::kClosed ? "closed by the server" : "failed: " + io.failure);
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
    Io io = receive_some(chunk, sizeof chunk);
    if (io.outcome == Io::kMoved) {
      buffer_.append(chunk, io.bytes);
      continue;
    }
    if (io.outcome == Io::kClosed) {
      fail("closed by the server");
      return ReadOutcome::kBroken;
    }
    if (io.outcome == Io::kFailed) {
      fail("failed: " + io.failure);
      return ReadOutcome::kBroken;
    }
    int ready = wait_fd(fd_, io.events, deadline);
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
