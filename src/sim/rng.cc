#include "sim/rng.h"

namespace dkv::sim {

uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

uint64_t Rng::uniform(uint64_t n) {
  // The largest multiple of n that fits: values at or above it would favour small results.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do {
    x = gen_();
  } while (x >= limit);
  return x % n;
}

}  // namespace dkv::sim
