// dkv top: a live, in-place view of every member, refreshed each interval, read from their
// admin endpoints (GET /metrics): role, term, revision, Raft lag, ops/s per command family,
// p99 latency, keys, memory, connections, watchers.
#pragma once

#include <cstdint>
#include <vector>

#include "client/endpoint.h"

namespace dkv::cli {

struct TopOptions {
  std::vector<client::Endpoint> admins;  // each member's admin HTTP address
  int64_t interval_ms = 1000;
  int frames = 0;  // 0: until interrupted; else print this many frames (no screen clearing)
};

int run_top(const TopOptions& options);

}  // namespace dkv::cli
