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

#include "core/limits.h"
#include "server/acl_log.h"
#include "server/metrics.h"
#include "server/replica.h"
#include "server/tls.h"

namespace dkv::server {

class Connection;
class AdminHttp;

// What one client may ask of the server (docs/protocol.md section 6). Every refusal names the
// limit, its value and its flag.
struct Limits {
  core::WriteLimits write;                    // sizes inside one write (core/limits.h)
  size_t max_request_bytes = 16u << 20;       // a request's arguments, summed (--max-request-bytes)
  size_t max_pipeline = 4096;                 // requests held per connection before it stops reading (--max-pipeline)
  // Replies and pushes waiting to go out on one connection: past half of it the connection
  // stops reading; past all of it (a client that does not read) it is closed (--max-output-bytes).
  size_t max_output_bytes = 64u << 20;
  size_t max_clients = 10000;                 // client connections at once (--max-clients)
  size_t max_watches = 1000;                  // KV.WATCH subscriptions per connection (--max-watches)
  int64_t max_query_results = 10000;          // items in one QUERY / KV.RANGE reply (--max-query-results)
};

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
    Limits limits;
    // TLS on the client port (tls.clients) and the Raft port (tls.peers); server/tls.h.
    TlsOptions tls;
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
  AclLog& acl_log() { return acl_log_; }
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
  void warn_if_open() const;
  Server(asio::io_context& io, Options options);
  void accept();

  asio::io_context& io_;
  Options options_;
  std::unique_ptr<Replica> replica_;
  asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<asio::ssl::context> client_tls_;  // null: plain RESP on the client port
  asio::steady_timer accept_retry_;  // after an accept error
  std::unique_ptr<AdminHttp> admin_;
  Metrics metrics_;
  AclLog acl_log_;
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
