#include "core/watch_hub.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace dkv::core {
namespace {

EventPtr ev(int64_t revision, std::string key, WatchSpace space = WatchSpace::kKeys,
            std::string value = "v") {
  auto e = std::make_shared<Event>();
  e->revision = revision;
  e->space = space;
  e->kv.key = std::move(key);
  e->kv.value = std::move(value);
  e->kv.mod_revision = revision;
  return e;
}

WatchRequest exact(std::string key, int64_t from = 0, WatchSpace space = WatchSpace::kKeys) {
  WatchRequest r;
  r.space = space;
  r.key = std::move(key);
  r.from_revision = from;
  return r;
}

WatchRequest prefix(std::string p, int64_t from = 0, WatchSpace space = WatchSpace::kKeys) {
  WatchRequest r = exact(std::move(p), from, space);
  r.prefix = true;
  return r;
}

int64_t must_subscribe(WatchHub& hub, const WatchRequest& req, std::vector<EventPtr> initial = {}) {
  Result<int64_t> r = hub.subscribe(req, std::move(initial));
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? *r : -1;
}

// (revision, key) of each event: a compact form to compare streams.
using Seen = std::vector<std::pair<int64_t, std::string>>;

Seen seen(const std::vector<EventPtr>& events) {
  Seen out;
  for (const EventPtr& e : events) out.emplace_back(e->revision, e->kv.key);
  return out;
}

// Drains and returns the events delivered to `id` (asserting the watch is still alive).
Seen take(WatchHub& hub, int64_t id) {
  Seen out;
  for (WatchHub::Delivery& d : hub.drain()) {
    if (d.watch_id != id) continue;
    EXPECT_TRUE(d.end.ok()) << d.end.to_string();
    Seen s = seen(d.events);
    out.insert(out.end(), s.begin(), s.end());
  }
  return out;
}

// Drains everything into a map by watch id.
std::map<int64_t, Seen> take_all(WatchHub& hub) {
  std::map<int64_t, Seen> out;
  for (WatchHub::Delivery& d : hub.drain()) {
    EXPECT_TRUE(d.end.ok()) << d.end.to_string();
    Seen s = seen(d.events);
    out[d.watch_id].insert(out[d.watch_id].end(), s.begin(), s.end());
  }
  return out;
}

WatchHub::Options big() {
  WatchHub::Options o;
  o.history_events = 1 << 20;
  o.history_bytes = size_t{1} << 30;
  o.max_pending = 1 << 20;
  return o;
}

TEST(WatchHub, StartsEmpty) {
  WatchHub hub(big(), 41);
  EXPECT_EQ(hub.current_revision(), 41);
  EXPECT_EQ(hub.oldest_revision(), 42);
  EXPECT_EQ(hub.watcher_count(), 0u);
  EXPECT_FALSE(hub.has_pending());
  EXPECT_TRUE(hub.drain().empty());
}

TEST(WatchHub, IdsStartAtOneAndIncrease) {
  WatchHub hub(big(), 0);
  EXPECT_EQ(must_subscribe(hub, exact("a")), 1);
  EXPECT_EQ(must_subscribe(hub, prefix("a")), 2);
  hub.unsubscribe(2);
  EXPECT_EQ(must_subscribe(hub, exact("b")), 3);  // never reused
  EXPECT_EQ(hub.watcher_count(), 2u);
}

TEST(WatchHub, ExactKeyMatchesOnlyThatKey) {
  WatchHub hub(big(), 0);
  int64_t id = must_subscribe(hub, exact("ab"));
  hub.publish({ev(1, "a"), ev(1, "ab"), ev(1, "abc"), ev(1, "b")});
  hub.publish({ev(2, "ab", WatchSpace::kLocks)});
  hub.publish({ev(3, "xab"), ev(3, "ab")});
  EXPECT_EQ(take(hub, id), (Seen{{1, "ab"}, {3, "ab"}}));
}

TEST(WatchHub, EmptyExactKeyIsJustAKey) {
  WatchHub hub(big(), 0);
  int64_t id = must_subscribe(hub, exact(""));
  hub.publish({ev(1, "a"), ev(1, "")});
  EXPECT_EQ(take(hub, id), (Seen{{1, ""}}));
}

TEST(WatchHub, PrefixMatchesKeysStartingWithIt) {
  WatchHub hub(big(), 0);
  int64_t id = must_subscribe(hub, prefix("ab"));
  hub.publish({ev(1, "a"), ev(1, "ab"), ev(1, "abc"), ev(1, "abd/x"), ev(1, "b"), ev(1, "xab"),
               ev(1, "aB")});
  EXPECT_EQ(take(hub, id), (Seen{{1, "ab"}, {1, "abc"}, {1, "abd/x"}}));
}

TEST(WatchHub, EmptyPrefixMatchesTheWholeSpaceOnly) {
  WatchHub hub(big(), 0);
  int64_t keys = must_subscribe(hub, prefix(""));
  int64_t locks = must_subscribe(hub, prefix("", 0, WatchSpace::kLocks));
  hub.publish({ev(1, ""), ev(1, "a"), ev(1, "zzz"), ev(1, "L", WatchSpace::kLocks),
               ev(1, "E", WatchSpace::kElections)});
  auto got = take_all(hub);
  EXPECT_EQ(got[keys], (Seen{{1, ""}, {1, "a"}, {1, "zzz"}}));
  EXPECT_EQ(got[locks], (Seen{{1, "L"}}));
  EXPECT_EQ(got.size(), 2u);
}

TEST(WatchHub, SpacesAreSeparateNamespaces) {
  WatchHub hub(big(), 0);
  int64_t k = must_subscribe(hub, exact("n", 0, WatchSpace::kKeys));
  int64_t l = must_subscribe(hub, exact("n", 0, WatchSpace::kLocks));
  int64_t e = must_subscribe(hub, prefix("n", 0, WatchSpace::kElections));
  hub.publish({ev(1, "n", WatchSpace::kLocks)});
  hub.publish({ev(2, "n", WatchSpace::kElections)});
  hub.publish({ev(3, "n", WatchSpace::kKeys)});
  hub.publish({ev(4, "nx", WatchSpace::kLocks)});
  auto got = take_all(hub);
  EXPECT_EQ(got[k], (Seen{{3, "n"}}));
  EXPECT_EQ(got[l], (Seen{{1, "n"}}));
  EXPECT_EQ(got[e], (Seen{{2, "n"}}));
}

TEST(WatchHub, OverlappingPrefixesAndSharedBuckets) {
  WatchHub hub(big(), 0);
  int64_t a = must_subscribe(hub, prefix("a"));
  int64_t ab1 = must_subscribe(hub, prefix("ab"));
  int64_t ab2 = must_subscribe(hub, prefix("ab"));
  int64_t abc = must_subscribe(hub, exact("abc"));
  hub.publish({ev(1, "abc")});
  hub.unsubscribe(ab1);  // ab2 shares the bucket and must keep matching
  hub.publish({ev(2, "abd")});
  auto got = take_all(hub);
  EXPECT_EQ(got[a], (Seen{{1, "abc"}, {2, "abd"}}));
  EXPECT_EQ(got.count(ab1), 0u);
  EXPECT_EQ(got[ab2], (Seen{{1, "abc"}, {2, "abd"}}));
  EXPECT_EQ(got[abc], (Seen{{1, "abc"}}));
}

TEST(WatchHub, FanOutSharesTheEventObjects) {
  WatchHub hub(big(), 0);
  int64_t a = must_subscribe(hub, prefix(""));
  int64_t b = must_subscribe(hub, exact("k"));
  EventPtr e = ev(1, "k");
  hub.publish({e});
  auto ds = hub.drain();
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(ds[0].watch_id, a);
  EXPECT_EQ(ds[1].watch_id, b);
  ASSERT_EQ(ds[0].events.size(), 1u);
  ASSERT_EQ(ds[1].events.size(), 1u);
  EXPECT_EQ(ds[0].events[0].get(), e.get());
  EXPECT_EQ(ds[1].events[0].get(), e.get());
}

TEST(WatchHub, DrainIsOrderedByIdAndEmptiesEverything) {
  WatchHub hub(big(), 0);
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(must_subscribe(hub, exact("k" + std::to_string(i))));
  hub.publish({ev(1, "k4"), ev(1, "k1"), ev(1, "k3")});
  hub.publish({ev(2, "k0")});
  EXPECT_TRUE(hub.has_pending());
  auto ds = hub.drain();
  std::vector<int64_t> order;
  for (const auto& d : ds) {
    order.push_back(d.watch_id);
    EXPECT_TRUE(d.end.ok());
    EXPECT_EQ(d.events.size(), 1u);
  }
  EXPECT_EQ(order, (std::vector<int64_t>{ids[0], ids[1], ids[3], ids[4]}));
  EXPECT_FALSE(hub.has_pending());
  EXPECT_TRUE(hub.drain().empty());
}

TEST(WatchHub, EventsOfARevisionArriveTogetherInPublishedOrder) {
  WatchHub hub(big(), 0);
  int64_t id = must_subscribe(hub, prefix("k"));
  hub.publish({ev(5, "k3"), ev(5, "k1"), ev(5, "x"), ev(5, "k2")});
  hub.publish({ev(9, "k0")});
  EXPECT_EQ(take(hub, id), (Seen{{5, "k3"}, {5, "k1"}, {5, "k2"}, {9, "k0"}}));
  EXPECT_EQ(hub.current_revision(), 9);
}

TEST(WatchHub, EmptyPublishIsANoOp) {
  WatchHub hub(big(), 7);
  must_subscribe(hub, prefix(""));
  hub.publish({});
  EXPECT_EQ(hub.current_revision(), 7);
  EXPECT_FALSE(hub.has_pending());
  EXPECT_EQ(hub.history_event_count(), 0u);
}

TEST(WatchHub, FromRevisionZeroMeansOnlyNewEvents) {
  WatchHub hub(big(), 0);
  hub.publish({ev(1, "k")});
  hub.publish({ev(2, "k")});
  int64_t id = must_subscribe(hub, exact("k"));
  EXPECT_FALSE(hub.has_pending());
  hub.publish({ev(3, "k")});
  EXPECT_EQ(take(hub, id), (Seen{{3, "k"}}));
}

TEST(WatchHub, ResumeFromHistoryThenLiveNoneTwice) {
  WatchHub hub(big(), 0);
  int64_t live = must_subscribe(hub, prefix("k"));
  for (int64_t r = 1; r <= 6; ++r) hub.publish({ev(r, "k" + std::to_string(r)), ev(r, "x")});
  Seen live_seen = take(hub, live);

  int64_t id = must_subscribe(hub, prefix("k", 3));
  EXPECT_TRUE(hub.has_pending());
  Seen got = take(hub, id);
  EXPECT_EQ(got, (Seen{{3, "k3"}, {4, "k4"}, {5, "k5"}, {6, "k6"}}));
  hub.publish({ev(7, "k7")});
  hub.publish({ev(8, "x")});
  hub.publish({ev(9, "k9")});
  Seen more = take(hub, id);
  EXPECT_EQ(more, (Seen{{7, "k7"}, {9, "k9"}}));

  // The resumed stream is exactly the live watcher's stream from revision 3 on.
  got.insert(got.end(), more.begin(), more.end());
  hub.publish({ev(10, "x")});
  Seen expect;
  for (const auto& s : live_seen) {
    if (s.first >= 3) expect.push_back(s);
  }
  expect.insert(expect.end(), {{7, "k7"}, {9, "k9"}});
  EXPECT_EQ(got, expect);
}

TEST(WatchHub, ResumeFromRevisionInAGap) {
  WatchHub hub(big(), 0);
  hub.publish({ev(10, "k")});
  hub.publish({ev(20, "k")});
  hub.publish({ev(30, "k")});
  int64_t id = must_subscribe(hub, exact("k", 15));
  EXPECT_EQ(take(hub, id), (Seen{{20, "k"}, {30, "k"}}));
}

TEST(WatchHub, FromRevisionInTheFutureSkipsEarlierEvents) {
  WatchHub hub(big(), 10);
  int64_t id = must_subscribe(hub, exact("k", 13));
  hub.publish({ev(11, "k")});
  hub.publish({ev(12, "k")});
  EXPECT_FALSE(hub.has_pending());
  hub.publish({ev(13, "k")});
  hub.publish({ev(14, "k")});
  EXPECT_EQ(take(hub, id), (Seen{{13, "k"}, {14, "k"}}));
}

TEST(WatchHub, InitialEventsComeFirstThenHistory) {
  WatchHub hub(big(), 0);
  hub.publish({ev(1, "a")});
  hub.publish({ev(2, "b")});
  EventPtr s1 = ev(2, "a", WatchSpace::kKeys, "snap");
  EventPtr s2 = ev(2, "zz-unmatched", WatchSpace::kKeys, "snap");  // delivered as given
  int64_t id = must_subscribe(hub, prefix("", 2), {s1, s2});
  hub.publish({ev(3, "c")});
  EXPECT_EQ(take(hub, id), (Seen{{2, "a"}, {2, "zz-unmatched"}, {2, "b"}, {3, "c"}}));
}

TEST(WatchHub, InitialEventsAloneMakeADelivery) {
  WatchHub hub(big(), 5);
  int64_t id = must_subscribe(hub, exact("a"), {ev(5, "a")});
  EXPECT_TRUE(hub.has_pending());
  EXPECT_EQ(take(hub, id), (Seen{{5, "a"}}));
}

TEST(WatchHub, NegativeFromRevisionIsInvalid) {
  WatchHub hub(big(), 0);
  Result<int64_t> r = hub.subscribe(exact("k", -1));
  EXPECT_EQ(r.code(), Code::kInvalidArgument);
  EXPECT_EQ(hub.watcher_count(), 0u);
}

TEST(WatchHub, CompactedBelowOldest) {
  WatchHub::Options o = big();
  o.history_events = 2;
  WatchHub hub(o, 100);
  // Before anything is published the hub has only what comes after revision 100.
  Result<int64_t> r = hub.subscribe(exact("k", 100));
  EXPECT_EQ(r.code(), Code::kCompacted);
  EXPECT_NE(r.status().message().find("101"), std::string::npos) << r.status().message();
  EXPECT_TRUE(hub.subscribe(exact("k", 101)).ok());

  for (int64_t rev = 101; rev <= 105; ++rev) hub.publish({ev(rev, "k")});
  EXPECT_EQ(hub.oldest_revision(), 104);
  r = hub.subscribe(exact("k", 103));
  EXPECT_EQ(r.code(), Code::kCompacted);
  EXPECT_NE(r.status().message().find("oldest available revision is 104"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(hub.watcher_count(), 1u);  // the failed subscriptions left nothing behind
  hub.drain();
  int64_t id = must_subscribe(hub, exact("k", 104));
  EXPECT_EQ(take(hub, id), (Seen{{104, "k"}, {105, "k"}}));
}

TEST(WatchHub, EvictionByCountDropsWholeRevisions) {
  WatchHub::Options o = big();
  o.history_events = 5;
  WatchHub hub(o, 0);
  hub.publish({ev(1, "a"), ev(1, "b")});
  hub.publish({ev(2, "a"), ev(2, "b")});
  EXPECT_EQ(hub.oldest_revision(), 1);
  hub.publish({ev(3, "a"), ev(3, "b")});  // 6 events > 5: revision 1 goes, both events
  EXPECT_EQ(hub.oldest_revision(), 2);
  EXPECT_EQ(hub.history_event_count(), 4u);
  hub.publish({ev(4, "a"), ev(4, "b"), ev(4, "c")});  // 7: revision 2 goes (5 left)
  EXPECT_EQ(hub.oldest_revision(), 3);
  EXPECT_EQ(hub.history_event_count(), 5u);

  int64_t id = must_subscribe(hub, prefix("", 3));
  EXPECT_EQ(take(hub, id), (Seen{{3, "a"}, {3, "b"}, {4, "a"}, {4, "b"}, {4, "c"}}));
  EXPECT_EQ(hub.subscribe(prefix("", 2)).code(), Code::kCompacted);
}

TEST(WatchHub, EvictionAcrossGapsKeepsOldestExact) {
  WatchHub::Options o = big();
  o.history_events = 2;
  WatchHub hub(o, 0);
  hub.publish({ev(10, "k")});
  hub.publish({ev(20, "k")});
  hub.publish({ev(30, "k")});  // revision 10 evicted: every event from 11 on is still held
  EXPECT_EQ(hub.oldest_revision(), 11);
  EXPECT_EQ(hub.subscribe(exact("k", 10)).code(), Code::kCompacted);
  int64_t id = must_subscribe(hub, exact("k", 11));
  EXPECT_EQ(take(hub, id), (Seen{{20, "k"}, {30, "k"}}));
}

TEST(WatchHub, EvictionByBytes) {
  // An event counts as its struct plus its keys' and values' bytes.
  constexpr size_t E = sizeof(Event);
  WatchHub::Options o = big();
  o.history_bytes = 3 * E + 100;
  WatchHub hub(o, 0);
  auto sized = [](int64_t rev, std::string key, size_t value_size) {
    return ev(rev, std::move(key), WatchSpace::kKeys, std::string(value_size, 'x'));
  };
  hub.publish({sized(1, "a", 29), sized(1, "b", 29)});  // 2E + 60 bytes
  EXPECT_EQ(hub.history_byte_count(), 2 * E + 60);
  hub.publish({sized(2, "c", 39)});  // 3E + 100: still within the bound
  EXPECT_EQ(hub.oldest_revision(), 1);

  // The previous value counts too: E + 1 + 9 + 1 + 9 -> 4E + 120 > 3E + 100, so revision 1
  // goes whole.
  auto e = std::make_shared<Event>(*sized(3, "d", 9));
  e->prev = KeyValue{};
  e->prev->key = "d";
  e->prev->value = std::string(9, 'p');
  hub.publish({e});
  EXPECT_EQ(hub.oldest_revision(), 2);
  EXPECT_EQ(hub.history_byte_count(), 2 * E + 60);
  EXPECT_EQ(hub.history_event_count(), 2u);
  int64_t id = must_subscribe(hub, prefix("", 2));
  EXPECT_EQ(take(hub, id), (Seen{{2, "c"}, {3, "d"}}));
}

TEST(WatchHub, RevisionLargerThanTheBoundsIsNotKept) {
  WatchHub::Options o = big();
  o.history_events = 2;
  WatchHub hub(o, 0);
  int64_t live = must_subscribe(hub, prefix(""));
  hub.publish({ev(1, "a"), ev(1, "b"), ev(1, "c")});
  EXPECT_EQ(hub.history_event_count(), 0u);
  EXPECT_EQ(hub.oldest_revision(), 2);
  EXPECT_EQ(hub.current_revision(), 1);
  // Live watchers still get it.
  EXPECT_EQ(take(hub, live), (Seen{{1, "a"}, {1, "b"}, {1, "c"}}));
}

TEST(WatchHub, LaggingWatcherIsCutOffAndToldWhereToResume) {
  WatchHub::Options o = big();
  o.max_pending = 3;
  WatchHub hub(o, 0);
  int64_t slow = must_subscribe(hub, prefix("k"));
  int64_t other = must_subscribe(hub, exact("other"));
  hub.publish({ev(1, "k1")});
  hub.publish({ev(2, "k2")});
  EXPECT_EQ(take(hub, slow), (Seen{{1, "k1"}, {2, "k2"}}));

  hub.publish({ev(3, "k3")});
  hub.publish({ev(4, "x")});
  hub.publish({ev(5, "k5")});
  hub.publish({ev(6, "k6")});  // 3 pending: at the bound, not beyond
  EXPECT_EQ(hub.watcher_count(), 2u);
  hub.publish({ev(7, "k7"), ev(7, "other")});  // would be the 4th: cut off
  EXPECT_EQ(hub.watcher_count(), 1u);
  hub.publish({ev(8, "k8")});  // no longer matched

  auto ds = hub.drain();
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(ds[0].watch_id, slow);
  EXPECT_TRUE(ds[0].events.empty());
  EXPECT_EQ(ds[0].end.code(), Code::kLagging);
  EXPECT_EQ(ds[0].resume_from, 3);
  EXPECT_NE(ds[0].end.message().find("resume from revision 3"), std::string::npos)
      << ds[0].end.message();
  EXPECT_EQ(ds[1].watch_id, other);
  EXPECT_TRUE(ds[1].end.ok());
  EXPECT_EQ(seen(ds[1].events), (Seen{{7, "other"}}));

  // The watch is gone: nothing more for it, and unsubscribing it is a no-op.
  hub.publish({ev(9, "k9")});
  EXPECT_FALSE(hub.has_pending());
  hub.unsubscribe(slow);

  // Resuming from the reported revision yields exactly what it missed.
  int64_t again = must_subscribe(hub, prefix("k", ds[0].resume_from));
  EXPECT_EQ(take(hub, again),
            (Seen{{3, "k3"}, {5, "k5"}, {6, "k6"}, {7, "k7"}, {8, "k8"}, {9, "k9"}}));
}

TEST(WatchHub, CutOffInsideARevisionResumesAtThatRevision) {
  WatchHub::Options o = big();
  o.max_pending = 2;
  WatchHub hub(o, 0);
  int64_t id = must_subscribe(hub, prefix(""));
  hub.publish({ev(1, "a")});
  EXPECT_EQ(take(hub, id), (Seen{{1, "a"}}));
  hub.publish({ev(2, "a"), ev(2, "b"), ev(2, "c")});
  auto ds = hub.drain();
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].end.code(), Code::kLagging);
  EXPECT_EQ(ds[0].resume_from, 2);
}

TEST(WatchHub, CutOffWithOnlyInitialEventsPendingResumesAtTheNewEvent) {
  WatchHub::Options o = big();
  o.max_pending = 2;
  WatchHub hub(o, 10);
  auto snap = [](std::string key) {
    auto e = std::make_shared<Event>(*ev(10, std::move(key)));
    e->snapshot = true;
    return EventPtr(e);
  };
  // Subscribe-time queueing is not limited by max_pending...
  must_subscribe(hub, prefix(""), {snap("a"), snap("b"), snap("c")});
  EXPECT_EQ(hub.watcher_count(), 1u);
  // ...but the next publish is.
  hub.publish({ev(11, "a")});
  auto ds = hub.drain();
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].end.code(), Code::kLagging);
  EXPECT_EQ(ds[0].resume_from, 11);
}

