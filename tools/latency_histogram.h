// LatencyHistogram: latencies in microseconds in log-spaced buckets (each 4 % wider than the
// last, so a percentile is within 4 %), mergeable; for dkv-bench.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace dkv::tools {

class LatencyHistogram {
 public:
  LatencyHistogram() : counts_(kBuckets, 0) {}

  void record(int64_t micros) {
    ++counts_[bucket(micros)];
    ++total_;
    if (micros > max_) max_ = micros;
  }
  void merge(const LatencyHistogram& other) {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    if (other.max_ > max_) max_ = other.max_;
  }
  void clear() { *this = LatencyHistogram(); }
  int64_t count() const { return total_; }
  int64_t max() const { return max_; }
  // The latency at `quantile` (0..1]: the upper edge of the bucket it falls in; 0 when empty.
  int64_t percentile(double quantile) const {
    if (total_ == 0) return 0;
    const int64_t rank = static_cast<int64_t>(std::ceil(quantile * static_cast<double>(total_)));
    int64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const int64_t edge = static_cast<int64_t>(std::pow(kGrowth, i + 1));
        return edge < max_ ? edge : max_;
      }
    }
    return max_;
  }

 private:
  static constexpr double kGrowth = 1.04;
  static constexpr int kBuckets = 700;  // 1.04^700 us: far beyond any timeout
  static int bucket(int64_t micros) {
    if (micros <= 1) return 0;
    const int b = static_cast<int>(std::log(static_cast<double>(micros)) / std::log(kGrowth));
    return b < kBuckets ? b : kBuckets - 1;
  }

  std::vector<int64_t> counts_;
  int64_t total_ = 0;
  int64_t max_ = 0;
};

}  // namespace dkv::tools
