// dkv::Remote: the Client interface over RESP3 to a DKV server or cluster (docs/protocol.md).
//
// Calls borrow a connection from a small pool (each connection serves one call at a time), send
// the command, and wait for its reply within `request_timeout_ms` (plus the WAIT of a blocking
// LOCK.ACQUIRE / ELECT.CAMPAIGN). Bulk calls pipeline their commands on one connection. A
// connection the server closed is replaced with backoff; a read whose connection breaks is
// retried once on a new one. Writes are exactly-once (Options::exactly_once): each is sent as
// SESSION.REQ with this client's random session id and the write's number, so one whose outcome
// is unknown (the connection broke after sending, or a follower answered "may or may not have
// been applied") is sent again, possibly to another endpoint, and the server applies it once and
// replays the first answer. Without it, such a write fails with UNAVAILABLE.
// A NOTLEADER reply naming the leader redirects the call there (nothing was applied); other
// replies, UNAVAILABLE included, are the caller's to act on (only it knows whether a retry is
// safe).
// Watches share one more connection of their own (client/watch_stream.h) and survive reconnects,
// resuming where they left off, on another member if need be. Given one member of a cluster,
// the client learns the others' client addresses (MEMBER.LIST) and fails over to them.
//
// What the protocol cannot carry (the call fails with INVALID_ARGUMENT, or the field stays 0):
//   - PutOptions keep_ttl, if_exists, expires_at_ms, prev_kv; DeleteOptions prev_kv;
//     TxnConditions other than version equality: INVALID_ARGUMENT.
//   - DeleteResult::revision, ClearResult::revision, RevokeResult::revision and
//     CounterResult::revision: KV.DEL, KV.CLEAR, LEASE.REVOKE and CTR.* do not reply them: 0.
//   - StoreStats: revision, compacted_revision and keys come from INFO, leases from
//     LEASE.LIST; locks, elections and history_versions are not reported: 0.
//   - put_many with per-item options: pipelined KV.PUTs (one revision each) instead of one
//     KV.MPUT (which takes no options).
//   - Watch events carry only key, value, revision and type (and prev's value): the other
//     KeyValue fields are 0 / empty; kv.mod_revision is the event's revision, and for lock
//     events kv.create_revision is the token.
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "client/connection_pool.h"
#include "client/endpoint.h"
#include "client/remote_codec.h"
#include "client/watch_stream.h"
#include "dkv/client.h"

namespace dkv {

class Remote final : public Client {
 public:
  struct Options {
    size_t pool_size = 4;
    int64_t connect_timeout_ms = 2'000;
    int64_t request_timeout_ms = 10'000;
    // Reconnect backoff: doubles from initial to max between rounds over every endpoint.
    int64_t backoff_initial_ms = 20;
    int64_t backoff_max_ms = 1'000;
    int max_redirects = 3;  // NOTLEADER hops per call
    // Writes as SESSION.REQ (see above), sent up to `write_attempts` times in all.
    bool exactly_once = true;
    int write_attempts = 4;
    // Undelivered events a watch may queue (its handler being slow) before it is ended with
    // LAGGING.
    size_t watch_max_pending = 10'000;
    // Adds every member's client address (MEMBER.LIST) to the endpoints on new connections, so
    // a client given one member of a cluster fails over to the others.
    bool discover_members = true;
    // Authenticate every connection as `user` with `password` (protocol.md 2.6); an empty
    // password: no AUTH (the default user needs none out of the box).
    std::string user = "default";
    std::string password;
    // TLS on every connection (client/tls.h): for servers started with --tls-clients.
    client::TlsOptions tls;
  };

  // Does not connect: the first call does (see dkv::connect for a checked start).
  Remote(std::vector<client::Endpoint> endpoints, Options options);
  explicit Remote(std::vector<client::Endpoint> endpoints) : Remote(std::move(endpoints), Options{}) {}
  ~Remote() override;  // ends every watch with CANCELLED
  Remote(const Remote&) = delete;
  Remote& operator=(const Remote&) = delete;

  // Replaces the endpoints (e.g. a node restarted on another port): new connections, watches'
  // reconnects included, go there.
  void set_endpoints(std::vector<client::Endpoint> endpoints);
  // The endpoints known now, the preferred first (given ones and discovered members).
  std::vector<client::Endpoint> endpoints() const { return pool_.endpoints(); }
  // Opens a connection (HELLO 3 included) if none is idle: UNAVAILABLE when no endpoint answers
  // within the connect timeout.
  Status ping();
  // INFO's fields (a field given in two sections: the later, so `role` is the Raft role).
  Result<std::vector<std::pair<std::string, std::string>>> info();
  // One command sent as it is (an error reply as its Status), for the admin commands the Client
  // interface does not cover (MEMBER.*). Sent again once after a broken connection, like a
  // read: a repeated membership change is refused (already a member, not a learner).
  Result<resp::Value> raw(client::Args args);
  // Tests: breaks the watch connection, as a network failure would.
  void drop_watch_connection();
  // Watch events (and end notices) received but not yet handed to their handlers.
  size_t watch_backlog();

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
  // LOCK.ACQUIRE ... WAIT: the server retries on each release.
  Result<int64_t> lock_acquire_wait(std::string_view name, int64_t lease, int64_t wait_ms) override;

  Result<CampaignResult> campaign(std::string_view name, int64_t lease,
                                  std::string_view value) override;
  Result<ElectionLeader> election_leader(std::string_view name) override;
  Result<int64_t> resign(std::string_view name, int64_t token) override;
  Result<int64_t> proclaim(std::string_view name, int64_t token, std::string_view value) override;
  // ELECT.CAMPAIGN ... WAIT.
  Result<CampaignResult> campaign_wait(std::string_view name, int64_t lease,
                                       std::string_view value, int64_t wait_ms) override;

  Result<TxnResult> commit(const TxnRequest& txn) override;
  Result<QueryResult> query(const Query& query) override;

  Result<int64_t> watch(const WatchRequest& request, WatchEventHandler on_event,
                        WatchEndHandler on_end = {}) override;
  void unwatch(int64_t watch_id) override;

  Result<int64_t> compact(int64_t revision) override;
  Result<StoreStats> stats() override;

 private:
  enum class Retry { kSafe, kUnsafe };  // may a call be re-sent after a broken connection?

  // Sends `requests` pipelined on one connection and returns their replies (error replies
  // included, as values); a Status only when no reply came. `wait_ms` extends the deadline.
  Result<std::vector<resp::Value>> pipeline(const std::vector<client::Args>& requests, Retry retry,
                                            int64_t wait_ms = 0);
  // One command; an error reply comes back as its Status.
  Result<resp::Value> call(client::Args args, Retry retry, int64_t wait_ms = 0);
  client::WatchStream& watch_stream();
  // Wraps each write in SESSION.REQ with a new number; end_session_requests() when answered.
  std::vector<client::Args> session_requests(const std::vector<client::Args>& writes,
                                             std::vector<uint64_t>* numbers);
  void end_session_requests(const std::vector<uint64_t>& numbers);

  const Options options_;
  const uint64_t session_id_;  // random, 1 .. 2^63-1
  std::mutex session_mu_;
  uint64_t next_number_ = 1;
  std::set<uint64_t> unanswered_;  // numbers sent and not yet answered (their minimum is `acked`)
  client::ConnectionPool pool_;
  std::mutex watch_mu_;
  std::unique_ptr<client::WatchStream> watches_;  // created by the first watch
};

}  // namespace dkv
