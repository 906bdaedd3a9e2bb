#include "client/watch_stream.h"

#include "client/remote_codec.h"

namespace dkv::client {

WatchStream::WatchStream(ConnectionPool* pool, std::function<Result<int64_t>()> current_revision,
                         int64_t request_timeout_ms, size_t max_pending)
    : pool_(pool),
      current_revision_(std::move(current_revision)),
      request_timeout_ms_(request_timeout_ms),
      max_pending_(max_pending) {
  delivery_ = std::thread([this] { delivery_loop(); });
  delivery_thread_id_ = delivery_.get_id();
  reader_ = std::thread([this] { reader_loop(); });
}

WatchStream::~WatchStream() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  queued_.notify_all();
  reader_.join();
  delivery_.join();
  std::map<int64_t, Watch> remaining;
  {
    std::lock_guard lock(mu_);
    remaining.swap(watches_);
    socket_.reset();
  }
  for (auto& [id, w] : remaining) {
    if (w.subscribed) w.subscribed->set_value(Status(Code::kCancelled, "the client closed"));
    if (w.handlers->on_end) w.handlers->on_end(Status(Code::kCancelled, "the client closed"));
  }
}

Result<int64_t> WatchStream::watch(const WatchRequest& request, WatchEventHandler on_event,
                                   WatchEndHandler on_end) {
  if (request.snapshot && request.from_revision > 0) {
    return Status(Code::kInvalidArgument, "a watch takes a snapshot or a from_revision, not both");
  }
  if (request.from_revision < 0) {
    return Status(Code::kInvalidArgument, "from_revision must not be negative");
  }
  int64_t resume_from = request.from_revision;
  if (!request.snapshot && resume_from == 0) {
    // "Only new events" made explicit, so that a reconnect misses none.
    Result<int64_t> revision = current_revision_();
    if (!revision.ok()) return revision.status();
    resume_from = *revision + 1;
  }
  std::future<Status> answer;
  int64_t id = 0;
  {
    std::lock_guard lock(mu_);
    id = next_id_++;
    Watch& w = watches_[id];
    w.id = id;
    w.request = request;
    w.handlers = std::make_shared<const Handlers>(Handlers{std::move(on_event), std::move(on_end)});
    w.resume_from = resume_from;
    w.subscribed = std::make_shared<std::promise<Status>>();
    answer = w.subscribed->get_future();
    if (socket_) subscribe(w);  // else the reader subscribes it once connected
  }
  if (answer.wait_for(std::chrono::milliseconds(request_timeout_ms_)) !=
      std::future_status::ready) {
    unwatch(id);
    return Status(Code::kUnavailable, "KV.WATCH was not answered within " +
                                          std::to_string(request_timeout_ms_) + " ms");
  }
  Status status = answer.get();
  if (!status.ok()) return status;
  return id;
}

void WatchStream::unwatch(int64_t watch_id) {
  std::unique_lock lock(mu_);
  auto it = watches_.find(watch_id);
  if (it != watches_.end()) {
    Watch& w = it->second;
    if (w.server_id != 0) {
      by_server_id_.erase(w.server_id);
      if (socket_) {
        pending_.push_back({Pending::Kind::kUnwatch, 0});
        (void)socket_->send({{"KV.UNWATCH", std::to_string(w.server_id)}},
                            deadline_after(request_timeout_ms_));
      }
    }
    watches_.erase(it);  // a subscription still in flight is undone when its reply comes
  }
  if (std::this_thread::get_id() != delivery_thread_id_) {
    delivered_.wait(lock, [&] { return delivering_ != watch_id; });
  }
}

void WatchStream::drop_connection() {
  std::lock_guard lock(mu_);
  disconnect();
}

size_t WatchStream::backlog() {
  std::lock_guard lock(mu_);
  return deliveries_.size();
}

void WatchStream::disconnect() {
  socket_.reset();
  pending_.clear();
  by_server_id_.clear();
  for (auto& [id, w] : watches_) {
    w.server_id = 0;
    w.subscribing = false;
  }
}

void WatchStream::reader_loop() {
  auto stop = [this] { return stopping_.load(); };
  while (!stop()) {
    std::shared_ptr<RespSocket> socket;
    {
      std::lock_guard lock(mu_);
      socket = socket_;
    }
    if (!socket) {
      Result<std::unique_ptr<RespSocket>> opened = pool_->connect(Deadline::max(), stop);
      if (!opened.ok()) continue;  // stopping, or tries again with backoff
      std::lock_guard lock(mu_);
      socket_ = std::move(opened).value();
      on_connected();
      continue;
    }
    resp::Value frame;
    // Short reads so that stopping is noticed promptly.
    RespSocket::ReadOutcome outcome = socket->read_frame(deadline_after(100), &frame);
    if (outcome == RespSocket::ReadOutcome::kTimeout) continue;
    std::lock_guard lock(mu_);
    if (socket_ != socket) continue;  // dropped meanwhile: the frame belongs to nothing now
    if (outcome == RespSocket::ReadOutcome::kBroken) {
      disconnect();
    } else if (frame.type == resp::Type::kPush) {
      on_push(frame);
    } else {
      on_reply(frame);
    }
  }
}

void WatchStream::on_connected() {
  for (auto& [id, w] : watches_) {
    if (!w.ended && w.server_id == 0 && !w.subscribing) subscribe(w);
  }
}

