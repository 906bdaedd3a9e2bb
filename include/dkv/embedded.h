// dkv::Embedded: a whole DKV store inside this process, in memory.
//
// It runs the same deterministic state machine a server replicates, on a thread of its own:
// calls are queued to that thread, which stamps each write with the clock, applies it and
// answers. The same thread proposes expiry for keys and leases as they fall due and compacts
// MVCC history as it grows; a second thread delivers watch events to handlers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "dkv/client.h"

namespace dkv {

class Embedded final : public Client {
 public:
  struct Options {
    // Milliseconds since the Unix epoch; the system clock when empty. Tests inject their own.
    std::function<int64_t()> clock;
    // How often due keys and leases are removed (reads hide them from their deadline on).
    int64_t expiry_interval_ms = 10;
    // MVCC history kept for reads at older revisions, in revisions; 0 keeps it all.
    int64_t history_revisions = 10000;
    // Watch events kept for watches that resume from a revision (as far back as REV reads go).
    size_t watch_history_events = 10000;
    // Undelivered events a watch may queue before it is ended with LAGGING.
    size_t watch_max_pending = 10000;
  };

  // An in-memory store: gone when the object is.
  Embedded();
  explicit Embedded(Options options);
  // A durable store in directory `dir` (created if missing; one process at a time): every write
  // is on disk (write-ahead log, fdatasync) before the call returns, and opening the directory
  // again restores everything written. A snapshot is saved every `snapshot_every` writes and the
  // log is truncated behind it. Errors name the file and what is wrong.
  static Result<std::unique_ptr<Embedded>> open(const std::string& dir);
  static Result<std::unique_ptr<Embedded>> open(const std::string& dir, Options options,
                                                uint64_t snapshot_every = 100000);
  ~Embedded() override;  // ends every watch with CANCELLED
  Embedded(const Embedded&) = delete;
  Embedded& operator=(const Embedded&) = delete;

  Result<PutResult> put(std::string_view key, std::string_view value,
                        const PutOptions& options = {}) override;
  Result<KeyValue> get(std::string_view key, const GetOptions& options = {}) override;
  Result<DeleteResult> del(std::string_view key, const DeleteOptions& options = {}) override;
  std::vector<Result<PutResult>> put_many(const std::vector<PutItem>& items) override;
  std::vector<Result<KeyValue>> get_many(const std::vector<std::string>& keys) override;
  std::vector<Result<DeleteResult>> delete_many(const std::vector<std::string>& keys) override;
  Result<RangeResult> range(const KeyRange& range, const RangeOptions& options = {}) override;
  Result<ClearResult> clear(std::string_view prefix) override;
  Result<int64_t> count(std::string_view prefix = {}) override;

  Result<CounterResult> counter_add(std::string_view key, int64_t delta,
                                    const CounterOptions& options = {}) override;
  Result<int64_t> counter_get(std::string_view key) override;
  Result<CounterResult> counter_set(std::string_view key, int64_t value,
                                    int64_t ttl_ms = 0) override;

  Result<LeaseGrant> lease_grant(int64_t ttl_ms) override;
  Result<int64_t> lease_keepalive(int64_t id) override;
  Result<RevokeResult> lease_revoke(int64_t id) override;
  Result<LeaseInfo> lease_ttl(int64_t id, bool with_keys = false) override;
  Result<std::vector<LeaseInfo>> lease_list() override;

  Result<int64_t> lock_acquire(std::string_view name, int64_t lease) override;
  Result<int64_t> lock_release(std::string_view name, int64_t token) override;
  Result<LockOwner> lock_owner(std::string_view name) override;

  Result<CampaignResult> campaign(std::string_view name, int64_t lease,
                                  std::string_view value) override;
  Result<ElectionLeader> election_leader(std::string_view name) override;
  Result<int64_t> resign(std::string_view name, int64_t token) override;
  Result<int64_t> proclaim(std::string_view name, int64_t token, std::string_view value) override;

  Result<TxnResult> commit(const TxnRequest& txn) override;
  Result<QueryResult> query(const Query& query) override;

  Result<int64_t> watch(const WatchRequest& request, WatchEventHandler on_event,
                        WatchEndHandler on_end = {}) override;
  void unwatch(int64_t watch_id) override;

  Result<int64_t> compact(int64_t revision) override;
  Result<StoreStats> stats() override;

  // Removes whatever is due at the clock's current time now, instead of at the next interval.
  void expire_now();
  // The whole state as a snapshot (see core::StateMachine::save_snapshot), and back.
  std::string save_snapshot();
  Status restore_snapshot(std::string_view bytes);

 private:
  class Engine;
  explicit Embedded(std::unique_ptr<Engine> engine);
  std::unique_ptr<Engine> engine_;
};

}  // namespace dkv
