// RaftTransport: Raft messages between members over TCP, on the caller's single-threaded Asio
// event loop.
//
// Each member listens on its Raft port. Messages to a peer go over one outgoing connection,
// opened on first use, as frames of [u32 little-endian length][encoded Message] (raft/codec.h);
// everything queued while a write is in flight goes out in the next write. Delivery is best
// effort, as Raft expects: when a peer is unreachable its queue is dropped and reconnection is
// retried after a back-off; Raft's own retries (heartbeats, probes) recover. Incoming frames
// that do not decode, or that declare more than kMaxFrameBytes, close that connection.
//
// With TLS contexts (server/tls.h, --tls-peers) every connection is mutual TLS: the accepting
// side requires the connecting member's certificate, and the connecting side checks that the
// accepting member's certificate names the address it dialled. A failed handshake is logged
// (once per peer and reason, at most every 10 s for inbound ones) and counted.
//
// For fault tests, set_faults() makes the transport behave like a bad network: messages to or
// from blocked peers are dropped (a partition, without touching the kernel's network), a share
// of the others is lost, and the rest can be delayed.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>

#include <asio.hpp>
#include <asio/ssl/context.hpp>

#include "dkv/status.h"
#include "raft/types.h"

namespace dkv::server {

class RaftTransport {
 public:
  static constexpr uint32_t kMaxFrameBytes = 256u << 20;
  // Bytes queued for one peer beyond which new messages to it are dropped.
  static constexpr size_t kMaxQueuedBytes = 64u << 20;

  using Handler = std::function<void(raft::Message)>;

  // A simulated bad network between this member and its peers (all default: a good one).
  struct Faults {
    std::set<raft::NodeId> blocked;  // peers cut off in both directions
    int loss_percent = 0;            // of the remaining messages sent, dropped at random
    int delay_ms = 0;                // added to every remaining message sent
    std::string to_string() const;  // "blocked=2,3 loss=10% delay=20ms"
  };

  // `accept_tls` / `connect_tls` null: plain TCP (both or neither are given).
  RaftTransport(asio::io_context& io, Handler on_message,
                std::shared_ptr<asio::ssl::context> accept_tls = nullptr,
                std::shared_ptr<asio::ssl::context> connect_tls = nullptr);
  ~RaftTransport();
  RaftTransport(const RaftTransport&) = delete;
  RaftTransport& operator=(const RaftTransport&) = delete;

  // Listens on host:port (port 0 picks a free one; see port()).
  Status listen(const std::string& host, uint16_t port);
  uint16_t port() const;

  void set_peer(raft::NodeId id, const std::string& host, uint16_t port);
  void remove_peer(raft::NodeId id);

  // Queues `m` for m.to; returns at once.
  void send(const raft::Message& m);

  void set_faults(Faults faults) { faults_ = std::move(faults); }
  const Faults& faults() const { return faults_; }

  // Stops listening and closes every connection.
  void close();

  struct Stats {
    uint64_t frames_sent = 0;
    uint64_t frames_received = 0;
    uint64_t frames_dropped = 0;  // queue full or peer unreachable
    uint64_t frames_faulted = 0;  // dropped by set_faults()
    uint64_t tls_failures = 0;    // handshakes that failed, either way
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Peer;
  class Inbound;

  void accept();
  void connect(const std::shared_ptr<Peer>& peer);
  void flush(const std::shared_ptr<Peer>& peer);
  void fail(const std::shared_ptr<Peer>& peer);
  void enqueue(const raft::Message& m);
  void log_inbound_failure(const std::string& from, const asio::error_code& ec);

  asio::io_context& io_;
  Handler on_message_;
  asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<asio::ssl::context> accept_tls_;
  std::shared_ptr<asio::ssl::context> connect_tls_;
  std::chrono::steady_clock::time_point next_inbound_log_{};
  std::map<raft::NodeId, std::shared_ptr<Peer>> peers_;
  std::map<Inbound*, std::shared_ptr<Inbound>> inbound_;
  Stats stats_;
  Faults faults_;
  std::mt19937_64 fault_rng_{std::random_device{}()};
  bool closed_ = false;
  // Shared with pending handlers: they may run after this object is gone, and must then do nothing.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace dkv::server
