#include "wal/sync_thread.h"

#include <errno.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <latch>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "wal/wal.h"
#include "wal_test_util.h"

namespace dkv::wal {
namespace {

using raft::Entry;
using testing::TempDir;

WalOptions opts() { return WalOptions{.segment_bytes = 1 << 20}; }

std::unique_ptr<Wal> open_ok(const std::string& dir, WalOptions o = opts()) {
  auto w = Wal::open(dir, std::move(o));
  EXPECT_TRUE(w.ok()) << w.status().to_string();
  return w.ok() ? std::move(w).value() : nullptr;
}

// Appends one entry after whatever the log holds when the write runs (on the sync thread, in
// submission order), so concurrent submitters never need to agree on indexes.
SyncThread::Write append(std::string data) {
  return [data = std::move(data)](Wal& w) {
    return w.save(std::nullopt, {Entry{1, w.last_index() + 1, raft::EntryType::kNormal, data}});
  };
}

SyncThread::Post inline_post() {
  return [](std::function<void()> fn) { fn(); };
}

// A host event loop stand-in: posted closures wait in a queue until the test runs them.
class Loop {
 public:
  SyncThread::Post post() {
    return [this](std::function<void()> fn) {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(fn));
      cv_.notify_all();
    };
  }
  // Runs posted closures on this thread until `done` holds after one of them.
  void run_until(const std::function<bool()>& done) {
    while (!done()) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty(); });
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
};

TEST(SyncThread, OneSyncForEverythingQueuedWhileASyncRuns) {
  TempDir tmp;
  auto wal = open_ok(tmp.path());
  uint64_t syncs_before = wal->syncs();
  constexpr int kWriters = 32;
  Loop loop;
  SyncThread st(wal.get(), loop.post());

  // The first write holds the sync thread until every other writer has submitted, so all of
  // them queue up behind it, as they would behind a slow fdatasync.
  std::latch first_running(1);
  std::latch all_submitted(kWriters);
  int completed = 0;
  st.submit(
      [&](Wal& w) {
        first_running.count_down();
        all_submitted.wait();
        return append("first")(w);
      },
      [&](Status s) { EXPECT_TRUE(s.ok()) << s.to_string(); ++completed; });
  first_running.wait();
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      st.submit(append("w" + std::to_string(t)), [&](Status s) {
        EXPECT_TRUE(s.ok()) << s.to_string();
        ++completed;
      });
      all_submitted.count_down();
    });
  }
  for (auto& t : writers) t.join();
  loop.run_until([&] { return completed == kWriters + 1; });

  EXPECT_EQ(st.rounds(), 2u);
  EXPECT_EQ(wal->syncs() - syncs_before, 2u);  // 33 submits, 2 fdatasyncs
  st.stop();
  wal.reset();
  wal = open_ok(tmp.path());
  EXPECT_EQ(wal->recovered().entries.size(), static_cast<size_t>(kWriters + 1));
}

