#include "wal/sync_thread.h"

#include <memory>
#include <utility>

namespace dkv::wal {

SyncThread::SyncThread(Wal* wal, Post post)
    : wal_(wal), post_(std::move(post)), thread_([this] { run(); }) {}

SyncThread::~SyncThread() { stop(); }

void SyncThread::submit(Write write, Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(Item{std::move(write), std::move(done)});
      if (queue_.size() == 1) cv_.notify_one();
      return;
    }
  }
  post_([done = std::move(done)] { done(Status(Code::kCancelled, "wal: sync thread stopped")); });
}

void SyncThread::stop() {
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    first = !stopping_;
    stopping_ = true;
  }
  // A write waiting for disk space would keep the join waiting for as long: it fails instead.
  // Only the first stop: after it the Wal may be gone (the destructor stops again).
  if (first) wal_->cancel_waits();
  cv_.notify_one();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

uint64_t SyncThread::rounds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rounds_;
}

void SyncThread::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return;  // stopping, and everything submitted is done
    std::vector<Item> items;
    items.swap(queue_);
    lock.unlock();
    round(std::move(items));
    lock.lock();
  }
}

void SyncThread::round(std::vector<Item> items) {
  struct Completions {
    std::vector<Item> items;
    std::vector<Status> results;
  };
  auto c = std::make_shared<Completions>();
  c->results.reserve(items.size());
  bool wrote = false;
  for (Item& item : items) {
    Status s = item.write ? item.write(*wal_) : Status();
    wrote = wrote || s.ok();
    c->results.push_back(std::move(s));
  }
  // One sync covers every write of the round; writes that failed keep their own error.
  if (wrote) {
    Status synced = wal_->sync();
    for (Status& s : c->results) {
      if (s.ok()) s = synced;
    }
  }
  c->items = std::move(items);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++rounds_;  // before the completions, so one that reads rounds() counts its own round
  }
  post_([c] {
    for (size_t i = 0; i < c->items.size(); ++i) c->items[i].done(std::move(c->results[i]));
  });
}

}  // namespace dkv::wal
