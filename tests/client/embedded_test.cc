// dkv::Embedded through the public API, with an injected clock so that expiry is driven by the
// test, and watch deliveries awaited on a condition variable.
#include "dkv/embedded.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"

namespace dkv {
namespace {

class FakeClock {
 public:
  int64_t now() const { return now_.load(); }
  void advance(int64_t ms) { now_ += ms; }
  std::function<int64_t()> fn() {
    return [this] { return now(); };
  }

 private:
  std::atomic<int64_t> now_{1'700'000'000'000};
};

// Collects events from a watch; wait_for() blocks until n arrived.
class Collector {
 public:
  WatchEventHandler on_event() {
    return [this](const Event& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
      cv_.notify_all();
    };
  }
  WatchEndHandler on_end() {
    return [this](const Status& s) {
      std::lock_guard lock(mu_);
      end_ = s;
      ended_ = true;
      cv_.notify_all();
    };
  }
  std::vector<Event> wait_for(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return events_.size() >= n; });
    return events_;
  }
  Status wait_end() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return ended_; });
    return end_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
  Status end_;
  bool ended_ = false;
};

Embedded::Options options(FakeClock& clock) {
  Embedded::Options o;
  o.clock = clock.fn();
  o.expiry_interval_ms = 1;
  return o;
}

TEST(Embedded, PutGetDeleteRoundTrip) {
  FakeClock clock;
  Embedded store(options(clock));
  auto put = store.put("k", "v", {.entity = "e", .labels = {{"a", "1"}}});
  ASSERT_TRUE(put.ok()) << put.status().to_string();
  EXPECT_EQ(put->version, 1);
  EXPECT_EQ(put->revision, 1);
  auto got = store.get("k");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->value, "v");
  EXPECT_EQ(got->entity, "e");
  EXPECT_EQ(got->labels.at("a"), "1");
  EXPECT_EQ(got->created_at_ms, clock.now());
  auto del = store.del("k");
  ASSERT_TRUE(del.ok());
  EXPECT_TRUE(del->deleted);
  EXPECT_EQ(store.get("k").code(), Code::kNotFound);
  EXPECT_EQ(store.get("k", {.revision = 1})->value, "v");
}

TEST(Embedded, TtlExpiresByClockAndEmitsExpireEvent) {
  FakeClock clock;
  Embedded store(options(clock));
  Collector events;
  ASSERT_TRUE(store.watch({.key = "s"}, events.on_event()).ok());
  ASSERT_TRUE(store.put("s", "x", {.ttl_ms = 100}).ok());
  EXPECT_EQ(store.get("s")->ttl_ms, 100);
  clock.advance(99);
  EXPECT_TRUE(store.get("s").ok());
  clock.advance(1);
  EXPECT_EQ(store.get("s").code(), Code::kNotFound);  // absent at the deadline, before removal
  store.expire_now();
  auto seen = events.wait_for(2);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].type, EventType::kExpire);
  EXPECT_EQ(store.stats()->keys, 0);
}

TEST(Embedded, LeaseExpiryReleasesLockAndHandsElectionOver) {
  FakeClock clock;
  Embedded store(options(clock));
  auto l1 = store.lease_grant(1000);
  auto l2 = store.lease_grant(5000);
  ASSERT_TRUE(l1.ok() && l2.ok());
  auto token = store.lock_acquire("lock", l1->id);
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(store.lock_acquire("lock", l2->id).code(), Code::kLocked);
  ASSERT_TRUE(store.campaign("el", l1->id, "one")->leader);
  EXPECT_EQ(store.campaign("el", l2->id, "two")->position, 1);
  EXPECT_EQ(store.lease_keepalive(l1->id).value(), 1000);
  clock.advance(1000);
  store.expire_now();
  EXPECT_EQ(store.lease_ttl(l1->id).code(), Code::kLeaseNotFound);
  EXPECT_EQ(store.lock_owner("lock").code(), Code::kNotFound);
  auto leader = store.election_leader("el");
  ASSERT_TRUE(leader.ok());
  EXPECT_EQ(leader->value, "two");
  EXPECT_GT(leader->token, *token);
}

TEST(Embedded, WatchResumesFromRevisionAndReportsCompacted) {
  FakeClock clock;
  Embedded::Options o = options(clock);
  o.watch_history_events = 4;
  Embedded store(o);
  for (int i = 1; i <= 6; ++i) ASSERT_TRUE(store.put("w/" + std::to_string(i), "v").ok());
  // History holds revisions 3..6 only (4..7 once w/7 is written).
  Collector resumed;
  ASSERT_TRUE(store.watch({.key = "w/", .prefix = true, .from_revision = 4}, resumed.on_event()).ok());
  ASSERT_TRUE(store.put("w/7", "v").ok());
  auto seen = resumed.wait_for(4);
  ASSERT_EQ(seen.size(), 4u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i].revision, 4 + static_cast<int64_t>(i));
  auto old = store.watch({.key = "w/", .prefix = true, .from_revision = 1}, resumed.on_event());
  EXPECT_EQ(old.code(), Code::kCompacted);
  EXPECT_NE(old.status().message().find("is 4"), std::string::npos) << old.status().message();
}

TEST(Embedded, WatchSnapshotThenLiveEventsWithPrevValue) {
  FakeClock clock;
  Embedded store(options(clock));
  ASSERT_TRUE(store.put("c/a", "1").ok());
  ASSERT_TRUE(store.put("c/b", "2").ok());
  Collector events;
  ASSERT_TRUE(store.watch({.key = "c/", .prefix = true, .snapshot = true, .prev_value = true},
                          events.on_event())
                  .ok());
  ASSERT_TRUE(store.put("c/a", "3").ok());
  auto seen = events.wait_for(3);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_TRUE(seen[0].snapshot);
  EXPECT_TRUE(seen[1].snapshot);
  EXPECT_FALSE(seen[2].snapshot);
  EXPECT_EQ(seen[2].kv.value, "3");
  ASSERT_TRUE(seen[2].prev.has_value());
  EXPECT_EQ(seen[2].prev->value, "1");
}

