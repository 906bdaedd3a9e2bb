// Network: the simulated links between nodes.
//
// A sent message waits in flight until its delivery time (now + a seeded delay), so messages
// are reordered whenever delays differ. Faults: random loss, duplication, occasional long delays,
// and cut links (partitions, one direction at a time so asymmetric splits are possible). A link
// is checked when the message arrives: a message in flight when a partition starts is lost.
//
// In manual mode (scenario tests) nothing is lost, duplicated or delayed by chance: messages
// wait, in send order, until the test delivers or drops them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "raft/types.h"
#include "sim/rng.h"
#include "sim/trace.h"

namespace dkv::sim {

// Selects messages in flight; an unset field matches anything.
struct MessageFilter {
  raft::NodeId from = 0;
  raft::NodeId to = 0;
  std::optional<raft::MessageType> type;
  std::function<bool(const raft::Message&)> where;  // anything else (e.g. a snapshot's index)

  bool matches(const raft::Message& m) const;
};

struct NetworkFaults {
  uint64_t drop_ppm = 0;       // chance a message is lost
  uint64_t duplicate_ppm = 0;  // chance it is delivered twice (the copy with its own delay)
  uint64_t min_delay = 1;      // time units; at least 1, so nothing arrives in the step it left
  uint64_t max_delay = 1;
  uint64_t slow_ppm = 0;       // chance it takes up to slow_delay instead: reordering
  uint64_t slow_delay = 1;
};

class Network {
 public:
  Network(Rng* rng, Trace* trace, bool manual) : rng_(rng), trace_(trace), manual_(manual) {}

  void set_faults(const NetworkFaults& faults) { faults_ = faults; }
  const NetworkFaults& faults() const { return faults_; }

  void send(uint64_t now, raft::Message m);

  // Removes and returns the messages due by `now`, in delivery order; those whose link is cut
  // are dropped instead.
  std::vector<raft::Message> take_due(uint64_t now);
  // Manual mode: removes and returns up to `max` messages matching `f`, in send order; those
  // whose link is cut are dropped instead.
  std::vector<raft::Message> take(const MessageFilter& f, size_t max = SIZE_MAX);
  // Manual mode: loses every message matching `f`; returns how many.
  size_t drop(const MessageFilter& f);
  std::vector<raft::Message> pending(const MessageFilter& f) const;
  // A sender crashed: each of its messages still in flight is lost with chance ppm (they were
  // still in its machine's buffers).
  size_t lose_sent_by(raft::NodeId from, uint64_t ppm);
  size_t in_flight() const { return in_flight_.size(); }

  // Links. cut(a, b) loses messages from a to b only.
  void cut(raft::NodeId from, raft::NodeId to) { cut_.insert({from, to}); }
  bool linked(raft::NodeId from, raft::NodeId to) const { return !cut_.count({from, to}); }
  bool partitioned() const { return !cut_.empty(); }
  void heal() { cut_.clear(); }

  // Statistics.
  uint64_t dropped() const { return dropped_; }
  uint64_t duplicated() const { return duplicated_; }
  uint64_t delivered() const { return delivered_; }

 private:
  void lose(uint64_t now, const raft::Message& m);

  Rng* rng_;
  Trace* trace_;
  bool manual_;
  NetworkFaults faults_;
  uint64_t now_ = 0;  // the time of the latest send or take, for trace events
  uint64_t seq_ = 0;
  // (delivery time, send sequence) -> message; in manual mode every delivery time is 0.
  std::map<std::pair<uint64_t, uint64_t>, raft::Message> in_flight_;
  std::set<std::pair<raft::NodeId, raft::NodeId>> cut_;
  uint64_t dropped_ = 0;
  uint64_t duplicated_ = 0;
  uint64_t delivered_ = 0;
};

}  // namespace dkv::sim
