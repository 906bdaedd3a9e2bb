#include "dkv/coordination.h"

#include <chrono>

namespace dkv {

LeaseKeepAlive::LeaseKeepAlive(Client& client, int64_t lease, int64_t ttl_ms,
                               std::function<void(const Status&)> on_lost)
    : client_(client), lease_(lease), ttl_ms_(ttl_ms), on_lost_(std::move(on_lost)) {
  thread_ = std::thread([this] { run(); });
}

LeaseKeepAlive::~LeaseKeepAlive() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

int64_t LeaseKeepAlive::renewals() const {
  std::lock_guard lock(mu_);
  return renewals_;
}

bool LeaseKeepAlive::lost() const {
  std::lock_guard lock(mu_);
  return lost_;
}

void LeaseKeepAlive::run() {
  using std::chrono::milliseconds;
  using Clock = std::chrono::steady_clock;
  const auto period = milliseconds(std::max<int64_t>(1, ttl_ms_ / 3));
  const auto retry = milliseconds(std::max<int64_t>(1, ttl_ms_ / 10));
  // The lease is surely alive until this long after the last renewal was sent.
  auto alive_until = Clock::now() + milliseconds(ttl_ms_);
  auto next = Clock::now() + period;
  std::unique_lock lock(mu_);
  for (;;) {
    if (cv_.wait_until(lock, next, [&] { return stopping_; })) return;
    lock.unlock();
    const auto sent = Clock::now();
    Result<int64_t> renewed = client_.lease_keepalive(lease_);
    lock.lock();
    if (renewed.ok()) {
      ++renewals_;
      alive_until = sent + milliseconds(*renewed);
      next = sent + period;
      continue;
    }
    const bool gone = renewed.code() == Code::kLeaseNotFound || Clock::now() >= alive_until;
    if (!gone) {
      next = Clock::now() + retry;
      continue;
    }
    lost_ = true;
    lock.unlock();
    if (on_lost_) on_lost_(renewed.status());
    return;
  }
}

Result<int64_t> Lock::acquire(int64_t wait_ms) {
  Result<int64_t> token = wait_ms > 0 ? client_.lock_acquire_wait(name_, lease_, wait_ms)
                                      : client_.lock_acquire(name_, lease_);
  if (token.ok()) token_ = *token;
  return token;
}

Status Lock::release() {
  Result<int64_t> released = client_.lock_release(name_, token_);
  token_ = 0;
  return released.ok() ? Status::ok_status() : released.status();
}

Result<CampaignResult> Election::campaign(std::string_view value, int64_t wait_ms) {
  Result<CampaignResult> result = wait_ms > 0
                                      ? client_.campaign_wait(name_, lease_, value, wait_ms)
                                      : client_.campaign(name_, lease_, value);
  if (result.ok()) token_ = result->leader ? result->token : 0;
  return result;
}

Status Election::resign() {
  Result<int64_t> resigned = client_.resign(name_, token_);
  token_ = 0;
  return resigned.ok() ? Status::ok_status() : resigned.status();
}

Status Election::proclaim(std::string_view value) {
  Result<int64_t> proclaimed = client_.proclaim(name_, token_, value);
  return proclaimed.ok() ? Status::ok_status() : proclaimed.status();
}

}  // namespace dkv
