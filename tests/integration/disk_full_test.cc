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
#include <string>

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

}  // namespace
}  // namespace dkv::testing
