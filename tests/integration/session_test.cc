// Exactly-once writes through SESSION.REQ (docs/protocol.md 3.9): a write retried with the same
// session id and number is applied once and answered with the first answer, on one node, after
// a restart, and across a leader change in a cluster.
#include <memory>
#include <string>
#include <vector>

#include "dkv_test_util.h"

namespace dkv::testing {
namespace {

std::vector<std::string> req(int64_t id, int64_t seq, std::vector<std::string> command) {
  std::vector<std::string> args = {"SESSION.REQ", std::to_string(id), std::to_string(seq), "1"};
  args.insert(args.end(), command.begin(), command.end());
  return args;
}

TEST(SessionTest, ARetriedWriteIsAppliedOnceAndAnsweredAsTheFirstTime) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  auto c = resp3(server.port());
  Value first = c->command(req(7, 1, {"CTR.ADD", "s:c", "5"}));
  ASSERT_EQ(first.type, Type::kArray) << first.debug_string();
  EXPECT_EQ(first.elements[1].integer, 5);
  Value retry = c->command(req(7, 1, {"CTR.ADD", "s:c", "5"}));
  EXPECT_EQ(retry.debug_string(), first.debug_string());
  EXPECT_EQ(c->command({"CTR.GET", "s:c"}).integer, 5);
  // A new number is a new write; so is the same number in another session.
  EXPECT_EQ(c->command(req(7, 2, {"CTR.ADD", "s:c", "5"})).elements[1].integer, 10);
  EXPECT_EQ(c->command(req(8, 1, {"CTR.ADD", "s:c", "5"})).elements[1].integer, 15);
  // Redis commands too, and in RESP2 from another connection.
  RespConnection r2(server.port());
  EXPECT_EQ(r2.command(req(9, 1, {"INCR", "s:n"})).integer, 1);
  EXPECT_EQ(r2.command(req(9, 1, {"INCR", "s:n"})).integer, 1);
  EXPECT_EQ(r2.command({"GET", "s:n"}).str, "1");
  // Refusals are answers too: the retry of a refused write is refused the same way.
  EXPECT_EQ(c->command({"SET", "s:t", "text"}).str, "OK");
  Value refused = c->command(req(9, 2, {"INCR", "s:t"}));
  EXPECT_EQ(code_of(refused), "ERR");
  EXPECT_EQ(c->command({"SET", "s:t", "41"}).str, "OK");
  EXPECT_EQ(c->command(req(9, 2, {"INCR", "s:t"})).debug_string(), refused.debug_string());
  EXPECT_EQ(c->command({"GET", "s:t"}).str, "41");
  // Reads run as they are.
  EXPECT_EQ(c->command(req(9, 3, {"GET", "s:t"})).str, "41");
}

TEST(SessionTest, BadRequestsAreRefusedWithTheReason) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  auto c = resp3(server.port());
  EXPECT_EQ(error_of(c->command({"SESSION.REQ", "0", "1", "1", "INCR", "x"})),
            "ERR session id must be a positive integer, got '0'");
  EXPECT_EQ(error_of(c->command({"SESSION.REQ", "1", "x", "1", "INCR", "x"})),
            "ERR request number must be a positive integer, got 'x'");
  EXPECT_EQ(error_of(c->command({"SESSION.REQ", "1", "1", "1", "NOPE"})),
            "ERR unknown command 'NOPE' in SESSION.REQ");
  EXPECT_EQ(code_of(c->command({"SESSION.REQ", "1", "1", "1", "INCR"})), "ERR");
  EXPECT_EQ(error_of(c->command({"SESSION.REQ", "1", "1", "1", "MULTI"})),
            "ERR SESSION.REQ cannot wrap 'multi' in this form (connection state, or a WAIT)");
  EXPECT_EQ(code_of(c->command({"SESSION.REQ", "1", "1", "1"})), "ERR");
  EXPECT_EQ(c->command({"PING"}).str, "PONG");
}

TEST(SessionTest, AnswersSurviveARestartFromASnapshot) {
  TempDir dir;
  Value first;
  {
    DkvServerProcess server(dir.path() + "/data");
    ASSERT_TRUE(server.start());
    auto c = resp3(server.port());
    first = c->command(req(11, 1, {"KV.PUT", "s:k", "v"}));
    ASSERT_EQ(first.type, Type::kMap) << first.debug_string();
    ASSERT_EQ(c->command({"SNAPSHOT"}).type, Type::kInteger);
    EXPECT_EQ(server.stop(), 0);
  }
  DkvServerProcess again(dir.path() + "/data");
  ASSERT_TRUE(again.start());
  auto c = resp3(again.port());
  EXPECT_EQ(c->command(req(11, 1, {"KV.PUT", "s:k", "v"})).debug_string(), first.debug_string());
  EXPECT_EQ(int_field(c->command({"KV.GET", "s:k"}), "version"), 1);
}

// The scenario the table exists for: a write reaches the leader, the leader dies before the
// client hears back, and the client retries through another member.
TEST(SessionTest, AWriteRetriedAcrossALeaderChangeIsNotAppliedTwice) {
  DkvCluster cluster(3);
  ASSERT_TRUE(cluster.start());
  const int leader = cluster.await_leader();
  ASSERT_GT(leader, 0);
  auto c = resp3(cluster.port(leader));
  Value lease = c->command(req(21, 1, {"LEASE.GRANT", "60000"}));
  ASSERT_EQ(lease.type, Type::kInteger) << lease.debug_string();
  Value token = c->command(req(21, 2, {"LOCK.ACQUIRE", "s:lock", std::to_string(lease.integer)}));
  ASSERT_EQ(token.type, Type::kInteger) << token.debug_string();
  Value added = c->command(req(21, 3, {"CTR.ADD", "s:c", "1"}));
  ASSERT_EQ(added.type, Type::kArray) << added.debug_string();
  c.reset();
  cluster.kill9(leader);
  const int next = cluster.await_leader(leader);
  ASSERT_GT(next, 0);
  const int other = next % 3 + 1 == leader ? (next + 1) % 3 + 1 : next % 3 + 1;  // a follower
  auto f = resp3(cluster.port(other));
  EXPECT_EQ(f->command(req(21, 1, {"LEASE.GRANT", "60000"})).integer, lease.integer);
  EXPECT_EQ(f->command(req(21, 2, {"LOCK.ACQUIRE", "s:lock", std::to_string(lease.integer)})).integer,
            token.integer);
  EXPECT_EQ(f->command(req(21, 3, {"CTR.ADD", "s:c", "1"})).debug_string(), added.debug_string());
  EXPECT_EQ(f->command({"CTR.GET", "s:c"}).integer, 1);
  EXPECT_EQ(int_field(f->command({"LOCK.OWNER", "s:lock"}), "token"), token.integer);
  Value leases = f->command({"LEASE.LIST"});
  ASSERT_EQ(leases.type, Type::kArray) << leases.debug_string();
  EXPECT_EQ(leases.elements.size(), 1u) << leases.debug_string();
}

}  // namespace
}  // namespace dkv::testing
