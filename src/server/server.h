// Server: one dkv-server process — the client port (RESP), the admin HTTP port, and the Replica
// they serve — on one single-threaded Asio event loop.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio.hpp>

#include "server/metrics.h"
#include "server/replica.h"

namespace dkv::server {

class Connection;
class AdminHttp;

class Server {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    uint16_t port = 7070;  // 0 picks a free port
    std::string admin_host = "127.0.0.1";
    uint16_t admin_port = 7072;
    Replica::Options replica;
    size_t max_scan_cursors = 10000;  // SCAN cursors remembered; the oldest are forgotten
    std::chrono::milliseconds shutdown_timeout{10000};
    // host:port clients should use to reach this node, recorded in the member table (MEMBER.LIST)
    // for client discovery. Empty: the listen address, unless it is a wildcard (then none).
    std::string advertise_client;
    // Lets the admin port's POST /debug/network simulate partitions, loss and delay (tests).
    bool fault_injection = false;
  };

  // Opens the replica's data and binds every port. Errors name the address or directory.
  static Result<std::unique_ptr<Server>> open(asio::io_context& io, Options options);
  ~Server();

  void start();
  // Stops accepting, lets every write in flight finish and its reply go out, then closes
  // everything and calls `done`.
  void shut_down(std::function<void()> done);

  Replica& replica() { return *replica_; }
  Metrics& metrics() { return metrics_; }
  uint16_t port() const;
  uint16_t admin_port() const;
  const Options& options() const { return options_; }

  // INFO's text for the given sections (all when empty or "all"/"everything").
  std::string info(const std::vector<std::string>& sections) const;
  // Prometheus text for GET /metrics.
  std::string prometheus() const;
  // Live KV.WATCH subscriptions of this node's connections (INFO watches, dkv_watchers).
  int64_t kv_watches() const;

  // SCAN cursors: the key a scan stopped after, under a number the client passes back.
  uint64_t save_cursor(std::string last_key);
  std::optional<std::string> find_cursor(uint64_t cursor) const;

  int64_t next_client_id() { return next_client_id_++; }
  size_t connected_clients() const { return connections_.size(); }
  void forget(Connection* connection);

 private:
  Server(asio::io_context& io, Options options);
  void accept();

  asio::io_context& io_;
  Options options_;
  std::unique_ptr<Replica> replica_;
  asio::ip::tcp::acceptor acceptor_;
  std::unique_ptr<AdminHttp> admin_;
  Metrics metrics_;
  std::map<Connection*, std::shared_ptr<Connection>> connections_;
  int64_t next_client_id_ = 1;
  std::chrono::steady_clock::time_point started_;
  std::string run_id_;  // 40 random hex characters per process, as Redis
  void sample_ops();
  int64_t ops_per_sec() const;
  asio::steady_timer ops_timer_;
  std::array<uint64_t, 16> ops_samples_{};
  size_t ops_sample_next_ = 0;
  bool stopping_ = false;

  uint64_t next_cursor_ = 1;
  std::map<uint64_t, std::string> cursors_;  // oldest first (numbers only grow)
};

}  // namespace dkv::server
