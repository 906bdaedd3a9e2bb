#include "client/remote.h"

#include <charconv>
#include <random>

namespace dkv {

using client::Args;
using client::Deadline;
using client::deadline_after;
using resp::Type;
using resp::Value;

namespace {

std::string str(std::string_view s) { return std::string(s); }
std::string num(int64_t n) { return std::to_string(n); }

Status not_found(std::string what) { return Status(Code::kNotFound, std::move(what)); }

// The leader's address in a `-NOTLEADER <id> <host:port>` reply, if it names one.
std::optional<client::Endpoint> leader_of(const Value& reply) {
  if (!reply.is_error() || reply.error_code() != "NOTLEADER") return std::nullopt;
  std::string_view message = reply.error_message();
  size_t space = message.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  Result<client::Endpoint> e = client::parse_endpoint(message.substr(space + 1));
  if (!e.ok()) return std::nullopt;
  return *e;
}

}  // namespace

namespace {
uint64_t random_session_id() {
  std::random_device rd;
  const uint64_t id = ((uint64_t{rd()} << 32) ^ rd()) & ((uint64_t{1} << 63) - 1);
  return id == 0 ? 1 : id;
}

// A follower's answer to a forwarded write whose entry did not come back: it may have applied.
bool outcome_unknown(const Value& reply) {
  return reply.is_error() && reply.error_code() == "UNAVAILABLE" &&
         reply.error_message().find("may or may not have been applied") != std::string_view::npos;
}
// Every member's client address from MEMBER.LIST ("" until a member recorded its own). A server
// without the command answers an error: nothing found.
std::vector<client::Endpoint> discover_members(client::RespSocket& socket, client::Deadline deadline) {
  std::vector<client::Endpoint> found;
  if (!socket.send({{"MEMBER.LIST"}}, deadline).ok()) return found;
  Result<resp::Value> reply = socket.read_reply(deadline);
  if (!reply.ok() || reply->type != resp::Type::kArray) return found;
  for (const resp::Value& member : reply->elements) {
    const resp::Value* address = member.find("client_address");
    if (address == nullptr || address->str.empty()) continue;
    Result<client::Endpoint> endpoint = client::parse_endpoint(address->str);
    if (endpoint.ok()) found.push_back(std::move(endpoint).value());
  }
  return found;
}

}  // namespace

Remote::Remote(std::vector<client::Endpoint> endpoints, Options options)
    : options_(options),
      session_id_(random_session_id()),
      pool_(std::move(endpoints),
            client::PoolOptions{options.pool_size, options.connect_timeout_ms, options.backoff_initial_ms,
                                options.backoff_max_ms,
                                options.discover_members ? discover_members : nullptr,
                                options.password.empty()
                                    ? std::nullopt
                                    : std::optional(client::Credentials{options.user, options.password}),
                                options.tls}) {}

Remote::~Remote() {
  std::unique_ptr<client::WatchStream> watches;
  {
    std::lock_guard lock(watch_mu_);
    watches = std::move(watches_);
  }
}

void Remote::set_endpoints(std::vector<client::Endpoint> endpoints) {
  pool_.set_endpoints(std::move(endpoints));
}

std::vector<Args> Remote::session_requests(const std::vector<Args>& writes,
                                           std::vector<uint64_t>* numbers) {
  std::lock_guard lock(session_mu_);
  for (size_t i = 0; i < writes.size(); ++i) {
    numbers->push_back(next_number_);
    unanswered_.insert(next_number_++);
  }
  const std::string acked = num(static_cast<int64_t>(*unanswered_.begin()));
  std::vector<Args> out;
  for (size_t i = 0; i < writes.size(); ++i) {
    Args args = {"SESSION.REQ", num(static_cast<int64_t>(session_id_)),
                 num(static_cast<int64_t>((*numbers)[i])), acked};
    args.insert(args.end(), writes[i].begin(), writes[i].end());
    out.push_back(std::move(args));
  }
  return out;
}

void Remote::end_session_requests(const std::vector<uint64_t>& numbers) {
  std::lock_guard lock(session_mu_);
  for (uint64_t n : numbers) unanswered_.erase(n);
}

Result<std::vector<Value>> Remote::pipeline(const std::vector<Args>& writes_or_reads, Retry retry,
                                            int64_t wait_ms) {
  // Exactly-once writes may be sent again, like reads, whatever happened to the first send.
  std::vector<uint64_t> numbers;
  const bool sessioned = retry == Retry::kUnsafe && options_.exactly_once && !writes_or_reads.empty();
  const std::vector<Args> wrapped = sessioned ? session_requests(writes_or_reads, &numbers) : std::vector<Args>{};
  const std::vector<Args>& requests = sessioned ? wrapped : writes_or_reads;
  struct EndRequests {
    Remote* self;
    const std::vector<uint64_t>& numbers;
    ~EndRequests() { if (!numbers.empty()) self->end_session_requests(numbers); }
  } end_requests{this, numbers};
  int attempts = 1;
  const int max_attempts = sessioned ? std::max(1, options_.write_attempts) : 2;
  if (sessioned) retry = Retry::kSafe;
  int redirects = 0;
  for (;;) {
    Result<client::ConnectionPool::Borrowed> conn =
        pool_.borrow(deadline_after(options_.request_timeout_ms));
    if (!conn.ok()) return conn.status();
    const Deadline deadline = deadline_after(options_.request_timeout_ms + wait_ms);
    Status sent = (*conn)->send(requests, deadline);
    std::vector<Value> replies;
    Status failure = sent;
    for (size_t i = 0; failure.ok() && i < requests.size(); ++i) {
      Result<Value> reply = (*conn)->read_reply(deadline);
      if (!reply.ok()) {
        failure = reply.status();
      } else {
        replies.push_back(std::move(reply).value());
      }
    }
    if (!failure.ok()) {
      if (retry == Retry::kSafe && attempts < max_attempts) {
        ++attempts;
        continue;
      }
      if (retry == Retry::kUnsafe && !sent.ok()) {
        return Status(Code::kUnavailable, failure.message() + "; the write may not have applied");
      }
      return Status(Code::kUnavailable,
                    retry == Retry::kUnsafe
                        ? failure.message() + "; the write may or may not have applied"
                        : failure.message());
    }
    if (sessioned && attempts < max_attempts &&
        std::any_of(replies.begin(), replies.end(), outcome_unknown)) {
      ++attempts;  // answered writes are replayed, not applied again
      continue;
    }
    if (!replies.empty() && redirects < options_.max_redirects) {
      if (std::optional<client::Endpoint> leader = leader_of(replies.front())) {
        ++redirects;
        pool_.prefer(*leader);  // nothing was applied: safe to send again
        continue;
      }
    }
    return replies;
  }
}

Result<Value> Remote::call(Args args, Retry retry, int64_t wait_ms) {
  Result<std::vector<Value>> replies = pipeline({std::move(args)}, retry, wait_ms);
  if (!replies.ok()) return replies.status();
  Value reply = std::move(replies->front());
  if (reply.is_error()) return client::status_from_error(reply);
  return reply;
}

Status Remote::ping() {
  // Bounded by the connect timeout rather than the request timeout: a start-up check should
  // not wait long for an endpoint that is down.
  Result<client::ConnectionPool::Borrowed> conn =
      pool_.borrow(deadline_after(options_.connect_timeout_ms));
  return conn.ok() ? Status::ok_status() : conn.status();
}

Result<std::vector<std::pair<std::string, std::string>>> Remote::info() {
  Result<Value> reply = call({"INFO"}, Retry::kSafe);
  if (!reply.ok()) return reply.status();
  return client::parse_info(reply->str);
}

Result<Value> Remote::raw(Args args) { return call(std::move(args), Retry::kSafe); }

void Remote::drop_watch_connection() {
  std::lock_guard lock(watch_mu_);
  if (watches_) watches_->drop_connection();
}

size_t Remote::watch_backlog() {
  std::lock_guard lock(watch_mu_);
  return watches_ ? watches_->backlog() : 0;
}

// --- Key-value ---

Result<PutResult> Remote::put(std::string_view key, std::string_view value,
                              const PutOptions& options) {
  Args args = {"KV.PUT", str(key), str(value)};
  if (Status s = client::append_put_options(options, &args); !s.ok()) return s;
  Result<Value> reply = call(std::move(args), Retry::kUnsafe);
  if (!reply.ok()) return reply.status();
  return client::decode_put(*reply);
}

Result<KeyValue> Remote::get(std::string_view key, const GetOptions& options) {
  Args args = {"KV.GET", str(key)};
  if (options.revision != 0) args.insert(args.end(), {"REV", num(options.revision)});
  Result<Value> reply = call(std::move(args), Retry::kSafe);
  if (!reply.ok()) return reply.status();
  if (reply->is_null()) return not_found("key '" + str(key) + "' does not exist");
  return client::decode_key_value(*reply);
}

Result<DeleteResult> Remote::del(std::string_view key, const DeleteOptions& options) {
  Args args = {"KV.DEL", str(key)};
  if (Status s = client::append_delete_options(options, &args); !s.ok()) return s;
  Result<Value> reply = call(std::move(args), Retry::kUnsafe);
  if (!reply.ok()) return reply.status();
  Result<int64_t> deleted = client::decode_integer(*reply);
  if (!deleted.ok()) return deleted.status();
  return DeleteResult{*deleted == 1, 0, std::nullopt};
}

std::vector<Result<PutResult>> Remote::put_many(const std::vector<PutItem>& items) {
  std::vector<Result<PutResult>> results;
  if (items.empty()) return results;
  bool plain = true;
  for (const PutItem& item : items) {
    plain = plain && item.options.ttl_ms == 0 &&
            item.options.lease == 0 && !item.options.if_absent && !item.options.if_match &&
            !item.options.keep_ttl && !item.options.fence && item.options.entity.empty() &&
            item.options.content_type.empty() && item.options.labels.empty() &&
            !item.options.if_exists && item.options.expires_at_ms == 0 && !item.options.prev_kv;
  }
  std::vector<Args> requests;
  std::vector<std::optional<Status>> refused(items.size());
  if (plain) {
    Args args = {"KV.MPUT", num(static_cast<int64_t>(items.size()))};
    for (const PutItem& item : items) args.insert(args.end(), {item.key, item.value});
    requests.push_back(std::move(args));
  } else {
    for (size_t i = 0; i < items.size(); ++i) {
      Args args = {"KV.PUT", items[i].key, items[i].value};
      if (Status s = client::append_put_options(items[i].options, &args); !s.ok()) {
        refused[i] = std::move(s);
      } else {
        requests.push_back(std::move(args));
      }
    }
  }
  Result<std::vector<Value>> replies =
      requests.empty() ? std::vector<Value>{} : pipeline(requests, Retry::kUnsafe);
  if (!replies.ok()) return std::vector<Result<PutResult>>(items.size(), replies.status());
  // KV.MPUT answers with one array; pipelined KV.PUTs with one reply each.
  std::vector<Value> per_item;
  if (plain) {
    const Value& reply = replies->front();
    if (reply.is_error()) return std::vector<Result<PutResult>>(items.size(), client::status_from_error(reply));
    per_item = reply.elements;
  } else {
    per_item = std::move(replies).value();
  }
  size_t next = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (refused[i]) {
      results.emplace_back(*refused[i]);
    } else if (next >= per_item.size()) {
      results.emplace_back(Status(Code::kInternal, "fewer replies than items"));
    } else {
      const Value& v = per_item[next++];
      results.push_back(v.is_error() ? Result<PutResult>(client::status_from_error(v))
                                     : client::decode_put(v));
    }
  }
  return results;
}

