// The dkv command-line tool against a real dkv-server: each subcommand's human and --json
// output, exit statuses, and a live watch stopped with Ctrl-C.
#include <sys/wait.h>

#include <csignal>
#include <fstream>
#include <regex>

#include "gtest/gtest.h"
#include "harness.h"

namespace dkv::testing {
namespace {

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new DkvServerProcess();
    ASSERT_TRUE(server_->start());
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  std::string endpoint() const { return "127.0.0.1:" + std::to_string(server_->port()); }

  // Runs `dkv <args>` with DKV_ENDPOINTS set; stdout and stderr together.
  std::string dkv(const std::string& args, int* exit_code = nullptr) {
    int status = 0;
    std::string out = run_shell("DKV_ENDPOINTS=" + endpoint() + " " DKV_CLI_PATH " " + args + " 2>&1", &status);
    if (exit_code != nullptr) *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
  }
  // The first integer after `"field":` in JSON output.
  static int64_t json_int(const std::string& json, const std::string& field) {
    std::smatch m;
    if (!std::regex_search(json, m, std::regex("\"" + field + "\":(-?[0-9]+)"))) return -1;
    return std::stoll(m[1]);
  }

  static DkvServerProcess* server_;
};

DkvServerProcess* CliTest::server_ = nullptr;

TEST_F(CliTest, PutGetDelete) {
  int code = 0;
  EXPECT_EQ(dkv("put cli/a hello --entity user --label role=admin --label age=30 --ttl 600000", &code).substr(0, 12),
            "OK version 1");
  EXPECT_EQ(code, 0);
  std::string human = dkv("get cli/a", &code);
  EXPECT_EQ(code, 0);
  EXPECT_NE(human.find("value: hello\n"), std::string::npos) << human;
  EXPECT_NE(human.find("entity: user\n"), std::string::npos) << human;
  EXPECT_NE(human.find("labels: age=30,role=admin\n"), std::string::npos) << human;

  std::string json = dkv("--json get cli/a", &code);
  EXPECT_EQ(code, 0);
  EXPECT_NE(json.find("\"key\":\"cli/a\",\"value\":\"hello\",\"version\":1"), std::string::npos) << json;
  EXPECT_NE(json.find("\"labels\":{\"age\":\"30\",\"role\":\"admin\"}"), std::string::npos) << json;
  EXPECT_GT(json_int(json, "ttl_ms"), 0);

  std::string conflict = dkv("put cli/a other --if-absent", &code);
  EXPECT_EQ(code, 1);
  EXPECT_NE(conflict.find("CONFLICT"), std::string::npos) << conflict;
  EXPECT_EQ(dkv("--json put cli/a v2 --if-match 1", &code).find("\"version\":2"), 1u);
  EXPECT_EQ(dkv("del cli/a"), "deleted\n");
  EXPECT_EQ(dkv("del cli/a"), "not found\n");
  std::string missing = dkv("get cli/a", &code);
  EXPECT_EQ(code, 1);
  EXPECT_NE(missing.find("NOT_FOUND"), std::string::npos) << missing;
  dkv("no-such-command", &code);
  EXPECT_EQ(code, 2);
}

TEST_F(CliTest, RangeAndQuery) {
  for (const char* name : {"ann 31", "bob 25", "cid 40"}) {
    std::string n(name, 3), age(name + 4);
    ASSERT_EQ(dkv("put range/" + n + " " + n + " --entity person --label age=" + age).substr(0, 2), "OK");
  }
  std::string table = dkv("range --prefix range/");
  EXPECT_EQ(table.substr(0, 3), "KEY");
  EXPECT_NE(table.find("range/bob  bob"), std::string::npos) << table;
  EXPECT_NE(table.find("3 keys at revision"), std::string::npos) << table;
  std::string json = dkv("--json range range/a range/c --limit 1");
  EXPECT_EQ(json_int(json, "count"), 2);
  EXPECT_NE(json.find("\"more\":true"), std::string::npos) << json;
  EXPECT_EQ(dkv("range --prefix range/ --keys-only").substr(0, 39), "range/ann\nrange/bob\nrange/cid\n3 keys at");

  std::string query = dkv("query person --where 'age GE 30' --order-by age --desc --keys-only");
  EXPECT_EQ(query, "range/cid\nrange/ann\n2 matches\n");
  EXPECT_EQ(json_int(dkv("--json query person --count"), "count"), 3);
}

TEST_F(CliTest, CountersLeasesLocksElections) {
  EXPECT_EQ(dkv("counter add cli/ctr 5"), "5 (was 0)\n");
  EXPECT_EQ(dkv("counter add cli/ctr -2"), "3 (was 5)\n");
  EXPECT_EQ(dkv("counter get cli/ctr"), "3\n");
  EXPECT_EQ(json_int(dkv("--json counter set cli/ctr 10"), "previous"), 3);
  int code = 0;
  EXPECT_NE(dkv("counter add cli/ctr 1 --max 5", &code).find("OUT_OF_RANGE"), std::string::npos);
  EXPECT_EQ(code, 1);

  const int64_t lease = json_int(dkv("--json lease grant 60000"), "id");
  ASSERT_GT(lease, 0);
  const std::string id = std::to_string(lease);
  EXPECT_EQ(dkv("lease keepalive --once " + id), "lease " + id + " renewed, ttl 60000 ms\n");
  ASSERT_EQ(dkv("put cli/leased x --lease " + id).substr(0, 2), "OK");
  std::string ttl = dkv("lease ttl " + id + " --keys");
  EXPECT_NE(ttl.find("cli/leased"), std::string::npos) << ttl;
  EXPECT_NE(dkv("lease list").find(id + " "), std::string::npos);

  const int64_t token = json_int(dkv("--json lock acquire cli/lock --lease " + id), "token");
  ASSERT_GT(token, 0);
  const int64_t other = json_int(dkv("--json lease grant 60000"), "id");
  std::string locked = dkv("lock acquire cli/lock --lease " + std::to_string(other) + " --wait 50", &code);
  EXPECT_EQ(code, 1);
  EXPECT_NE(locked.find("LOCKED"), std::string::npos) << locked;
  EXPECT_NE(dkv("lock owner cli/lock").find(std::to_string(token)), std::string::npos);
  EXPECT_NE(dkv("lock release cli/lock " + std::to_string(token)).find("released cli/lock"), std::string::npos);

  EXPECT_EQ(dkv("elect campaign cli/e node-a --lease " + id).substr(0, 16), "leader of cli/e ");
  EXPECT_EQ(dkv("elect campaign cli/e node-b --lease " + std::to_string(other)),
            "candidate for cli/e at position 1\n");
  std::string leader = dkv("--json elect leader cli/e");
  EXPECT_NE(leader.find("\"value\":\"node-a\""), std::string::npos) << leader;

  EXPECT_EQ(dkv("lease revoke " + id), "lease " + id + " revoked, 1 keys deleted\n");
  EXPECT_NE(dkv("get cli/leased", &code).find("NOT_FOUND"), std::string::npos);
  EXPECT_NE(dkv("--json elect leader cli/e").find("\"value\":\"node-b\""), std::string::npos);
}

TEST_F(CliTest, TransactionFromAFile) {
  TempDir dir;
  const std::string path = dir.path() + "/txn.txt";
  std::ofstream(path) << "# move a balance\n"
                         "read cli/txn/from 0\n"
                         "put cli/txn/to \"ten coins\" entity wallet label owner \"ann b\"\n"
                         "del cli/txn/gone\n";
  int code = 0;
  std::string out = dkv("txn " + path, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("versions 1 0"), std::string::npos) << out;
  std::string json = dkv("--json get cli/txn/to");
  EXPECT_NE(json.find("\"value\":\"ten coins\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"owner\":\"ann b\""), std::string::npos) << json;

  std::ofstream(path) << "read cli/txn/to 0\nput cli/txn/to x\n";  // to exists now: conflict
  EXPECT_NE(dkv("txn " + path, &code).find("CONFLICT"), std::string::npos);
  EXPECT_EQ(code, 1);
  std::ofstream(path) << "frobnicate x\n";
  EXPECT_NE(dkv("txn " + path, &code).find("line 1"), std::string::npos);
  EXPECT_EQ(code, 1);
}

TEST_F(CliTest, Status) {
  ASSERT_EQ(dkv("put cli/status x").substr(0, 2), "OK");
  std::string human = dkv("status");
  EXPECT_NE(human.find("node: 1\n"), std::string::npos) << human;
  EXPECT_NE(human.find("role: leader\n"), std::string::npos) << human;
  EXPECT_NE(human.find("revision: "), std::string::npos) << human;
  std::string json = dkv("--json status");
  EXPECT_GT(json_int(json, "revision"), 0) << json;
  EXPECT_GT(json_int(json, "keys"), 0) << json;
  EXPECT_GT(json_int(json, "memory"), 0) << json;
  int code = 0;
  std::string down = run_shell(DKV_CLI_PATH " --endpoints 127.0.0.1:" + std::to_string(free_port()) + " status 2>&1", &code);
  EXPECT_NE(down.find("UNAVAILABLE"), std::string::npos) << down;
}

// dkv top reads the admin endpoint: one row per member, rates over the interval; a member
// whose admin port does not answer shows as unreachable.
TEST_F(CliTest, TopShowsEveryMemberFromItsAdminEndpoint) {
  ASSERT_EQ(dkv("put cli/top x").substr(0, 2), "OK");
  int code = -1;
  const std::string admin = "127.0.0.1:" + std::to_string(server_->admin_port());
  const std::string dead = "127.0.0.1:" + std::to_string(free_port());
  std::string out = dkv("top --admin " + admin + "," + dead + " --frames 2 --interval 200", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("dkv top: 2 member(s), every 200 ms"), std::string::npos) << out;
  EXPECT_NE(out.find("ADMIN"), std::string::npos) << out;
  EXPECT_NE(out.find("WATCHERS"), std::string::npos) << out;
  EXPECT_NE(out.find(admin + "  leader "), std::string::npos) << out;
  EXPECT_NE(out.find(dead + "  unreachable"), std::string::npos) << out;
  EXPECT_EQ(out.find("\x1b["), std::string::npos) << "a fixed number of frames does not clear the screen";
  out = dkv("top --admin nonsense", &code);
  EXPECT_NE(code, 0) << out;
}

TEST_F(CliTest, WatchPrintsEventsUntilInterrupted) {
  ChildProcess watch({DKV_CLI_PATH, "--endpoints", endpoint(), "watch", "cli/w/", "--prefix", "--prev"});
  ASSERT_NE(watch.wait_for_line("watching cli/w/", 10'000), "");
  ASSERT_EQ(dkv("put cli/w/a 1").substr(0, 2), "OK");
  ASSERT_EQ(dkv("put cli/w/a 2").substr(0, 2), "OK");
  ASSERT_EQ(dkv("del cli/w/a"), "deleted\n");
  EXPECT_NE(watch.wait_for_line("PUT cli/w/a 1 @", 10'000), "");
  EXPECT_NE(watch.wait_for_line("PUT cli/w/a 2 (prev 1) @", 10'000), "");
  EXPECT_NE(watch.wait_for_line("DELETE cli/w/a", 10'000), "");
  watch.signal(SIGINT);
  int status = watch.wait_exit(10'000);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);

  ChildProcess json({DKV_CLI_PATH, "--json", "--endpoints", endpoint(), "watch", "cli/w/b", "--snapshot"});
  ASSERT_EQ(dkv("put cli/w/b before").substr(0, 2), "OK");
  std::string line = json.wait_for_line("\"key\":\"cli/w/b\"", 10'000);
  EXPECT_NE(line.find("\"type\":\"PUT\""), std::string::npos) << line;
  json.signal(SIGTERM);
  EXPECT_EQ(WEXITSTATUS(json.wait_exit(10'000)), 0);
}

TEST_F(CliTest, LeaseKeepaliveRenewsUntilInterrupted) {
  // 1 s: a second CLI process must start and renew in time, also under the sanitizers (-O0).
  const int64_t lease = json_int(dkv("--json lease grant 1000"), "id");
  ASSERT_GT(lease, 0);
  const std::string id = std::to_string(lease);
  ChildProcess keepalive({DKV_CLI_PATH, "--endpoints", endpoint(), "lease", "keepalive", id});
  // Renewals every third of the TTL: the fifth comes well after the TTL would have run out.
  for (int i = 0; i < 5; ++i) {
    ASSERT_NE(keepalive.wait_for_line("lease " + id + " renewed, ttl 1000 ms", 10'000), "") << i;
  }
  int code = 0;
  dkv("lease ttl " + id, &code);
  EXPECT_EQ(code, 0);
  keepalive.signal(SIGINT);
  int status = keepalive.wait_exit(10'000);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace dkv::testing

namespace dkv::testing {
namespace {

// `dkv status` and `dkv member` with every member's endpoint: one row per member, one leader,
// a leadership hand-over, and a member that is down shown as unreachable.
TEST(CliClusterTest, StatusAndMembershipShowEveryMember) {
  DkvCluster cluster(3);
  ASSERT_TRUE(cluster.start());
  const int leader = cluster.await_leader();
  ASSERT_GT(leader, 0);
  std::string endpoints;
  for (int id = 1; id <= 3; ++id) endpoints += (id > 1 ? "," : "") + std::string("127.0.0.1:") + std::to_string(cluster.port(id));
  int code = -1;
  std::string out = run_shell(DKV_CLI_PATH " --endpoints " + endpoints + " status 2>&1", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out.rfind("ENDPOINT", 0), 0u) << out;
  size_t leaders = 0, followers = 0;
  for (size_t at = 0; (at = out.find(" leader ", at)) != std::string::npos; ++at) ++leaders;
  for (size_t at = 0; (at = out.find(" follower ", at)) != std::string::npos; ++at) ++followers;
  EXPECT_EQ(leaders, 1u) << out;
  EXPECT_EQ(followers, 2u) << out;

  // Membership: the list (from the leader, with replication figures), and a leadership
  // hand-over to another voter, whichever endpoint is asked first.
  // Each member records its client address once it knows a leader: soon after start-up.
  auto lists_every_client_address = [&] {
    for (int id = 1; id <= 3; ++id) {
      if (out.find(" 127.0.0.1:" + std::to_string(cluster.port(id)) + " ") == std::string::npos) return false;
    }
    return true;
  };
  for (int attempt = 0; attempt < 100; ++attempt) {
    out = run_shell(DKV_CLI_PATH " --endpoints " + endpoints + " member list 2>&1", &code);
    if (lists_every_client_address()) break;
    usleep(50'000);
  }
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out.rfind("ID", 0), 0u) << out;
  EXPECT_NE(out.find("CLIENT ADDRESS"), std::string::npos) << out;
  EXPECT_NE(out.find(" leader "), std::string::npos) << out;
  EXPECT_TRUE(lists_every_client_address()) << out;
  EXPECT_EQ(out.find(" - "), std::string::npos) << "every member's match is known on the leader:\n" << out;
  const int target = leader % 3 + 1;
  out = run_shell(DKV_CLI_PATH " --endpoints " + endpoints + " member transfer-leader " + std::to_string(target) + " 2>&1", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out, "OK\n");
  EXPECT_EQ(cluster.await_leader(leader), target);
  out = run_shell(DKV_CLI_PATH " --endpoints " + endpoints + " member promote 9 2>&1", &code);
  EXPECT_EQ(WEXITSTATUS(code), 1) << out;
  EXPECT_NE(out.find("node 9 is not a learner"), std::string::npos) << out;

  const int down = leader;  // a follower now
  cluster.kill9(down);
  out = run_shell(DKV_CLI_PATH " --json --endpoints " + endpoints + " status 2>&1", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("\"endpoint\":\"127.0.0.1:" + std::to_string(cluster.port(down)) + "\",\"role\":\"unreachable\""),
            std::string::npos) << out;
  EXPECT_NE(out.find("\"lag\":"), std::string::npos) << out;
}

}  // namespace
}  // namespace dkv::testing
