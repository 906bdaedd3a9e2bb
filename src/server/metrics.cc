#include "server/metrics.h"

namespace dkv::server {

void Metrics::record(std::string_view name, uint64_t usec, bool failed) {
  Command& c = commands_[name];
  ++c.calls;
  ++total_calls_;
  if (failed) ++c.errors;
  c.total_usec += usec;
  const double seconds = static_cast<double>(usec) / 1e6;
  size_t b = 0;
  while (b < kBounds.size() && seconds > kBounds[b]) ++b;
  ++c.buckets[b];
}

}  // namespace dkv::server
