// Client's default lock_acquire_wait and campaign_wait: retry each time a watch of the lock or
// election reports a change, until success or the deadline. The watch is set up before the
// first attempt, so a release between an attempt and the wait is never missed.
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "dkv/client.h"

namespace dkv {
namespace {

// Counts the changes a watch reports (and its end), for a waiting thread.
class ChangeCounter {
 public:
  void bump() {
    {
      std::lock_guard lock(mu_);
      ++changes_;
    }
    cv_.notify_all();
  }
  int64_t changes() {
    std::lock_guard lock(mu_);
    return changes_;
  }
  // True if the count moved past `seen` before `deadline`.
  bool wait_past(int64_t seen, std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, deadline, [&] { return changes_ != seen; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t changes_ = 0;
};

template <typename Attempt, typename Done>
auto retry_on_changes(Client& client, WatchSpace space, std::string_view name, int64_t wait_ms,
                      Attempt attempt, Done done) -> decltype(attempt()) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  auto counter = std::make_shared<ChangeCounter>();
  Result<int64_t> watch = client.watch(
      WatchRequest{.space = space, .key = std::string(name)},
      [counter](const Event&) { counter->bump(); }, [counter](const Status&) { counter->bump(); });
  if (!watch.ok()) return watch.status();
  for (;;) {
    const int64_t seen = counter->changes();
    auto result = attempt();
    if (done(result) || !counter->wait_past(seen, deadline)) {
      client.unwatch(*watch);
      return result;
    }
  }
}

}  // namespace

Result<int64_t> Client::lock_acquire_wait(std::string_view name, int64_t lease, int64_t wait_ms) {
  if (wait_ms < 0) return Status(Code::kInvalidArgument, "wait_ms must not be negative");
  Result<int64_t> first = lock_acquire(name, lease);
  if (first.code() != Code::kLocked || wait_ms == 0) return first;
  return retry_on_changes(
      *this, WatchSpace::kLocks, name, wait_ms, [&] { return lock_acquire(name, lease); },
      [](const Result<int64_t>& r) { return r.code() != Code::kLocked; });
}

Result<CampaignResult> Client::campaign_wait(std::string_view name, int64_t lease,
                                             std::string_view value, int64_t wait_ms) {
  if (wait_ms < 0) return Status(Code::kInvalidArgument, "wait_ms must not be negative");
  Result<CampaignResult> first = campaign(name, lease, value);
  if (!first.ok() || first->leader || wait_ms == 0) return first;
  // Campaigning again with a queued lease changes nothing and reports where it stands.
  return retry_on_changes(
      *this, WatchSpace::kElections, name, wait_ms, [&] { return campaign(name, lease, value); },
      [](const Result<CampaignResult>& r) { return !r.ok() || r->leader; });
}

}  // namespace dkv
