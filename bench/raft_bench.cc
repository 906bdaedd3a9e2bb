// Committed entries per second through Raft: 1 and 3 members over loopback TCP, each member on
// its own event-loop thread (as in the server), with N proposals kept in flight by a client on
// the leader's loop. Storage is the real WAL with fdatasync (group commit through its sync
// thread) or, for comparison, none at all.
//
//   scripts/bench --benchmark_filter=Raft
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "server/raft_node.h"
#include "server/wal_storage.h"

namespace {

using namespace std::chrono_literals;
using dkv::Status;
using dkv::raft::NodeId;

// Storage that persists nothing: the cost of Raft and the network alone.
class NoStorage : public dkv::server::RaftStorage {
 public:
  explicit NoStorage(asio::io_context& io) : io_(io) {}
  void persist(std::shared_ptr<const dkv::raft::Ready>, std::function<void(Status)> done) override {
    asio::post(io_, [done = std::move(done)] { done(Status()); });
  }

 private:
  asio::io_context& io_;
};

struct Member {
  asio::io_context io;
  std::unique_ptr<dkv::server::RaftStorage> storage;
  std::unique_ptr<dkv::server::RaftTransport> transport;
  std::unique_ptr<dkv::server::RaftNode> node;
  std::thread thread;
};

class BenchCluster {
 public:
  BenchCluster(int n, bool durable) {
    dkv::raft::ConfState conf;
    for (NodeId id = 1; id <= static_cast<NodeId>(n); ++id) conf.voters.push_back(id);
    dir_ = std::filesystem::path(getenv("DKV_BENCH_DIR") ? getenv("DKV_BENCH_DIR") : ".") /
           ("raft-bench-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    for (NodeId id : conf.voters) members_[id] = std::make_unique<Member>();
    for (NodeId id : conf.voters) {
      Member& m = *members_[id];
      m.transport = std::make_unique<dkv::server::RaftTransport>(m.io, [this, id](dkv::raft::Message msg) {
        members_[id]->node->step(std::move(msg));
      });
      if (!m.transport->listen("127.0.0.1", 0).ok()) std::abort();
    }
    for (NodeId id : conf.voters) {
      Member& m = *members_[id];
      for (NodeId peer : conf.voters) {
        if (peer != id) m.transport->set_peer(peer, "127.0.0.1", members_[peer]->transport->port());
      }
      dkv::raft::InitialState init;
      init.snapshot.meta.conf = conf;
      if (durable) {
        auto storage = dkv::server::WalStorage::open(m.io, (dir_ / std::to_string(id)).string(), conf);
        if (!storage.ok()) {
          fprintf(stderr, "%s\n", storage.status().to_string().c_str());
          std::abort();
        }
        m.storage = std::move(storage).value();
      } else {
        m.storage = std::make_unique<NoStorage>(m.io);
      }
      dkv::server::RaftNode::Options options;
      options.raft.id = id;
      options.raft.seed = id;
      options.raft.max_inflight_msgs = 4096;
      options.tick = 10ms;
      m.node = std::make_unique<dkv::server::RaftNode>(m.io, options, std::move(init), *m.storage,
                                                       *m.transport, dkv::server::RaftApplier{});
    }
    for (auto& [id, m] : members_) {
      Member* mp = m.get();
      asio::post(mp->io, [mp] { mp->node->start(); });
      mp->thread = std::thread([mp] {
        auto guard = asio::make_work_guard(mp->io);
        mp->io.run();
      });
    }
    run_on(1, [this] { members_[1]->node->campaign(); });
    while (!is_leader(1)) std::this_thread::sleep_for(1ms);  // bench set-up, not a test
  }

  ~BenchCluster() {
    for (auto& [id, m] : members_) {
      Member* mp = m.get();
      run_on(id, [mp] {
        mp->node->stop();
        mp->transport->close();
      });
      mp->io.stop();
      mp->thread.join();
    }
    members_.clear();
    std::filesystem::remove_all(dir_);
  }

  // Proposes `total` entries of `size` bytes on the leader, `inflight` at a time; returns when
  // all are applied on the leader.
  void drive(int64_t total, int inflight, size_t size) {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    Member* leader = members_[1].get();
    auto state = std::make_shared<DriveState>();
    state->remaining_to_send = total;
    state->remaining_to_finish = total;
    state->payload = std::string(size, 'x');
    state->finished = [&] {
      std::lock_guard<std::mutex> lock(mu);
      done = true;
      cv.notify_all();
    };
    asio::post(leader->io, [leader, state, inflight] {
      for (int i = 0; i < inflight; ++i) propose_next(leader->node.get(), state);
    });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    lock.unlock();
    // As a server snapshots every N entries, drop the applied log so memory stays flat.
    dkv::raft::SnapshotDataPtr empty = dkv::raft::snapshot_data("");
    for (auto& [id, m] : members_) {
      Member* mp = m.get();
      run_on(id, [mp, empty] { (void)mp->node->raft().compact(mp->node->raft().applied_index(), empty); });
    }
  }

 private:
  struct DriveState {
    int64_t remaining_to_send = 0;
    int64_t remaining_to_finish = 0;
    std::string payload;
    std::function<void()> finished;
  };

  static void propose_next(dkv::server::RaftNode* node, const std::shared_ptr<DriveState>& st) {
    if (st->remaining_to_send == 0) return;
    --st->remaining_to_send;
    node->propose(st->payload, [node, st](Status s, std::string) {
      if (!s.ok()) {
        fprintf(stderr, "proposal failed: %s\n", s.to_string().c_str());
        std::abort();
      }
      if (--st->remaining_to_finish == 0) {
        st->finished();
        return;
      }
      propose_next(node, st);
    });
  }

  bool is_leader(NodeId id) {
    std::atomic<int> r{-1};
    run_on(id, [&] { r = members_[id]->node->raft().role() == dkv::raft::Role::kLeader; });
    return r == 1;
  }

  // Runs f on member id's loop and waits for it.
  void run_on(NodeId id, std::function<void()> f) {
    std::mutex mu;
    std::condition_variable cv;
    bool ran = false;
    asio::post(members_[id]->io, [&] {
      f();
      std::lock_guard<std::mutex> lock(mu);
      ran = true;
      cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return ran; });
  }

  std::filesystem::path dir_;
  std::map<NodeId, std::unique_ptr<Member>> members_;
};

// Arguments: members, proposals in flight, durable (1 = WAL with fdatasync).
void BM_RaftCommit(benchmark::State& state) {
  int members = static_cast<int>(state.range(0));
  int inflight = static_cast<int>(state.range(1));
  bool durable = state.range(2) != 0;
  BenchCluster cluster(members, durable);
  int64_t per_iteration = std::max<int64_t>(2000, inflight * 40);
  cluster.drive(std::min<int64_t>(per_iteration, 2000), inflight, 128);  // warm-up
  for (auto _ : state) cluster.drive(per_iteration, inflight, 128);
  state.SetItemsProcessed(state.iterations() * per_iteration);
  state.SetLabel(std::to_string(members) + " member(s), " + std::to_string(inflight) +
                 " in flight, " + (durable ? "WAL+fdatasync" : "no disk"));
}
BENCHMARK(BM_RaftCommit)
    ->ArgsProduct({{1, 3}, {1, 50, 1000}, {1}})
    ->Args({3, 1000, 0})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
