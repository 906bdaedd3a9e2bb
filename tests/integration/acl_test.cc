// Access control with real processes and clients (our RESP connection, redis-cli, Python's
// redis): authentication (AUTH, HELLO AUTH, NOAUTH / WRONGPASS), users confined to a key
// prefix (NOPERM, no trace left), ACL's own commands, users replicated to every member and kept
// across a restart, and the start-up warning for a server open to other hosts.
#include <csignal>
#include <string>
#include <vector>

#include "dkv/connect.h"
#include "dkv_test_util.h"

namespace dkv::testing {
namespace {

using resp::Type;
using resp::Value;

// SHA-256 hex, as ACL GETUSER and ACL LIST show passwords (computed by coreutils, not by us).
std::string password_sha256_for_test(const std::string& password) {
  return run_shell("printf %s '" + password + "' | sha256sum | cut -c1-64 | tr -d '\\n'");
}

bool starts_with(const Value& v, const std::string& prefix) { return v.str.rfind(prefix, 0) == 0; }

std::string redis_cli(int port, const std::string& args) {
  return run_shell("redis-cli -p " + std::to_string(port) + " --no-auth-warning " + args + " 2>&1");
}

TEST(AclTest, APasswordOnTheDefaultUserLocksOutEveryoneElseWithoutATrace) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  RespConnection admin(server.port());
  // Out of the box: the default user, no password (Redis's default).
  EXPECT_EQ(admin.command({"ACL", "WHOAMI"}).str, "default");
  EXPECT_TRUE(starts_with(admin.command({"AUTH", "x"}), "ERR AUTH <password> called without any password"));
  ASSERT_EQ(admin.command({"ACL", "SETUSER", "default", "on", ">s3cret"}).str, "OK");
  // The connection that set it stays authenticated; new ones must authenticate.
  EXPECT_EQ(admin.command({"SET", "k", "1"}).str, "OK");

  RespConnection c(server.port());
  for (const std::vector<std::string>& request :
       std::vector<std::vector<std::string>>{{"PING"}, {"SET", "k", "2"}, {"KV.PUT", "new", "v"}, {"GET", "k"},
                                             {"ACL", "SETUSER", "default", "nopass"}, {"FLUSHALL"}}) {
    Value r = c.command(request);
    EXPECT_EQ(r.str, "NOAUTH Authentication required.") << request[0];
  }
  Value hello = c.command({"HELLO", "3"});
  EXPECT_TRUE(starts_with(hello, "NOAUTH HELLO must be called with the client already authenticated")) << hello.str;
  EXPECT_EQ(c.command({"AUTH", "wrong"}).str, "WRONGPASS invalid username-password pair or user is disabled.");
  EXPECT_EQ(c.command({"AUTH", "nobody", "s3cret"}).str, "WRONGPASS invalid username-password pair or user is disabled.");
  // No trace of the refused requests.
  EXPECT_EQ(admin.command({"GET", "k"}).str, "1");
  EXPECT_EQ(admin.command({"EXISTS", "new"}).integer, 0);
  ASSERT_EQ(c.command({"AUTH", "s3cret"}).str, "OK");
  EXPECT_EQ(c.command({"GET", "k"}).str, "1");

  // HELLO AUTH authenticates and switches protocol in one step.
  RespConnection h(server.port());
  Value bad = h.command({"HELLO", "3", "AUTH", "default", "nope"});
  EXPECT_TRUE(starts_with(bad, "WRONGPASS")) << bad.str;
  Value ok = h.command({"HELLO", "3", "AUTH", "default", "s3cret"});
  ASSERT_EQ(ok.type, Type::kMap) << ok.debug_string();
  EXPECT_EQ(h.command({"GET", "k"}).str, "1");

  // Redis tooling: redis-cli with and without the password.
  EXPECT_NE(redis_cli(server.port(), "GET k").find("NOAUTH"), std::string::npos);
  EXPECT_EQ(redis_cli(server.port(), "-a s3cret GET k"), "1\n");