TEST(SyncThread, ManyWritersEachWaitingForTheirCompletion) {
  TempDir tmp;
  auto wal = open_ok(tmp.path(), WalOptions{.segment_bytes = 64 << 10});  // rolls too
  uint64_t syncs_before = wal->syncs();
  constexpr int kThreads = 16;
  constexpr int kPerThread = 40;
  std::vector<std::atomic<int>> calls(kThreads * kPerThread);
  {
    SyncThread st(wal.get(), inline_post());
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          std::promise<Status> p;
          auto f = p.get_future();
          int id = t * kPerThread + i;
          st.submit(append("t" + std::to_string(t) + "-" + std::to_string(i) + std::string(100, '.')),
                    [&calls, id, &p](Status s) {
                      calls[id].fetch_add(1);
                      p.set_value(std::move(s));
                    });
          Status s = f.get();
          ASSERT_TRUE(s.ok()) << s.to_string();
        }
      });
    }
    for (auto& t : threads) t.join();
    std::printf("%d submits, %llu fdatasyncs, %llu rounds\n", kThreads * kPerThread,
                static_cast<unsigned long long>(wal->syncs() - syncs_before),
                static_cast<unsigned long long>(st.rounds()));
    EXPECT_LE(st.rounds(), static_cast<uint64_t>(kThreads * kPerThread));
  }
  for (int id = 0; id < kThreads * kPerThread; ++id) EXPECT_EQ(calls[id].load(), 1) << id;
  EXPECT_GT(wal->segments().size(), 1u);

  wal.reset();
  wal = open_ok(tmp.path(), WalOptions{.segment_bytes = 64 << 10});
  const auto& es = wal->recovered().entries;
  ASSERT_EQ(es.size(), static_cast<size_t>(kThreads * kPerThread));
  std::set<std::string> got;
  for (size_t i = 0; i < es.size(); ++i) {
    EXPECT_EQ(es[i].index, i + 1);
    got.insert(es[i].data.substr(0, es[i].data.find('.')));
  }
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      EXPECT_TRUE(got.count("t" + std::to_string(t) + "-" + std::to_string(i))) << t << "/" << i;
    }
  }
}

TEST(SyncThread, CompletionsArePostedInSubmissionOrder) {
  TempDir tmp;
  auto wal = open_ok(tmp.path());
  Loop loop;
  SyncThread st(wal.get(), loop.post());
  std::vector<int> order;
  const auto main_thread = std::this_thread::get_id();
  for (int i = 0; i < 100; ++i) {
    st.submit(append(std::to_string(i)), [&, i](Status s) {
      EXPECT_TRUE(s.ok());
      EXPECT_EQ(std::this_thread::get_id(), main_thread);  // on the host's loop, not the sync thread
      order.push_back(i);
    });
  }
  loop.run_until([&] { return order.size() == 100; });
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

TEST(SyncThread, FailedSyncReachesEveryCompletionAndStopsTheLog) {
  TempDir tmp;
  std::atomic<int> fail_sync{0};
  WalOptions o = opts();
  o.inject_error = [&](std::string_view op) { return op == "fdatasync" ? fail_sync.load() : 0; };
  auto wal = open_ok(tmp.path(), o);
  Loop loop;
  SyncThread st(wal.get(), loop.post());

  int ok = 0;
  st.submit(append("fine"), [&](Status s) { EXPECT_TRUE(s.ok()); ++ok; });
  loop.run_until([&] { return ok == 1; });

  fail_sync = EIO;
  constexpr int kWriters = 8;
  std::latch first_running(1), all_submitted(kWriters);
  std::vector<Status> results(kWriters + 1);
  int done = 0;
  st.submit(
      [&](Wal& w) {
        first_running.count_down();
        all_submitted.wait();
        return append("doomed")(w);
      },
      [&](Status s) { results[0] = s; ++done; });
  first_running.wait();
  for (int t = 1; t <= kWriters; ++t) {
    st.submit(append("doomed too"), [&, t](Status s) { results[t] = s; ++done; });
    all_submitted.count_down();
  }
  loop.run_until([&] { return done == kWriters + 1; });
  for (const Status& s : results) {
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("fdatasync"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(tmp.path()), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("Input/output error"), std::string::npos) << s.message();
  }
  // The disk "recovers", but a failed fdatasync is final.
  fail_sync = 0;
  Status later;
  bool later_done = false;
  st.submit(append("after"), [&](Status s) { later = s; later_done = true; });
  loop.run_until([&] { return later_done; });
  EXPECT_EQ(later, results[0]);
  EXPECT_FALSE(wal->failure().ok());
}

TEST(SyncThread, RefusedWriteFailsAloneInItsRound) {
  TempDir tmp;
  auto wal = open_ok(tmp.path());
  Loop loop;
  SyncThread st(wal.get(), loop.post());
  std::latch first_running(1), queued(2);
  std::vector<Status> results(3);
  int done = 0;
  st.submit(
      [&](Wal& w) {
        first_running.count_down();
        queued.wait();
        return append("a")(w);
      },
      [&](Status s) { results[0] = s; ++done; });
  first_running.wait();
  st.submit([](Wal& w) { return w.save(std::nullopt, {Entry{1, 99, raft::EntryType::kNormal, "gap"}}); },
            [&](Status s) { results[1] = s; ++done; });
  queued.count_down();
  st.submit(append("c"), [&](Status s) { results[2] = s; ++done; });
  queued.count_down();
  loop.run_until([&] { return done == 3; });
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].code(), Code::kInvalidArgument);
  EXPECT_TRUE(results[2].ok());
  EXPECT_EQ(wal->last_index(), 2u);
}

