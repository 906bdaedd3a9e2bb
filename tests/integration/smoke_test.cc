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

}  // namespace
}  // namespace dkv::testing
