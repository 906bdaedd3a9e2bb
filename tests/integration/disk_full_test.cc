// A full disk under a real dkv-server: its data directory is on a small tmpfs the test mounts
// (root only; skipped, saying why, where mounting is not allowed). Filling the disk must refuse
// writes with a clear error while reads go on, lose nothing acknowledged, and let writes resume
// once space is freed.
#include <sys/mount.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <csignal>
#include <memory>
#include <string>
#include <thread>

#include "dkv_test_util.h"

namespace dkv::testing {
namespace {

// A tmpfs of `mib` MiB mounted at `path` for the test's lifetime.
class TmpfsMount {
 public:
  TmpfsMount(const std::string& path, int mib) : path_(path) {
    std::filesystem::create_directories(path);
    const std::string options = "size=" + std::to_string(mib) + "m";
    if (::mount("tmpfs", path.c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = std::strerror(errno);
    }
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string path_;
  bool mounted_ = false;
  std::string error_;
};

// Writes 64 KiB blocks into `path` until the disk refuses; returns the bytes written.
uint64_t fill_disk(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::setvbuf(f, nullptr, _IONBF, 0);
  const std::string block(64 << 10, 'f');
  uint64_t written = 0;
  for (;;) {
    size_t n = std::fwrite(block.data(), 1, block.size(), f);
    written += n;
    if (n < block.size()) break;
  }
  std::fclose(f);
  return written;
}

TEST(DiskFullTest, WritesAreRefusedReadsGoOnAndWritesResumeWhenSpaceReturns) {
  TempDir dir;
  const std::string mnt = dir.path() + "/mnt";
  TmpfsMount tmpfs(mnt, 16);
  if (!tmpfs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (" << tmpfs.error() << "): needs root";
  const std::string data_dir = mnt + "/data";
  // 1 MiB segments (and spare); a snapshot every 20 entries, so snapshots meet the full disk too.
  const std::vector<std::string> flags = {"--wal-segment-mib", "1", "--snapshot-entries", "20"};
  const std::string value(48 << 10, 'v');
  int acknowledged = 0;
  {
    DkvServerProcess server(data_dir, flags);
    ASSERT_TRUE(server.start());
    RespConnection c(server.port());
    for (; acknowledged < 10; ++acknowledged) {
      ASSERT_EQ(c.command({"SET", "k" + std::to_string(acknowledged), value}).str, "OK");
    }
    EXPECT_EQ(c.command({"INFO", "persistence"}).str.find("disk_full:1"), std::string::npos);

    const std::string filler = mnt + "/filler";
    ASSERT_GT(fill_disk(filler), 0u);
    // The current segment still has room; once it is used up the spare becomes the next one,
    // and the spare after it cannot be allocated: from then on writes are refused.
    resp::Value refused;
    for (int i = 0; i < 200; ++i) {
      resp::Value r = c.command({"SET", "k" + std::to_string(acknowledged), value});
      if (r.is_error()) {
        refused = r;
        break;
      }
      ASSERT_EQ(r.str, "OK");
      ++acknowledged;
    }
    ASSERT_TRUE(refused.is_error()) << "no write was refused on a full disk";
    EXPECT_NE(refused.str.find("UNAVAILABLE the disk holding " + data_dir + " is full"), std::string::npos)
        << refused.str;
    EXPECT_GT(acknowledged, 10);
    EXPECT_NE(server.process()->wait_for_line("is full: writes are refused", 5000), "");
    // Every kind of write is refused the same way; reads work.
    EXPECT_NE(c.command({"CTR.ADD", "n", "1"}).str.find("is full"), std::string::npos);
    EXPECT_NE(c.command({"DEL", "k0"}).str.find("is full"), std::string::npos);
    EXPECT_EQ(c.command({"GET", "k0"}).str, value);
    EXPECT_EQ(c.command({"DBSIZE"}).integer, acknowledged);
    EXPECT_NE(c.command({"INFO", "persistence"}).str.find("disk_full:1"), std::string::npos);

    // Space returns: within the WAL's retry (a second) writes are taken again.
    std::filesystem::remove(filler);
    EXPECT_NE(server.process()->wait_for_line("space on the disk holding " + data_dir + " again", 10000), "");
    ASSERT_EQ(c.command({"SET", "after", "1"}).str, "OK");
    resp::Value add = c.command({"CTR.ADD", "n", "1"});
    ASSERT_EQ(add.type, resp::Type::kArray) << add.debug_string();
    EXPECT_EQ(add.elements[1].integer, 1);
    EXPECT_EQ(server.stop(), 0);
  }
  // Nothing acknowledged was lost.
  DkvServerProcess server(data_dir, flags);
  ASSERT_TRUE(server.start());
  RespConnection c(server.port());
  EXPECT_EQ(c.command({"DBSIZE"}).integer, acknowledged + 2);
  for (int i = 0; i < acknowledged; ++i) {
    ASSERT_EQ(c.command({"STRLEN", "k" + std::to_string(i)}).integer, static_cast<int64_t>(value.size())) << i;
  }
  EXPECT_EQ(c.command({"GET", "after"}).str, "1");
  EXPECT_EQ(server.stop(), 0);
}

// A learner that comes back to find its log compacted away on the leader needs the leader's
// snapshot; on a full disk it waits for space (and says so) instead of stopping, and installs it
// once space is freed.
TEST(DiskFullTest, AFollowerWaitsForSpaceToInstallTheLeadersSnapshot) {
  TempDir dir;
  const std::string mnt = dir.path() + "/mnt";
  TmpfsMount tmpfs(mnt, 16);
  if (!tmpfs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (" << tmpfs.error() << "): needs root";
  DkvServerProcess leader("", {"--snapshot-entries", "20"});
  ASSERT_TRUE(leader.start());
  RespConnection c(leader.port());
  ASSERT_EQ(c.command({"SET", "before", "1"}).str, "OK");
  // The follower keeps its ports across the restart: the leader has its Raft address.
  const std::string data_dir = mnt + "/data";
  const int client_port = free_port();
  const std::string raft = "127.0.0.1:" + std::to_string(free_port());
  auto start_follower = [&] {
    auto p = std::make_unique<ChildProcess>(std::vector<std::string>{
        DKV_SERVER_PATH, "--data-dir", data_dir, "--node-id", "2", "--listen", "127.0.0.1:" + std::to_string(client_port),
        "--raft-listen", raft, "--admin-listen", "127.0.0.1:0", "--join", "127.0.0.1:" + std::to_string(leader.port()),
        "--wal-segment-mib", "1", "--snapshot-entries", "20"});
    EXPECT_NE(p->wait_for_line(" ready: ", 20'000), "") << p->output();
    return p;
  };
  std::unique_ptr<ChildProcess> follower = start_follower();
  ASSERT_NE(follower->wait_for_line("joined the cluster", 20'000), "") << follower->output();
  // Reads on the follower from its own state (READONLY), polled until a key arrives.
  auto read_on_follower = [&](const std::string& key, const std::string& want) {
    RespConnection f(client_port);
    EXPECT_EQ(f.command({"READONLY"}).str, "OK");
    std::string got;
    for (int i = 0; i < 200 && got != want; ++i) {
      got = f.command({"GET", key}).str;
      if (got != want) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return got;
  };
  ASSERT_EQ(read_on_follower("before", "1"), "1");

  // While it is down, 4 MiB of writes and several snapshots: the log it would need is gone.
  follower.reset();  // SIGKILL
  const std::string value(32 << 10, 'v');
  for (int i = 0; i < 128; ++i) ASSERT_EQ(c.command({"SET", "k" + std::to_string(i), value}).str, "OK");
  ASSERT_EQ(c.command({"SET", "last", "1"}).str, "OK");
  const std::string filler = mnt + "/filler";
  ASSERT_GT(fill_disk(filler), 0u);

  // It restarts on the full disk (refusing writes), and waits for space to take the snapshot.
  follower = start_follower();
  EXPECT_NE(follower->wait_for_line("for the snapshot the leader sent: waiting for space", 20'000), "")
      << follower->output();
  std::filesystem::remove(filler);
  // It did not stop: it installs the snapshot and serves what it holds.
  EXPECT_EQ(read_on_follower("last", "1"), "1") << follower->output();
  EXPECT_EQ(read_on_follower("k127", value).size(), value.size());
  follower->signal(SIGTERM);
  const int status = follower->wait_exit(30'000);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << " " << follower->output();
  EXPECT_EQ(follower->output().find("stopped after a failure"), std::string::npos) << follower->output();
}

}  // namespace
}  // namespace dkv::testing
