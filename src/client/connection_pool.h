// ConnectionPool: up to `max_connections` RespSockets to a DKV cluster, each lent to one caller
// at a time. Thread-safe.
//
// Connecting tries the preferred endpoint first (the last one that worked, or the leader a
// NOTLEADER reply named), then the others in order; when every endpoint fails it backs off
// (doubling from `backoff_initial_ms` up to `backoff_max_ms`) and tries again until the caller's
// deadline. Idle connections are kept only to the preferred endpoint. With a `discover` hook,
// a new connection (at most one a second) also asks the server for the other members' addresses
// and adds the ones not known yet, so a client given one member finds the rest.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "client/endpoint.h"
#include "client/resp_socket.h"

namespace dkv::client {

struct PoolOptions {
  size_t max_connections = 4;
  int64_t connect_timeout_ms = 2'000;  // per connection attempt
  int64_t backoff_initial_ms = 20;
  int64_t backoff_max_ms = 1'000;
  // Asks the server on a fresh connection for more endpoints (Remote: MEMBER.LIST). It must leave
  // the socket ready for the next request, or broken (the connection is then not used).
  std::function<std::vector<Endpoint>(RespSocket&, Deadline)> discover;
  // Every connection authenticates with these, if set.
  std::optional<Credentials> credentials;
  // Every connection speaks TLS, if tls.enabled (client/tls.h).
  TlsOptions tls;
};

class ConnectionPool {
 public:
  ConnectionPool(std::vector<Endpoint> endpoints, PoolOptions options);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // A borrowed connection; returned to the pool when destroyed (dropped instead if broken).
  class Borrowed {
   public:
    Borrowed(ConnectionPool* pool, std::unique_ptr<RespSocket> socket)
        : pool_(pool), socket_(std::move(socket)) {}
    Borrowed(Borrowed&& other) noexcept = default;
    Borrowed& operator=(Borrowed&&) = delete;
    ~Borrowed();
    RespSocket* operator->() const { return socket_.get(); }
    RespSocket& operator*() const { return *socket_; }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<RespSocket> socket_;
  };

  // An idle live connection, or a new one if fewer than max_connections exist; otherwise waits
  // for one to come back. UNAVAILABLE if none can be had by `deadline`.
  Result<Borrowed> borrow(Deadline deadline);

  // Replaces the endpoint list (e.g. a node restarted on another port), the first preferred.
  // Idle connections to other endpoints are closed; lent ones are dropped when returned.
  void set_endpoints(std::vector<Endpoint> endpoints);
  std::vector<Endpoint> endpoints() const;
  // Makes `endpoint` the first one tried (adding it if unknown) and closes idle connections to
  // the others: used after a NOTLEADER reply names the leader.
  void prefer(const Endpoint& endpoint);

  // Opens a connection to any endpoint with the pool's order and backoff, outside the pool
  // (the watch stream uses it). `stop` is polled between attempts: true abandons.
  Result<std::unique_ptr<RespSocket>> connect(Deadline deadline,
                                              const std::function<bool()>& stop = {});

 private:
  void give_back(std::unique_ptr<RespSocket> socket);
  // Runs options_.discover on `socket` if none ran in the last second; false if it broke it.
  bool discover_on(RespSocket& socket, Deadline deadline);

  const PoolOptions options_;
  // From options_.tls: the context, or why it could not be made (every connect() then fails so).
  Result<std::shared_ptr<TlsContext>> tls_;
  mutable std::mutex mu_;
  std::condition_variable returned_;
  std::vector<Endpoint> endpoints_;  // preferred first
  std::vector<std::unique_ptr<RespSocket>> idle_;
  size_t open_ = 0;  // idle + lent + being connected
  Clock::time_point discovered_at_{};
};

}  // namespace dkv::client
