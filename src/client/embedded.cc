#include "dkv/embedded.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "client/embedded_log.h"
#include "core/state_machine.h"
#include "core/watch_hub.h"

namespace dkv {

using core::CommandBody;
using core::CommandResult;

// The engine thread owns the state machine; every call is a task run there. The delivery
// thread runs watch handlers so that a slow handler never stalls writes (it is cut off as
// LAGGING instead) and a handler may call back into the store.
class Embedded::Engine {
 public:
  // With a log, the state is first restored from it; open_status() says whether that worked.
  explicit Engine(Options options, std::unique_ptr<EmbeddedLog> log = nullptr)
      : options_(std::move(options)),
        log_(std::move(log)),
        hub_(core::WatchHub::Options{options_.watch_history_events, 64 << 20,
                                     options_.watch_max_pending},
             0) {
    if (!options_.clock) {
      options_.clock = [] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
      };
    }
    if (log_) {
      open_status_ = log_->replay(&machine_);
      hub_.reset(machine_.revision());  // no watch history from before the restart
    }
    engine_thread_ = std::thread([this] { engine_loop(); });
    delivery_thread_ = std::thread([this] { delivery_loop(); });
  }

  ~Engine() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    engine_thread_.join();
    std::map<int64_t, std::shared_ptr<Handlers>> remaining;
    {
      std::lock_guard lock(watch_mu_);
      stop_delivery_ = true;
    }
    watch_cv_.notify_all();
    delivery_thread_.join();
    remaining.swap(handlers_);
    for (auto& [id, h] : remaining) {
      if (h->on_end) h->on_end(Status(Code::kCancelled, "the store closed"));
    }
  }

  // Runs fn on the engine thread and returns what it returns.
  template <typename F>
  auto run(F&& fn) -> std::invoke_result_t<F&> {
    using R = std::invoke_result_t<F&>;
    auto task = std::make_shared<std::packaged_task<R()>>(std::forward<F>(fn));
    std::future<R> done = task->get_future();
    {
      std::lock_guard lock(mu_);
      tasks_.emplace_back([task] { (*task)(); });
    }
    cv_.notify_one();
    return done.get();
  }

  // Engine thread only.
  int64_t now() const { return options_.clock(); }

  const Status& open_status() const { return open_status_; }

  CommandResult apply(CommandBody body) {
    core::Command command{now(), std::move(body)};
    if (log_) {
      // On disk before it is applied, so before the caller hears of it.
      if (Status s = log_->append(command); !s.ok()) {
        return CommandResult(Status(Code::kUnavailable, "write-ahead log: " + s.message()));
      }
    }
    std::vector<Event> events;
    CommandResult result = machine_.apply(command, &events);
    publish(std::move(events));
    if (log_) log_->applied(machine_);  // a failed snapshot leaves the log to replay instead
    return result;
  }

  core::StateMachine& machine() { return machine_; }

  void expire() {
    core::DueWork due = machine_.due(now(), 1000);
    if (!due.empty()) apply(core::ExpireCmd{std::move(due.keys), std::move(due.leases)});
    const int64_t keep = options_.history_revisions;
    if (keep > 0 && machine_.revision() - machine_.compacted_revision() > 2 * keep) {
      apply(core::CompactCmd{machine_.revision() - keep});
    }
  }

  Result<int64_t> watch(const WatchRequest& request, WatchEventHandler on_event,
                        WatchEndHandler on_end) {
    if (!request.prefix && request.key.empty()) {
      return Status(Code::kInvalidArgument, "watch key must not be empty (use a prefix watch)");
    }
    if (request.from_revision < 0) {
      return Status(Code::kInvalidArgument, "from_revision must not be negative");
    }
    if (!on_event) return Status(Code::kInvalidArgument, "watch needs an event handler");
    return run([&]() -> Result<int64_t> {
      WatchRequest req = request;
      std::vector<core::EventPtr> initial;
      if (req.snapshot) {
        // The snapshot is the state at the current revision; changes follow from the next.
        for (Event& e : machine_.current_events(req, now())) {
          initial.push_back(std::make_shared<const Event>(std::move(e)));
        }
        req.from_revision = 0;
      }
      std::lock_guard lock(watch_mu_);
      Result<int64_t> id = hub_.subscribe(req, std::move(initial));
      if (!id.ok()) return id;
      handlers_[*id] = std::make_shared<Handlers>(
          Handlers{std::move(on_event), std::move(on_end), req.prev_value});
      if (hub_.has_pending()) watch_cv_.notify_all();
      return id;
    });
  }

  void unwatch(int64_t id) {
    std::unique_lock lock(watch_mu_);
    hub_.unsubscribe(id);
    handlers_.erase(id);
    if (std::this_thread::get_id() == delivery_thread_.get_id()) return;
    watch_cv_.wait(lock, [&] { return delivering_ != id; });
  }

  void restore(std::string_view bytes, Status* status) {
    *status = machine_.restore_snapshot(bytes);
    if (status->ok() && log_) *status = log_->snapshot(machine_);  // the log alone cannot redo it
    std::lock_guard lock(watch_mu_);
    hub_.reset(machine_.revision());
  }

 private:
  struct Handlers {
    WatchEventHandler on_event;
    WatchEndHandler on_end;
    bool prev_value = false;
  };

  void publish(std::vector<Event> events) {
    if (events.empty()) return;
    std::vector<core::EventPtr> shared;
    shared.reserve(events.size());
    for (Event& e : events) shared.push_back(std::make_shared<const Event>(std::move(e)));
    {
      std::lock_guard lock(watch_mu_);
      hub_.publish(std::move(shared));
      if (!hub_.has_pending()) return;
    }
    watch_cv_.notify_all();
  }

  void engine_loop() {
    using std::chrono::milliseconds;
    auto next_tick = std::chrono::steady_clock::now();
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait_until(lock, next_tick, [&] { return stopping_ || !tasks_.empty(); });
      std::deque<std::function<void()>> batch;
      batch.swap(tasks_);
      const bool stop = stopping_;
      lock.unlock();
      for (auto& task : batch) task();
      if (std::chrono::steady_clock::now() >= next_tick) {
        expire();
        next_tick = std::chrono::steady_clock::now() + milliseconds(options_.expiry_interval_ms);
      }
      lock.lock();
      if (stop && tasks_.empty()) return;
    }
  }

  void delivery_loop() {
    std::unique_lock lock(watch_mu_);
    while (true) {
      watch_cv_.wait(lock, [&] { return stop_delivery_ || hub_.has_pending(); });
      if (!hub_.has_pending()) return;  // stopping, and nothing left to deliver
      for (core::WatchHub::Delivery& d : hub_.drain()) {
        auto it = handlers_.find(d.watch_id);
        if (it == handlers_.end()) continue;  // unwatched meanwhile
        std::shared_ptr<Handlers> h = it->second;
        if (!d.end.ok()) handlers_.erase(it);
        delivering_ = d.watch_id;
        lock.unlock();
        for (const core::EventPtr& e : d.events) {
          if (e->prev && !h->prev_value) {
            Event copy = *e;
            copy.prev.reset();
            h->on_event(copy);
          } else {
            h->on_event(*e);
          }
        }
        if (!d.end.ok() && h->on_end) h->on_end(d.end);
        lock.lock();
        delivering_ = 0;
        watch_cv_.notify_all();
      }
    }
  }

  Options options_;
  std::unique_ptr<EmbeddedLog> log_;  // null: in memory
  Status open_status_;
  core::StateMachine machine_;  // engine thread only

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;

  std::mutex watch_mu_;  // guards hub_, handlers_, delivering_, stop_delivery_
  std::condition_variable watch_cv_;
  core::WatchHub hub_;
  std::map<int64_t, std::shared_ptr<Handlers>> handlers_;
  int64_t delivering_ = 0;
  bool stop_delivery_ = false;

  std::thread engine_thread_;
  std::thread delivery_thread_;
};

