// Rng: the simulator's only source of randomness. One seed determines a whole run.
//
// std::mt19937_64's output sequence is fixed by the C++ standard, but the std:: distributions
// are not (libstdc++ and libc++ map the same bits to different numbers), so every derived value
// here is computed by our own integer arithmetic: a seed replays identically everywhere.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace dkv::sim {

// A stateless 64-bit mixer (splitmix64's finaliser): derives independent seeds from one.
uint64_t mix64(uint64_t x);

class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(mix64(seed)) {}

  uint64_t next() { return gen_(); }
  // Uniform in [0, n); n > 0. Unbiased (rejects the short tail of the 64-bit range).
  uint64_t uniform(uint64_t n);
  // Uniform in [lo, hi], inclusive.
  uint64_t range(uint64_t lo, uint64_t hi) { return lo + uniform(hi - lo + 1); }
  // True with probability ppm / 1,000,000 (integers only, so no floating-point drift).
  bool chance(uint64_t ppm) { return ppm > 0 && uniform(1000000) < ppm; }

  template <typename T>
  const T& pick(const std::vector<T>& items) {
    return items[uniform(items.size())];
  }

 private:
  std::mt19937_64 gen_;
};

}  // namespace dkv::sim
