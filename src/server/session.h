// Session: what the server remembers about one client connection between its commands.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "dkv/types.h"

namespace dkv::server {

struct Session {
  int64_t id = 0;        // CLIENT ID
  int protocol = 2;      // RESP version: connections start in RESP2; HELLO 3 switches
  std::string name;      // CLIENT SETNAME
  std::string address;   // peer host:port
  int64_t created_ms = 0;
  // ACL (acl.h): the user this connection acts as, and whether it has authenticated. A
  // connection starts authenticated as "default" if that user is on with nopass when its first
  // request comes (Redis decides at accept; DKV's users may still be settling then).
  std::string user = "default";
  bool authenticated = false;
  bool auth_decided = false;
  std::string last_command;
  // READONLY (as on a Redis Cluster replica): reads are served from this node's applied state
  // at once, without a read index from the leader; they may be stale. READWRITE ends it.
  bool stale_reads = false;

  // MULTI ... EXEC: queued commands, and whether one of them was refused while queueing
  // (EXEC then fails with EXECABORT, as in Redis).
  bool in_multi = false;
  bool multi_failed = false;
  std::vector<std::vector<std::string>> queued;
  // WATCH: each key with the mod_revision it had when watched (0 = absent). EXEC sends them as the
  // transaction's read set, so any change in between makes EXEC reply nil.
  std::vector<core::WatchedKey> watched;

  // KV.WATCH ids this connection owns. In RESP2 a connection with watches is in watch mode
  // (like Redis's subscribe mode): only KV.WATCH, KV.UNWATCH, PING and QUIT are accepted.
  std::set<int64_t> watches;
  // KV.WATCH requests accepted but not subscribed yet (each waits for its read barrier): watch
  // mode starts at the request, so that commands pipelined after it are judged in that mode.
  int pending_watches = 0;
  bool watch_mode() const { return protocol == 2 && (!watches.empty() || pending_watches > 0); }
  // The connection as CLIENT INFO describes it (without the newline).
  std::string client_info() const {
    return "id=" + std::to_string(id) + " addr=" + address + " name=" + name + " db=0 resp=" +
           std::to_string(protocol) + " user=" + user + " cmd=" + last_command;
  }
};

}  // namespace dkv::server