TEST(WatchHub, MaxPendingZeroCutsOffAtTheFirstEvent) {
  WatchHub::Options o = big();
  o.max_pending = 0;
  WatchHub hub(o, 0);
  int64_t id = must_subscribe(hub, exact("k"));
  hub.publish({ev(1, "x")});
  EXPECT_FALSE(hub.has_pending());
  hub.publish({ev(2, "k")});
  auto ds = hub.drain();
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].watch_id, id);
  EXPECT_EQ(ds[0].resume_from, 2);
}

TEST(WatchHub, Unsubscribe) {
  WatchHub hub(big(), 0);
  int64_t a = must_subscribe(hub, exact("k"));
  int64_t b = must_subscribe(hub, prefix("k"));
  hub.publish({ev(1, "k")});
  hub.unsubscribe(a);  // drops its pending events too
  hub.unsubscribe(a);  // again: no-op
  hub.unsubscribe(999);
  EXPECT_EQ(hub.watcher_count(), 1u);
  hub.publish({ev(2, "k")});
  auto got = take_all(hub);
  EXPECT_EQ(got.count(a), 0u);
  EXPECT_EQ(got[b], (Seen{{1, "k"}, {2, "k"}}));

  hub.publish({ev(3, "k")});
  EXPECT_TRUE(hub.has_pending());
  hub.unsubscribe(b);
  EXPECT_FALSE(hub.has_pending());
  EXPECT_TRUE(hub.drain().empty());
  EXPECT_EQ(hub.watcher_count(), 0u);
  hub.publish({ev(4, "k")});
  EXPECT_FALSE(hub.has_pending());
}

