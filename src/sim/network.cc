#include "sim/network.h"

#include <utility>

namespace dkv::sim {

bool MessageFilter::matches(const raft::Message& m) const {
  return (from == 0 || m.from == from) && (to == 0 || m.to == to) && (!type || m.type == *type) &&
         (!where || where(m));
}

void Network::lose(uint64_t now, const raft::Message& m) {
  ++dropped_;
  trace_->add(Event::message(now, EventKind::kDrop, m));
}

void Network::send(uint64_t now, raft::Message m) {
  now_ = now;
  if (manual_) {
    in_flight_.emplace(std::make_pair(uint64_t{0}, seq_++), std::move(m));
    return;
  }
  if (rng_->chance(faults_.drop_ppm)) {
    lose(now, m);
    return;
  }
  auto delay = [&] {
    if (rng_->chance(faults_.slow_ppm)) return rng_->range(faults_.min_delay, faults_.slow_delay);
    return rng_->range(faults_.min_delay, faults_.max_delay);
  };
  if (rng_->chance(faults_.duplicate_ppm)) {
    ++duplicated_;
    trace_->add(Event::message(now, EventKind::kDuplicate, m));
    in_flight_.emplace(std::make_pair(now + delay(), seq_++), m);
  }
  in_flight_.emplace(std::make_pair(now + delay(), seq_++), std::move(m));
}

std::vector<raft::Message> Network::take_due(uint64_t now) {
  now_ = now;
  std::vector<raft::Message> out;
  while (!in_flight_.empty() && in_flight_.begin()->first.first <= now) {
    raft::Message m = std::move(in_flight_.begin()->second);
    in_flight_.erase(in_flight_.begin());
    if (!linked(m.from, m.to)) {
      lose(now, m);
      continue;
    }
    ++delivered_;
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<raft::Message> Network::take(const MessageFilter& f, size_t max) {
  std::vector<raft::Message> out;
  for (auto it = in_flight_.begin(); it != in_flight_.end() && out.size() < max;) {
    if (!f.matches(it->second)) {
      ++it;
      continue;
    }
    raft::Message m = std::move(it->second);
    it = in_flight_.erase(it);
    if (!linked(m.from, m.to)) {
      lose(now_, m);
      continue;
    }
    ++delivered_;
    out.push_back(std::move(m));
  }
  return out;
}

size_t Network::drop(const MessageFilter& f) {
  size_t n = 0;
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (f.matches(it->second)) {
      lose(now_, it->second);
      it = in_flight_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

size_t Network::lose_sent_by(raft::NodeId from, uint64_t ppm) {
  size_t n = 0;
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (it->second.from == from && rng_->chance(ppm)) {
      lose(now_, it->second);
      it = in_flight_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

std::vector<raft::Message> Network::pending(const MessageFilter& f) const {
  std::vector<raft::Message> out;
  for (const auto& [key, m] : in_flight_) {
    if (f.matches(m)) out.push_back(m);
  }
  return out;
}

}  // namespace dkv::sim