std::vector<Result<KeyValue>> Remote::get_many(const std::vector<std::string>& keys) {
  if (keys.empty()) return {};
  Args args = {"KV.MGET"};
  args.insert(args.end(), keys.begin(), keys.end());
  Result<Value> reply = call(std::move(args), Retry::kSafe);
  if (!reply.ok()) return std::vector<Result<KeyValue>>(keys.size(), reply.status());
  std::vector<Result<KeyValue>> results;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i >= reply->elements.size()) {
      results.emplace_back(Status(Code::kInternal, "fewer replies than keys"));
      continue;
    }
    const Value& v = reply->elements[i];
    if (v.is_error()) {
      results.emplace_back(client::status_from_error(v));
    } else if (v.is_null()) {
      results.emplace_back(not_found("key '" + keys[i] + "' does not exist"));
    } else {
      results.push_back(client::decode_key_value(v));
    }
  }
  return results;
}

std::vector<Result<DeleteResult>> Remote::delete_many(const std::vector<std::string>& keys) {
  if (keys.empty()) return {};
  Args args = {"KV.MDEL"};
  args.insert(args.end(), keys.begin(), keys.end());
  Result<Value> reply = call(std::move(args), Retry::kUnsafe);
  if (!reply.ok()) return std::vector<Result<DeleteResult>>(keys.size(), reply.status());
  std::vector<Result<DeleteResult>> results;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i >= reply->elements.size()) {
      results.emplace_back(Status(Code::kInternal, "fewer replies than keys"));
      continue;
    }
    const Value& v = reply->elements[i];
    if (v.is_error()) {
      results.emplace_back(client::status_from_error(v));
    } else {
      results.emplace_back(DeleteResult{v.integer == 1, 0, std::nullopt});
    }
  }
  return results;
}

