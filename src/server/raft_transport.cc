#include "server/raft_transport.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "raft/codec.h"
#include "server/stream.h"

namespace dkv::server {

using asio::ip::tcp;

namespace {

constexpr auto kReconnectBackoff = std::chrono::milliseconds(100);
// A connection (TCP and TLS handshake) not made by then is dropped and tried again: a peer host
// that died mid-handshake must not leave the link waiting forever.
constexpr auto kConnectTimeout = std::chrono::seconds(3);

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
  raft::NodeId id = 0;
  std::string host;  // as given: what its certificate must name
  tcp::endpoint endpoint;
  std::shared_ptr<Stream> stream;  // the current connection, from connect()
  std::string last_failure;        // the TLS failure logged last ("" after a success)
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
      : owner_(owner), alive_(owner->alive_), stream_(std::move(socket), owner->accept_tls_.get()) {}

  void start() {
    asio::error_code ignored;
    auto remote = stream_.socket().remote_endpoint(ignored);
    stream_.async_handshake(Stream::Side::server, [this, self = shared_from_this(), remote](const asio::error_code& ec) {
      if (!*alive_) return;
      if (ec || owner_->closed_) {
        if (ec && ec != asio::error::operation_aborted) {
          owner_->log_inbound_failure(remote.address().to_string() + ":" + std::to_string(remote.port()), ec);
        }
        return finish();
      }
      read_more();
    });
  }
  void close() { stream_.close(); }

 private:
  void read_more() {
    auto self = shared_from_this();
    size_t old = buf_.size();
    buf_.resize(old + 64 * 1024);
    stream_.async_read_some(asio::buffer(buf_.data() + old, 64 * 1024),
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
  Stream stream_;
  std::string buf_;
};

RaftTransport::RaftTransport(asio::io_context& io, Handler on_message,
                             std::shared_ptr<asio::ssl::context> accept_tls,
                             std::shared_ptr<asio::ssl::context> connect_tls)
    : io_(io),
      on_message_(std::move(on_message)),
      acceptor_(io),
      accept_tls_(std::move(accept_tls)),
      connect_tls_(std::move(connect_tls)) {}

void RaftTransport::log_inbound_failure(const std::string& from, const asio::error_code& ec) {
  ++stats_.tls_failures;
  const auto now = std::chrono::steady_clock::now();
  if (now < next_inbound_log_) return;
  next_inbound_log_ = now + std::chrono::seconds(10);
  std::fprintf(stderr, "dkv-server: refused a Raft connection from %s: TLS handshake failed: %s\n", from.c_str(),
               ec.message().c_str());
}

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
  auto peer = std::make_shared<Peer>();
  peer->id = id;
  peer->host = host;
  peer->endpoint = tcp::endpoint(address, port);
  peers_[id] = peer;
}

void RaftTransport::remove_peer(raft::NodeId id) {
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  it->second->removed = true;
  if (it->second->stream) it->second->stream->close();
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

// Handlers keep the stream they were started on (a TLS stream must outlive its operations) and
// do nothing to the peer once a newer connection has replaced it.
void RaftTransport::connect(const std::shared_ptr<Peer>& peer) {
  peer->connecting = true;
  auto stream = std::make_shared<Stream>(tcp::socket(io_), connect_tls_.get());
  peer->stream = stream;
  auto deadline = std::make_shared<asio::steady_timer>(io_, kConnectTimeout);
  deadline->async_wait([peer, stream](const asio::error_code& ec) {
    if (!ec && stream == peer->stream && !peer->connected) stream->close();  // its handler fails it
  });
  stream->socket().async_connect(peer->endpoint, [this, peer, stream, deadline, alive = alive_](const asio::error_code& ec) {
    if (!*alive || peer->removed || closed_ || stream != peer->stream) return;
    if (ec) {
      peer->connecting = false;
      return fail(peer);
    }
    asio::error_code ignored;
    stream->socket().set_option(tcp::no_delay(true), ignored);
    stream->expect_host(peer->host);
    stream->async_handshake(Stream::Side::client, [this, peer, stream, deadline, alive](const asio::error_code& ec) {
      deadline->cancel();
      if (!*alive || peer->removed || closed_ || stream != peer->stream) return;
      peer->connecting = false;
      if (ec) {
        if (stream->secure()) {
          ++stats_.tls_failures;
          if (ec.message() != peer->last_failure) {
            peer->last_failure = ec.message();
            std::fprintf(stderr, "dkv-server: cannot reach member %llu at %s:%u: TLS handshake failed: %s\n",
                         static_cast<unsigned long long>(peer->id), peer->host.c_str(), peer->endpoint.port(),
                         ec.message().c_str());
          }
        }
        return fail(peer);
      }
      peer->last_failure.clear();
      peer->connected = true;
      flush(peer);
    });
  });
}

void RaftTransport::flush(const std::shared_ptr<Peer>& peer) {
  if (peer->writing || peer->queued.empty()) return;
  peer->writing = true;
  peer->writing_buf.swap(peer->queued);
  peer->queued.clear();
  auto stream = peer->stream;
  stream->async_write(asio::buffer(peer->writing_buf), [this, peer, stream, alive = alive_](const asio::error_code& ec, size_t) {
    peer->writing = false;
    peer->writing_buf.clear();
    if (!*alive || peer->removed || closed_) return;
    if (stream != peer->stream) {  // a write of a connection already replaced
      if (peer->connected) flush(peer);
      return;
    }
    if (ec) return fail(peer);
    flush(peer);
  });
}

void RaftTransport::fail(const std::shared_ptr<Peer>& peer) {
  if (peer->stream) peer->stream->close();
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
    if (peer->stream) peer->stream->close();
  }
  peers_.clear();
  for (auto& [ptr, in] : inbound_) in->close();
  inbound_.clear();
}

}  // namespace dkv::server
