// Backup, restore and damaged data, with real processes: `dkv backup` from a live node,
// `dkv-server --restore` into a new data directory, and a node that finds its data damaged
// refusing to start with a message that says which file and what to do.
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "dkv_test_util.h"

namespace dkv::testing {
namespace {

std::string cli(const std::string& args, int* code) {
  int status = -1;
  std::string out = run_shell(std::string(DKV_CLI_PATH) + " " + args + " 2>&1", &status);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// Starts dkv-server with `flags` expecting it to refuse: its exit status and output.
std::string refused_start(const std::string& flags, int* code) {
  int status = -1;
  // A server that starts after all is stopped after 10 s (exit status 124: the test fails).
  std::string out = run_shell("timeout 10 " + std::string(DKV_SERVER_PATH) +
                                  " --listen 127.0.0.1:0 --raft-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 " +
                                  flags + " 2>&1 </dev/null",
                              &status);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

void flip_byte(const std::string& path, std::streamoff at) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(at);
  char c = 0;
  f.get(c);
  f.seekp(at);
  f.put(static_cast<char>(c ^ 0x5a));
}

TEST(BackupTest, BackupOfALiveNodeRestoresIntoANewNode) {
  TempDir dir;
  const std::string file = dir.path() + "/backup.snap";
  {
    DkvServerProcess source;
    ASSERT_TRUE(source.start());
    RespConnection c(source.port());
    for (int i = 0; i < 200; ++i) ASSERT_EQ(c.command({"SET", "k" + std::to_string(i), "v" + std::to_string(i)}).str, "OK");
    ASSERT_FALSE(c.command({"KV.PUT", "user:1", "ann", "ENTITY", "user", "LABELS", "1", "age", "41"}).is_error());
    ASSERT_FALSE(c.command({"CTR.ADD", "visits", "7"}).is_error());
    int code = -1;
    std::string out = cli("--endpoints 127.0.0.1:" + std::to_string(source.port()) + " backup " + file, &code);
    ASSERT_EQ(code, 0) << out;
    EXPECT_NE(out.find("backup of index "), std::string::npos) << out;
    // Written after the backup: not in it.
    ASSERT_EQ(c.command({"SET", "later", "1"}).str, "OK");
  }
  ASSERT_TRUE(std::filesystem::exists(file));
  EXPECT_FALSE(std::filesystem::exists(file + ".tmp"));

  const std::string restored_dir = dir.path() + "/restored";
  {
    DkvServerProcess restored(restored_dir, {"--restore", file});
    ASSERT_TRUE(restored.start());
    RespConnection c(restored.port());
    EXPECT_EQ(c.command({"DBSIZE"}).integer, 202);
    EXPECT_EQ(c.command({"GET", "k123"}).str, "v123");
    EXPECT_EQ(c.command({"GET", "later"}).type, resp::Type::kNull);
    EXPECT_EQ(c.command({"CTR.GET", "visits"}).integer, 7);
    EXPECT_EQ(c.command({"QUERY", "user", "WHERE", "age", "GT", "40", "COUNT"}).find("count")->integer, 1);
    ASSERT_EQ(c.command({"SET", "after-restore", "1"}).str, "OK");  // a working store
    EXPECT_EQ(restored.stop(), 0);
  }
  {
    // A restart (without --restore) keeps the restored state and what was written since.
    DkvServerProcess again(restored_dir);
    ASSERT_TRUE(again.start());
    RespConnection c(again.port());
    EXPECT_EQ(c.command({"DBSIZE"}).integer, 203);
    EXPECT_EQ(c.command({"GET", "after-restore"}).str, "1");
  }
  // --restore again into the same directory is refused, saying why.
  int code = -1;
  std::string out = refused_start("--data-dir " + restored_dir + " --restore " + file, &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("already holds a log (it was restored already? start without --restore)"), std::string::npos)
      << out;
  // A damaged backup is refused, naming the file.
  flip_byte(file, 40);
  out = refused_start("--data-dir " + dir.path() + "/other --restore " + file, &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("corrupt file " + file + ": checksum mismatch"), std::string::npos) << out;
}

TEST(BackupTest, ANodeWithADamagedSnapshotRefusesToStartAndSaysWhatToDo) {
  TempDir dir;
  {
    DkvServerProcess server(dir.path());
    ASSERT_TRUE(server.start());
    RespConnection c(server.port());
    for (int i = 0; i < 50; ++i) ASSERT_EQ(c.command({"SET", "k" + std::to_string(i), "v"}).str, "OK");
    ASSERT_EQ(c.command({"SNAPSHOT"}).type, resp::Type::kInteger);
    EXPECT_EQ(server.stop(), 0);
  }
  std::string snap;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/snap")) snap = e.path().string();
  ASSERT_FALSE(snap.empty());
  flip_byte(snap, 60);
  int code = -1;
  std::string out = refused_start("--data-dir " + dir.path(), &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("corrupt file " + snap + ": checksum mismatch"), std::string::npos) << out;
  EXPECT_NE(out.find("This node will not start on damaged data"), std::string::npos) << out;
  EXPECT_NE(out.find("--join"), std::string::npos) << out;
  EXPECT_NE(out.find("dkv-server --restore FILE"), std::string::npos) << out;
}

}  // namespace
}  // namespace dkv::testing
