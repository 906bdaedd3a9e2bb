// Small deterministic hashes for the simulator's fingerprints (state machine images, entry
// contents, the event trace digest). Not std::hash: its values may differ between builds.
#pragma once

#include <cstdint>
#include <string_view>

namespace dkv::sim {

// 64-bit FNV-1a of the bytes.
uint64_t hash_bytes(std::string_view bytes);

// Folds `value` into the running hash `h` (order-sensitive).
uint64_t hash_combine(uint64_t h, uint64_t value);

}  // namespace dkv::sim
