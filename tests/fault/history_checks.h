// Checks of a fault run's history beside linearizability (linearizability.h): what a watcher
// saw, and the order of fencing tokens.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "linearizability.h"

namespace dkv::fault {

// One event pushed to a watcher (KV.WATCH), in the order it arrived.
struct WatchedEvent {
  int64_t revision = 0;
  std::string type;  // PUT, DELETE, EXPIRE
  std::string key;
  std::string value;
};

struct HistoryCheck {
  bool ok = true;
  std::string explanation;  // the first anomaly, in words
};

// `events`: everything one watcher received from a watch on every key, started before any write
// and resumed on other members with FROM after each reconnect. `history`: the clients' register
// writes (kWrite) and counter increments (kAdd of 1). `final_values`: each key's value read after
// the run (nullopt: absent). Holds when, for every key:
// - revisions strictly increase (no event twice, none out of order);
// - a counter's values go 1, 2, 3, ... (no increment missed or applied twice);
// - every acknowledged register write is among its events (no gap), and every value seen was
//   written by an acknowledged or unknown write (nothing refused took effect);
// - the last event is the final value (the watcher missed nothing at the end).
// Keys not in `history` are skipped.
HistoryCheck check_watch(const std::vector<WatchedEvent>& events, const std::vector<Op>& history,
                         const std::map<std::string, std::optional<int64_t>>& final_values);

// A lock granted: the fencing token LOCK.ACQUIRE answered, to which lease.
struct LockGrant {
  int64_t token = 0;
  int64_t lease = 0;
};

// Lock holders are disjoint in fencing-token order: no token was granted to two leases, and the
// writes the server accepted with FENCE carry tokens that never go down in revision order
// (`fenced_tokens`, from a watcher's events on the fenced key).
HistoryCheck check_fencing(const std::vector<LockGrant>& grants, const std::vector<int64_t>& fenced_tokens);

}  // namespace dkv::fault