TEST(WatchHub, UnsubscribingACutOffWatcherDropsItsLaggingEnd) {
  WatchHub::Options o = big();
  o.max_pending = 1;
  WatchHub hub(o, 0);
  int64_t id = must_subscribe(hub, exact("k"));
  hub.publish({ev(1, "k")});
  hub.publish({ev(2, "k")});
  EXPECT_EQ(hub.watcher_count(), 0u);
  EXPECT_TRUE(hub.has_pending());
  hub.unsubscribe(id);
  EXPECT_FALSE(hub.has_pending());
  EXPECT_TRUE(hub.drain().empty());
}

TEST(WatchHub, Reset) {
  WatchHub hub(big(), 0);
  int64_t id = must_subscribe(hub, prefix(""));
  hub.publish({ev(1, "a")});
  hub.publish({ev(2, "b")});
  hub.reset(50);
  EXPECT_EQ(hub.current_revision(), 50);
  EXPECT_EQ(hub.oldest_revision(), 51);
  EXPECT_EQ(hub.history_event_count(), 0u);
  EXPECT_EQ(hub.history_byte_count(), 0u);
  EXPECT_EQ(hub.watcher_count(), 1u);
  EXPECT_EQ(hub.subscribe(prefix("", 2)).code(), Code::kCompacted);
  int64_t fresh = must_subscribe(hub, prefix("", 51));
  EXPECT_FALSE(hub.drain().empty());  // `id` kept its pending events across the reset
  hub.publish({ev(51, "c")});
  auto got = take_all(hub);
  EXPECT_EQ(got[id], (Seen{{51, "c"}}));
  EXPECT_EQ(got[fresh], (Seen{{51, "c"}}));
  int64_t late = must_subscribe(hub, prefix("", 51));
  EXPECT_EQ(take(hub, late), (Seen{{51, "c"}}));
}