TEST(Embedded, SlowWatcherIsCutOffAsLaggingAndCanResume) {
  FakeClock clock;
  Embedded::Options o = options(clock);
  o.watch_max_pending = 5;
  Embedded store(o);
  std::mutex gate;
  gate.lock();  // the handler blocks on the first event until the writes are queued
  std::atomic<int> delivered{0};
  Collector ended;
  ASSERT_TRUE(store
                  .watch({.key = "lag"},
                         [&](const Event&) {
                           if (delivered++ == 0) {
                             std::lock_guard wait(gate);
                           }
                         },
                         ended.on_end())
                  .ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(store.put("lag", std::to_string(i)).ok());
  gate.unlock();
  Status end = ended.wait_end();
  EXPECT_EQ(end.code(), Code::kLagging) << end.to_string();
  EXPECT_LT(delivered.load(), 20);
}

TEST(Embedded, UnwatchStopsDelivery) {
  FakeClock clock;
  Embedded store(options(clock));
  Collector events;
  auto id = store.watch({.key = "u"}, events.on_event());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(store.put("u", "1").ok());
  ASSERT_EQ(events.wait_for(1).size(), 1u);
  store.unwatch(*id);
  ASSERT_TRUE(store.put("u", "2").ok());
  // A second watch on the same key sees the later write, so delivery has run past it.
  Collector later;
  ASSERT_TRUE(store.watch({.key = "u", .from_revision = 2}, later.on_event()).ok());
  ASSERT_EQ(later.wait_for(1).size(), 1u);
  EXPECT_EQ(events.wait_for(1).size(), 1u);
}

TEST(Embedded, TransactionReadYourWritesAndConflict) {
  FakeClock clock;
  Embedded store(options(clock));
  ASSERT_TRUE(store.put("a", "1").ok());
  Transaction txn = store.begin_transaction();
  EXPECT_EQ(txn.get("a")->value, "1");
  txn.put("a", "2");
  txn.del("b");
  EXPECT_EQ(txn.get("a")->value, "2");
  EXPECT_EQ(txn.get("b").code(), Code::kNotFound);
  ASSERT_TRUE(store.put("a", "other").ok());
  auto conflict = txn.commit();
  EXPECT_EQ(conflict.code(), Code::kConflict);
  EXPECT_NE(conflict.status().message().find("'a'"), std::string::npos);
  EXPECT_EQ(store.get("a")->value, "other");

  EXPECT_EQ(txn.get("a")->value, "other");
  txn.put("a", "mine");
  txn.put("c", "new");
  auto ok = txn.commit();
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(store.get("a")->mod_revision, ok->revision);
  EXPECT_EQ(store.get("c")->mod_revision, ok->revision);
}

TEST(Embedded, HandlerMayCallBackIntoTheStore) {
  FakeClock clock;
  Embedded store(options(clock));
  Collector mirrored;
  ASSERT_TRUE(store.watch({.key = "mirror"}, mirrored.on_event()).ok());
  ASSERT_TRUE(store
                  .watch({.key = "source"},
                         [&](const Event& e) { (void)store.put("mirror", e.kv.value); })
                  .ok());
  ASSERT_TRUE(store.put("source", "hello").ok());
  auto seen = mirrored.wait_for(1);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kv.value, "hello");
}

TEST(Embedded, AutoCompactionBoundsHistory) {
  FakeClock clock;
  Embedded::Options o = options(clock);
  o.history_revisions = 10;
  Embedded store(o);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(store.put("h", std::to_string(i)).ok());
  store.expire_now();
  auto stats = store.stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_GE(stats->compacted_revision, 80);
  EXPECT_LE(stats->history_versions, 20);
  EXPECT_EQ(store.get("h", {.revision = 5}).code(), Code::kCompacted);
  EXPECT_EQ(store.get("h", {.revision = 95})->value, "94");
}

TEST(Embedded, SnapshotRestoresIntoAnotherStore) {
  FakeClock clock;
  Embedded a(options(clock));
  ASSERT_TRUE(a.put("x", "1", {.ttl_ms = 500}).ok());
  auto lease = a.lease_grant(1000);
  ASSERT_TRUE(a.lock_acquire("l", lease->id).ok());
  Embedded b(options(clock));
  ASSERT_TRUE(b.restore_snapshot(a.save_snapshot()).ok());
  EXPECT_EQ(b.get("x")->value, "1");
  EXPECT_EQ(b.lock_owner("l")->lease, lease->id);
  EXPECT_EQ(b.stats()->revision, a.stats()->revision);
  EXPECT_EQ(b.restore_snapshot("garbage").code(), Code::kInvalidArgument);
}

TEST(Embedded, ClosingEndsWatchesWithCancelled) {
  FakeClock clock;
  Collector events;
  {
    Embedded store(options(clock));
    ASSERT_TRUE(store.watch({.key = "k"}, events.on_event(), events.on_end()).ok());
  }
  EXPECT_EQ(events.wait_end().code(), Code::kCancelled);
}

TEST(Embedded, ConcurrentCountersNeverLoseIncrements) {
  FakeClock clock;
  Embedded store(options(clock));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) ASSERT_TRUE(store.counter_add("n", 1).ok());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(store.counter_get("n").value(), 2000);
}

}  // namespace
}  // namespace dkv
