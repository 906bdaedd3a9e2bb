// WatchHub: matches the state machine's change events to watch subscriptions and keeps a bounded
// history of recent events so that a watcher can resume from a revision.
//
// Single-threaded: the caller serialises every call. No I/O, no clocks.
//
// Revisions. Every applied command yields zero or more events, all with the same revision, and
// the caller publishes them together; successive publishes carry strictly increasing revisions.
// Commands that yield no events need not be published (revisions may have gaps).
//
// Matching. A watcher watches one WatchSpace (keys, locks and elections are separate namespaces)
// and either one exact key or a key prefix; the empty prefix matches every key of its space.
// Matching an event costs one hash lookup for exact watchers plus one per distinct prefix length
// in use in that space (never a scan of all subscriptions).
//
// Delivery. Each watcher has a queue of pending events; drain() hands them over. A watcher whose
// queue would grow beyond Options::max_pending is cut off: its pending events are dropped and its
// next delivery ends it with LAGGING, naming the revision to resume from. Events are delivered as
// published: `prev` is present whether or not the request asked for it (WatchRequest::prev_value),
// so the layer that sends events out must omit it; stripping it here would cost a copy per event.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "dkv/status.h"
#include "dkv/types.h"

namespace dkv::core {

// Shared so that fanning one event out to many watchers (and keeping it in history) copies nothing.
using EventPtr = std::shared_ptr<const Event>;

class WatchHub {
 public:
  struct Options {
    // History bounds: after a publish, whole revisions are evicted, oldest first, until the
    // history holds at most `history_events` events of at most `history_bytes` approximate size
    // (sum over events of sizeof(Event) and the key, value, prev key and prev value sizes: an
    // event of a 100-byte value holds about 700 bytes). A single revision larger than the bounds
    // is evicted too: the bounds are hard. The default matches the MVCC history a server keeps
    // (10000 revisions): FROM can go back as far as REV can.
    size_t history_events = 10000;
    size_t history_bytes = 64 << 20;
    // Per watcher: a publish that would make more than this many events pending cuts it off.
    size_t max_pending = 10000;
  };

  struct Delivery {
    int64_t watch_id = 0;
    // In order: the subscription's `initial` events, then changes in revision order.
    std::vector<EventPtr> events;
    // OK while the watch lives. LAGGING when it was cut off (then `events` is empty and the
    // watch is gone): the message names resume_from.
    Status end;
    // When `end` is LAGGING: the revision of the first change the watcher did not receive.
    // Resubscribing with from_revision = resume_from misses nothing and repeats nothing.
    int64_t resume_from = 0;
  };

  // The hub has every event after `current_revision`; its history starts empty.
  WatchHub(Options options, int64_t current_revision);

  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Registers a watcher for req.space / req.key / req.prefix and returns its id (ids start at 1
  // and increase; they are never reused). Events are delivered from `from` on, where
  // from = req.from_revision, or current_revision() + 1 when req.from_revision is 0; a `from`
  // beyond the current revision is allowed (earlier events are simply not delivered).
  //
  // Queued at once: `initial` (e.g. a snapshot of current values the caller read; delivered
  // as given, unmatched), then every historical event with revision >= from that matches, in
  // order. This queueing is not limited by max_pending; the limit applies from the next publish.
  // req.snapshot and req.prev_value are not interpreted here.
  //
  // Errors: INVALID_ARGUMENT if req.from_revision < 0; COMPACTED if from < oldest_revision(),
  // with a message naming oldest_revision().
  Result<int64_t> subscribe(const WatchRequest& req, std::vector<EventPtr> initial = {});

  // Removes a watcher and anything pending for it, including an undelivered LAGGING end; drain()
  // will not mention it again. No-op for unknown ids.
  void unsubscribe(int64_t watch_id);

  // Publishes one command's events. Preconditions (asserted): all events are non-null and share
  // one revision, which is greater than current_revision(). An empty vector is a no-op.
  void publish(std::vector<EventPtr> events);

  // Takes everything pending: one Delivery per watcher that has events or was cut off, ordered
  // by watch id. Cut-off watchers are forgotten once their LAGGING delivery is taken.
  std::vector<Delivery> drain();

  // Whether drain() would return anything.
  bool has_pending() const { return !dirty_.empty(); }

  // The smallest revision a new subscription may start from: the hub holds every event with a
  // revision >= this (current_revision() + 1 when the history is empty).
  int64_t oldest_revision() const { return oldest_revision_; }
  // The last published revision (or the one given to the constructor / reset()).
  int64_t current_revision() const { return current_revision_; }
  // Live watchers: subscribed and neither unsubscribed nor cut off.
  size_t watcher_count() const { return live_watchers_; }
  // Events and approximate bytes currently kept in history.
  size_t history_event_count() const { return history_events_; }
  size_t history_byte_count() const { return history_bytes_; }

  // Forgets the history and restarts at `current_revision` (after the state machine restored a
  // snapshot). Existing watchers stay subscribed and keep their pending events; they see no
  // events for the revisions the snapshot skipped.
  void reset(int64_t current_revision);

 private:
  struct Watcher {
    int64_t id = 0;
    WatchSpace space = WatchSpace::kKeys;
    std::string key;  // exact key or prefix
    bool prefix = false;
    int64_t from = 0;  // deliver only events with revision >= from
    std::vector<EventPtr> pending;
    bool dirty = false;  // listed in dirty_
    bool ended = false;  // cut off as lagging; removed from the indexes
    int64_t resume_from = 0;
  };

  // Index of one WatchSpace. Buckets hold watcher pointers (stable: watchers are heap-allocated).
  struct SpaceIndex {
    absl::flat_hash_map<std::string, absl::flat_hash_set<Watcher*>> exact;
    absl::flat_hash_map<std::string, absl::flat_hash_set<Watcher*>> prefixes;
    // Distinct prefix lengths in use -> number of distinct prefixes of that length.
    std::map<size_t, size_t> prefix_lengths;
  };

  struct Revision {
    int64_t revision = 0;
    std::vector<EventPtr> events;
    size_t bytes = 0;
  };

  static size_t event_bytes(const Event& e);
  static bool matches(const Watcher& w, const Event& e);

  SpaceIndex& index_for(WatchSpace space);
  void add_to_index(Watcher* w);
  void remove_from_index(Watcher* w);
  void collect_matches(const Event& e, std::vector<Watcher*>* out);
  void enqueue(Watcher* w, const EventPtr& e);
  void mark_dirty(Watcher* w);
  void evict();

  const Options options_;
  int64_t current_revision_;
  int64_t oldest_revision_;
  int64_t next_id_ = 1;
  size_t live_watchers_ = 0;

  absl::flat_hash_map<int64_t, std::unique_ptr<Watcher>> watchers_;
  SpaceIndex indexes_[3];       // by WatchSpace
  std::vector<int64_t> dirty_;  // ids of watchers with something for drain(), unordered

  std::deque<Revision> history_;  // oldest first
  size_t history_events_ = 0;
  size_t history_bytes_ = 0;

  std::vector<Watcher*> scratch_;  // reused by publish()
};

}  // namespace dkv::core
