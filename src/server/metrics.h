// Metrics: per-command call counts, errors and latency histograms, for INFO commandstats and
// GET /metrics. Single-threaded (the event loop).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace dkv::server {

class Metrics {
 public:
  // Histogram bucket upper bounds in seconds (Prometheus `le`), then +Inf.
  static constexpr std::array<double, 16> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                     0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                     1,      2.5,     5,      10};
  struct Command {
    uint64_t calls = 0;
    uint64_t errors = 0;
    std::map<std::string, uint64_t, std::less<>> errors_by_code;  // "ERR", "CONFLICT" ...
    uint64_t total_usec = 0;
    std::array<uint64_t, kBounds.size() + 1> buckets{};  // counts per bucket (not cumulative)
  };

  // `name` must outlive the Metrics (command table names do, and "unknown").
  // `error_code`: the reply's error code, empty for a success.
  void record(std::string_view name, uint64_t usec, std::string_view error_code);
  const std::map<std::string_view, Command>& commands() const { return commands_; }
  uint64_t total_calls() const { return total_calls_; }

  uint64_t connections_received = 0;
  uint64_t rejected_connections = 0;  // refused at --max-clients
  uint64_t output_overflows = 0;      // closed past --max-output-bytes
  uint64_t tls_handshake_failures = 0;  // client connections closed by a failed TLS handshake
  uint64_t net_input_bytes = 0;
  uint64_t net_output_bytes = 0;
  uint64_t keyspace_hits = 0;    // key reads (Redis GET family) that found the key
  uint64_t keyspace_misses = 0;  // ... and that did not

 private:
  std::map<std::string_view, Command> commands_;
  uint64_t total_calls_ = 0;
};

}  // namespace dkv::server
