// dkv-bench against a real dkv-server and a real redis-server: it runs a fixed number of
// requests, reports them (text and --json), and refuses bad flags.
#include <sys/wait.h>

#include <string>

#include "dkv_test_util.h"

namespace dkv::testing {
namespace {

std::string bench(const std::string& args, int* exit_code) {
  int status = -1;
  std::string out = run_shell(std::string(DKV_BENCH_PATH) + " " + args + " 2>&1", &status);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST(BenchToolTest, RunsAFixedNumberOfRequestsAgainstDkvAndReportsJson) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  int code = -1;
  const std::string endpoint = "127.0.0.1:" + std::to_string(server.port());
  std::string out = bench("--endpoints " + endpoint + " --requests 2000 --connections 4 --pipeline 2 --op put --json", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("\"mode\":\"put\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"ops\":2000,\"errors\":0"), std::string::npos) << out;
  EXPECT_NE(out.find("\"p99\":"), std::string::npos) << out;
  EXPECT_EQ(out.find("\"ops_per_sec\":0,"), std::string::npos) << out;
  // The keys it wrote are there.
  RespConnection c(server.port());
  EXPECT_GT(c.command({"DBSIZE"}).integer, 100);

  out = bench("--endpoints " + endpoint + " --requests 1000 --connections 2 --op counter", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("counter against dkv://" + endpoint + ": 1000 ops in "), std::string::npos) << out;
  EXPECT_NE(out.find("latency ms: p50 "), std::string::npos) << out;
}

TEST(BenchToolTest, RunsTheSameLoadAgainstRedis) {
  RedisServerProcess redis;
  ASSERT_TRUE(redis.start());
  int code = -1;
  std::string out = bench("--target redis://127.0.0.1:" + std::to_string(redis.port()) +
                              " --requests 2000 --connections 4 --profile ReadHeavy --json",
                          &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("\"target\":\"redis://127.0.0.1:"), std::string::npos) << out;
  EXPECT_NE(out.find("\"mode\":\"ReadHeavy\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"ops\":2000,\"errors\":0"), std::string::npos) << out;
}

// stress verifies every read: on a healthy server nothing is corrupt or lost; when the data
// vanishes under it (FLUSHALL from elsewhere), it reports lost writes and exits 1.
TEST(BenchToolTest, StressVerifiesReadsAndReportsLostWrites) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  const std::string endpoint = "127.0.0.1:" + std::to_string(server.port());
  int code = -1;
  std::string out = bench("--endpoints " + endpoint + " --requests 4000 --connections 4 --keys 200 --json stress", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("\"mode\":\"stress\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"errors\":0"), std::string::npos) << out;
  EXPECT_NE(out.find("\"corrupt\":0,\"lost\":0"), std::string::npos) << out;

