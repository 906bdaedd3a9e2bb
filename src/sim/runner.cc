#include "sim/runner.h"

#include "sim/hash.h"

namespace dkv::sim {

namespace {
std::string u(uint64_t v) { return std::to_string(v); }
}  // namespace

Options options_for_seed(const Options& base, uint64_t seed) {
  Options o = base;
  o.seed = seed;
  if (o.nodes == 0) o.nodes = seed % 2 == 0 ? 5 : 3;
  return o;
}

RunResult run_seed(const Options& options) {
  Simulator sim(options);
  RunResult r = sim.run();
  if (r.failure) r.failure->replay = replay_command(options);
  return r;
}

Summary run_seeds(uint64_t first, uint64_t count, const Options& base, bool stop_at_failure,
                  const std::function<void(uint64_t seed, const RunResult&)>& progress) {
  Summary summary;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    RunResult r = run_seed(options_for_seed(base, seed));
    summary.stats.add(r.stats);
    summary.digest = hash_combine(summary.digest, r.digest);
    if (r.failure) {
      ++summary.failures;
      if (!summary.first_failure) summary.first_failure = r.failure;
    }
    if (progress) progress(seed, r);
    if (r.failure && stop_at_failure) break;
  }
  return summary;
}

std::string replay_command(const Options& o) {
  std::string cmd = "dkv-raft-sim --seeds 1 --first-seed " + u(o.seed) + " --nodes " + u(o.nodes) +
                    " --steps " + u(o.steps);
  if (!o.faults) cmd += " --no-faults";
  if (o.compact_every) cmd += " --compact-every " + u(*o.compact_every);
  if (o.snapshot_chunk_bytes) cmd += " --chunk-bytes " + u(*o.snapshot_chunk_bytes);
  if (o.max_msg_bytes) cmd += " --max-msg-bytes " + u(*o.max_msg_bytes);
  if (o.max_inflight_msgs) cmd += " --max-inflight " + u(*o.max_inflight_msgs);
  if (o.liveness_ticks != Options().liveness_ticks) cmd += " --liveness-ticks " + u(o.liveness_ticks);
  return cmd + " --verbose";
}

std::string format_stats(const Stats& s) {
  std::string out;
  auto line = [&](const char* name, uint64_t v) { out += std::string("  ") + name + ": " + u(v) + "\n"; };
  line("seeds run", s.seeds);
  line("steps (time units)", s.steps);
  line("ticks", s.ticks);
  line("messages delivered", s.messages);
  line("leaders elected", s.leaders);
  line("entries committed", s.committed);
  line("writes acknowledged", s.writes_acked);
  line("reads served", s.reads_served);
  line("faults injected", s.faults());
  line("  crashes", s.crashes);
  line("  of which torn writes", s.torn_writes);
  line("  partitions", s.partitions);
  line("  messages dropped", s.dropped);
  line("  messages duplicated", s.duplicated);
  line("membership changes", s.conf_changes);
  line("leadership transfers", s.transfers);
  line("snapshots installed", s.snapshots_installed);
  line("pipelined Readys", s.pipelined);
  line("compactions", s.compactions);
  return out;
}

std::string format_failure(const Failure& f) {
  std::string out = "VIOLATION of " + f.invariant + " at t=" + u(f.time) + " (seed " + u(f.seed) +
                    "):\n  " + f.detail + "\nlast events:\n" + f.trace;
  if (!f.replay.empty()) out += "replay: " + f.replay + "\n";
  return out;
}

}  // namespace dkv::sim