Result<RangeResult> Remote::range(const KeyRange& range, const RangeOptions& options) {
  Result<Args> args = client::range_command(range, options);
  if (!args.ok()) return args.status();
  Result<Value> reply = call(std::move(args).value(), Retry::kSafe);
  if (!reply.ok()) return reply.status();
  return client::decode_range(*reply);
}

Result<ClearResult> Remote::clear(std::string_view prefix) {
  Args args = {"KV.CLEAR"};
  if (!prefix.empty()) args.insert(args.end(), {"PREFIX", str(prefix)});
  Result<Value> reply = call(std::move(args), Retry::kUnsafe);
  if (!reply.ok()) return reply.status();
  Result<int64_t> deleted = client::decode_integer(*reply);
  if (!deleted.ok()) return deleted.status();
  return ClearResult{*deleted, 0};
}

Result<int64_t> Remote::count(std::string_view prefix) {
  Args args = {"KV.COUNT"};
  if (!prefix.empty()) args.insert(args.end(), {"PREFIX", str(prefix)});
  Result<Value> reply = call(std::move(args), Retry::kSafe);
  if (!reply.ok()) return reply.status();
  return client::decode_integer(*reply);
}

// --- Counters ---

Result<CounterResult> Remote::counter_add(std::string_view key, int64_t delta,
                                          const CounterOptions& options) {
  Args args = {"CTR.ADD", str(key), num(delta)};
  if (options.min) args.insert(args.end(), {"MIN", num(*options.min)});
  if (options.max) args.insert(args.end(), {"MAX", num(*options.max)});
  if (options.ttl_ms != 0) args.insert(args.end(), {"TTL", num(options.ttl_ms)});
  Result<Value> reply = call(std::move(args), Retry::kUnsafe);
  if (!reply.ok()) return reply.status();
  return client::decode_counter(*reply);
}