  ChildProcess running({DKV_BENCH_PATH, "--endpoints", endpoint, "--duration", "3", "--warmup", "0", "--connections",
                        "4", "--keys", "200", "stress"});
  ASSERT_FALSE(running.wait_for_line("1s stress", 10'000).empty()) << running.output();
  RespConnection c(server.port());
  ASSERT_EQ(c.command({"FLUSHALL"}).str, "OK");  // every acknowledged write gone at once
  running.wait_for_line("verified reads", 20'000);
  const int status = running.wait_exit(10'000);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << running.output();
  EXPECT_EQ(running.output().find("0 lost writes"), std::string::npos) << running.output();
  EXPECT_NE(running.output().find("lost writes"), std::string::npos) << running.output();
  EXPECT_NE(running.output().find("absent after write"), std::string::npos) << running.output();
}

// stress over a 3-node cluster whose leader is killed mid-run: its connection reconnects to
// another member and goes on, and no read finds a lost or corrupt value.
TEST(BenchToolTest, StressReconnectsWhenAMemberDies) {
  DkvCluster cluster(3);
  ASSERT_TRUE(cluster.start());
  const int leader = cluster.await_leader();
  ASSERT_NE(leader, 0);
  // One connection, to the leader (the first endpoint); the others are where it may go next.
  std::string endpoints = "127.0.0.1:" + std::to_string(cluster.port(leader));
  for (int id = 1; id <= 3; ++id) {
    if (id != leader) endpoints += ",127.0.0.1:" + std::to_string(cluster.port(id));
  }
  ChildProcess running({DKV_BENCH_PATH, "--endpoints", endpoints, "--duration", "5", "--warmup", "0", "--connections",
                        "1", "--keys", "300", "stress"});
  ASSERT_FALSE(running.wait_for_line("1s stress", 10'000).empty()) << running.output();
  cluster.kill9(leader);
  ASSERT_FALSE(running.wait_for_line("verified reads", 30'000).empty()) << running.output();
  running.wait_exit(10'000);
  const std::string out = running.output();
  EXPECT_NE(out.find("verified reads: 0 corrupt values, 0 lost writes"), std::string::npos) << out;
  // Still going after the kill: the last progress line (5s) counts operations.
  const size_t last = out.rfind("5s stress: ");
  ASSERT_NE(last, std::string::npos) << out;
  EXPECT_NE(out.compare(last + 11, 7, "0 ops/s"), 0) << out;
}

// The DKV-only modes: each runs its command kind with no errors and leaves its trace in the store.
TEST(BenchToolTest, RunsTxnQueryLeaseAndWatchModes) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  const std::string endpoint = "127.0.0.1:" + std::to_string(server.port());
  RespConnection c(server.port());
  auto revision = [&] { return c.command({"KV.PUT", "probe", "x"}).find("revision")->integer; };
  const int64_t before = revision();
  int code = -1;
  std::string out = bench("--endpoints " + endpoint + " --requests 500 --connections 2 --keys 50 --op txn --json", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("\"mode\":\"txn\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"ops\":500,\"errors\":0"), std::string::npos) << out;
  // Each transaction wrote its two keys in one revision.
  EXPECT_EQ(revision() - before, 501);

  out = bench("--endpoints " + endpoint + " --requests 300 --connections 2 --keys 1000 --op query --json", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("\"ops\":300,\"errors\":0"), std::string::npos) << out;
  // It labelled 1000 keys in 100 groups first.
  EXPECT_EQ(c.command({"QUERY", "bench", "WHERE", "group", "EQ", "7", "COUNT"}).find("count")->integer, 10);

  out = bench("--endpoints " + endpoint + " --requests 300 --connections 3 --op lease --json", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("\"ops\":300,\"errors\":0"), std::string::npos) << out;
  EXPECT_EQ(c.command({"LEASE.LIST"}).elements.size(), 3u);  // one lease per connection

  // 1 writer, 3 watchers: every write reaches every watcher.
  out = bench("--endpoints " + endpoint + " --requests 400 --connections 4 --op watch --json", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("\"mode\":\"watch\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"ops\":1200,\"errors\":0"), std::string::npos) << out;
  EXPECT_NE(out.find("\"writes\":400,\"watchers\":3"), std::string::npos) << out;
}

TEST(BenchToolTest, RefusesBadFlagsAndUnreachableTargets) {
  int code = -1;
  std::string out = bench("--target http://x:1 --requests 10", &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--target needs redis://HOST:PORT"), std::string::npos) << out;
  out = bench("--target redis://127.0.0.1:1 --op txn", &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--op txn uses DKV's own commands"), std::string::npos) << out;
  out = bench("--op watch --connections 1", &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--op watch needs --connections 2 or more"), std::string::npos) << out;
  out = bench("--profile Sideways", &code);
  EXPECT_NE(code, 0) << out;
  out = bench("--endpoints 127.0.0.1:1 --requests 10 --connections 2 --json", &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("\"first_error\""), std::string::npos) << out;
}

}  // namespace
}  // namespace dkv::testing
