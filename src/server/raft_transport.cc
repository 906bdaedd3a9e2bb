#include "server/raft_transport.h"

#include <chrono>
#include <cstring>
#include <utility>
#include <vector>

#include "raft/codec.h"

namespace dkv::server {

using asio::ip::tcp;

namespace {

constexpr auto kReconnectBackoff = std::chrono::milliseconds(100);

void put_u32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
               static_cast<char>(v >> 24)};
  out->append(b, 4);
}

uint32_t get_u32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(u[0]) | static_cast<uint32_t>(u[1]) << 8 |
         static_cast<uint32_t>(u[2]) << 16 | static_cast<uint32_t>(u[3]) << 24;
}

}  // namespace

struct RaftTransport::Peer {
  explicit Peer(asio::io_context& io) : socket(io) {}
  raft::NodeId id = 0;
  tcp::endpoint endpoint;
  tcp::socket socket;
  bool connected = false;
  bool connecting = false;
  bool writing = false;
  bool removed = false;
  std::chrono::steady_clock::time_point retry_after{};
  std::string queued;  // frames waiting for the next write
  std::string writing_buf;
};

// One accepted connection: reads frames and hands each decoded message to the handler.
class RaftTransport::Inbound : public std::enable_shared_from_this<Inbound> {
 public:
  Inbound(RaftTransport* owner, tcp::socket socket)
      : owner_(owner), alive_(owner->alive_), socket_(std::move(socket)) {}

  void start() { read_more(); }
  void close() {
    asio::error_code ec;
    socket_.close(ec);
  }

 private:
  void read_more() {
    auto self = shared_from_this();
    size_t old = buf_.size();
    buf_.resize(old + 64 * 1024);
    socket_.async_read_some(asio::buffer(buf_.data() + old, 64 * 1024),
                            [this, self, old](const asio::error_code& ec, size_t n) {
                              if (!*alive_) return;
                              buf_.resize(old + n);
                              if (ec || owner_->closed_) return finish();
                              if (!parse()) return finish();
                              read_more();
                            });
  }

  // Consumes every whole frame in buf_; false on a malformed one.
  bool parse() {
    size_t pos = 0;
    while (buf_.size() - pos >= 4) {
      uint32_t len = get_u32(buf_.data() + pos);
      if (len > kMaxFrameBytes) return false;
      if (buf_.size() - pos - 4 < len) break;
      auto m = raft::decode_message(std::string_view(buf_.data() + pos + 4, len));
      if (!m) return false;
      pos += 4 + len;
      ++owner_->stats_.frames_received;
      if (owner_->faults_.blocked.count(m->from) != 0) {
        ++owner_->stats_.frames_faulted;
        continue;
      }
      owner_->on_message_(std::move(*m));
      if (owner_->closed_) return false;
    }
    buf_.erase(0, pos);
    return true;
  }

  void finish() {
    close();
    if (!owner_->closed_) owner_->inbound_.erase(this);
  }

  RaftTransport* owner_;
  std::shared_ptr<bool> alive_;
  tcp::socket socket_;
  std::string buf_;
};

RaftTransport::RaftTransport(asio::io_context& io, Handler on_message)
    : io_(io), on_message_(std::move(on_message)), acceptor_(io) {}

RaftTransport::~RaftTransport() { close(); }

Status RaftTransport::listen(const std::string& host, uint16_t port) {
  asio::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return Status(Code::kInvalidArgument, "bad Raft listen address '" + host + "': " + ec.message());
  tcp::endpoint endpoint(address, port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status(Code::kUnavailable, "cannot listen for Raft peers on " + host + ":" +
                                          std::to_string(port) + ": " + ec.message());
  }
  accept();
  return Status();
}

uint16_t RaftTransport::port() const {
  asio::error_code ec;
  auto ep = acceptor_.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void RaftTransport::accept() {
  acceptor_.async_accept([this, alive = alive_](const asio::error_code& ec, tcp::socket socket) {
    if (!*alive || closed_) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      auto in = std::make_shared<Inbound>(this, std::move(socket));
      inbound_.emplace(in.get(), in);
      in->start();
    }
    accept();
  });
}

