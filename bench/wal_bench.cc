// WAL group commit: durable 128-byte entries per second with 1, 16, 64 and 256 concurrent
// writers (each waits for its completion before appending again), next to the same disk's plain
// write + fdatasync loop, measured in the same run.
//
// The writers are modelled by one driver that keeps N submissions outstanding: a closed loop of
// N clients without N threads. The data directory is $DKV_BENCH_DIR, or a temporary directory
// made in the current directory; each benchmark uses a fresh subdirectory and removes it.
//
//   DKV_BUILD_DIR=build-release DKV_BUILD_TYPE=Release scripts/build --target wal_bench
//   build-release/bench/wal_bench
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>

#include <benchmark/benchmark.h>

#include "wal/sync_thread.h"
#include "wal/wal.h"

namespace {

using dkv::Status;
using dkv::wal::SyncThread;
using dkv::wal::Wal;

constexpr size_t kEntryBytes = 128;

// The parent of every benchmark's directory: $DKV_BENCH_DIR, or one made (and removed by main).
std::string g_root;
bool g_root_is_temporary = false;

const std::string& bench_root() {
  if (g_root.empty()) {
    if (const char* d = std::getenv("DKV_BENCH_DIR"); d != nullptr && *d != '\0') {
      g_root = d;
    } else {
      std::string tmpl = (std::filesystem::current_path() / "wal-bench-XXXXXX").string();
      if (::mkdtemp(tmpl.data()) == nullptr) {
        std::perror("mkdtemp");
        std::exit(1);
      }
      g_root = tmpl;
      g_root_is_temporary = true;
    }
  }
  return g_root;
}

// A fresh directory for one benchmark run, removed when it ends.
class RunDir {
 public:
  RunDir() {
    std::filesystem::create_directories(bench_root());
    std::string tmpl = bench_root() + "/run-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      std::exit(1);
    }
    path_ = tmpl;
  }
  ~RunDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The disk's floor: write 128 bytes, fdatasync, repeat. Arg 0 appends to a growing file (each
// sync also commits the new size); arg 1 writes into a preallocated file, as the WAL does.
void BM_Fdatasync(benchmark::State& state) {
  RunDir dir;
  std::string path = dir.path() + "/plain";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || (state.range(0) == 1 && ::posix_fallocate(fd, 0, 64 << 20) != 0)) {
    state.SkipWithError("cannot create the file");
    return;
  }
  std::string block(kEntryBytes, 'x');
  off_t off = 0;
  for (auto _ : state) {
    if (::pwrite(fd, block.data(), block.size(), off) != static_cast<ssize_t>(block.size()) ||
        ::fdatasync(fd) != 0) {
      state.SkipWithError("write or fdatasync failed");
      break;
    }
    off += static_cast<off_t>(block.size());
  }
  ::close(fd);
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(state.range(0) == 1 ? "preallocated" : "appending");
}
BENCHMARK(BM_Fdatasync)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMicrosecond);

// Entries per second through Wal + SyncThread with `writers` submissions kept outstanding.
void BM_WalGroupCommit(benchmark::State& state) {
  const auto writers = static_cast<int>(state.range(0));
  RunDir dir;
  auto opened = Wal::open(dir.path());
  if (!opened.ok()) {
    state.SkipWithError(opened.status().to_string().c_str());
    return;
  }
  std::unique_ptr<Wal> wal = std::move(opened).value();
  const uint64_t syncs_before = wal->syncs();
  const std::string data(kEntryBytes, 'e');

  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0;
  bool failed = false;
  {
    SyncThread st(wal.get(), [](std::function<void()> fn) { fn(); });
    auto write = [&data](Wal& w) {
      return w.save(std::nullopt, {dkv::raft::Entry{1, w.last_index() + 1,
                                                    dkv::raft::EntryType::kNormal, data}});
    };
    auto done = [&](Status s) {
      std::lock_guard<std::mutex> lock(mu);
      failed = failed || !s.ok();
      --outstanding;
      cv.notify_one();
    };
    for (auto _ : state) {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return outstanding < writers; });
        ++outstanding;
      }
      st.submit(write, done);
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return outstanding == 0; });
  }
  if (failed) state.SkipWithError(wal->failure().to_string().c_str());
  const double syncs = static_cast<double>(wal->syncs() - syncs_before);
  state.SetItemsProcessed(state.iterations());
  state.counters["fdatasyncs"] = benchmark::Counter(syncs, benchmark::Counter::kIsRate);
  state.counters["entries_per_sync"] = static_cast<double>(state.iterations()) / std::max(syncs, 1.0);
}
BENCHMARK(BM_WalGroupCommit)
    ->ArgName("writers")
    ->Arg(1)
    ->Arg(16)
    ->Arg(64)
    ->Arg(256)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(2.0);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::printf("data directory: %s\n", bench_root().c_str());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (g_root_is_temporary) std::filesystem::remove_all(g_root);
  return 0;
}
