// Counters are int64 values stored as decimal text, so Redis's INCR and DKV's CTR.ADD share keys.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace dkv::core {

// Parses the canonical decimal form Redis accepts for INCR: an optional '-', digits without
// leading zeros (bare "0" allowed, "-0" not), no spaces or '+', within int64.
std::optional<int64_t> parse_counter(std::string_view text);

}  // namespace dkv::core