Result<int64_t> Remote::counter_get(std::string_view key) {
  Result<Value> reply = call({"CTR.GET", str(key)}, Retry::kSafe);
  if (!reply.ok()) return reply.status();
  if (reply->is_null()) return not_found("counter '" + str(key) + "' does not exist");
  return client::decode_integer(*reply);
}

Result<CounterResult> Remote::counter_set(std::string_view key, int64_t value, int64_t ttl_ms) {
  Args args = {"CTR.SET", str(key), num(value)};
  if (ttl_ms != 0) args.insert(args.end(), {"TTL", num(ttl_ms)});
  Result<Value> reply = call(std::move(args), Retry::kUnsafe);
  if (!reply.ok()) return reply.status();
  return client::decode_counter(*reply);
}

// --- Leases ---

Result<LeaseGrant> Remote::lease_grant(int64_t ttl_ms) {
  Result<Value> reply = call({"LEASE.GRANT", num(ttl_ms)}, Retry::kUnsafe);
  if (!reply.ok()) return reply.status();
  Result<int64_t> id = client::decode_integer(*reply);
  if (!id.ok()) return id.status();
  return LeaseGrant{*id, ttl_ms};
}

Result<int64_t> Remote::lease_keepalive(int64_t id) {
  // Idempotent: resending only resets the deadline again.
  Result<Value> reply = call({"LEASE.KEEPALIVE", num(id)}, Retry::kSafe);
  if (!reply.ok()) return reply.status();
  return client::decode_integer(*reply);
}

