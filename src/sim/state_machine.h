// StateMachine: the tiny deterministic application each simulated node runs.
//
// It applies every committed entry in order and keeps a fingerprint of the whole applied
// prefix (index, term, type, data of each entry), the number of client writes, and the last
// few of them. Its snapshot is its serialized state, padded by those recent writes so that
// snapshots span several chunks. Two nodes that applied the same prefix have equal images.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "raft/types.h"

namespace dkv::sim {

class StateMachine {
 public:
  // Requires e.index == applied() + 1.
  void apply(const raft::Entry& e);

  uint64_t applied() const { return applied_; }
  uint64_t fingerprint() const { return fingerprint_; }
  uint64_t writes() const { return writes_; }  // client entries applied (non-empty kNormal)
  const std::deque<std::string>& recent() const { return recent_; }

  std::string serialize() const;
  // nullopt if `image` is not something serialize() produced.
  static std::optional<StateMachine> deserialize(std::string_view image);

 private:
  static constexpr size_t kRecent = 12;

  uint64_t applied_ = 0;
  uint64_t fingerprint_ = 0;
  uint64_t writes_ = 0;
  std::deque<std::string> recent_;
};

}  // namespace dkv::sim