TEST(WatchHub, ResetKeepsPendingEvents) {
  WatchHub hub(big(), 0);
  int64_t id = must_subscribe(hub, exact("a"));
  hub.publish({ev(1, "a")});
  hub.reset(10);
  hub.publish({ev(11, "a")});
  EXPECT_EQ(take(hub, id), (Seen{{1, "a"}, {11, "a"}}));
}

// --- Randomised: the indexed matcher against a brute-force one ---

struct Sub {
  WatchRequest req;
  int64_t from = 0;  // the first revision it may receive
  Seen got;
};

bool brute_match(const WatchRequest& r, const Event& e) {
  if (r.space != e.space) return false;
  return r.prefix ? e.kv.key.compare(0, r.key.size(), r.key) == 0 && e.kv.key.size() >= r.key.size()
                  : e.kv.key == r.key;
}

std::string random_key(std::mt19937& rng, size_t max_len) {
  static const char kAlphabet[] = "abc";
  size_t len = std::uniform_int_distribution<size_t>(0, max_len)(rng);
  std::string s;
  for (size_t i = 0; i < len; ++i) s.push_back(kAlphabet[rng() % 3]);
  return s;
}

TEST(WatchHub, RandomAgainstBruteForce) {
  std::mt19937 rng(20240607);
  WatchHub::Options o = big();
  o.history_events = 300;  // eviction happens, resumes stay within history
  WatchHub hub(o, 1000);
  std::vector<EventPtr> log;  // every published event, in order
  std::map<int64_t, Sub> subs;
  int64_t rev = 1000;

  auto deliver = [&] {
    for (WatchHub::Delivery& d : hub.drain()) {
      ASSERT_TRUE(d.end.ok());
      ASSERT_TRUE(subs.count(d.watch_id));
      Seen s = seen(d.events);
      auto& got = subs[d.watch_id].got;
      got.insert(got.end(), s.begin(), s.end());
    }
  };
  auto check = [&](int64_t id, const Sub& sub) {
    Seen expect;
    for (const EventPtr& e : log) {
      if (e->revision >= sub.from && brute_match(sub.req, *e)) {
        expect.emplace_back(e->revision, e->kv.key);
      }
    }
    EXPECT_EQ(sub.got, expect) << "watch " << id << " key '" << sub.req.key << "' prefix "
                               << sub.req.prefix;
  };

  for (int step = 0; step < 4000; ++step) {
    int action = static_cast<int>(rng() % 10);
    if (action < 2) {
      WatchRequest req;
      req.space = static_cast<WatchSpace>(rng() % 3);
      req.prefix = rng() % 3 != 0;
      req.key = random_key(rng, 4);
      // Resume from anywhere in history, now, or a little in the future.
      int64_t lo = hub.oldest_revision(), hi = hub.current_revision() + 3;
      req.from_revision =
          rng() % 4 == 0 ? 0 : std::uniform_int_distribution<int64_t>(lo, hi)(rng);
      int64_t from = req.from_revision == 0 ? hub.current_revision() + 1 : req.from_revision;
      if (lo > 1001 && rng() % 8 == 0) {
        EXPECT_EQ(hub.subscribe(exact("x", lo - 1)).code(), Code::kCompacted);
      }
      int64_t id = must_subscribe(hub, req);
      Sub sub;
      sub.req = req;
      sub.from = from;
      subs[id] = std::move(sub);
    } else if (action < 3 && !subs.empty()) {
      auto it = subs.begin();
      std::advance(it, rng() % subs.size());
      deliver();
      check(it->first, it->second);
      hub.unsubscribe(it->first);
      subs.erase(it);
    } else if (action < 4) {
      deliver();
    } else {
      rev += 1 + static_cast<int64_t>(rng() % 3);  // gaps allowed
      std::vector<EventPtr> events;
      size_t n = 1 + rng() % 4;
      for (size_t i = 0; i < n; ++i) {
        events.push_back(ev(rev, random_key(rng, 5), static_cast<WatchSpace>(rng() % 3)));
      }
      log.insert(log.end(), events.begin(), events.end());
      hub.publish(std::move(events));
    }
    ASSERT_EQ(hub.watcher_count(), subs.size());
  }
  deliver();
  ASSERT_GT(subs.size(), 20u);
  for (const auto& [id, sub] : subs) check(id, sub);
  EXPECT_LE(hub.history_event_count(), o.history_events);
  EXPECT_GT(hub.oldest_revision(), 1001);  // eviction did happen
}

