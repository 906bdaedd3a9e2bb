#include "core/watch_hub.h"

#include <algorithm>
#include <cassert>
#include <utility>

namespace dkv::core {

WatchHub::WatchHub(Options options, int64_t current_revision)
    : options_(options),
      current_revision_(current_revision),
      oldest_revision_(current_revision + 1) {}

size_t WatchHub::event_bytes(const Event& e) {
  size_t n = sizeof(Event) + e.kv.key.size() + e.kv.value.size();
  if (e.prev) n += e.prev->key.size() + e.prev->value.size();
  return n;
}

bool WatchHub::matches(const Watcher& w, const Event& e) {
  if (w.space != e.space) return false;
  if (!w.prefix) return e.kv.key == w.key;
  return std::string_view(e.kv.key).starts_with(w.key);
}

WatchHub::SpaceIndex& WatchHub::index_for(WatchSpace space) {
  auto i = static_cast<size_t>(space);
  assert(i < std::size(indexes_));
  return indexes_[i];
}

void WatchHub::add_to_index(Watcher* w) {
  SpaceIndex& index = index_for(w->space);
  if (!w->prefix) {
    index.exact[w->key].insert(w);
    return;
  }
  auto& bucket = index.prefixes[w->key];
  if (bucket.empty()) ++index.prefix_lengths[w->key.size()];
  bucket.insert(w);
}

void WatchHub::remove_from_index(Watcher* w) {
  SpaceIndex& index = index_for(w->space);
  auto& map = w->prefix ? index.prefixes : index.exact;
  auto it = map.find(w->key);
  if (it == map.end()) return;
  it->second.erase(w);
  if (!it->second.empty()) return;
  map.erase(it);  // drop empty buckets so lookups and prefix lengths stay tight
  if (w->prefix) {
    auto len = index.prefix_lengths.find(w->key.size());
    assert(len != index.prefix_lengths.end());
    if (--len->second == 0) index.prefix_lengths.erase(len);
  }
}

void WatchHub::collect_matches(const Event& e, std::vector<Watcher*>* out) {
  SpaceIndex& index = index_for(e.space);
  // absl::string_view, not std::string_view: Debian's abseil is built with its own string_view,
  // and only that type gets heterogeneous (allocation-free) lookup.
  const absl::string_view key(e.kv.key.data(), e.kv.key.size());
  if (auto it = index.exact.find(key); it != index.exact.end()) {
    out->insert(out->end(), it->second.begin(), it->second.end());
  }
  // Only the event key's own prefixes, and only of lengths some watcher uses.
  for (const auto& [len, count] : index.prefix_lengths) {
    if (len > key.size()) break;
    if (auto it = index.prefixes.find(key.substr(0, len)); it != index.prefixes.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
    }
  }
}

void WatchHub::mark_dirty(Watcher* w) {
  if (w->dirty) return;
  w->dirty = true;
  dirty_.push_back(w->id);
}

void WatchHub::enqueue(Watcher* w, const EventPtr& e) {
  if (w->ended || e->revision < w->from) return;
  if (w->pending.size() < options_.max_pending) {
    w->pending.push_back(e);
    mark_dirty(w);
    return;
  }
  // Cut off. Pending always starts at a revision boundary (drain() takes everything and a
  // revision is queued whole), so the first pending change is exactly where to resume. Initial
  // (snapshot) events carry no resumable position and are skipped.
  w->resume_from = e->revision;
  for (const EventPtr& p : w->pending) {
    if (!p->snapshot) {
      w->resume_from = p->revision;
      break;
    }
  }
  std::vector<EventPtr>().swap(w->pending);  // free the memory now, not at drain()
  w->ended = true;
  --live_watchers_;
  remove_from_index(w);
  mark_dirty(w);
}

Result<int64_t> WatchHub::subscribe(const WatchRequest& req, std::vector<EventPtr> initial) {
  if (req.from_revision < 0) {
    return Status(Code::kInvalidArgument,
                  "from_revision must not be negative, got " + std::to_string(req.from_revision));
  }
  const int64_t from = req.from_revision == 0 ? current_revision_ + 1 : req.from_revision;
  if (from < oldest_revision_) {
    return Status(Code::kCompacted, "revision " + std::to_string(from) +
                                        " has been compacted; the oldest available revision is " +
                                        std::to_string(oldest_revision_));
  }

  auto owned = std::make_unique<Watcher>();
  Watcher* w = owned.get();
  w->id = next_id_++;
  w->space = req.space;
  w->key = req.key;
  w->prefix = req.prefix;
  w->from = from;
  w->pending = std::move(initial);

  // Replay history from the first revision >= from.
  auto it = std::lower_bound(history_.begin(), history_.end(), from,
                             [](const Revision& r, int64_t rev) { return r.revision < rev; });
  for (; it != history_.end(); ++it) {
    for (const EventPtr& e : it->events) {
      if (matches(*w, *e)) w->pending.push_back(e);
    }
  }
  if (!w->pending.empty()) mark_dirty(w);

  add_to_index(w);
  watchers_.emplace(w->id, std::move(owned));
  ++live_watchers_;
  return w->id;
}

void WatchHub::unsubscribe(int64_t watch_id) {
  auto it = watchers_.find(watch_id);
  if (it == watchers_.end()) return;
  Watcher* w = it->second.get();
  if (!w->ended) {
    remove_from_index(w);
    --live_watchers_;
  }
  if (w->dirty) dirty_.erase(std::find(dirty_.begin(), dirty_.end(), watch_id));
  watchers_.erase(it);
}

void WatchHub::publish(std::vector<EventPtr> events) {
  if (events.empty()) return;
  const int64_t revision = events.front()->revision;
  assert(revision > current_revision_);
  Revision rev{revision, {}, 0};
  for (const EventPtr& e : events) {
    assert(e != nullptr && e->revision == revision);
    rev.bytes += event_bytes(*e);
    scratch_.clear();
    collect_matches(*e, &scratch_);
    for (Watcher* w : scratch_) enqueue(w, e);
  }
  current_revision_ = revision;
  history_events_ += events.size();
  history_bytes_ += rev.bytes;
  rev.events = std::move(events);
  history_.push_back(std::move(rev));
  evict();
}

void WatchHub::evict() {
  while (!history_.empty() &&
         (history_events_ > options_.history_events || history_bytes_ > options_.history_bytes)) {
    const Revision& r = history_.front();
    history_events_ -= r.events.size();
    history_bytes_ -= r.bytes;
    // Every later event is still held, so the next revision is the exact new lower bound.
    oldest_revision_ = r.revision + 1;
    history_.pop_front();
  }
}

std::vector<WatchHub::Delivery> WatchHub::drain() {
  std::vector<Delivery> out;
  out.reserve(dirty_.size());
  std::sort(dirty_.begin(), dirty_.end());
  for (int64_t id : dirty_) {
    auto it = watchers_.find(id);
    assert(it != watchers_.end());
    Watcher* w = it->second.get();
    w->dirty = false;
    Delivery d;
    d.watch_id = id;
    if (w->ended) {
      d.resume_from = w->resume_from;
      d.end = Status(Code::kLagging, "watch " + std::to_string(id) + " fell more than " +
                                         std::to_string(options_.max_pending) +
                                         " events behind; resume from revision " +
                                         std::to_string(w->resume_from));
      watchers_.erase(it);
    } else {
      d.events = std::move(w->pending);
      w->pending.clear();  // a moved-from vector is valid but unspecified
    }
    out.push_back(std::move(d));
  }
  dirty_.clear();
  return out;
}

void WatchHub::reset(int64_t current_revision) {
  history_.clear();
  history_events_ = 0;
  history_bytes_ = 0;
  current_revision_ = current_revision;
  oldest_revision_ = current_revision + 1;
}

}  // namespace dkv::core