  // The password is in the replicated state: it survives a restart; and it is stored hashed.
  Value user = admin.command({"ACL", "GETUSER", "default"});
  const std::string dump = user.debug_string();
  EXPECT_EQ(dump.find("s3cret"), std::string::npos) << dump;
  EXPECT_NE(dump.find(password_sha256_for_test("s3cret")), std::string::npos) << dump;
  EXPECT_EQ(server.stop(), 0);
  ASSERT_TRUE(server.start());
  RespConnection after(server.port());
  EXPECT_EQ(after.command({"GET", "k"}).str, "NOAUTH Authentication required.");
  EXPECT_EQ(after.command({"AUTH", "default", "s3cret"}).str, "OK");
  EXPECT_EQ(after.command({"GET", "k"}).str, "1");
  EXPECT_EQ(server.stop(), 0);
}

TEST(AclTest, AUserConfinedToAPrefixCannotReadWatchQueryOrClearOutsideIt) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  RespConnection admin(server.port());
  ASSERT_EQ(admin.command({"ACL", "SETUSER", "alice", "on", ">pw", "~app:*", "+@read", "+@write", "+@watch",
                           "+@transaction", "-flushall", "-@lock"}).str, "OK");
  ASSERT_EQ(admin.command({"SET", "other:1", "secret"}).str, "OK");
  ASSERT_FALSE(admin.command({"KV.PUT", "other:2", "x", "ENTITY", "user", "LABELS", "1", "age", "3"}).is_error());

  RespConnection a(server.port());
  ASSERT_EQ(a.command({"HELLO", "3", "AUTH", "alice", "pw"}).type, Type::kMap);
  EXPECT_EQ(a.command({"ACL", "WHOAMI"}).str.rfind("NOPERM", 0), 0u);  // @slow, not granted
  // Inside the prefix: allowed.
  EXPECT_EQ(a.command({"SET", "app:1", "v"}).str, "OK");
  EXPECT_EQ(a.command({"GET", "app:1"}).str, "v");
  EXPECT_FALSE(a.command({"KV.RANGE", "PREFIX", "app:"}).is_error());
  EXPECT_FALSE(a.command({"KV.RANGE", "app:0", "app:9"}).is_error());
  EXPECT_FALSE(a.command({"KV.COUNT", "PREFIX", "app:"}).is_error());
  EXPECT_EQ(a.command({"KEYS", "app:*"}).elements.size(), 1u);
  EXPECT_FALSE(a.command({"SCAN", "0", "MATCH", "app:*"}).is_error());
  EXPECT_FALSE(a.command({"TXN.COMMIT", "WRITES", "1", "PUT", "app:2", "x"}).is_error());
  Value watch = a.command({"KV.WATCH", "PREFIX", "app:"});
  EXPECT_FALSE(watch.is_error()) << watch.debug_string();