// A slow consumer that is cut off again and again, resubscribing from the reported revision each
// time, still sees the full stream: nothing missed, nothing twice.
TEST(WatchHub, LaggingResumeReconstructsTheFullStream) {
  std::mt19937 rng(7);
  WatchHub::Options o = big();
  o.max_pending = 8;
  WatchHub hub(o, 0);
  WatchRequest req = prefix("a");
  int64_t id = must_subscribe(hub, req);
  Seen got, expect;
  int cutoffs = 0;
  int64_t rev = 0;
  auto drain_once = [&] {
    for (WatchHub::Delivery& d : hub.drain()) {
      ASSERT_EQ(d.watch_id, id);
      Seen s = seen(d.events);
      got.insert(got.end(), s.begin(), s.end());
      if (!d.end.ok()) {
        ASSERT_EQ(d.end.code(), Code::kLagging);
        ASSERT_TRUE(d.events.empty());
        ++cutoffs;
        req.from_revision = d.resume_from;
        id = must_subscribe(hub, req);
      }
    }
  };
  for (int step = 0; step < 3000; ++step) {
    if (rng() % 6 == 0) {
      drain_once();
    } else {
      rev += 1 + static_cast<int64_t>(rng() % 2);
      std::vector<EventPtr> events;
      size_t n = 1 + rng() % 3;
      for (size_t i = 0; i < n; ++i) {
        events.push_back(ev(rev, random_key(rng, 3)));
        if (brute_match(req, *events.back())) expect.emplace_back(rev, events.back()->kv.key);
      }
      hub.publish(std::move(events));
    }
  }
  // Without publishes nothing is cut off any more: at most one more resubscription to drain.
  for (int i = 0; i < 3 && hub.has_pending(); ++i) drain_once();
  EXPECT_FALSE(hub.has_pending());
  EXPECT_GT(cutoffs, 10);
  EXPECT_EQ(got, expect);
}

}  // namespace
}  // namespace dkv::core
