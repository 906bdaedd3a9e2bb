// SyncThread: group commit for a Wal. A dedicated thread takes everything submitted while its
// previous fdatasync ran, writes it all, syncs once, and then hands every completion back through
// the host's `post` (e.g. onto its event loop). So N concurrent writers cost about one sync per
// round, not one each: throughput grows with concurrency.
//
//   SyncThread st(wal.get(), [&](std::function<void()> fn) { asio::post(io, std::move(fn)); });
//   st.submit([entries](Wal& w) { return w.save(std::nullopt, entries); },
//             [](Status s) { /* durable if s.ok() */ });
//
// Writes run on the sync thread in submission order, and completions are posted in that order,
// one post per round. A completion gets its write's error, or else the round's sync result: after
// an I/O error the Wal is stopped (wal.h) and every later submission fails with the same error.
// While the SyncThread exists it is the only user of the Wal.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "dkv/status.h"
#include "wal/wal.h"

namespace dkv::wal {

class SyncThread {
 public:
  using Write = std::function<Status(Wal&)>;  // appends records; runs on the sync thread
  using Done = std::function<void(Status)>;
  using Post = std::function<void(std::function<void()>)>;

  // `post` is called on the sync thread; it may run the closure inline.
  SyncThread(Wal* wal, Post post);
  ~SyncThread();  // stop()
  SyncThread(const SyncThread&) = delete;
  SyncThread& operator=(const SyncThread&) = delete;

  // Any thread. `done` is posted exactly once: OK once the write is durable, or an error.
  void submit(Write write, Done done);

  // Finishes everything submitted so far (writes, syncs and posts its completions), then joins
  // the thread; a write waiting for disk space (wal.h) gives up and fails. Submissions after
  // stop() complete with kCancelled. Idempotent.
  void stop();

  uint64_t rounds() const;  // write-then-sync rounds completed

 private:
  struct Item {
    Write write;
    Done done;
  };

  void run();
  void round(std::vector<Item> items);

  Wal* const wal_;
  const Post post_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Item> queue_;
  bool stopping_ = false;
  uint64_t rounds_ = 0;
  std::thread thread_;  // last: starts after everything above is initialised
};

}  // namespace dkv::wal
