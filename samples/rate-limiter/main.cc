// sample-rate-limiter: a global limit shared by every client. Fixed window: one counter per
// window, incremented with MAX = the limit (an increment past it is refused atomically) and a
// TTL that drops old windows. Sliding window: the current and previous windows' counts,
// weighted, read and incremented in one optimistic transaction. K concurrent clients never
// get more than the limit in a window.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "sample.h"

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace dkv;
  samples::Sample s(argc, argv, "rate-limiter", "fixed-window and sliding-window limiters: K clients never exceed the limit");
  constexpr int kClients = 4, kAttempts = 60;
  constexpr int64_t kLimit = 20, kWindowMs = 500;
  for (int c = 0; c < kClients; ++c) s.worker(c);  // connect before the threads start
  auto client = [&](int c) -> Client& { return s.worker(c); };

  // Fixed window: the counter for window w is <prefix>fixed/<w>.
  std::mutex mu;
  std::map<int64_t, int> fixed_accepted;  // window -> requests let through
  std::atomic<int> fixed_refused{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < kAttempts; ++i) {
        const int64_t window = now_ms() / kWindowMs;
        Result<CounterResult> r = client(c).counter_add(s.prefix() + "fixed/" + std::to_string(window), 1,
                                                        {.max = kLimit, .ttl_ms = 4 * kWindowMs});
        if (r.ok()) {
          std::lock_guard lock(mu);
          ++fixed_accepted[window];
        } else if (r.status().code() == Code::kOutOfRange) {
          ++fixed_refused;
        } else {
          samples::must(std::move(r), "count a request");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
  for (auto& t : threads) t.join();
  threads.clear();
  int most = 0;
  for (const auto& [window, n] : fixed_accepted) most = std::max(most, n);
  s.say("fixed window: %d clients x %d requests spread over %zu window(s) of %lld ms: at most %d let through in one "
        "window (limit %lld), %d refused",
        kClients, kAttempts, fixed_accepted.size(), static_cast<long long>(kWindowMs), most,
        static_cast<long long>(kLimit), fixed_refused.load());
  s.check(most <= kLimit, "no fixed window let more than the limit through");
  s.check(fixed_refused > 0, "the limit was reached, so some requests were refused");

  // Sliding window: estimate = previous window's count * (share of it still inside the
  // sliding window) + current window's count; let through while the estimate is below the
  // limit. The reads and the increment commit together or not at all.
  std::map<int64_t, int> sliding_accepted;
  std::atomic<int> sliding_refused{0}, conflicts{0};
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < kAttempts; ++i) {
        for (;;) {
          const int64_t now = now_ms();
          const int64_t window = now / kWindowMs;
          const std::string current = s.prefix() + "sliding/" + std::to_string(window);
          const std::string previous = s.prefix() + "sliding/" + std::to_string(window - 1);
          Transaction txn = client(c).begin_transaction();
          Result<KeyValue> cur = txn.get(current);
          Result<KeyValue> prev = txn.get(previous);
          const int64_t cur_n = cur.ok() ? std::stoll(cur->value) : 0;
          const int64_t prev_n = prev.ok() ? std::stoll(prev->value) : 0;
          const double weight = 1.0 - static_cast<double>(now % kWindowMs) / kWindowMs;
          if (prev_n * weight + cur_n >= kLimit) {
            ++sliding_refused;
            break;
          }
          txn.put(current, std::to_string(cur_n + 1), {.ttl_ms = 4 * kWindowMs});
          Result<TxnResult> r = txn.commit();
          if (r.ok()) {
            std::lock_guard lock(mu);
            ++sliding_accepted[window];
            break;
          }
          if (r.status().code() != Code::kConflict) samples::must(std::move(r), "commit");
          ++conflicts;  // another client counted in between: look again
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
  for (auto& t : threads) t.join();
  most = 0;
  for (const auto& [window, n] : sliding_accepted) most = std::max(most, n);
  s.say("sliding window: at most %d let through in one window, %d refused, %d conflicts retried", most,
        sliding_refused.load(), conflicts.load());
  s.check(most <= kLimit, "no window let more than the limit through (the sliding estimate is never below it)");
  s.check(sliding_refused > 0, "the limit was reached, so some requests were refused");
  return s.finish();
}
