// Trace: what happened in a simulation run, as a stream of small events.
//
// Every event folds into a digest (two runs of one seed must produce the same digest: that is
// the determinism test), the last few are kept for the failure report, and with echo on all of
// them are printed as they happen (--verbose). Events are stored as plain fields and formatted
// only when printed, because a run records hundreds of thousands of them.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "raft/types.h"

namespace dkv::sim {

enum class EventKind : uint8_t {
  kTick,
  kDeliver,    // a message reached its recipient (node -> peer)
  kDrop,       // the network lost it (random loss, partition, recipient down)
  kDuplicate,  // the network will deliver it twice
  kCrash,      // count = 1 if the crash tore a write in flight
  kRestart,
  kStop,       // removed from the group: stopped for good
  kAddNode,
  kPartition,  // text describes the links cut
  kHeal,
  kRole,       // node's Raft changed role: text = role, peer = leader it knows, term
  kPropose,    // accepted at index/term (reject set: refused)
  kConfChange,
  kTransfer,
  kCampaign,
  kRead,       // read_index invoked (text: context); index = highest acknowledged index then
  kReadServed, // index = read index, commit = applied index it observed
  kCompact,
  kInstallSnapshot,
  kNote,       // anything else worth reading in a failure report (text)
};

struct Event {
  uint64_t time = 0;
  EventKind kind = EventKind::kNote;
  raft::NodeId node = 0;
  raft::NodeId peer = 0;
  raft::MessageType msg = raft::MessageType::kAppend;  // kDeliver, kDrop, kDuplicate
  uint64_t term = 0;
  uint64_t index = 0;
  uint64_t log_term = 0;
  uint64_t commit = 0;
  uint64_t count = 0;
  bool reject = false;
  std::string text;

  // A message event: fields copied from m (sender as node, recipient as peer).
  static Event message(uint64_t time, EventKind kind, const raft::Message& m);
};

class Trace {
 public:
  // keep: how many of the last events to retain; echo: print every event to stdout.
  Trace(size_t keep, bool echo) : keep_(keep), echo_(echo) {}

  void add(Event e);

  uint64_t digest() const { return digest_; }
  uint64_t count() const { return count_; }
  // The retained events, oldest first, one per line.
  std::string tail() const;

  static std::string format(const Event& e);

 private:
  size_t keep_;
  bool echo_;
  uint64_t digest_ = 0x5D4B5E7A11CE5EEDULL;
  uint64_t count_ = 0;
  std::deque<Event> tail_;
};

}  // namespace dkv::sim
