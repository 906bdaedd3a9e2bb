// The server starts on run-time ports, answers over RESP2 and RESP3, and stops cleanly.
#include <sys/wait.h>

#include "gtest/gtest.h"
#include "harness.h"

namespace dkv::testing {
namespace {

TEST(SmokeTest, StartsAnswersAndStopsWithExitZero) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  RespConnection c(server.port());
  EXPECT_EQ(c.command({"PING"}).str, "PONG");
  EXPECT_EQ(c.command({"SET", "k", "v"}).str, "OK");
  EXPECT_EQ(c.command({"GET", "k"}).str, "v");
  resp::Value hello = c.command({"HELLO", "3"});
  EXPECT_EQ(hello.type, resp::Type::kMap);
  int status = server.stop();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(SmokeTest, AcknowledgedWritesSurviveARestart) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  {
    RespConnection c(server.port());
    for (int i = 0; i < 100; ++i) {
      ASSERT_EQ(c.command({"SET", "k" + std::to_string(i), std::to_string(i)}).str, "OK");
    }
  }
  server.kill9();
  ASSERT_TRUE(server.start());
  RespConnection c(server.port());
  EXPECT_EQ(c.command({"DBSIZE"}).integer, 100);
  EXPECT_EQ(c.command({"GET", "k42"}).str, "42");
}

TEST(SmokeTest, AdminHttpServesHealthAndPrometheusMetrics) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  ASSERT_NE(server.admin_port(), 0);
  {
    RespConnection c(server.port());
    c.command({"SET", "k", "v"});
    c.command({"GET", "k"});
    c.command({"INCR", "k"});  // ERR: not an integer
    c.command({"NOSUCH"});
  }
  std::string health = http_exchange(server.admin_port(), "GET /health HTTP/1.1\r\n\r\n");
  EXPECT_EQ(health.rfind("HTTP/1.1 200", 0), 0u) << health;
  EXPECT_NE(health.find("\r\n\r\nok\n"), std::string::npos) << health;
  std::string metrics = http_exchange(server.admin_port(), "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_NE(metrics.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  for (const char* line :
       {"dkv_commands_total{cmd=\"set\"} 1\n", "dkv_commands_total{cmd=\"unknown\"} 1\n",
        "dkv_command_errors_total{cmd=\"incr\",code=\"ERR\"} 1\n",
        "dkv_command_duration_seconds_bucket{cmd=\"get\",le=\"+Inf\"} 1\n", "dkv_keys 1\n",
        "dkv_raft_role{role=\"leader\"} 1\n", "dkv_raft_role{role=\"follower\"} 0\n"}) {
    EXPECT_NE(metrics.find(line), std::string::npos) << line << " missing in:\n" << metrics;
  }
  EXPECT_EQ(http_exchange(server.admin_port(), "GET /nope HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404", 0),
            0u);
  EXPECT_EQ(http_exchange(server.admin_port(), "POST /health HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405", 0),
            0u);
}

TEST(SmokeTest, ClearErrorsForABusyPortAndAForeignDataDir) {
  DkvServerProcess first;
  ASSERT_TRUE(first.start());
  // The same client port again: refused, naming the address.
  ChildProcess busy({DKV_SERVER_PATH, "--data-dir", first.data_dir() + "-other", "--listen",
                     "127.0.0.1:" + std::to_string(first.port()), "--raft-listen", "127.0.0.1:0",
                     "--admin-listen", "127.0.0.1:0"});
  int status = busy.wait_exit(20'000);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_NE(busy.output().find(std::to_string(first.port())), std::string::npos) << busy.output();
  ASSERT_EQ(first.stop(), 0);
  // The data dir of node 1 started as node 2: refused.
  ChildProcess foreign({DKV_SERVER_PATH, "--data-dir", first.data_dir(), "--node-id", "2",
                        "--listen", "127.0.0.1:0", "--raft-listen", "127.0.0.1:0",
                        "--admin-listen", "127.0.0.1:0"});
  status = foreign.wait_exit(20'000);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_NE(foreign.output().find("node 1"), std::string::npos) << foreign.output();
  // A data dir that cannot be created (its parent is a file).
  ChildProcess unwritable({DKV_SERVER_PATH, "--data-dir", "/proc/version/data", "--listen",
                           "127.0.0.1:0", "--raft-listen", "127.0.0.1:0", "--admin-listen",
                           "127.0.0.1:0"});
  status = unwritable.wait_exit(20'000);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_NE(unwritable.output().find("/proc/version/data"), std::string::npos)
      << unwritable.output();
}

// A pipeline far deeper than the replies a connection holds pending: reading pauses and resumes,
// and every request still gets its reply, in order, even after the client has stopped sending.
TEST(SmokeTest, DeepPipelinesAreAnsweredCompletely) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  RespConnection c(server.port());
  // Inline commands, 9 bytes each: more than --max-pipeline (4096) fit in one 64 KiB read,
  // so reading pauses with complete requests already buffered and nothing more to come.
  constexpr int kRequests = 7000;
  std::string batch;
  for (int i = 0; i < kRequests; ++i) batch += "SET k v\r\n";
  batch += "*2\r\n$4\r\nECHO\r\n$4\r\nlast\r\n";
  c.send_raw(batch);
  for (int i = 0; i < kRequests; ++i) {
    resp::Value v = c.read_value();
    ASSERT_EQ(v.str, "OK") << "reply " << i << ": " << v.debug_string();
  }
  EXPECT_EQ(c.read_value().str, "last");
  EXPECT_EQ(c.command({"GET", "k"}).str, "v");
}

}  // namespace
}  // namespace dkv::testing
