// dkv-raft-sim: runs the deterministic Raft simulator over a range of seeds and reports the
// first invariant violation with its trace and the command that replays it. Exits non-zero on
// any violation.
//
//   dkv-raft-sim --seeds 1000                     # seeds 1..1000, 3- and 5-node groups alternating
//   dkv-raft-sim --seeds 1 --first-seed 42 --verbose   # replay one seed, printing every event
#include <chrono>
#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "sim/runner.h"

int main(int argc, char** argv) {
  using namespace dkv::sim;
  CLI::App app{"Deterministic simulation of DKV's Raft core under faults"};
  uint64_t seeds = 100;
  uint64_t first_seed = 1;
  bool keep_going = false;
  Options base;
  base.nodes = 0;
  uint64_t compact_every = 0, chunk_bytes = 0, max_msg_bytes = 0;
  size_t max_inflight = 0;
  bool no_faults = false;
  app.add_option("--seeds", seeds, "How many seeds to run")->check(CLI::PositiveNumber);
  app.add_option("--first-seed", first_seed, "The first seed");
  app.add_option("--nodes", base.nodes, "Voters per group (0: alternate 3 and 5 by seed)");
  app.add_option("--steps", base.steps, "Time units of faults per seed, before the calm tail");
  app.add_option("--liveness-ticks", base.liveness_ticks,
                 "Ticks the calm tail has to elect a leader and commit a fresh entry");
  auto* compact = app.add_option("--compact-every", compact_every,
                                 "Applied entries between snapshots (0: never; default: by seed)");
  auto* chunk = app.add_option("--chunk-bytes", chunk_bytes, "Snapshot chunk size (default: by seed)");
  auto* msg = app.add_option("--max-msg-bytes", max_msg_bytes, "Entry bytes per append (default: by seed)");
  auto* inflight = app.add_option("--max-inflight", max_inflight,
                                  "Appends in flight per follower (default: by seed)");
  app.add_flag("--no-faults", no_faults, "A calm run: no crashes, partitions or message faults");
  app.add_flag("--keep-going", keep_going, "Run every seed even after a violation");
  app.add_flag("--verbose", base.verbose, "Print every event as it happens (meant for one seed)");
  CLI11_PARSE(app, argc, argv);
  if (*compact) base.compact_every = compact_every;
  if (*chunk) base.snapshot_chunk_bytes = chunk_bytes;
  if (*msg) base.max_msg_bytes = max_msg_bytes;
  if (*inflight) base.max_inflight_msgs = max_inflight;
  base.faults = !no_faults;

  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const uint64_t every = seeds >= 20 ? seeds / 20 : 1;
  uint64_t done = 0;
  std::printf("dkv-raft-sim: seeds %llu..%llu\n", static_cast<unsigned long long>(first_seed),
              static_cast<unsigned long long>(first_seed + seeds - 1));
  Summary summary = run_seeds(first_seed, seeds, base, !keep_going, [&](uint64_t seed, const RunResult& r) {
    ++done;
    if (r.failure) {
      std::printf("seed %llu: VIOLATION of %s\n", static_cast<unsigned long long>(seed),
                  r.failure->invariant.c_str());
    } else if (done % every == 0 || base.verbose) {
      std::printf("[%llu/%llu] seed %llu ok (%.1f s)\n", static_cast<unsigned long long>(done),
                  static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(seed),
                  seconds());
    }
    std::fflush(stdout);
  });

  std::printf("\nsummary (%.1f s):\n%s  trace digest: %016llx\n", seconds(),
              format_stats(summary.stats).c_str(), static_cast<unsigned long long>(summary.digest));
  if (summary.first_failure) {
    std::printf("  seeds failed: %llu\n\nfirst failure:\n%s",
                static_cast<unsigned long long>(summary.failures),
                format_failure(*summary.first_failure).c_str());
    return 1;
  }
  std::printf("no violations\n");
  return 0;
}