// A host snapshotting submits the marker and the release back to back; they may share a round,
// so the release runs before the marker is synced and must wait for that round's sync.
TEST(SyncThread, ReleaseInTheSameRoundAsItsMarker) {
  TempDir tmp;
  auto wal = open_ok(tmp.path(), WalOptions{.segment_bytes = 4096});
  for (uint64_t i = 1; i <= 100; ++i) {
    ASSERT_TRUE(wal->save(std::nullopt, {Entry{1, i, raft::EntryType::kNormal, std::string(100, 'x')}}).ok());
  }
  ASSERT_TRUE(wal->sync().ok());
  size_t segments_before = wal->segments().size();
  ASSERT_GT(segments_before, 2u);

  Loop loop;
  SyncThread st(wal.get(), loop.post());
  std::latch first_running(1), queued(2);
  std::vector<Status> results(2);
  size_t segments_at_release = 0;
  int done = 0;
  st.submit(
      [&](Wal&) {
        first_running.count_down();
        queued.wait();
        return Status();
      },
      [&](Status s) { EXPECT_TRUE(s.ok()); ++done; });
  first_running.wait();
  st.submit([](Wal& w) {
    return w.save_snapshot_marker(raft::SnapshotMeta{90, 1, {}}, SnapshotKind::kCompacted);
  }, [&](Status s) { results[0] = s; ++done; });
  queued.count_down();
  st.submit([&](Wal& w) {
    Status s = w.release_to(90);
    segments_at_release = w.segments().size();  // the marker is not synced yet
    return s;
  }, [&](Status s) { results[1] = s; ++done; });
  queued.count_down();
  loop.run_until([&] { return done == 3; });

  EXPECT_EQ(st.rounds(), 2u);  // marker and release shared the second round
  EXPECT_TRUE(results[0].ok()) << results[0].to_string();
  EXPECT_TRUE(results[1].ok()) << results[1].to_string();
  EXPECT_EQ(segments_at_release, segments_before);
  st.stop();
  EXPECT_LT(wal->segments().size(), segments_before);  // released by the round's sync

  wal.reset();
  wal = open_ok(tmp.path(), WalOptions{.segment_bytes = 4096});
  EXPECT_EQ(wal->recovered().snapshot->index, 90u);
  ASSERT_EQ(wal->recovered().entries.size(), 10u);
  EXPECT_EQ(wal->recovered().entries.front().index, 91u);
}

TEST(SyncThread, StopFinishesQueuedWorkAndCancelsLaterSubmissions) {
  TempDir tmp;
  auto wal = open_ok(tmp.path());
  std::atomic<int> ok{0};
  SyncThread st(wal.get(), inline_post());
  for (int i = 0; i < 200; ++i) {
    st.submit(append(std::to_string(i)), [&](Status s) {
      if (s.ok()) ok.fetch_add(1);
    });
  }
  st.stop();
  EXPECT_EQ(ok.load(), 200);  // stop() returned only after every completion was posted
  Status cancelled;
  st.submit(append("late"), [&](Status s) { cancelled = s; });
  EXPECT_EQ(cancelled.code(), Code::kCancelled);
  st.stop();  // idempotent

  wal.reset();
  wal = open_ok(tmp.path());
  EXPECT_EQ(wal->recovered().entries.size(), 200u);
}

}  // namespace
}  // namespace dkv::wal