Result<RevokeResult> Remote::lease_revoke(int64_t id) {
  Result<Value> reply = call({"LEASE.REVOKE", num(id)}, Retry::kUnsafe);
  if (!reply.ok()) return reply.status();
  Result<int64_t> deleted = client::decode_integer(*reply);
  if (!deleted.ok()) return deleted.status();
  return RevokeResult{*deleted, 0};
}

Result<LeaseInfo> Remote::lease_ttl(int64_t id, bool with_keys) {
  Args args = {"LEASE.TTL", num(id)};
  if (with_keys) args.emplace_back("KEYS");
  Result<Value> reply = call(std::move(args), Retry::kSafe);
  if (!reply.ok()) return reply.status();
  return client::decode_lease(*reply);
}

Result<std::vector<LeaseInfo>> Remote::lease_list() {
  Result<Value> reply = call({"LEASE.LIST"}, Retry::kSafe);
  if (!reply.ok()) return reply.status();
  std::vector<LeaseInfo> leases;
  for (const Value& v : reply->elements) {
    Result<LeaseInfo> info = client::decode_lease(v);
    if (!info.ok()) return info.status();
    leases.push_back(std::move(info).value());
  }
  return leases;
}

// --- Locks ---

Result<int64_t> Remote::lock_acquire(std::string_view name, int64_t lease) {
  // A retried acquire with the holder's lease returns the same token: safe to resend.
  Result<Value> reply = call({"LOCK.ACQUIRE", str(name), num(lease)}, Retry::kSafe);
  if (!reply.ok()) return reply.status();
  return client::decode_integer(*reply);
}

Result<int64_t> Remote::lock_acquire_wait(std::string_view name, int64_t lease, int64_t wait_ms) {
  if (wait_ms < 0) return Status(Code::kInvalidArgument, "wait_ms must not be negative");
  Args args = {"LOCK.ACQUIRE", str(name), num(lease)};
  if (wait_ms > 0) args.insert(args.end(), {"WAIT", num(wait_ms)});
  Result<Value> reply = call(std::move(args), Retry::kSafe, wait_ms);
  if (!reply.ok()) return reply.status();
  return client::decode_integer(*reply);
}

Result<int64_t> Remote::lock_release(std::string_view name, int64_t token) {
  Result<Value> reply = call({"LOCK.RELEASE", str(name), num(token)}, Retry::kUnsafe);
  if (!reply.ok()) return reply.status();
  return client::decode_integer(*reply);
}

Result<LockOwner> Remote::lock_owner(std::string_view name) {
  Result<Value> reply = call({"LOCK.OWNER", str(name)}, Retry::kSafe);
  if (!reply.ok()) return reply.status();
  if (reply->is_null()) return not_found("lock '" + str(name) + "' is not held");
  return client::decode_lock_owner(*reply);
}

// --- Elections ---

Result<CampaignResult> Remote::campaign(std::string_view name, int64_t lease,
                                        std::string_view value) {
  // Campaigning again with the same lease changes nothing: safe to resend.
  Result<Value> reply = call({"ELECT.CAMPAIGN", str(name), num(lease), str(value)}, Retry::kSafe);
  if (!reply.ok()) return reply.status();
  return client::decode_campaign(*reply);
}

Result<CampaignResult> Remote::campaign_wait(std::string_view name, int64_t lease,
                                             std::string_view value, int64_t wait_ms) {
  if (wait_ms < 0) return Status(Code::kInvalidArgument, "wait_ms must not be negative");
  Args args = {"ELECT.CAMPAIGN", str(name), num(lease), str(value)};
  if (wait_ms > 0) args.insert(args.end(), {"WAIT", num(wait_ms)});
  Result<Value> reply = call(std::move(args), Retry::kSafe, wait_ms);
  if (!reply.ok()) return reply.status();
  return client::decode_campaign(*reply);
}

Result<ElectionLeader> Remote::election_leader(std::string_view name) {
  Result<Value> reply = call({"ELECT.LEADER", str(name)}, Retry::kSafe);
  if (!reply.ok()) return reply.status();
  if (reply->is_null()) return not_found("election '" + str(name) + "' has no leader");
  return client::decode_leader(*reply);
}

