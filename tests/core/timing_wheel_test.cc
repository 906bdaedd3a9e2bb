#include "core/timing_wheel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <vector>

namespace dkv::core {
namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr size_t kAll = std::numeric_limits<size_t>::max();

struct TestTimer : Timer {
  int id = 0;
};

std::vector<Timer*> Due(TimingWheel* w, int64_t now, size_t limit = kAll) {
  std::vector<Timer*> out;
  w->collect_due(now, limit, &out);
  return out;
}

std::vector<int> Ids(const std::vector<Timer*>& ts) {
  std::vector<int> ids;
  for (Timer* t : ts) ids.push_back(static_cast<TestTimer*>(t)->id);
  return ids;
}

TEST(TimingWheel, DueExactlyAtDeadline) {
  TimingWheel w;
  TestTimer t;
  w.schedule(&t, 1000);
  EXPECT_TRUE(t.scheduled());
  EXPECT_EQ(t.deadline_ms(), 1000);
  EXPECT_EQ(w.size(), 1u);
  EXPECT_TRUE(Due(&w, 0).empty());
  EXPECT_TRUE(Due(&w, 999).empty());
  EXPECT_EQ(Due(&w, 1000), std::vector<Timer*>{&t});
  // Collecting does not cancel: asking again (also later) returns it again.
  EXPECT_EQ(Due(&w, 1000), std::vector<Timer*>{&t});
  EXPECT_EQ(Due(&w, 5000), std::vector<Timer*>{&t});
  EXPECT_TRUE(t.scheduled());
  w.cancel(&t);
  EXPECT_FALSE(t.scheduled());
  EXPECT_EQ(w.size(), 0u);
  EXPECT_TRUE(Due(&w, 5000).empty());
}

// Deadlines on and next to byte boundaries exercise cascading between every pair of levels.
TEST(TimingWheel, DueAtLevelBoundaries) {
  std::vector<int64_t> deadlines;
  for (int bits = 8; bits <= 56; bits += 8) {
    int64_t b = int64_t{1} << bits;
    for (int64_t d : {b - 1, b, b + 1, 3 * b - 1, 3 * b, 3 * b + 255}) deadlines.push_back(d);
  }
  deadlines.push_back(kMax - 1);
  deadlines.push_back(kMax);
  for (int64_t start : {int64_t{0}, int64_t{-1}, int64_t{123456}}) {
    for (int64_t d : deadlines) {
      if (d <= start) continue;
      TimingWheel w;
      TestTimer t;
      EXPECT_TRUE(Due(&w, start).empty());
      w.schedule(&t, d);
      // Creep up in a few uneven steps so intermediate cascades happen, then test d-1 and d.
      for (int64_t probe = start; probe < d - 1; probe += (d - 1 - probe) / 3 + 1) {
        EXPECT_TRUE(Due(&w, probe).empty()) << "d=" << d << " probe=" << probe;
      }
      EXPECT_TRUE(Due(&w, d - 1).empty()) << "d=" << d;
      EXPECT_EQ(Due(&w, d), std::vector<Timer*>{&t}) << "d=" << d;
      w.cancel(&t);
    }
  }
}

TEST(TimingWheel, NegativeAndExtremeDeadlines) {
  TimingWheel w;
  TestTimer lo, neg, neg2, zero, hi;
  lo.id = 1, neg.id = 2, neg2.id = 3, zero.id = 4, hi.id = 5;
  w.schedule(&hi, kMax);
  w.schedule(&zero, 0);
  w.schedule(&neg2, -1);
  w.schedule(&neg, -1000);
  w.schedule(&lo, kMin);
  // INT64_MIN is due at every possible now.
  EXPECT_EQ(Ids(Due(&w, kMin)), std::vector<int>{1});
  EXPECT_EQ(Ids(Due(&w, -1001)), std::vector<int>{1});
  EXPECT_EQ(Ids(Due(&w, -1000)), (std::vector<int>{1, 2}));
  EXPECT_EQ(Ids(Due(&w, -2)), (std::vector<int>{1, 2}));
  EXPECT_EQ(Ids(Due(&w, -1)), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(Ids(Due(&w, 0)), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(Ids(Due(&w, kMax - 1)), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(Ids(Due(&w, kMax)), (std::vector<int>{1, 2, 3, 4, 5}));
  // Back to the far past: only INT64_MIN qualifies.
  EXPECT_EQ(Ids(Due(&w, kMin)), std::vector<int>{1});
  for (TestTimer* t : {&lo, &neg, &neg2, &zero, &hi}) w.cancel(t);
  EXPECT_EQ(w.size(), 0u);
}

TEST(TimingWheel, PastDeadlineIsDueImmediately) {
  TimingWheel w;
  EXPECT_TRUE(Due(&w, 1000).empty());
  TestTimer past, now, future;
  w.schedule(&past, 10);
  w.schedule(&now, 1000);
  w.schedule(&future, 1001);
  EXPECT_EQ(Due(&w, 1000), (std::vector<Timer*>{&past, &now}));
  EXPECT_EQ(Due(&w, 10), std::vector<Timer*>{&past});
  EXPECT_TRUE(Due(&w, 9).empty());
  EXPECT_EQ(Due(&w, 1001), (std::vector<Timer*>{&past, &now, &future}));
  w.cancel(&past);
  w.cancel(&now);
  w.cancel(&future);
}

TEST(TimingWheel, CancelDueTimer) {
  TimingWheel w;
  TestTimer a, b, never;
  w.schedule(&a, 5);
  w.schedule(&b, 6);
  EXPECT_EQ(Due(&w, 10), (std::vector<Timer*>{&a, &b}));
  w.cancel(&a);
  EXPECT_FALSE(a.scheduled());
  EXPECT_EQ(a.deadline_ms(), 5);  // still readable after cancel
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(Due(&w, 10), std::vector<Timer*>{&b});
  w.cancel(&a);  // no-op
  w.cancel(&never);  // no-op
  EXPECT_EQ(w.size(), 1u);
  EXPECT_FALSE(never.scheduled());
  w.cancel(&b);
  EXPECT_TRUE(Due(&w, 10).empty());
  EXPECT_EQ(w.size(), 0u);
  // A cancelled timer can be scheduled again.
  w.schedule(&a, 20);
  EXPECT_TRUE(Due(&w, 19).empty());
  EXPECT_EQ(Due(&w, 20), std::vector<Timer*>{&a});
  w.cancel(&a);
}

TEST(TimingWheel, CancelWhileInUpperLevel) {
  TimingWheel w;
  TestTimer a, b;
  w.schedule(&a, int64_t{1} << 40);
  w.schedule(&b, (int64_t{1} << 40) + 1);  // same upper-level slot as a
  w.cancel(&a);
  EXPECT_EQ(w.size(), 1u);
  EXPECT_TRUE(Due(&w, int64_t{1} << 40).empty());
  EXPECT_EQ(Due(&w, (int64_t{1} << 40) + 1), std::vector<Timer*>{&b});
  w.cancel(&b);
}

TEST(TimingWheel, RescheduleMoves) {
  TimingWheel w;
  TestTimer t;
  w.schedule(&t, 100);
  w.schedule(&t, 50);  // earlier
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(t.deadline_ms(), 50);
  EXPECT_EQ(Due(&w, 50), std::vector<Timer*>{&t});
  w.schedule(&t, 500);  // a due timer moved into the future is no longer due
  EXPECT_EQ(w.size(), 1u);
  EXPECT_TRUE(Due(&w, 100).empty());
  EXPECT_TRUE(Due(&w, 499).empty());
  w.schedule(&t, int64_t{1} << 50);  // far future, from a lower level to a high one
  EXPECT_TRUE(Due(&w, 500).empty());
  w.schedule(&t, 600);  // and back
  EXPECT_TRUE(Due(&w, 599).empty());
  EXPECT_EQ(Due(&w, 600), std::vector<Timer*>{&t});
  EXPECT_EQ(w.size(), 1u);
  w.cancel(&t);
}

TEST(TimingWheel, LimitRespected) {
  TimingWheel w;
  std::vector<TestTimer> ts(10);
  for (int i = 0; i < 10; ++i) {
    ts[i].id = i;
    w.schedule(&ts[i], 100 + i);
  }
  EXPECT_TRUE(Due(&w, 200, 0).empty());
  EXPECT_EQ(Ids(Due(&w, 200, 3)), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(Due(&w, 200, 10).size(), 10u);
  EXPECT_EQ(Due(&w, 200, 11).size(), 10u);
  // The limit counts only timers that qualify, also when going back in time.
  EXPECT_EQ(Ids(Due(&w, 104, 2)), (std::vector<int>{0, 1}));
  EXPECT_EQ(Ids(Due(&w, 104, 100)), (std::vector<int>{0, 1, 2, 3, 4}));
  // Acting on the first batch (cancelling it) exposes the next one.
  for (int i = 0; i < 3; ++i) w.cancel(&ts[i]);
  EXPECT_EQ(Ids(Due(&w, 200, 3)), (std::vector<int>{3, 4, 5}));
  // collect_due appends; it does not clear *out.
  std::vector<Timer*> out{&ts[0]};
  w.collect_due(200, 2, &out);
  EXPECT_EQ(Ids(out), (std::vector<int>{0, 3, 4}));
  for (auto& t : ts) w.cancel(&t);
}

TEST(TimingWheel, CollectWithDecreasingNow) {
  TimingWheel w;
  TestTimer a, b, c;
  w.schedule(&a, 100);
  w.schedule(&b, 200);
  w.schedule(&c, 400);
  EXPECT_EQ(Due(&w, 300), (std::vector<Timer*>{&a, &b}));
  EXPECT_EQ(Due(&w, 150), std::vector<Timer*>{&a});
  EXPECT_TRUE(Due(&w, 50).empty());
  // Scheduling below the wheel's internal time while now is "behind" still honours deadlines.
  TestTimer d;
  w.schedule(&d, 120);
  EXPECT_TRUE(Due(&w, 99).empty());
  EXPECT_EQ(Due(&w, 110), std::vector<Timer*>{&a});
  EXPECT_EQ(Due(&w, 120), (std::vector<Timer*>{&a, &d}));
  EXPECT_EQ(Due(&w, 399), (std::vector<Timer*>{&a, &b, &d}));
  EXPECT_EQ(Due(&w, 400), (std::vector<Timer*>{&a, &b, &d, &c}));
  for (TestTimer* t : {&a, &b, &c, &d}) w.cancel(t);
}

TEST(TimingWheel, DueOrderFollowsDeadlinesThenScheduleOrder) {
  TimingWheel w;
  std::vector<TestTimer> ts(6);
  // id -> deadline; scheduled in id order, deadlines shuffled, two ties.
  const int64_t deadlines[] = {70000, 5, 300, 5, int64_t{1} << 33, 300};
  for (int i = 0; i < 6; ++i) {
    ts[i].id = i;
    w.schedule(&ts[i], deadlines[i]);
  }
  EXPECT_EQ(Ids(Due(&w, int64_t{1} << 34)), (std::vector<int>{1, 3, 2, 5, 0, 4}));
  for (auto& t : ts) w.cancel(&t);
}

TEST(TimingWheel, DestructionUnlinksScheduledTimers) {
  TestTimer wheel_level, due, upper;
  {
    TimingWheel w;
    w.schedule(&wheel_level, 10);
    w.schedule(&due, 0);
    w.schedule(&upper, int64_t{1} << 45);
    EXPECT_EQ(Due(&w, 5), std::vector<Timer*>{&due});
    EXPECT_EQ(w.size(), 3u);
  }
  // The wheel is gone; the timers are intact, unscheduled, and can be destroyed or reused.
  for (TestTimer* t : {&wheel_level, &due, &upper}) EXPECT_FALSE(t->scheduled());
  EXPECT_EQ(upper.deadline_ms(), int64_t{1} << 45);
  TimingWheel w2;
  w2.schedule(&due, 1);
  EXPECT_EQ(Due(&w2, 1), std::vector<Timer*>{&due});
  w2.cancel(&due);
}

#ifndef NDEBUG
TEST(TimingWheelDeathTest, DestroyingScheduledTimerAsserts) {
  EXPECT_DEATH(
      {
        TimingWheel w;
        auto* t = new TestTimer;
        w.schedule(t, 1);
        delete t;
      },
      "");
}
#endif

// 100k timers spread over [0, 1.7e12] and one jump from 0 to 1.7e12: the cost is bounded by
// timers x levels, not by the 1.7e12 ms crossed (a per-ms walk would never finish).
TEST(TimingWheel, HugeJumpWithManyTimers) {
  constexpr int kN = 100000;
  constexpr int64_t kEnd = 1'700'000'000'000;
  TimingWheel w;
  EXPECT_TRUE(Due(&w, 0).empty());
  std::vector<TestTimer> ts(kN + 2);
  std::mt19937_64 rng(42);
  for (int i = 0; i < kN; ++i) {
    ts[i].id = i;
    w.schedule(&ts[i], static_cast<int64_t>(rng() % static_cast<uint64_t>(kEnd)) + 1);
  }
  w.schedule(&ts[kN], kEnd + 1);
  w.schedule(&ts[kN + 1], kEnd + 86'400'000LL * 3);  // three days later
  EXPECT_EQ(w.size(), static_cast<size_t>(kN + 2));
  std::vector<Timer*> due = Due(&w, kEnd);
  ASSERT_EQ(due.size(), static_cast<size_t>(kN));
  // They come out in deadline order.
  for (size_t i = 1; i < due.size(); ++i) {
    ASSERT_LE(due[i - 1]->deadline_ms(), due[i]->deadline_ms());
  }
  std::set<Timer*> unique(due.begin(), due.end());
  EXPECT_EQ(unique.size(), static_cast<size_t>(kN));
  for (Timer* t : due) w.cancel(t);
  EXPECT_EQ(w.size(), 2u);
  EXPECT_EQ(Due(&w, kEnd + 1), std::vector<Timer*>{&ts[kN]});
  w.cancel(&ts[kN]);
  // Days forward in one step.
  EXPECT_TRUE(Due(&w, kEnd + 86'400'000LL * 3 - 1).empty());
  EXPECT_EQ(Due(&w, kEnd + 86'400'000LL * 3), std::vector<Timer*>{&ts[kN + 1]});
  w.cancel(&ts[kN + 1]);
  EXPECT_EQ(w.size(), 0u);
}

// A million jumps of up to 2^59 ms with a timer always pending about one jump ahead: only
// feasible if advancing costs nothing per elapsed millisecond.
TEST(TimingWheel, ManyHugeJumps) {
  TimingWheel w;
  TestTimer t;
  int64_t now = kMin;
  int fired = 0;
  for (int i = 0; i < 1'000'000; ++i) {
    int64_t step = int64_t{1} << (20 + i % 40);
    if (now > kMax - 4 * step) {  // wrap back to the far past (time goes back)
      now = kMin + i;
      w.cancel(&t);
    }
    if (!t.scheduled()) w.schedule(&t, now + step + i % 7);
    now += step;
    bool expect_due = t.scheduled() && t.deadline_ms() <= now;
    std::vector<Timer*> due = Due(&w, now);
    ASSERT_EQ(due.size(), expect_due ? 1u : 0u) << "i=" << i;
    if (expect_due) {
      w.cancel(&t);
      ++fired;
    }
  }
  EXPECT_GT(fired, 500000);
  w.cancel(&t);
}

// Replays the same operations on two wheels whose timers live at different addresses (in
// opposite memory order): results must be identical, i.e. independent of pointer values.
TEST(TimingWheel, DeterministicAcrossAddressLayouts) {
  constexpr int kN = 500;
  auto run = [](bool reversed) {
    std::vector<std::unique_ptr<TestTimer>> storage;
    for (int i = 0; i < kN; ++i) storage.push_back(std::make_unique<TestTimer>());
    if (reversed) std::reverse(storage.begin(), storage.end());
    for (int i = 0; i < kN; ++i) storage[i]->id = i;
    TimingWheel w;
    std::mt19937_64 rng(7);
    std::vector<int> trace;
    int64_t now = 0;
    for (int step = 0; step < 20000; ++step) {
      TestTimer* t = storage[rng() % kN].get();
      switch (rng() % 4) {
        case 0:
        case 1:
          w.schedule(t, now + static_cast<int64_t>(rng() % 100000) - 1000);
          break;
        case 2:
          w.cancel(t);
          break;
        default: {
          now += static_cast<int64_t>(rng() % 5000);
          std::vector<Timer*> due = Due(&w, now, rng() % 20);
          for (int id : Ids(due)) trace.push_back(id);
          trace.push_back(-1);
          for (Timer* d : due) {
            if (rng() % 2) w.cancel(d);
          }
        }
      }
    }
    for (auto& t : storage) w.cancel(t.get());
    return trace;
  };
  std::vector<int> a = run(false);
  std::vector<int> b = run(true);
  EXPECT_GT(a.size(), 20000u / 4);
  EXPECT_EQ(a, b);
}

int64_t SaturatingAdd(int64_t a, int64_t b) {
  if (b > 0 && a > kMax - b) return kMax;
  if (b < 0 && a < kMin - b) return kMin;
  return a + b;
}

// Random schedule / cancel / reschedule / collect sequences checked against a brute-force
// model, with time moving in small steps, huge jumps, and occasionally backwards.
void RunModelCheck(uint64_t seed, int num_timers, int num_ops) {
  std::mt19937_64 rng(seed);
  auto uniform = [&rng](uint64_t n) { return n == 0 ? 0 : rng() % n; };
  std::vector<std::unique_ptr<TestTimer>> timers;
  for (int i = 0; i < num_timers; ++i) {
    timers.push_back(std::make_unique<TestTimer>());
    timers.back()->id = i;
  }
  std::vector<std::optional<int64_t>> model(num_timers);
  size_t model_size = 0;
  TimingWheel w;
  int64_t now = static_cast<int64_t>(uniform(3)) - 1;  // -1, 0 or 1
  size_t nonempty_collects = 0;

  auto random_deadline = [&]() -> int64_t {
    switch (uniform(10)) {
      case 0: return SaturatingAdd(now, static_cast<int64_t>(uniform(20)) - 10);
      case 1: return SaturatingAdd(now, static_cast<int64_t>(uniform(1 << 20)));
      case 2: return SaturatingAdd(now, static_cast<int64_t>(uniform(uint64_t{1} << 42)));
      case 3: return SaturatingAdd(now, -static_cast<int64_t>(uniform(uint64_t{1} << 30)));
      case 4: return static_cast<int64_t>(rng());  // anywhere in int64
      case 5: {
        // Exactly on a byte boundary above now.
        int bits = 8 * static_cast<int>(1 + uniform(6));
        int64_t b = int64_t{1} << bits;
        return SaturatingAdd(now - (now % b + b) % b, b);
      }
      case 6: return uniform(50) == 0 ? kMax : (uniform(2) ? kMin : kMax - 1);
      default: return SaturatingAdd(now, static_cast<int64_t>(uniform(2000)));
    }
  };
  auto advance_now = [&]() {
    switch (uniform(12)) {
      case 0: now = SaturatingAdd(now, static_cast<int64_t>(uniform(uint64_t{1} << 41))); break;
      case 1: now = SaturatingAdd(now, static_cast<int64_t>(uniform(1 << 18))); break;
      case 2: now = SaturatingAdd(now, -static_cast<int64_t>(uniform(5000))); break;  // backwards
      case 3:
        if (uniform(20) == 0) now = static_cast<int64_t>(rng());  // anywhere, either direction
        break;
      case 4: now = SaturatingAdd(now, static_cast<int64_t>(uniform(600))); break;
      default: now = SaturatingAdd(now, static_cast<int64_t>(uniform(4))); break;
    }
  };

  for (int op = 0; op < num_ops; ++op) {
    int id = static_cast<int>(uniform(num_timers));
    TestTimer* t = timers[id].get();
    uint64_t kind = uniform(100);
    if (kind < 40) {  // schedule or reschedule
      int64_t d = random_deadline();
      if (!model[id]) ++model_size;
      model[id] = d;
      w.schedule(t, d);
    } else if (kind < 52) {  // cancel
      if (model[id]) --model_size;
      model[id].reset();
      w.cancel(t);
    } else {  // collect, then act on part of what came back
      advance_now();
      size_t limit;
      switch (uniform(4)) {
        case 0: limit = uniform(3); break;
        case 1: limit = uniform(30); break;
        default: limit = kAll; break;
      }
      std::set<int> expected;
      for (int i = 0; i < num_timers; ++i) {
        if (model[i] && *model[i] <= now) expected.insert(i);
      }
      std::vector<int> got = Ids(Due(&w, now, limit));
      std::set<int> got_set(got.begin(), got.end());
      ASSERT_EQ(got_set.size(), got.size()) << "duplicates, op " << op;
      ASSERT_EQ(got.size(), std::min(limit, expected.size())) << "op " << op << " now " << now;
      for (int g : got) ASSERT_TRUE(expected.count(g)) << "timer " << g << " not due, op " << op;
      if (limit >= expected.size()) {
        ASSERT_EQ(got_set, expected);
      }
      if (!got.empty()) ++nonempty_collects;
      for (int g : got) {
        switch (uniform(4)) {
          case 0: break;  // leave it due
          case 1: {  // renew (e.g. a lease)
            int64_t d = random_deadline();
            model[g] = d;
            w.schedule(timers[g].get(), d);
            break;
          }
          default:
            model[g].reset();
            --model_size;
            w.cancel(timers[g].get());
        }
      }
    }
    ASSERT_EQ(w.size(), model_size) << "op " << op;
    if (op % 97 == 0) {
      for (int i = 0; i < num_timers; ++i) {
        ASSERT_EQ(timers[i]->scheduled(), model[i].has_value()) << "timer " << i;
        if (model[i]) {
          ASSERT_EQ(timers[i]->deadline_ms(), *model[i]) << "timer " << i;
        }
      }
    }
  }
  EXPECT_GT(nonempty_collects, static_cast<size_t>(num_ops) / 20);
  for (auto& t : timers) w.cancel(t.get());
  EXPECT_EQ(w.size(), 0u);
}

TEST(TimingWheel, RandomizedAgainstModelFewTimers) { RunModelCheck(1, 8, 20000); }
TEST(TimingWheel, RandomizedAgainstModelManyTimers) { RunModelCheck(2, 400, 60000); }
TEST(TimingWheel, RandomizedAgainstModelOtherSeeds) {
  for (uint64_t seed = 3; seed < 13; ++seed) {
    SCOPED_TRACE(seed);
    RunModelCheck(seed, 64, 10000);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace dkv::core