  // Outside it: refused, whatever the command's shape.
  const std::string kKeys = "NOPERM this user has no permissions to access one of the keys used as arguments";
  for (const std::vector<std::string>& request : std::vector<std::vector<std::string>>{
           {"GET", "other:1"}, {"SET", "other:1", "mine"}, {"DEL", "other:1"}, {"MGET", "app:1", "other:1"},
           {"MSET", "app:3", "x", "other:3", "x"}, {"KV.GET", "other:2"}, {"KV.MPUT", "2", "app:4", "x", "other:4", "x"},
           {"KV.RANGE", "PREFIX", "other:"}, {"KV.RANGE", "PREFIX", "app"}, {"KV.RANGE", "a", "z"},
           {"KV.COUNT"}, {"KV.CLEAR"}, {"KV.CLEAR", "PREFIX", "other:"}, {"KEYS", "*"}, {"SCAN", "0"},
           {"QUERY", "user", "WHERE", "age", "GT", "1"}, {"KV.WATCH", "PREFIX", "other:"},
           {"KV.WATCH", "KEY", "other:1"}, {"TXN.COMMIT", "WRITES", "1", "PUT", "other:5", "x"},
           {"TXN.COMMIT", "READS", "1", "other:1", "1"}, {"CTR.ADD", "other:n", "1"},
           {"SESSION.REQ", "7", "1", "1", "SET", "other:6", "x"}, {"KV.PUT", "app:7", "x", "FENCE", "other:lock", "1"},
           {"LEASE.TTL", "1", "KEYS"}}) {
    Value r = a.command(request);
    EXPECT_EQ(r.str, kKeys) << request[0] << " " << request[1];
  }
  // Commands outside its categories: refused by name.
  EXPECT_EQ(a.command({"LOCK.ACQUIRE", "app:l", "1"}).str, "NOPERM this user has no permissions to run the 'lock.acquire' command");
  EXPECT_EQ(a.command({"FLUSHALL"}).str, "NOPERM this user has no permissions to run the 'flushall' command");
  EXPECT_EQ(a.command({"SNAPSHOT"}).str, "NOPERM this user has no permissions to run the 'snapshot' command");
  EXPECT_EQ(a.command({"MEMBER.REMOVE", "2"}).str, "NOPERM this user has no permissions to run the 'member.remove' command");
  EXPECT_EQ(a.command({"ACL", "SETUSER", "alice", "allkeys"}).str,
            "NOPERM this user has no permissions to run the 'acl|setuser' command");
  // A transaction with one key outside: refused when queued, so EXEC applies nothing.
  ASSERT_EQ(a.command({"MULTI"}).str, "OK");
  EXPECT_EQ(a.command({"SET", "app:8", "x"}).str, "QUEUED");
  EXPECT_EQ(a.command({"SET", "other:8", "x"}).str, kKeys);
  EXPECT_TRUE(starts_with(a.command({"EXEC"}), "EXECABORT"));

  // Nothing outside the prefix changed; what was refused inside it left nothing either.
  EXPECT_EQ(admin.command({"GET", "other:1"}).str, "secret");
  for (const char* k : {"other:3", "other:4", "other:5", "other:6", "other:8", "other:n", "app:3", "app:4", "app:7", "app:8"}) {
    EXPECT_EQ(admin.command({"EXISTS", k}).integer, 0) << k;
  }
  // The watch saw only its own prefix's events.
  ASSERT_EQ(admin.command({"SET", "app:9", "w"}).str, "OK");
  Value push = a.next_push();
  EXPECT_NE(push.debug_string().find("app:9"), std::string::npos) << push.debug_string();

  // Python's redis client sees Redis's exceptions.
  int status = -1;
  std::string out = run_debian_python(
      "import redis\n"
      "r = redis.Redis(port=" + std::to_string(server.port()) + ", username='alice', password='pw')\n"
      "r.set('app:py', '1')\n"
      "print(r.get('app:py').decode())\n"
      "try:\n"
      "    r.get('other:1')\n"
      "except redis.exceptions.NoPermissionError as e:\n"
      "    print('noperm')\n"
      "try:\n"
      "    redis.Redis(port=" + std::to_string(server.port()) + ", username='alice', password='bad').ping()\n"
      "except redis.exceptions.ResponseError as e:\n"
      "    print('wrongpass' if str(e).startswith('WRONGPASS') else str(e))\n",
      &status);
  EXPECT_EQ(out, "1\nnoperm\nwrongpass\n");
  EXPECT_EQ(server.stop(), 0);
}