// ---------------------------------------------------------------------------------------------

Embedded::Embedded() : Embedded(Options()) {}
Embedded::Embedded(Options options) : engine_(std::make_unique<Engine>(std::move(options))) {}
Embedded::Embedded(std::unique_ptr<Engine> engine) : engine_(std::move(engine)) {}

Result<std::unique_ptr<Embedded>> Embedded::open(const std::string& dir) {
  return open(dir, Options());
}

Result<std::unique_ptr<Embedded>> Embedded::open(const std::string& dir, Options options,
                                                 uint64_t snapshot_every) {
  auto log = EmbeddedLog::open(dir, snapshot_every);
  if (!log.ok()) return log.status();
  auto engine = std::make_unique<Engine>(std::move(options), std::move(log).value());
  if (!engine->open_status().ok()) return engine->open_status();
  return std::unique_ptr<Embedded>(new Embedded(std::move(engine)));
}
Embedded::~Embedded() = default;

Result<PutResult> Embedded::put(std::string_view key, std::string_view value,
                                const PutOptions& options) {
  return engine_->run([&] {
    return engine_->apply(core::PutCmd{std::string(key), std::string(value), options});
  }).as<PutResult>();
}

Result<KeyValue> Embedded::get(std::string_view key, const GetOptions& options) {
  return engine_->run([&] { return engine_->machine().get(key, options, engine_->now()); });
}

