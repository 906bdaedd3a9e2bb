// Proof that the simulator's checker bites: this executable links the simulator against
// dkv_raft_bug_commit_old_terms, the Raft core built with DKV_RAFT_BUG_COMMIT_OLD_TERMS, whose
// leader commits entries of earlier terms by counting replicas (the bug of Figure 8 in the Raft
// paper). Both the scripted Figure 8 scenario and the randomised runs, within the seed budget
// of the CI suite, must report a safety violation.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

#include "figure8.h"
#include "sim/runner.h"
#include "sim/simulator.h"

namespace dkv::sim {
namespace {

// What the broken commit rule can do: apply an entry that a later leader lacks and overwrites.
const std::set<std::string> kSafety = {"leader completeness", "state machine safety",
                                       "acknowledged writes", "linearizable reads", "log matching",
                                       "election safety"};

// The seed budget of sim_random_test under CI=true (or DKV_SIM_SEEDS): the bug must be found
// within what CI runs anyway.
uint64_t seed_budget() {
  if (const char* s = std::getenv("DKV_SIM_SEEDS"); s != nullptr && *s != '\0') {
    return std::strtoull(s, nullptr, 10);
  }
  return 2000;
}

TEST(CheckerBitesTest, Figure8ScenarioIsCaught) {
  Simulator sim(figure8::options());
  figure8::Observed seen = figure8::run(sim);
  // The broken leader commits X (term 1) in term 3 as soon as a majority holds it...
  EXPECT_GE(seen.s1_commit_in_term3, seen.x_index);
  // ...and the checker catches the consequence: S5 wins term 4 without X.
  ASSERT_FALSE(sim.ok()) << "the checker missed the Figure 8 bug";
  auto f = sim.failure();
  EXPECT_TRUE(kSafety.count(f->invariant)) << format_failure(*f);
  std::printf("%s", format_failure(*f).c_str());
}

TEST(CheckerBitesTest, RandomRunsFindTheBugWithinTheCiSeedBudget) {
  const uint64_t budget = seed_budget();
  Options base;
  base.nodes = 0;  // 3- and 5-node groups alternate
  uint64_t seed = 1;
  std::optional<Failure> found;
  for (; seed <= budget && !found; ++seed) {
    RunResult r = run_seed(options_for_seed(base, seed));
    // Only a safety violation proves the checker caught the broken commit rule.
    if (r.failure && kSafety.count(r.failure->invariant)) found = r.failure;
  }
  ASSERT_TRUE(found) << "no safety violation in " << budget << " seeds";
  found->replay += "  (reproduces only against dkv_raft_bug_commit_old_terms)";
  std::printf("found after %llu seeds:\n%s", static_cast<unsigned long long>(seed - 1),
              format_failure(*found).c_str());
}

}  // namespace
}  // namespace dkv::sim