TEST(AclTest, AclCommandsListDescribeAndDeleteUsers) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  RespConnection c(server.port());
  ASSERT_EQ(c.command({"HELLO", "3"}).type, Type::kMap);
  ASSERT_EQ(c.command({"ACL", "SETUSER", "bob", "on", ">a", ">b", "<a", "~jobs:*", "+@read", "-get"}).str, "OK");
  Value users = c.command({"ACL", "USERS"});
  ASSERT_EQ(users.elements.size(), 2u);
  EXPECT_EQ(users.elements[0].str, "bob");
  EXPECT_EQ(users.elements[1].str, "default");
  Value list = c.command({"ACL", "LIST"});
  ASSERT_EQ(list.elements.size(), 2u);
  EXPECT_EQ(list.elements[0].str, "user bob on #" + password_sha256_for_test("b") +
                                      " ~jobs:* resetchannels -@all +@read -get");
  EXPECT_EQ(list.elements[1].str, "user default on nopass ~* resetchannels &* +@all");
  Value bob = c.command({"ACL", "GETUSER", "bob"});
  ASSERT_EQ(bob.type, Type::kMap) << bob.debug_string();
  EXPECT_EQ(bob.find("keys")->str, "~jobs:*");
  EXPECT_EQ(bob.find("commands")->str, "-@all +@read -get");
  EXPECT_EQ(bob.find("passwords")->elements.size(), 1u);
  EXPECT_EQ(c.command({"ACL", "GETUSER", "nobody"}).type, Type::kNull);
  // Rules are checked before anything is written.
  EXPECT_EQ(c.command({"ACL", "SETUSER", "bob", "+nosuchcommand"}).str,
            "ERR Error in ACL SETUSER modifier '+nosuchcommand': Unknown command or category name in ACL");
  EXPECT_EQ(c.command({"ACL", "SETUSER", "bob", "bogus"}).str, "ERR Error in ACL SETUSER modifier 'bogus': Syntax error");
  // bob may read jobs:* but not GET.
  RespConnection b(server.port());
  ASSERT_EQ(b.command({"AUTH", "bob", "b"}).str, "OK");
  EXPECT_EQ(b.command({"AUTH", "bob", "a"}).str, "WRONGPASS invalid username-password pair or user is disabled.");
  EXPECT_EQ(b.command({"GET", "jobs:1"}).str, "NOPERM this user has no permissions to run the 'get' command");
  EXPECT_EQ(b.command({"EXISTS", "jobs:1"}).integer, 0);
  EXPECT_EQ(b.command({"EXISTS", "other"}).str.rfind("NOPERM", 0), 0u);
  ASSERT_EQ(c.command({"ACL", "SETUSER", "bob", "+multi", "+discard"}).str, "OK");
  ASSERT_EQ(b.command({"MULTI"}).str, "OK");
  EXPECT_EQ(b.command({"GET", "jobs:2"}).str.rfind("NOPERM", 0), 0u);
  EXPECT_EQ(b.command({"DISCARD"}).str, "OK");
  EXPECT_EQ(b.command({"GET", "jobs:3"}).str.rfind("NOPERM", 0), 0u);

  // ACL LOG: newest first; the second GET refused at top level counts on the first's entry.
  Value log = c.command({"ACL", "LOG"});
  ASSERT_EQ(log.type, Type::kArray) << log.debug_string();
  ASSERT_EQ(log.elements.size(), 4u) << log.debug_string();
  auto entry = [&](size_t i) {
    const Value& e = log.elements[i];
    return str_field(e, "reason") + " " + str_field(e, "context") + " " + str_field(e, "object") + " " +
           str_field(e, "username") + " x" + std::to_string(int_field(e, "count"));
  };
  EXPECT_EQ(entry(0), "command toplevel get bob x2");
  EXPECT_EQ(entry(1), "command multi get bob x1");
  EXPECT_EQ(entry(2), "key toplevel other bob x1");
  EXPECT_EQ(entry(3), "auth toplevel AUTH bob x1");
  const Value& latest = log.elements[0];
  EXPECT_EQ(field(latest, "age-seconds").type, Type::kDouble);
  EXPECT_NE(str_field(latest, "client-info").find(" user=bob "), std::string::npos) << str_field(latest, "client-info");
  EXPECT_GT(int_field(latest, "timestamp-last-updated"), int_field(latest, "timestamp-created") - 1);
  EXPECT_EQ(int_field(log.elements[3], "entry-id"), 0);
  EXPECT_EQ(c.command({"ACL", "LOG", "1"}).elements.size(), 1u);
  EXPECT_EQ(c.command({"ACL", "LOG", "-1"}).str, "ERR value is out of range, must be positive");
  EXPECT_EQ(c.command({"ACL", "LOG", "RESET"}).str, "OK");
  EXPECT_EQ(c.command({"ACL", "LOG"}).elements.size(), 0u);
  // redis-cli shows it too.
  EXPECT_NE(redis_cli(server.port(), "AUTH nobody x").find("WRONGPASS"), std::string::npos);
  EXPECT_NE(redis_cli(server.port(), "ACL LOG").find("nobody"), std::string::npos);
  EXPECT_EQ(c.command({"ACL", "CAT"}).elements.size(), 25u);
  EXPECT_GT(c.command({"ACL", "CAT", "lock"}).elements.size(), 2u);
  EXPECT_EQ(c.command({"ACL", "GENPASS"}).str.size(), 64u);
  EXPECT_EQ(c.command({"ACL", "DELUSER", "default"}).str, "ERR The 'default' user cannot be removed");
  EXPECT_EQ(c.command({"ACL", "DELUSER", "bob", "nobody"}).integer, 1);
  // bob's connection is no longer anyone.
  EXPECT_EQ(b.command({"EXISTS", "jobs:1"}).str, "NOAUTH Authentication required: user 'bob' no longer exists.");
  EXPECT_EQ(server.stop(), 0);
}

