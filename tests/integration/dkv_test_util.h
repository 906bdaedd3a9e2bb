// Helpers shared by the DKV command tests (dkv_commands_test.cc, watch_test.cc): a server shared
// by a test suite, reply accessors, exact-wire reads, and an HTTP GET for the admin port.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "harness.h"

namespace dkv::testing {

using resp::Type;
using resp::Value;

// The error text ("CODE message") or a rendering of a non-error, for EXPECT_EQ on errors.
inline std::string error_of(const Value& v) { return v.is_error() ? v.str : "<not an error: " + v.debug_string() + ">"; }
inline std::string code_of(const Value& v) {
  return v.is_error() ? std::string(v.error_code()) : "<not an error: " + v.debug_string() + ">";
}

// An integer field of a map reply (RESP3 map or RESP2 flat array); fails the test if missing.
inline int64_t int_field(const Value& v, std::string_view name) {
  const Value* f = v.find(name);
  if (f == nullptr) {
    ADD_FAILURE() << "no field " << name << " in " << v.debug_string();
    return -999;
  }
  return f->integer;
}
inline std::string str_field(const Value& v, std::string_view name) {
  const Value* f = v.find(name);
  if (f == nullptr) {
    ADD_FAILURE() << "no field " << name << " in " << v.debug_string();
    return "<missing>";
  }
  return f->str;
}
inline const Value& field(const Value& v, std::string_view name) {
  static const Value missing;
  const Value* f = v.find(name);
  if (f == nullptr) {
    ADD_FAILURE() << "no field " << name << " in " << v.debug_string();
    return missing;
  }
  return *f;
}

// The keys of a map reply, in order (RESP3 map or RESP2 flat array alike).
inline std::vector<std::string> map_keys(const Value& v) {
  std::vector<std::string> keys;
  for (size_t i = 0; i + 1 < v.elements.size(); i += 2) keys.push_back(v.elements[i].str);
  return keys;
}

// A connection that has said HELLO 3.
inline std::unique_ptr<RespConnection> resp3(int port) {
  auto c = std::make_unique<RespConnection>(port);
  Value hello = c->command({"HELLO", "3"});
  EXPECT_EQ(hello.type, Type::kMap) << hello.debug_string();
  return c;
}

// A connection that returns each reply (or push) as its exact bytes on the wire.
class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ADD_FAILURE() << "connect failed";
      close(fd_);
      fd_ = -1;
    }
  }
  ~RawConnection() {
    if (fd_ >= 0) close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  void send(const std::string& bytes) {
    if (fd_ >= 0) ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }
  // The next whole frame's bytes; "" (and a test failure) if none comes within 10 s.
  std::string next_frame() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      while (parsed_ < stream_.size()) {
        Value v;
        size_t consumed = 0;
        auto status = parser_.parse(std::string_view(stream_).substr(parsed_), &v, &consumed);
        parsed_ += consumed;
        if (status == resp::ReplyParser::Status::kError) {
          ADD_FAILURE() << "bad reply: " << parser_.error();
          return "";
        }
        if (status == resp::ReplyParser::Status::kNeedMore) break;
        std::string frame = stream_.substr(0, parsed_);
        stream_.erase(0, parsed_);
        parsed_ = 0;
        return frame;
      }
      int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
      pollfd p{fd_, POLLIN, 0};
      char buf[4096];
      ssize_t r = fd_ >= 0 && left > 0 && poll(&p, 1, left) > 0 ? recv(fd_, buf, sizeof buf, 0) : 0;
      if (r <= 0) {
        ADD_FAILURE() << "no whole frame came; got: " << stream_;
        return "";
      }
      stream_.append(buf, static_cast<size_t>(r));
    }
  }

 private:
  int fd_ = -1;
  std::string stream_;  // bytes received and not yet returned
  size_t parsed_ = 0;   // bytes of stream_ the parser has consumed
  resp::ReplyParser parser_;
};

// Sends `request` on a fresh connection and returns the exact bytes of its `n`-th reply (1-based).
inline std::string raw_reply(int port, const std::string& request, int n = 1) {
  RawConnection c(port);
  c.send(request);
  std::string frame;
  for (int i = 0; i < n; ++i) frame = c.next_frame();
  return frame;
}

// A RESP request of bulk strings.
inline std::string encode(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return out;
}

// GET (or another method) on the admin port: the whole response, headers and body.
inline std::string http_request(int port, const std::string& method, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  std::string got;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    ADD_FAILURE() << "connect to admin port failed";
    return got;
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10'000) <= 0) break;
    char buf[8192];
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r <= 0) break;
    got.append(buf, static_cast<size_t>(r));
  }
  close(fd);
  return got;
}

// One dkv-server for a whole test suite; tests keep to their own keys.
class SharedServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new DkvServerProcess();
    ASSERT_TRUE(server_->start());
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static int port() { return server_->port(); }
  static inline DkvServerProcess* server_ = nullptr;
};

}  // namespace dkv::testing
