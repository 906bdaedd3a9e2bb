#include "sim/hash.h"

#include "sim/rng.h"

namespace dkv::sim {

uint64_t hash_bytes(std::string_view bytes) {
  uint64_t h = 0xCBF29CE484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001B3ULL;
  }
  return h;
}

uint64_t hash_combine(uint64_t h, uint64_t value) { return mix64(h ^ mix64(value)); }

}  // namespace dkv::sim