TEST(AclTest, UsersAreReplicatedToEveryMember) {
  DkvCluster cluster(3);
  ASSERT_TRUE(cluster.start());
  const int leader = cluster.await_leader();
  ASSERT_GT(leader, 0);
  RespConnection c(cluster.port(leader));
  ASSERT_EQ(c.command({"ACL", "SETUSER", "carol", "on", ">pw", "~c:*", "+@all"}).str, "OK");
  for (int id = 1; id <= 3; ++id) {
    RespConnection m(cluster.port(id));
    // A linearizable read first: this member has applied the change.
    ASSERT_EQ(m.command({"ACL", "USERS"}).elements.size(), 2u) << "member " << id;
    ASSERT_EQ(m.command({"AUTH", "carol", "pw"}).str, "OK") << "member " << id;
    EXPECT_EQ(m.command({"SET", "c:" + std::to_string(id), "x"}).str, "OK");
    EXPECT_EQ(m.command({"SET", "d:" + std::to_string(id), "x"}).str.rfind("NOPERM", 0), 0u);
  }
}

TEST(AclTest, TheCppClientAndTheCliLogIn) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  RespConnection admin(server.port());
  ASSERT_EQ(admin.command({"ACL", "SETUSER", "alice", "on", ">pw", "~app:*", "+@all"}).str, "OK");
  ASSERT_EQ(admin.command({"ACL", "SETUSER", "default", "on", ">adminpw"}).str, "OK");
  const std::string address = "127.0.0.1:" + std::to_string(server.port());
  auto alice = dkv::connect("dkv://alice:pw@" + address);
  ASSERT_TRUE(alice.ok()) << alice.status().to_string();
  ASSERT_TRUE((*alice)->put("app:1", "v").ok());
  EXPECT_EQ((*alice)->get("app:1")->value, "v");
  EXPECT_EQ((*alice)->get("other").code(), Code::kPermissionDenied);
  // A wrong password fails at once, not after retrying every member until the deadline.
  auto wrong = dkv::connect("dkv://alice:nope@" + address);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.code(), Code::kPermissionDenied);
  EXPECT_NE(wrong.status().message().find("WRONGPASS"), std::string::npos) << wrong.status().message();
  auto nobody = dkv::connect("dkv://" + address);
  EXPECT_EQ(nobody.code(), Code::kPermissionDenied) << nobody.status().to_string();
  // The CLI: --user / --password, or $DKV_USER / $DKV_PASSWORD.
  const std::string cli = std::string(DKV_CLI_PATH) + " --endpoints " + address;
  EXPECT_NE(run_shell(cli + " --user alice --password pw get app:1 2>&1").find("value: v\n"), std::string::npos);
  EXPECT_NE(run_shell("DKV_PASSWORD=adminpw " + cli + " get app:1 2>&1").find("value: v\n"), std::string::npos);
  EXPECT_NE(run_shell(cli + " get app:1 2>&1").find("NOAUTH"), std::string::npos);
}

