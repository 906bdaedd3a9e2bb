#include "client/connection_pool.h"

#include <algorithm>
#include <thread>

namespace dkv::client {

ConnectionPool::ConnectionPool(std::vector<Endpoint> endpoints, PoolOptions options)
    : options_(options),
      tls_(options_.tls.enabled ? TlsContext::create(options_.tls)
                                : Result<std::shared_ptr<TlsContext>>(std::shared_ptr<TlsContext>())),
      endpoints_(std::move(endpoints)) {}

ConnectionPool::~ConnectionPool() = default;

ConnectionPool::Borrowed::~Borrowed() {
  if (pool_ != nullptr && socket_ != nullptr) pool_->give_back(std::move(socket_));
}

void ConnectionPool::give_back(std::unique_ptr<RespSocket> socket) {
  std::unique_ptr<RespSocket> dropped;  // closed outside the lock
  {
    std::lock_guard lock(mu_);
    // Only connections to the preferred endpoint are kept: after a NOTLEADER redirect, the
    // connection to the follower must not serve the retry.
    if (socket->broken() || endpoints_.empty() || !(socket->endpoint() == endpoints_.front())) {
      dropped = std::move(socket);
      --open_;
    } else {
      idle_.push_back(std::move(socket));
    }
  }
  returned_.notify_one();
}

Result<ConnectionPool::Borrowed> ConnectionPool::borrow(Deadline deadline) {
  std::unique_lock lock(mu_);
  for (;;) {
    while (!idle_.empty()) {
      std::unique_ptr<RespSocket> socket = std::move(idle_.back());
      idle_.pop_back();
      if (socket->alive()) return Borrowed(this, std::move(socket));
      --open_;  // the server closed it (e.g. restarted): drop it, try the next
    }
    if (open_ < options_.max_connections) break;
    if (returned_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= options_.max_connections) {
      return Status(Code::kUnavailable, "no pooled connection became free in time");
    }
  }
  ++open_;
  lock.unlock();
  Result<std::unique_ptr<RespSocket>> socket = connect(deadline);
  if (!socket.ok()) {
    {
      std::lock_guard relock(mu_);
      --open_;
    }
    returned_.notify_one();
    return socket.status();
  }
  return Borrowed(this, std::move(socket).value());
}

Result<std::unique_ptr<RespSocket>> ConnectionPool::connect(Deadline deadline,
                                                            const std::function<bool()>& stop) {
  if (!tls_.ok()) return tls_.status();
  int64_t backoff_ms = options_.backoff_initial_ms;
  for (;;) {
    Status last(Code::kUnavailable, "no endpoints");
    for (const Endpoint& endpoint : endpoints()) {
      int64_t timeout_ms = options_.connect_timeout_ms;
      if (deadline != Deadline::max()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        timeout_ms = std::max<int64_t>(1, std::min<int64_t>(timeout_ms, left.count()));
      }
      Result<std::unique_ptr<RespSocket>> socket = RespSocket::open(
          endpoint, timeout_ms, options_.credentials ? &*options_.credentials : nullptr, tls_->get());
      if (socket.ok() && !discover_on(**socket, Clock::now() + std::chrono::milliseconds(timeout_ms))) {
        socket = (*socket)->error();
      }
      if (socket.ok()) {
        prefer(endpoint);
        return socket;
      }
      // A wrong password is as wrong on every member and on every retry.
      if (socket.code() == Code::kPermissionDenied) return socket.status();
      last = socket.status();
    }
    if (stop && stop()) return Status(Code::kCancelled, "the client closed");
    auto wake = Clock::now() + std::chrono::milliseconds(backoff_ms);
    if (wake >= deadline) return last;
    // Sleep in short slices so that `stop` is honoured promptly.
    while (Clock::now() < wake) {
      if (stop && stop()) return Status(Code::kCancelled, "the client closed");
      std::this_thread::sleep_for(std::min(std::chrono::milliseconds(20),
          std::chrono::duration_cast<std::chrono::milliseconds>(wake - Clock::now()) +
              std::chrono::milliseconds(1)));
    }
    backoff_ms = std::min(backoff_ms * 2, options_.backoff_max_ms);
  }
}

bool ConnectionPool::discover_on(RespSocket& socket, Deadline deadline) {
  if (!options_.discover) return true;
  {
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    if (discovered_at_ != Clock::time_point{} && now - discovered_at_ < std::chrono::seconds(1)) return true;
    discovered_at_ = now;
  }
  std::vector<Endpoint> found = options_.discover(socket, deadline);
  if (socket.broken()) return false;
  std::lock_guard lock(mu_);
  for (Endpoint& e : found) {
    if (std::find(endpoints_.begin(), endpoints_.end(), e) == endpoints_.end()) endpoints_.push_back(std::move(e));
  }
  return true;
}

void ConnectionPool::set_endpoints(std::vector<Endpoint> endpoints) {
  std::vector<std::unique_ptr<RespSocket>> dropped;
  {
    std::lock_guard lock(mu_);
    endpoints_ = std::move(endpoints);
    for (auto& socket : idle_) {
      if (endpoints_.empty() || !(socket->endpoint() == endpoints_.front())) {
        dropped.push_back(std::move(socket));
      }
    }
    std::erase(idle_, nullptr);
    open_ -= dropped.size();
  }
  returned_.notify_all();
}

std::vector<Endpoint> ConnectionPool::endpoints() const {
  std::lock_guard lock(mu_);
  return endpoints_;
}

void ConnectionPool::prefer(const Endpoint& endpoint) {
  std::vector<std::unique_ptr<RespSocket>> dropped;
  {
    std::lock_guard lock(mu_);
    auto it = std::find(endpoints_.begin(), endpoints_.end(), endpoint);
    if (it == endpoints_.begin()) return;
    if (it != endpoints_.end()) endpoints_.erase(it);
    endpoints_.insert(endpoints_.begin(), endpoint);
    for (auto& socket : idle_) {
      if (!(socket->endpoint() == endpoint)) dropped.push_back(std::move(socket));
    }
    std::erase(idle_, nullptr);
    open_ -= dropped.size();
  }
  returned_.notify_all();
}

}  // namespace dkv::client