Result<DeleteResult> Embedded::del(std::string_view key, const DeleteOptions& options) {
  return engine_->run([&] {
    return engine_->apply(core::DeleteCmd{std::string(key), options});
  }).as<DeleteResult>();
}

namespace {

// A bulk command fails as a whole only when its body is unusable; give each item that error.
template <typename T>
std::vector<Result<T>> per_item(CommandResult result, size_t n) {
  if (!result.status.ok()) return std::vector<Result<T>>(n, Result<T>(result.status));
  return std::get<std::vector<Result<T>>>(std::move(result.body));
}

}  // namespace

std::vector<Result<PutResult>> Embedded::put_many(const std::vector<PutItem>& items) {
  return per_item<PutResult>(
      engine_->run([&] { return engine_->apply(core::MultiPutCmd{items}); }), items.size());
}

std::vector<Result<KeyValue>> Embedded::get_many(const std::vector<std::string>& keys) {
  return engine_->run([&] {
    std::vector<Result<KeyValue>> out;
    out.reserve(keys.size());
    const int64_t now = engine_->now();
    for (const std::string& key : keys) out.push_back(engine_->machine().get(key, {}, now));
    return out;
  });
}

std::vector<Result<DeleteResult>> Embedded::delete_many(const std::vector<std::string>& keys) {
  return per_item<DeleteResult>(
      engine_->run([&] { return engine_->apply(core::MultiDeleteCmd{keys}); }), keys.size());
}

Result<RangeResult> Embedded::range(const KeyRange& range, const RangeOptions& options) {
  return engine_->run([&] { return engine_->machine().range(range, options, engine_->now()); });
}

Result<ClearResult> Embedded::clear(std::string_view prefix) {
  return engine_->run([&] {
    return engine_->apply(core::ClearCmd{std::string(prefix)});
  }).as<ClearResult>();
}

Result<int64_t> Embedded::count(std::string_view prefix) {
  return engine_->run([&] { return engine_->machine().count(prefix, engine_->now()); });
}

Result<CounterResult> Embedded::counter_add(std::string_view key, int64_t delta,
                                            const CounterOptions& options) {
  return engine_->run([&] {
    return engine_->apply(core::CounterAddCmd{std::string(key), delta, options});
  }).as<CounterResult>();
}

Result<int64_t> Embedded::counter_get(std::string_view key) {
  return engine_->run([&] { return engine_->machine().counter_get(key, engine_->now()); });
}

Result<CounterResult> Embedded::counter_set(std::string_view key, int64_t value, int64_t ttl_ms) {
  return engine_->run([&] {
    return engine_->apply(core::CounterSetCmd{std::string(key), value, ttl_ms});
  }).as<CounterResult>();
}

Result<LeaseGrant> Embedded::lease_grant(int64_t ttl_ms) {
  return engine_->run([&] {
    return engine_->apply(core::LeaseGrantCmd{ttl_ms});
  }).as<LeaseGrant>();
}