// A node joining members that require passwords logs in first (--join-user / --join-password).
TEST(AclTest, ANodeJoinsMembersThatRequirePasswords) {
  DkvServerProcess first;
  ASSERT_TRUE(first.start());
  RespConnection admin(first.port());
  ASSERT_EQ(admin.command({"ACL", "SETUSER", "default", "on", ">adminpw"}).str, "OK");
  ASSERT_EQ(admin.command({"ACL", "SETUSER", "ops", "on", ">opspw", "-@all", "+member.add", "+member.list"}).str, "OK");
  ASSERT_EQ(admin.command({"SET", "k", "v"}).str, "OK");
  const std::string join = "127.0.0.1:" + std::to_string(first.port());

  // Without a login it is refused (NOAUTH), with a wrong one too (WRONGPASS); nothing changes.
  DkvServerProcess refused("", {"--node-id", "2", "--join", join});
  ASSERT_TRUE(refused.start());
  EXPECT_NE(refused.process()->wait_for_line("did not add this node: NOAUTH", 20'000), "") << refused.process()->output();
  DkvServerProcess wrong("", {"--node-id", "3", "--join", join, "--join-user", "ops", "--join-password", "nope"});
  ASSERT_TRUE(wrong.start());
  EXPECT_NE(wrong.process()->wait_for_line("refused the join's login (--join-user / --join-password): WRONGPASS", 20'000), "")
      << wrong.process()->output();
  EXPECT_EQ(admin.command({"MEMBER.LIST"}).elements.size(), 1u);

  // A user allowed MEMBER.ADD and MEMBER.LIST (the password from the environment works too).
  TempDir dir;
  ChildProcess joined({"/usr/bin/env", "DKV_JOIN_PASSWORD=opspw", DKV_SERVER_PATH, "--data-dir", dir.path() + "/d",
                       "--listen", "127.0.0.1:0", "--raft-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                       "--node-id", "4", "--join", join, "--join-user", "ops"});
  EXPECT_NE(joined.wait_for_line("joined the cluster", 20'000), "") << joined.output();
  Value members = admin.command({"MEMBER.LIST"});
  ASSERT_EQ(members.elements.size(), 2u) << members.debug_string();
  EXPECT_EQ(int_field(members.elements[1], "id"), 4);
}

TEST(AclTest, AServerOpenToOtherHostsWithoutAPasswordSaysSoAtStartUp) {
  TempDir dir;
  ChildProcess open({DKV_SERVER_PATH, "--listen", "0.0.0.0:0", "--raft-listen", "127.0.0.1:0", "--admin-listen",
                     "127.0.0.1:0", "--data-dir", dir.path() + "/open"});
  EXPECT_NE(open.wait_for_line("WARNING: listening on 0.0.0.0", 20000), "");
  EXPECT_NE(open.output().find("ANYONE WHO CAN REACH THIS PORT"), std::string::npos);
  open.signal(SIGTERM);
  EXPECT_NE(open.wait_exit(20000), -1);
  // On loopback (the default): no warning.
  DkvServerProcess local;
  ASSERT_TRUE(local.start());
  EXPECT_EQ(local.process()->output().find("WARNING"), std::string::npos);
}

}  // namespace
}  // namespace dkv::testing
