// The randomised simulation: thousands of seeds of 3- and 5-node groups under every fault the
// simulator knows, each checked after every step (see src/sim/checker.h). Sharded so CTest can
// run the shards in parallel.
//
// DKV_SIM_SEEDS overrides the total number of seeds (split evenly over the shards); the default
// is smaller under CI=true so the suite fits its time budget on slow machines.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <ostream>
#include <string>

#include "sim/runner.h"

namespace dkv::sim {
namespace {

constexpr uint64_t kShards = 4;

uint64_t total_seeds() {
  if (const char* s = std::getenv("DKV_SIM_SEEDS"); s != nullptr && *s != '\0') {
    return std::strtoull(s, nullptr, 10);
  }
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::strcmp(ci, "true") == 0 ? 2000 : 4000;
}

struct Shard {
  size_t nodes;
  uint64_t index;
};

void PrintTo(const Shard& s, std::ostream* os) { *os << s.nodes << " nodes, shard " << s.index; }

class SimRandomTest : public ::testing::TestWithParam<Shard> {};

TEST_P(SimRandomTest, NoInvariantIsViolated) {
  const Shard shard = GetParam();
  // Half the seeds for each group size, a quarter of that per shard.
  const uint64_t per_shard = (total_seeds() + 2 * kShards - 1) / (2 * kShards);
  // 3- and 5-node runs use disjoint seed ranges, so every run is a different world.
  const uint64_t first = (shard.nodes == 3 ? 1 : 1000001) + shard.index * per_shard;
  Options base;
  base.nodes = shard.nodes;
  Summary summary = run_seeds(first, per_shard, base, /*stop_at_failure=*/true);
  if (summary.first_failure) {
    FAIL() << format_failure(*summary.first_failure);
  }
  EXPECT_EQ(summary.stats.seeds, per_shard);
  // The runs must have done something: leaders, commits, and every kind of fault.
  if (per_shard >= 50) {
    EXPECT_GT(summary.stats.leaders, per_shard);
    EXPECT_GT(summary.stats.committed, per_shard * 10);
    EXPECT_GT(summary.stats.crashes, 0u);
    EXPECT_GT(summary.stats.torn_writes, 0u);
    EXPECT_GT(summary.stats.partitions, 0u);
    EXPECT_GT(summary.stats.dropped, 0u);
    EXPECT_GT(summary.stats.duplicated, 0u);
    EXPECT_GT(summary.stats.conf_changes, 0u);
    EXPECT_GT(summary.stats.transfers, 0u);
    EXPECT_GT(summary.stats.snapshots_installed, 0u);
    EXPECT_GT(summary.stats.reads_served, 0u);
    EXPECT_GT(summary.stats.pipelined, 0u);
  }
  std::printf("%s", format_stats(summary.stats).c_str());
}

std::string shard_name(const ::testing::TestParamInfo<Shard>& info) {
  return std::to_string(info.param.nodes) + "Nodes_Shard" + std::to_string(info.param.index);
}

INSTANTIATE_TEST_SUITE_P(Seeds, SimRandomTest,
                         ::testing::Values(Shard{3, 0}, Shard{3, 1}, Shard{3, 2}, Shard{3, 3},
                                           Shard{5, 0}, Shard{5, 1}, Shard{5, 2}, Shard{5, 3}),
                         shard_name);

// Same seed, same run: the digest covers every event (messages, ticks, crashes, roles).
TEST(SimDeterminismTest, SameSeedSameTrace) {
  for (uint64_t seed : {7u, 8u, 12345u}) {
    Options o = options_for_seed(Options{.nodes = 0}, seed);
    RunResult a = run_seed(o);
    RunResult b = run_seed(o);
    ASSERT_FALSE(a.failure) << format_failure(*a.failure);
    EXPECT_EQ(a.digest, b.digest) << "seed " << seed;
    EXPECT_EQ(a.stats.messages, b.stats.messages);
    EXPECT_EQ(a.stats.committed, b.stats.committed);
  }
}

TEST(SimDeterminismTest, DifferentSeedsDifferentTraces) {
  RunResult a = run_seed(options_for_seed(Options{.nodes = 3}, 1));
  RunResult b = run_seed(options_for_seed(Options{.nodes = 3}, 2));
  EXPECT_NE(a.digest, b.digest);
}

// A calm run (no faults) must still make progress, quickly: the baseline the faults degrade.
TEST(SimRandomCalmTest, CalmGroupCommitsAndServesReads) {
  for (size_t nodes : {1u, 3u, 5u}) {
    Options o;
    o.seed = 99;
    o.nodes = nodes;
    o.faults = false;
    RunResult r = run_seed(o);
    ASSERT_FALSE(r.failure) << format_failure(*r.failure);
    EXPECT_EQ(r.stats.crashes, 0u);
    EXPECT_GE(r.stats.leaders, 1u);
  }
}

}  // namespace
}  // namespace dkv::sim
