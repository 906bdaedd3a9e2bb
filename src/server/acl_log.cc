#include "server/acl_log.h"

#include <utility>

namespace dkv::server {

void AclLog::add(std::string reason, std::string context, std::string object, std::string username,
                 std::string client_info, int64_t now_ms) {
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->reason == reason && it->context == context && it->object == object && it->username == username &&
        now_ms - it->updated_ms < kGroupingMs) {
      Entry e = std::move(*it);
      entries_.erase(it);
      ++e.count;
      e.client_info = std::move(client_info);
      e.updated_ms = now_ms;
      entries_.push_front(std::move(e));
      return;
    }
  }
  Entry e;
  e.reason = std::move(reason);
  e.context = std::move(context);
  e.object = std::move(object);
  e.username = std::move(username);
  e.client_info = std::move(client_info);
  e.entry_id = next_id_++;
  e.created_ms = e.updated_ms = now_ms;
  entries_.push_front(std::move(e));
  if (entries_.size() > kMaxEntries) entries_.pop_back();
}

}  // namespace dkv::server