void RaftTransport::set_peer(raft::NodeId id, const std::string& host, uint16_t port) {
  asio::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) {
    // Names are resolved once, here; a peer must be given as an address or a resolvable name.
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec || results.empty()) return;
    address = results.begin()->endpoint().address();
  }
  remove_peer(id);
  auto peer = std::make_shared<Peer>(io_);
  peer->id = id;
  peer->endpoint = tcp::endpoint(address, port);
  peers_[id] = peer;
}

void RaftTransport::remove_peer(raft::NodeId id) {
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  it->second->removed = true;
  asio::error_code ec;
  it->second->socket.close(ec);
  peers_.erase(it);
}

std::string RaftTransport::Faults::to_string() const {
  std::string out = "blocked=";
  for (raft::NodeId id : blocked) out += (out.back() == '=' ? "" : ",") + std::to_string(id);
  return out + " loss=" + std::to_string(loss_percent) + "% delay=" + std::to_string(delay_ms) + "ms";
}

void RaftTransport::send(const raft::Message& m) {
  if (closed_) return;
  if (faults_.blocked.count(m.to) != 0 ||
      (faults_.loss_percent > 0 && static_cast<int>(fault_rng_() % 100) < faults_.loss_percent)) {
    ++stats_.frames_faulted;
    return;
  }
  if (faults_.delay_ms > 0) {
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(faults_.delay_ms));
    timer->async_wait([this, timer, m, alive = alive_](const asio::error_code& ec) {
      if (!ec && *alive) enqueue(m);
    });
    return;
  }
  enqueue(m);
}

void RaftTransport::enqueue(const raft::Message& m) {
  if (closed_) return;
  auto it = peers_.find(m.to);
  if (it == peers_.end()) {
    ++stats_.frames_dropped;
    return;
  }
  const auto& peer = it->second;
  if (peer->queued.size() > kMaxQueuedBytes) {
    ++stats_.frames_dropped;
    return;
  }
  std::string payload = raft::encode_message(m);
  put_u32(&peer->queued, static_cast<uint32_t>(payload.size()));
  peer->queued += payload;
  ++stats_.frames_sent;
  if (peer->connected) {
    flush(peer);
  } else if (!peer->connecting) {
    if (std::chrono::steady_clock::now() < peer->retry_after) {
      peer->queued.clear();  // still backing off: Raft will send again
      ++stats_.frames_dropped;
      return;
    }
    connect(peer);
  }
}

void RaftTransport::connect(const std::shared_ptr<Peer>& peer) {
  peer->connecting = true;
  peer->socket = tcp::socket(io_);
  peer->socket.async_connect(peer->endpoint, [this, peer, alive = alive_](const asio::error_code& ec) {
    peer->connecting = false;
    if (!*alive || peer->removed || closed_) return;
    if (ec) return fail(peer);
    peer->socket.set_option(tcp::no_delay(true));
    peer->connected = true;
    flush(peer);
  });
}

void RaftTransport::flush(const std::shared_ptr<Peer>& peer) {
  if (peer->writing || peer->queued.empty()) return;
  peer->writing = true;
  peer->writing_buf.swap(peer->queued);
  peer->queued.clear();
  asio::async_write(peer->socket, asio::buffer(peer->writing_buf),
                    [this, peer, alive = alive_](const asio::error_code& ec, size_t) {
                      peer->writing = false;
                      peer->writing_buf.clear();
                      if (!*alive || peer->removed || closed_) return;
                      if (ec) return fail(peer);
                      flush(peer);
                    });
}

void RaftTransport::fail(const std::shared_ptr<Peer>& peer) {
  asio::error_code ignored;
  peer->socket.close(ignored);
  peer->connected = false;
  peer->queued.clear();
  peer->retry_after = std::chrono::steady_clock::now() + kReconnectBackoff;
}

void RaftTransport::close() {
  if (closed_) return;
  closed_ = true;
  *alive_ = false;
  asio::error_code ec;
  acceptor_.close(ec);
  for (auto& [id, peer] : peers_) {
    peer->removed = true;
    peer->socket.close(ec);
  }
  peers_.clear();
  for (auto& [ptr, in] : inbound_) in->close();
  inbound_.clear();
}

}  // namespace dkv::server
