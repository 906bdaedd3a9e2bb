// Running many seeds: what the dkv-raft-sim tool and the randomised tests share.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "sim/options.h"
#include "sim/simulator.h"

namespace dkv::sim {

// The options of one seed of a batch: base.nodes == 0 alternates 3- and 5-node groups.
Options options_for_seed(const Options& base, uint64_t seed);

// One random run.
RunResult run_seed(const Options& options);

struct Summary {
  Stats stats;
  uint64_t digest = 0;  // of every run's trace digest, in seed order: compares whole batches
  uint64_t failures = 0;
  std::optional<Failure> first_failure;  // with its replay command
};

// Runs seeds [first, first + count). `progress` (optional) is called after each seed.
// Stops at the first failure when stop_at_failure is set.
Summary run_seeds(uint64_t first, uint64_t count, const Options& base, bool stop_at_failure,
                  const std::function<void(uint64_t seed, const RunResult&)>& progress = {});

// A dkv-raft-sim command line replaying exactly this run, with the full trace.
std::string replay_command(const Options& options);

// One line per figure, for reports.
std::string format_stats(const Stats& stats);
// The failure report: invariant, detail, seed, the last events, the replay command.
std::string format_failure(const Failure& failure);

}  // namespace dkv::sim
