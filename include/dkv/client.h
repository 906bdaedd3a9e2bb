// dkv::Client: the one interface to a DKV store, whether it runs in this process (Embedded) or
// on a server. Every call is synchronous and thread-safe; expected outcomes come back as a
// Status in the Result, never as exceptions.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dkv/status.h"
#include "dkv/types.h"

namespace dkv {

class Transaction;

using WatchEventHandler = std::function<void(const Event&)>;
// Called once when a watch ends without unwatch(): LAGGING (resume from the revision named in
// the message) or CANCELLED (the store closed).
using WatchEndHandler = std::function<void(const Status&)>;

class Client {
 public:
  virtual ~Client() = default;

  // --- Key-value ---
  virtual Result<PutResult> put(std::string_view key, std::string_view value,
                                const PutOptions& options = {}) = 0;
  virtual Result<KeyValue> get(std::string_view key, const GetOptions& options = {}) = 0;
  virtual Result<DeleteResult> del(std::string_view key, const DeleteOptions& options = {}) = 0;
  // Bulk forms: one command, one revision; each item succeeds or fails on its own.
  virtual std::vector<Result<PutResult>> put_many(const std::vector<PutItem>& items) = 0;
  virtual std::vector<Result<KeyValue>> get_many(const std::vector<std::string>& keys) = 0;
  virtual std::vector<Result<DeleteResult>> delete_many(const std::vector<std::string>& keys) = 0;
  virtual Result<RangeResult> range(const KeyRange& range, const RangeOptions& options = {}) = 0;
  // Removes every key starting with `prefix` (all keys when empty) in one revision.
  virtual Result<ClearResult> clear(std::string_view prefix) = 0;
  virtual Result<int64_t> count(std::string_view prefix = {}) = 0;

  // --- Counters ---
  virtual Result<CounterResult> counter_add(std::string_view key, int64_t delta,
                                            const CounterOptions& options = {}) = 0;
  virtual Result<int64_t> counter_get(std::string_view key) = 0;
  virtual Result<CounterResult> counter_set(std::string_view key, int64_t value,
                                            int64_t ttl_ms = 0) = 0;

  // --- Leases ---
  virtual Result<LeaseGrant> lease_grant(int64_t ttl_ms) = 0;
  // Returns the lease's full TTL, now remaining again.
  virtual Result<int64_t> lease_keepalive(int64_t id) = 0;
  // Deletes every key attached to the lease and releases its locks and elections, at once.
  virtual Result<RevokeResult> lease_revoke(int64_t id) = 0;
  virtual Result<LeaseInfo> lease_ttl(int64_t id, bool with_keys = false) = 0;
  virtual Result<std::vector<LeaseInfo>> lease_list() = 0;

  // --- Locks (released when the holder's lease ends) ---
  // Returns the fencing token, or LOCKED. Acquiring again with the holder's lease returns the
  // same token.
  virtual Result<int64_t> lock_acquire(std::string_view name, int64_t lease) = 0;
  virtual Result<int64_t> lock_release(std::string_view name, int64_t token) = 0;
  virtual Result<LockOwner> lock_owner(std::string_view name) = 0;
  // lock_acquire, waiting up to `wait_ms` for the holder to let go: the token, or LOCKED once
  // the time is up. Waits on a watch of the lock (a server client uses LOCK.ACQUIRE WAIT); it
  // never polls. Waiters are not queued: whoever retries first after a release wins.
  virtual Result<int64_t> lock_acquire_wait(std::string_view name, int64_t lease, int64_t wait_ms);

  // --- Elections (the next candidate in line takes over when the leader's lease ends) ---
  virtual Result<CampaignResult> campaign(std::string_view name, int64_t lease,
                                          std::string_view value) = 0;
  virtual Result<ElectionLeader> election_leader(std::string_view name) = 0;
  // campaign, then waits up to `wait_ms` to become leader (on a watch of the election; a server
  // client uses ELECT.CAMPAIGN WAIT). Returns the state when it became leader or time ran out;
  // either way the candidacy stays until the lease ends.
  virtual Result<CampaignResult> campaign_wait(std::string_view name, int64_t lease,
                                               std::string_view value, int64_t wait_ms);
  virtual Result<int64_t> resign(std::string_view name, int64_t token) = 0;
  virtual Result<int64_t> proclaim(std::string_view name, int64_t token,
                                   std::string_view value) = 0;

  // --- Transactions ---
  // Applies every write in one revision iff every read and condition still holds, else
  // CONFLICT naming the keys.
  virtual Result<TxnResult> commit(const TxnRequest& txn) = 0;
  // Optimistic transaction with read-your-writes on top of get() and commit().
  Transaction begin_transaction();

  // --- Queries ---
  virtual Result<QueryResult> query(const Query& query) = 0;

  // --- Watches ---
  // Handlers run on a delivery thread, in revision order. Returns the watch id.
  virtual Result<int64_t> watch(const WatchRequest& request, WatchEventHandler on_event,
                                WatchEndHandler on_end = {}) = 0;
  // After it returns, no handler of the watch runs (unless called from that handler).
  virtual void unwatch(int64_t watch_id) = 0;

  // --- Store ---
  // Drops MVCC history below `revision`; returns the compacted revision.
  virtual Result<int64_t> compact(int64_t revision) = 0;
  virtual Result<StoreStats> stats() = 0;
};

// A read-your-writes transaction. Reads go to the store and are remembered with the version
// they saw; writes are buffered; commit() sends them as one TxnRequest whose read set is every
// key read. Not thread-safe: one thread per transaction.
class Transaction {
 public:
  explicit Transaction(Client& client) : client_(&client) {}

  // The buffered write if there is one (NOT_FOUND after a buffered delete), else the store's.
  Result<KeyValue> get(std::string_view key);
  void put(std::string_view key, std::string_view value, const PutOptions& options = {});
  void del(std::string_view key);
  // Adds a condition checked at commit (see TxnCondition).
  void require(TxnCondition condition);

  Result<TxnResult> commit();
  // Forgets every read and write; the transaction can be reused.
  void rollback();

 private:
  Client* client_;
  std::map<std::string, int64_t, std::less<>> reads_;  // key -> version seen (0 = absent)
  std::vector<TxnWrite> writes_;                        // in order, at most one per key
  std::vector<TxnCondition> conditions_;

  TxnWrite* buffered(std::string_view key);
};

}  // namespace dkv
