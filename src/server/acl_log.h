// AclLog: this node's recent ACL refusals, for ACL LOG (protocol.md 2.6), kept as Redis keeps
// them: newest first, at most kMaxEntries; a refusal like one logged less than 60 s before (same
// reason, context, object and user) counts on that entry instead of adding one. Not replicated:
// each member logs the requests it refused.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

namespace dkv::server {

class AclLog {
 public:
  static constexpr size_t kMaxEntries = 128;
  static constexpr int64_t kGroupingMs = 60'000;

  struct Entry {
    int64_t count = 1;
    std::string reason;   // "auth", "command" or "key"
    std::string context;  // "toplevel" or "multi"
    std::string object;   // the command, the key (or prefix), or "AUTH"
    std::string username;
    std::string client_info;  // the connection as CLIENT INFO describes it
    int64_t entry_id = 0;
    int64_t created_ms = 0;
    int64_t updated_ms = 0;
  };

  void add(std::string reason, std::string context, std::string object, std::string username,
           std::string client_info, int64_t now_ms);
  const std::deque<Entry>& entries() const { return entries_; }  // newest first
  void reset() { entries_.clear(); }

 private:
  std::deque<Entry> entries_;
  int64_t next_id_ = 0;
};

}  // namespace dkv::server
