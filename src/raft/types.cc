#include "raft/types.h"

namespace dkv::raft {

namespace {
class MemorySnapshotData final : public SnapshotData {
 public:
  explicit MemorySnapshotData(std::string bytes) : bytes_(std::move(bytes)) {}
  uint64_t size() const override { return bytes_.size(); }
  Status read(uint64_t offset, uint64_t len, std::string* out) const override {
    out->append(bytes_, offset, len);
    return Status();
  }

 private:
  std::string bytes_;
};
}  // namespace

SnapshotDataPtr snapshot_data(std::string bytes) {
  return std::make_shared<const MemorySnapshotData>(std::move(bytes));
}

Result<std::string> read_all(const SnapshotData& data) {
  std::string out;
  out.reserve(data.size());
  Status s = data.read(0, data.size(), &out);
  if (!s.ok()) return s;
  return out;
}

const char* role_name(Role role) {
  switch (role) {
    case Role::kFollower: return "follower";
    case Role::kPreCandidate: return "pre-candidate";
    case Role::kCandidate: return "candidate";
    case Role::kLeader: return "leader";
  }
  return "unknown";
}

const char* message_type_name(MessageType type) {
  switch (type) {
    case MessageType::kAppend: return "Append";
    case MessageType::kAppendResp: return "AppendResp";
    case MessageType::kVote: return "Vote";
    case MessageType::kVoteResp: return "VoteResp";
    case MessageType::kPreVote: return "PreVote";
    case MessageType::kPreVoteResp: return "PreVoteResp";
    case MessageType::kHeartbeat: return "Heartbeat";
    case MessageType::kHeartbeatResp: return "HeartbeatResp";
    case MessageType::kSnapshot: return "Snapshot";
    case MessageType::kSnapshotResp: return "SnapshotResp";
    case MessageType::kReadIndex: return "ReadIndex";
    case MessageType::kReadIndexResp: return "ReadIndexResp";
    case MessageType::kTimeoutNow: return "TimeoutNow";
    case MessageType::kForward: return "Forward";
  }
  return "Unknown";
}

}  // namespace dkv::raft