void WatchStream::subscribe(Watch& w) {
  pending_.push_back({Pending::Kind::kSubscribe, w.id});
  w.subscribing = true;
  w.to_drop = w.seen_at_resume;
  w.in_snapshot = w.resume_from == 0 && w.request.snapshot;
  // A failed send breaks the socket; the reader then reconnects and subscribes again.
  (void)socket_->send({watch_command(w.request, w.resume_from)},
                      deadline_after(request_timeout_ms_));
}

void WatchStream::on_reply(const resp::Value& reply) {
  if (pending_.empty()) return;  // not ours to answer (cannot happen with a correct server)
  Pending p = pending_.front();
  pending_.pop_front();
  if (p.kind != Pending::Kind::kSubscribe) return;
  auto it = watches_.find(p.local_id);
  if (it == watches_.end()) {
    // Unwatched while subscribing: undo the subscription.
    if (reply.type == resp::Type::kInteger && socket_) {
      pending_.push_back({Pending::Kind::kUnwatch, 0});
      (void)socket_->send({{"KV.UNWATCH", std::to_string(reply.integer)}},
                          deadline_after(request_timeout_ms_));
    }
    return;
  }
  Watch& w = it->second;
  w.subscribing = false;
  if (reply.type != resp::Type::kInteger) {
    Status status = reply.is_error() ? status_from_error(reply)
                                     : Status(Code::kInternal, "unexpected KV.WATCH reply: " +
                                                                   reply.debug_string());
    if (w.subscribed) {
      w.subscribed->set_value(std::move(status));
      watches_.erase(it);
    } else {
      end_watch(w, std::move(status));
    }
    return;
  }
  w.server_id = reply.integer;
  by_server_id_[w.server_id] = w.id;
  if (w.subscribed) {
    w.subscribed->set_value(Status::ok_status());
    w.subscribed.reset();
  }
}

void WatchStream::on_push(const resp::Value& push) {
  auto found = by_server_id_.find(push_watch_id(push));
  if (found == by_server_id_.end()) return;  // unwatched, or not a watch push
  auto it = watches_.find(found->second);
  if (it == watches_.end()) return;
  Watch& w = it->second;
  WatchPush decoded = decode_push(push, w.request.space);
  switch (decoded.kind) {
    case WatchPush::Kind::kEvent: {
      Event& event = decoded.event;
      if (w.pending >= max_pending_ && !w.in_snapshot) {
        end_lagging(w, event.revision);
        return;
      }
      if (w.in_snapshot) {
        event.snapshot = true;
      } else if (event.revision == w.resume_from) {
        if (w.to_drop > 0) {
          --w.to_drop;  // delivered before the connection broke
          return;
        }
        ++w.seen_at_resume;
      } else if (event.revision > w.resume_from) {
        w.resume_from = event.revision;
        w.seen_at_resume = 1;
        w.to_drop = 0;
      }
      ++w.pending;
      deliveries_.push_back({w.id, std::move(event), {}});
      queued_.notify_one();
      return;
    }
    case WatchPush::Kind::kSynced:
      w.in_snapshot = false;
      w.resume_from = decoded.revision + 1;
      w.seen_at_resume = 0;
      w.to_drop = 0;
      return;
    case WatchPush::Kind::kEnd:
      by_server_id_.erase(w.server_id);
      w.server_id = 0;
      if (decoded.end.code() == Code::kCancelled) {
        // The server is shutting down: resume elsewhere (or after its restart), as after a
        // broken connection.
        disconnect();
      } else {
        end_watch(w, decoded.end);
      }
      return;
    case WatchPush::Kind::kOther:
      return;
  }
}

void WatchStream::end_lagging(Watch& w, int64_t revision) {
  // Undelivered events of `revision` go too: the watch resumes at a revision boundary.
  std::erase_if(deliveries_, [&](const Delivery& d) {
    return d.local_id == w.id && d.event && d.event->revision >= revision;
  });
  if (w.server_id != 0 && socket_) {
    pending_.push_back({Pending::Kind::kUnwatch, 0});
    (void)socket_->send({{"KV.UNWATCH", std::to_string(w.server_id)}},
                        deadline_after(request_timeout_ms_));
  }
  end_watch(w, Status(Code::kLagging, "watch " + std::to_string(w.id) + " fell more than " +
                                          std::to_string(max_pending_) +
                                          " events behind; resume from revision " +
                                          std::to_string(revision)));
}

void WatchStream::end_watch(Watch& w, Status status) {
  if (w.server_id != 0) by_server_id_.erase(w.server_id);
  w.server_id = 0;
  w.ended = true;
  deliveries_.push_back({w.id, std::nullopt, std::move(status)});
  queued_.notify_one();
}

void WatchStream::delivery_loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    queued_.wait(lock, [&] { return stopping_ || !deliveries_.empty(); });
    if (stopping_) return;
    Delivery d = std::move(deliveries_.front());
    deliveries_.pop_front();
    auto it = watches_.find(d.local_id);
    if (it == watches_.end()) continue;  // unwatched: its handlers must not run
    std::shared_ptr<const Handlers> handlers = it->second.handlers;
    if (d.event) {
      --it->second.pending;
    } else {
      watches_.erase(it);
    }
    delivering_ = d.local_id;
    lock.unlock();
    if (d.event) {
      if (handlers->on_event) handlers->on_event(*d.event);
    } else if (handlers->on_end) {
      handlers->on_end(d.end);
    }
    lock.lock();
    delivering_ = 0;
    delivered_.notify_all();
  }
}

}  // namespace dkv::client
