// Helpers for coordination on any dkv::Client: keeping a lease alive, holding a lock, running
// for leader. They add bookkeeping (the token to fence writes with) and waiting, never polling:
// waits go through Client::lock_acquire_wait / campaign_wait (LOCK.ACQUIRE / ELECT.CAMPAIGN
// WAIT on a server, a watch in process).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "dkv/client.h"

namespace dkv {

// Renews a lease every ttl/3 on a thread of its own until destroyed. A failed renewal is
// retried every ttl/10 while the lease may still be alive; when the store says the lease is
// gone (LEASE_NOT_FOUND), or it would have expired since the last renewal, `on_lost` runs once
// (on the helper's thread) and renewals stop.
class LeaseKeepAlive {
 public:
  LeaseKeepAlive(Client& client, int64_t lease, int64_t ttl_ms,
                 std::function<void(const Status&)> on_lost = {});
  ~LeaseKeepAlive();
  LeaseKeepAlive(const LeaseKeepAlive&) = delete;
  LeaseKeepAlive& operator=(const LeaseKeepAlive&) = delete;

  int64_t lease() const { return lease_; }
  // Renewals that succeeded so far.
  int64_t renewals() const;
  // True once the lease is lost.
  bool lost() const;

 private:
  void run();

  Client& client_;
  const int64_t lease_;
  const int64_t ttl_ms_;
  std::function<void(const Status&)> on_lost_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool lost_ = false;
  int64_t renewals_ = 0;
  std::thread thread_;
};

// A named lock held by a lease. Not thread-safe.
class Lock {
 public:
  Lock(Client& client, std::string name, int64_t lease)
      : client_(client), name_(std::move(name)), lease_(lease) {}

  // Acquires, waiting up to wait_ms (0: not at all) for the holder to let go. Returns the
  // fencing token, or LOCKED when time ran out.
  Result<int64_t> acquire(int64_t wait_ms = 0);
  // Releases the lock held by this helper (NOT_FOUND / FENCED as lock_release).
  Status release();
  bool held() const { return token_ != 0; }
  int64_t token() const { return token_; }
  // Guards a write: PutOptions{.fence = lock.fence()}.
  Fence fence() const { return Fence{name_, token_}; }

 private:
  Client& client_;
  std::string name_;
  int64_t lease_;
  int64_t token_ = 0;
};

// A candidacy in a named election, for one lease. Not thread-safe.
class Election {
 public:
  Election(Client& client, std::string name, int64_t lease)
      : client_(client), name_(std::move(name)), lease_(lease) {}

  // Campaigns with `value`, waiting up to wait_ms to become leader. The candidacy stays until
  // the lease ends, whatever this returns.
  Result<CampaignResult> campaign(std::string_view value, int64_t wait_ms = 0);
  Result<ElectionLeader> leader() { return client_.election_leader(name_); }
  // Hands leadership on (FENCED / NOT_FOUND when this candidate does not lead).
  Status resign();
  Status proclaim(std::string_view value);
  bool leading() const { return token_ != 0; }
  int64_t token() const { return token_; }
  Fence fence() const { return Fence{name_, token_}; }

 private:
  Client& client_;
  std::string name_;
  int64_t lease_;
  int64_t token_ = 0;
};

}  // namespace dkv