Result<int64_t> Remote::resign(std::string_view name, int64_t token) {
  Result<Value> reply = call({"ELECT.RESIGN", str(name), num(token)}, Retry::kUnsafe);
  if (!reply.ok()) return reply.status();
  return client::decode_integer(*reply);
}

Result<int64_t> Remote::proclaim(std::string_view name, int64_t token, std::string_view value) {
  Result<Value> reply =
      call({"ELECT.PROCLAIM", str(name), num(token), str(value)}, Retry::kUnsafe);
  if (!reply.ok()) return reply.status();
  return client::decode_integer(*reply);
}

// --- Transactions, queries ---

Result<TxnResult> Remote::commit(const TxnRequest& txn) {
  Result<Args> args = client::txn_command(txn);
  if (!args.ok()) return args.status();
  Result<Value> reply = call(std::move(args).value(), Retry::kUnsafe);
  if (!reply.ok()) return reply.status();
  return client::decode_txn(*reply);
}

Result<QueryResult> Remote::query(const Query& query) {
  Result<Args> args = client::query_command(query);
  if (!args.ok()) return args.status();
  Result<Value> reply = call(std::move(args).value(), Retry::kSafe);
  if (!reply.ok()) return reply.status();
  return client::decode_query(*reply);
}

// --- Watches ---

client::WatchStream& Remote::watch_stream() {
  std::lock_guard lock(watch_mu_);
  if (!watches_) {
    watches_ = std::make_unique<client::WatchStream>(
        &pool_,
        [this]() -> Result<int64_t> {
          Result<Value> reply = call({"INFO", "cluster"}, Retry::kSafe);
          if (!reply.ok()) return reply.status();
          for (const auto& [name, value] : client::parse_info(reply->str)) {
            int64_t n = 0;
            if (name == "revision" &&
                std::from_chars(value.data(), value.data() + value.size(), n).ec == std::errc()) {
              return n;
            }
          }
          return Status(Code::kInternal, "INFO cluster has no revision field");
        },
        options_.request_timeout_ms, options_.watch_max_pending);
  }
  return *watches_;
}

Result<int64_t> Remote::watch(const WatchRequest& request, WatchEventHandler on_event,
                              WatchEndHandler on_end) {
  return watch_stream().watch(request, std::move(on_event), std::move(on_end));
}

void Remote::unwatch(int64_t watch_id) {
  client::WatchStream* stream = nullptr;
  {
    std::lock_guard lock(watch_mu_);
    stream = watches_.get();
  }
  if (stream != nullptr) stream->unwatch(watch_id);
}

// --- Store ---

Result<int64_t> Remote::compact(int64_t revision) {
  Result<Value> reply = call({"COMPACT", num(revision)}, Retry::kSafe);
  if (!reply.ok()) return reply.status();
  return client::decode_integer(*reply);
}

Result<StoreStats> Remote::stats() {
  Result<std::vector<Value>> replies = pipeline({{"INFO"}, {"LEASE.LIST"}}, Retry::kSafe);
  if (!replies.ok()) return replies.status();
  if ((*replies)[0].is_error()) return client::status_from_error((*replies)[0]);
  if ((*replies)[1].is_error()) return client::status_from_error((*replies)[1]);
  StoreStats stats;
  for (const auto& [name, value] : client::parse_info((*replies)[0].str)) {
    int64_t n = 0;
    if (std::from_chars(value.data(), value.data() + value.size(), n).ec != std::errc()) continue;
    if (name == "revision") stats.revision = n;
    if (name == "compacted_revision") stats.compacted_revision = n;
  }
  // db0:keys=N,... is omitted with no keys; KV.COUNT would be a second round trip.
  for (const auto& [name, value] : client::parse_info((*replies)[0].str)) {
    if (name == "db0" && value.starts_with("keys=")) {
      std::string_view rest = std::string_view(value).substr(5);
      std::from_chars(rest.data(), rest.data() + rest.size(), stats.keys);
    }
  }
  stats.leases = static_cast<int64_t>((*replies)[1].elements.size());
  return stats;
}

}  // namespace dkv
