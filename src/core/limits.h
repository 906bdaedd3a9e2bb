// Size limits on what one client write may carry, checked before it is proposed (a write that
// breaks one never reaches the log). Each refusal names the limit, its value and the server
// flag that sets it, so a client can tell a bad request from a full server.
//
//   WriteLimits limits;  // the defaults below
//   Status s = check_write_limits(body, limits);  // INVALID_ARGUMENT on a breach
#pragma once

#include <cstdint>

#include "core/command.h"
#include "dkv/status.h"

namespace dkv::core {

struct WriteLimits {
  int64_t max_key_bytes = 64 << 10;       // a key, lock or election name (--max-key-bytes)
  int64_t max_value_bytes = 1536 << 10;   // a value, APPEND suffix or election value (--max-value-bytes)
  int64_t max_labels = 64;                // labels on one key (--max-labels)
  int64_t max_txn_ops = 1024;             // reads + writes of one TXN.COMMIT, commands of one
                                          // MULTI, keys of one MSET / KV.MPUT / DEL / KV.MDEL (--max-txn-ops)
};

// OK, or INVALID_ARGUMENT saying which limit the command breaks, e.g.
// "value of 'k' is 2000000 bytes, over the limit of 1572864 (--max-value-bytes)". Entity,
// content type, label names and label values count as keys. Only what clients send is
// checked: commands the server makes itself (expiry, lease refresh, member addresses) pass.
Status check_write_limits(const CommandBody& body, const WriteLimits& limits);

}  // namespace dkv::core