Result<int64_t> Embedded::lease_keepalive(int64_t id) {
  Result<core::KeepAliveResult> r = engine_->run([&] {
    return engine_->apply(core::LeaseKeepAliveCmd{id});
  }).as<core::KeepAliveResult>();
  if (!r.ok()) return r.status();
  return r->ttl_ms;
}

Result<RevokeResult> Embedded::lease_revoke(int64_t id) {
  return engine_->run([&] {
    return engine_->apply(core::LeaseRevokeCmd{id});
  }).as<RevokeResult>();
}

Result<LeaseInfo> Embedded::lease_ttl(int64_t id, bool with_keys) {
  return engine_->run(
      [&] { return engine_->machine().lease_info(id, with_keys, engine_->now()); });
}

Result<std::vector<LeaseInfo>> Embedded::lease_list() {
  return engine_->run([&] { return engine_->machine().leases(engine_->now()); });
}

Result<int64_t> Embedded::lock_acquire(std::string_view name, int64_t lease) {
  Result<core::TokenResult> r = engine_->run([&] {
    return engine_->apply(core::LockAcquireCmd{std::string(name), lease});
  }).as<core::TokenResult>();
  if (!r.ok()) return r.status();
  return r->token;
}

namespace {

Result<int64_t> revision_of(CommandResult result) {
  Result<core::RevisionResult> r = std::move(result).as<core::RevisionResult>();
  if (!r.ok()) return r.status();
  return r->revision;
}

}  // namespace

Result<int64_t> Embedded::lock_release(std::string_view name, int64_t token) {
  return revision_of(
      engine_->run([&] { return engine_->apply(core::LockReleaseCmd{std::string(name), token}); }));
}

Result<LockOwner> Embedded::lock_owner(std::string_view name) {
  return engine_->run([&] { return engine_->machine().lock_owner(name, engine_->now()); });
}

Result<CampaignResult> Embedded::campaign(std::string_view name, int64_t lease,
                                          std::string_view value) {
  return engine_->run([&] {
    return engine_->apply(core::CampaignCmd{std::string(name), lease, std::string(value)});
  }).as<CampaignResult>();
}

Result<ElectionLeader> Embedded::election_leader(std::string_view name) {
  return engine_->run([&] { return engine_->machine().election_leader(name, engine_->now()); });
}

Result<int64_t> Embedded::resign(std::string_view name, int64_t token) {
  return revision_of(
      engine_->run([&] { return engine_->apply(core::ResignCmd{std::string(name), token}); }));
}

Result<int64_t> Embedded::proclaim(std::string_view name, int64_t token, std::string_view value) {
  return revision_of(engine_->run([&] {
    return engine_->apply(core::ProclaimCmd{std::string(name), token, std::string(value)});
  }));
}

Result<TxnResult> Embedded::commit(const TxnRequest& txn) {
  return engine_->run([&] { return engine_->apply(core::TxnCmd{txn}); }).as<TxnResult>();
}

Result<QueryResult> Embedded::query(const Query& query) {
  return engine_->run([&] { return engine_->machine().query(query, engine_->now()); });
}

Result<int64_t> Embedded::watch(const WatchRequest& request, WatchEventHandler on_event,
                                WatchEndHandler on_end) {
  return engine_->watch(request, std::move(on_event), std::move(on_end));
}

void Embedded::unwatch(int64_t watch_id) { engine_->unwatch(watch_id); }

Result<int64_t> Embedded::compact(int64_t revision) {
  return revision_of(engine_->run([&] { return engine_->apply(core::CompactCmd{revision}); }));
}

Result<StoreStats> Embedded::stats() {
  return engine_->run([&] { return engine_->machine().stats(); });
}

void Embedded::expire_now() {
  engine_->run([&] { engine_->expire(); });
}

std::string Embedded::save_snapshot() {
  return engine_->run([&] { return engine_->machine().save_snapshot(); });
}

Status Embedded::restore_snapshot(std::string_view bytes) {
  Status status;
  engine_->run([&] { engine_->restore(bytes, &status); });
  return status;
}

}  // namespace dkv
