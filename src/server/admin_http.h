// AdminHttp: the admin port's minimal HTTP/1.1 server: GET /metrics (Prometheus text format)
// and GET /health (200 "ok" while this member has a leader and its disk works, else 503).
// With Server::Options::fault_injection, GET/POST /debug/network shows/sets the simulated
// network faults between this member and its peers (RaftTransport::Faults; query
// block=ID,...&loss=PCT&delay=MS, nothing = healed); without it, 403.
// One request per connection (Connection: close); anything else gets 404 or 405.
#pragma once

#include <cstdint>
#include <map>
#include <memory>

#include <asio.hpp>

#include "dkv/status.h"

namespace dkv::server {

class Server;

class AdminHttp {
 public:
  AdminHttp(asio::io_context& io, Server& server);
  ~AdminHttp();

  Status listen(const asio::ip::tcp::endpoint& endpoint);
  uint16_t port() const;
  void start();
  void close();

 private:
  class Exchange;
  void accept();

  asio::io_context& io_;
  Server& server_;
  asio::ip::tcp::acceptor acceptor_;
  std::map<Exchange*, std::shared_ptr<Exchange>> open_;
  bool closed_ = false;
};

}  // namespace dkv::server
