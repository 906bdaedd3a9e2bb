#include "server/metrics.h"

namespace dkv::server {

void Metrics::record(std::string_view name, uint64_t usec, std::string_view error_code) {
  Command& c = commands_[name];
  ++c.calls;
  ++total_calls_;
  if (!error_code.empty()) {
    ++c.errors;
    auto it = c.errors_by_code.find(error_code);
    if (it == c.errors_by_code.end()) it = c.errors_by_code.emplace(std::string(error_code), 0).first;
    ++it->second;
  }
  c.total_usec += usec;
  const double seconds = static_cast<double>(usec) / 1e6;
  size_t b = 0;
  while (b < kBounds.size() && seconds > kBounds[b]) ++b;
  ++c.buckets[b];
}

}  // namespace dkv::server
