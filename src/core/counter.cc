#include "core/counter.h"

#include <charconv>

namespace dkv::core {

std::optional<int64_t> parse_counter(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::string_view digits = text[0] == '-' ? text.substr(1) : text;
  if (digits.empty() || (digits[0] == '0' && (digits.size() > 1 || text[0] == '-'))) {
    return std::nullopt;
  }
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace dkv::core
