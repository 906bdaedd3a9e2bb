// Embedded::open: a durable embedded store. What a call acknowledged is there after the store is
// closed and opened again (and after a crash: nothing is acknowledged before its fdatasync),
// including across snapshots and the log truncated behind them.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "dkv/embedded.h"
#include "gtest/gtest.h"

namespace dkv {
namespace {

class EmbeddedDurableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dkv-embedded-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = std::string(tmpl) + "/store";
  }
  void TearDown() override { std::filesystem::remove_all(std::filesystem::path(dir_).parent_path()); }
  std::unique_ptr<Embedded> open(uint64_t snapshot_every = 100000) {
    auto store = Embedded::open(dir_, {}, snapshot_every);
    EXPECT_TRUE(store.ok()) << store.status().to_string();
    return store.ok() ? std::move(store).value() : nullptr;
  }
  std::string dir_;
};

TEST_F(EmbeddedDurableTest, EverythingWrittenComesBackWithItsMetadata) {
  int64_t lease = 0;
  int64_t revision = 0;
  {
    auto s = open();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->put("a", "1", {.entity = "e", .labels = {{"l", "x"}}}).ok());
    ASSERT_TRUE(s->put("a", "2").ok());
    ASSERT_TRUE(s->counter_add("c", 5).ok());
    ASSERT_TRUE(s->put("t", "v", {.ttl_ms = 3'600'000}).ok());
    ASSERT_TRUE(s->del("t").ok());
    lease = s->lease_grant(3'600'000)->id;
    ASSERT_TRUE(s->lock_acquire("L", lease).ok());
    revision = s->stats()->revision;
  }
  auto s = open();
  ASSERT_TRUE(s);
  auto a = s->get("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->value, "2");
  EXPECT_EQ(a->version, 2);
  EXPECT_EQ(*s->counter_get("c"), 5);
  EXPECT_EQ(s->get("t").code(), Code::kNotFound);
  EXPECT_EQ(s->lock_owner("L")->lease, lease);
  EXPECT_EQ(s->stats()->revision, revision);
  // And it keeps going from there.
  EXPECT_EQ(s->put("a", "3")->version, 3);
}

TEST_F(EmbeddedDurableTest, SnapshotsTruncateTheLogAndRestartFromThem) {
  {
    auto s = open(/*snapshot_every=*/10);
    ASSERT_TRUE(s);
    for (int i = 0; i < 95; ++i) ASSERT_TRUE(s->put("k" + std::to_string(i), std::to_string(i)).ok());
  }
  // Several snapshots were taken; only the two newest files are kept.
  int snaps = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir_ + "/snap")) {
    snaps += f.path().extension() == ".snap";
  }
  EXPECT_EQ(snaps, 2);
  auto s = open(10);
  ASSERT_TRUE(s);
  EXPECT_EQ(*s->count(), 95);
  EXPECT_EQ(s->get("k94")->value, "94");
  EXPECT_EQ(s->stats()->revision, 95);
}

// A child process writes and is killed without any shutdown: every write it had acknowledged
// (reported on a pipe after the call returned) is there when the parent opens the store.
TEST_F(EmbeddedDurableTest, AcknowledgedWritesSurviveAKill) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    auto store = Embedded::open(dir_, {}, 50);
    if (!store.ok()) _exit(2);
    for (int i = 0;; ++i) {
      if (!(*store)->put("k" + std::to_string(i), "v").ok()) _exit(3);
      if (write(fds[1], &i, sizeof i) != sizeof i) _exit(4);
    }
  }
  close(fds[1]);
  int acked = -1, got;
  while (acked < 300 && read(fds[0], &got, sizeof got) == sizeof got) acked = got;
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  while (read(fds[0], &got, sizeof got) == sizeof got) acked = got;  // what came before the kill
  close(fds[0]);
  ASSERT_GE(acked, 300);
  auto s = open(50);
  ASSERT_TRUE(s);
  for (int i = 0; i <= acked; ++i) {
    ASSERT_TRUE(s->get("k" + std::to_string(i)).ok()) << "acknowledged write " << i << " lost";
  }
}

TEST_F(EmbeddedDurableTest, AnUnusableDirectoryIsAClearError) {
  auto store = Embedded::open("/proc/version/store");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("/proc/version/store"), std::string::npos)
      << store.status().to_string();
}

}  // namespace
}  // namespace dkv
