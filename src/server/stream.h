// Stream: one TCP connection, plain or TLS, with the same asynchronous operations either way, so
// the client port, the Raft port and join requests are each written once.
//
// A TLS stream must complete async_handshake before it reads or writes; on a plain one the
// handshake completes at once. One read and one write may be in flight at the same time (as on a
// socket). Not movable: the TLS layer refers to the socket.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include <asio.hpp>
#include <asio/ssl/host_name_verification.hpp>
#include <asio/ssl/stream.hpp>

namespace dkv::server {

class Stream {
 public:
  using Side = asio::ssl::stream_base::handshake_type;

  // `tls` null: plain TCP. The context must outlive the stream.
  Stream(asio::ip::tcp::socket socket, asio::ssl::context* tls) : socket_(std::move(socket)) {
    if (tls != nullptr) tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *tls);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  asio::ip::tcp::socket& socket() { return socket_; }
  bool secure() const { return tls_ != nullptr; }

  // Connecting side: the server's certificate must name `host` (a DNS name or an address), which
  // is also sent as the server name (SNI) when it is a name. Before the handshake.
  void expect_host(const std::string& host) {
    if (!tls_) return;
    tls_->set_verify_callback(asio::ssl::host_name_verification(host));
    asio::error_code ec;
    asio::ip::make_address(host, ec);
    if (ec) SSL_set_tlsext_host_name(tls_->native_handle(), host.c_str());
  }

  template <typename Handler>
  void async_handshake(Side side, Handler&& handler) {
    if (tls_) return tls_->async_handshake(side, std::forward<Handler>(handler));
    asio::post(socket_.get_executor(),
               [h = std::forward<Handler>(handler)]() mutable { h(asio::error_code()); });
  }

  template <typename Handler>
  void async_read_some(asio::mutable_buffer buffer, Handler&& handler) {
    if (tls_) return tls_->async_read_some(buffer, std::forward<Handler>(handler));
    socket_.async_read_some(buffer, std::forward<Handler>(handler));
  }

  // Writes all of `buffer`.
  template <typename Handler>
  void async_write(asio::const_buffer buffer, Handler&& handler) {
    if (tls_) return asio::async_write(*tls_, buffer, std::forward<Handler>(handler));
    asio::async_write(socket_, buffer, std::forward<Handler>(handler));
  }

  // Closes the socket at once (no TLS close_notify: every peer of ours reads the close as the
  // end); pending operations complete with operation_aborted.
  void close() {
    asio::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
  asio::ip::tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
};

}  // namespace dkv::server
