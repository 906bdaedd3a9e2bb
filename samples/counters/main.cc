// sample-counters: atomic counters: add, read, set, bounds (MIN/MAX) that refuse instead of
// overshooting, and counters with a TTL.
#include <chrono>
#include <thread>
#include <vector>

#include "sample.h"

int main(int argc, char** argv) {
  using namespace dkv;
  samples::Sample s(argc, argv, "counters", "add, get, set, MIN/MAX bounds, TTL counters");
  Client& db = s.store();
  const std::string hits = s.prefix() + "hits";

  // Four threads add 250 each, concurrently: the counter ends at exactly 1000.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    Client& c = s.worker(t);
    threads.emplace_back([&c, &hits] {
      for (int i = 0; i < 250; ++i) samples::must(c.counter_add(hits, 1), "add");
    });
  }
  for (auto& t : threads) t.join();
  const int64_t total = samples::must(db.counter_get(hits), "get");
  s.say("4 threads x 250 increments: %s = %lld", hits.c_str(), static_cast<long long>(total));
  s.check(total == 1000, "concurrent increments are never lost");

  CounterResult set = samples::must(db.counter_set(hits, 7), "set");
  s.check(set.previous == 1000 && set.current == 7, "set replaces the value and reports the previous one");

  const std::string stock = s.prefix() + "stock";
  samples::must(db.counter_set(stock, 3), "stock 3 items");
  int sold = 0;
  for (int i = 0; i < 5; ++i) {
    Result<CounterResult> r = db.counter_add(stock, -1, {.min = 0});
    if (r.ok()) ++sold;
    else s.say("sale %d refused: %s", i + 1, r.status().to_string().c_str());
  }
  s.check(sold == 3 && samples::must(db.counter_get(stock), "read stock") == 0,
          "with MIN 0, only 3 of 5 sales of 3 items go through; the stock never goes negative");
  Result<CounterResult> over = db.counter_add(stock, 11, {.max = 10});
  s.check(over.status().code() == Code::kOutOfRange, "an add past MAX is refused with OUT_OF_RANGE");

  const std::string window = s.prefix() + "per-second";
  samples::must(db.counter_add(window, 1, {.ttl_ms = 400}), "count in a 400 ms window");
  samples::must(db.counter_add(window, 1, {.ttl_ms = 400}), "count again");
  s.check(samples::must(db.counter_get(window), "read window") == 2, "the window counts 2");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (db.counter_get(window).ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  s.check(db.counter_get(window).status().code() == Code::kNotFound,
          "the TTL set when the counter was created ends the window");
  return s.finish();
}
