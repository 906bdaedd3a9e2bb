// TLS with real processes and clients: the client port over TLS for redis-cli, Python's redis,
// our C++ client and the dkv CLI (a plain client is told the port wants TLS; a wrong CA or a
// certificate naming another host is refused); client certificates when the server requires
// them; members talking mutual TLS, joining over TLS and refusing a member whose certificate
// another CA signed; and start-up errors for incomplete or broken TLS settings.
//
// Certificates are made per test run with the openssl command (EC P-256, which is quick).
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "client/remote.h"
#include "dkv/connect.h"
#include "dkv_test_util.h"

namespace dkv::testing {
namespace {

// A CA, a certificate for "the servers" (127.0.0.1 and localhost) and one for a client, all from
// that CA; a second CA ("rogue") with a server certificate of its own; and a certificate from
// the first CA that names another host.
class Certificates {
 public:
  Certificates() {
    const std::string script = R"(set -e
cd ')" + dir_.path() + R"('
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
ca() { key "$1"; openssl req -x509 -new -key "$1.key" -out "$1.crt" -days 30 -subj "/CN=$1" 2>/dev/null; }
# sign NAME CA EXTENSIONS
sign() {
  key "$1"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -out "$1.crt" -days 30 -extfile "$1.ext" 2>/dev/null
}
ca ca
ca rogue-ca
sign server ca "subjectAltName=IP:127.0.0.1,DNS:localhost"
sign client ca "extendedKeyUsage=clientAuth"
sign rogue rogue-ca "subjectAltName=IP:127.0.0.1,DNS:localhost"
sign elsewhere ca "subjectAltName=DNS:elsewhere.example"
ca member-ca
sign member member-ca "subjectAltName=IP:127.0.0.1,DNS:localhost"
cat ca.crt member-ca.crt > clients-and-members.crt
echo made
)";
    int status = -1;
    const std::string out = run_shell(script, &status);
    if (status != 0 || out.find("made") == std::string::npos) ADD_FAILURE() << "openssl failed: " << out;
  }
  std::string file(const std::string& name) const { return dir_.path() + "/" + name; }
  // Server flags for the certificate `name` (server, rogue, elsewhere), trusting `ca`.
  std::vector<std::string> server_flags(const std::string& name = "server", const std::string& ca = "ca") const {
    return {"--tls-cert-file", file(name + ".crt"), "--tls-key-file", file(name + ".key"), "--tls-ca-cert-file",
            file(ca + ".crt")};
  }

 private:
  TempDir dir_;
};

std::vector<std::string> plus(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::string redis_cli(int port, const std::string& args) {
  return run_shell("redis-cli -p " + std::to_string(port) + " " + args + " 2>&1");
}

std::string dkv_cli(int port, const std::string& args) {
  return run_shell(std::string(DKV_CLI_PATH) + " --endpoints 127.0.0.1:" + std::to_string(port) + " " + args + " 2>&1");
}

// Watch events as "TYPE key value", awaited by count.
class Events {
 public:
  WatchEventHandler handler() {
    return [this](const Event& e) {
      std::lock_guard lock(mu_);
      seen_.push_back(e.kv.key + "=" + e.kv.value);
      cv_.notify_all();
    };
  }
  std::vector<std::string> wait_for(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(20), [&] { return seen_.size() >= n; });
    return seen_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> seen_;
};

TEST(TlsTest, TheClientPortSpeaksTlsToEveryKindOfClient) {
  Certificates certs;
  DkvServerProcess server("", plus({"--tls-clients"}, certs.server_flags()));
  ASSERT_TRUE(server.start());
  EXPECT_NE(server.process()->output().find("(TLS)"), std::string::npos);
  const int port = server.port();
  const std::string tls = "--tls --cacert " + certs.file("ca.crt");

  // redis-cli over TLS; without it, told in plain RESP what is wrong.
  EXPECT_EQ(redis_cli(port, tls + " SET greeting hello"), "OK\n");
  EXPECT_EQ(redis_cli(port, tls + " GET greeting"), "hello\n");
  EXPECT_NE(redis_cli(port, "PING").find("this port speaks TLS"), std::string::npos);

  // Python's redis with ssl=True: a 1 MiB value and a pipeline of 1000 (many TLS records each way).
  int status = -1;
  std::string py = run_debian_python(R"(
import redis
r = redis.Redis(host='127.0.0.1', port=)" + std::to_string(port) + R"(, ssl=True, ssl_ca_certs=')" +
                                         certs.file("ca.crt") + R"(')
big = 'x' * (1 << 20)
r.set('big', big)
assert r.get('big') == big.encode()
p = r.pipeline(transaction=False)
for i in range(1000): p.incr('n')
assert p.execute()[-1] == 1000
print('python ok', r.get('greeting').decode())
)",
                                     &status);
  EXPECT_EQ(status, 0) << py;
  EXPECT_NE(py.find("python ok hello"), std::string::npos) << py;

  // Our client: values, a watch (pushes over TLS), and many writes at once.
  auto client = connect("dkvs://127.0.0.1:" + std::to_string(port) + "?cacert=" + certs.file("ca.crt"));
  ASSERT_TRUE(client.ok()) << client.status().to_string();
  Events events;
  ASSERT_TRUE((*client)->watch({.key = "w/", .prefix = true}, events.handler()).ok());
  ASSERT_TRUE((*client)->put("w/1", std::string(1 << 20, 'v')).ok());
  std::vector<PutItem> items;
  for (int i = 0; i < 500; ++i) items.push_back({.key = "many/" + std::to_string(i), .value = "v"});
  for (const auto& r : (*client)->put_many(items)) EXPECT_TRUE(r.ok());
  Result<int64_t> count = (*client)->count("many/");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 500);
  ASSERT_TRUE((*client)->put("w/2", "two").ok());
  std::vector<std::string> seen = events.wait_for(2);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "w/1=" + std::string(1 << 20, 'v'));
  EXPECT_EQ(seen[1], "w/2=two");
  // By name, which the certificate also holds.
  auto by_name = connect("dkvs://localhost:" + std::to_string(port) + "?cacert=" + certs.file("ca.crt"));
  ASSERT_TRUE(by_name.ok()) << by_name.status().to_string();
  EXPECT_EQ((*by_name)->get("greeting")->value, "hello");

  // The dkv CLI.
  EXPECT_NE(dkv_cli(port, "--cacert " + certs.file("ca.crt") + " get greeting").find("value: hello"), std::string::npos);

  // A CA that did not sign the server's certificate; a plain client.
  auto rogue = connect("dkvs://127.0.0.1:" + std::to_string(port) + "?cacert=" + certs.file("rogue-ca.crt"));
  ASSERT_FALSE(rogue.ok());
  EXPECT_NE(rogue.status().message().find("TLS handshake failed: the server's certificate"), std::string::npos)
      << rogue.status().to_string();
  auto plain = connect("dkv://127.0.0.1:" + std::to_string(port));
  ASSERT_FALSE(plain.ok());
  EXPECT_NE(plain.status().message().find("this port speaks TLS"), std::string::npos) << plain.status().to_string();
  const std::string stats = redis_cli(port, tls + " INFO stats");
  EXPECT_NE(stats.find("tls_handshake_failures:"), std::string::npos);
  EXPECT_EQ(stats.find("tls_handshake_failures:0"), std::string::npos) << stats;
}

TEST(TlsTest, AClientChecksThatTheCertificateNamesTheHost) {
  Certificates certs;
  DkvServerProcess server("", plus({"--tls-clients"}, certs.server_flags("elsewhere")));
  ASSERT_TRUE(server.start());
  const std::string ca = certs.file("ca.crt");
  auto client = connect("dkvs://127.0.0.1:" + std::to_string(server.port()) + "?cacert=" + ca);
  ASSERT_FALSE(client.ok());
  EXPECT_NE(client.status().message().find("IP address mismatch"), std::string::npos) << client.status().to_string();
  // Asked not to check the name, the same client connects (the CA still vouches for the server).
  Remote::Options options;
  options.tls = {.enabled = true, .ca_file = ca, .verify_host = false};
  Remote remote({{"127.0.0.1", static_cast<uint16_t>(server.port())}}, options);
  EXPECT_TRUE(remote.ping().ok());
}

TEST(TlsTest, ClientCertificatesWhenTheServerRequiresThem) {
  Certificates certs;
  DkvServerProcess server("", plus({"--tls-clients", "--tls-auth-clients", "yes"}, certs.server_flags()));
  ASSERT_TRUE(server.start());
  const int port = server.port();
  const std::string ca = "--tls --cacert " + certs.file("ca.crt");
  const std::string mine = " --cert " + certs.file("client.crt") + " --key " + certs.file("client.key");
  const std::string rogue = " --cert " + certs.file("rogue.crt") + " --key " + certs.file("rogue.key");

  EXPECT_EQ(redis_cli(port, ca + mine + " SET k v"), "OK\n");
  EXPECT_NE(redis_cli(port, ca + " GET k"), "v\n");
  EXPECT_NE(redis_cli(port, ca + rogue + " GET k"), "v\n");
  EXPECT_EQ(redis_cli(port, ca + mine + " GET k"), "v\n");

  const std::string without = dkv_cli(port, "--cacert " + certs.file("ca.crt") + " get k");
  EXPECT_NE(without.find("the server wants a client certificate"), std::string::npos) << without;
  EXPECT_NE(dkv_cli(port, "--cacert " + certs.file("ca.crt") + mine + " get k").find("value: v"), std::string::npos);

  int status = -1;
  std::string py = run_debian_python(R"(
import redis
r = redis.Redis(host='127.0.0.1', port=)" + std::to_string(port) + R"(, ssl=True, ssl_ca_certs=')" +
                                         certs.file("ca.crt") + "', ssl_certfile='" + certs.file("client.crt") +
                                         "', ssl_keyfile='" + certs.file("client.key") + R"(')
print('python', r.get('k').decode())
)",
                                     &status);
  EXPECT_NE(py.find("python v"), std::string::npos) << py;
}

TEST(TlsTest, MembersTalkMutualTlsJoinOverTlsAndRefuseAnotherCasMember) {
  Certificates certs;
  const std::vector<std::string> tls = plus({"--tls-clients", "--tls-peers"}, certs.server_flags());
  DkvServerProcess first("", plus({"--node-id", "1"}, tls));
  ASSERT_TRUE(first.start());
  EXPECT_NE(first.process()->output().find(" (TLS), admin"), std::string::npos) << first.process()->output();
  const std::string join = "127.0.0.1:" + std::to_string(first.port());
  DkvServerProcess second("", plus({"--node-id", "2", "--join", join}, tls));
  DkvServerProcess third("", plus({"--node-id", "3", "--join", join}, tls));
  ASSERT_TRUE(second.start());
  ASSERT_TRUE(third.start());
  EXPECT_NE(second.process()->wait_for_line("joined the cluster", 20'000), "") << second.process()->output();
  EXPECT_NE(third.process()->wait_for_line("joined the cluster", 20'000), "") << third.process()->output();

  const std::string ca = certs.file("ca.crt");
  auto client = connect("dkvs://" + join + "?cacert=" + ca);
  ASSERT_TRUE(client.ok()) << client.status().to_string();
  auto* remote = static_cast<Remote*>(client->get());
  for (const char* id : {"2", "3"}) {
    Result<resp::Value> promoted = remote->raw({"MEMBER.PROMOTE", id});
    ASSERT_TRUE(promoted.ok()) << promoted.status().to_string();
  }
  ASSERT_TRUE((*client)->put("replicated", "over TLS").ok());

  // Without the first member, the other two elect a leader between themselves (Raft over TLS)
  // and have the value.
  first.kill9();
  auto survivors = connect("dkvs://127.0.0.1:" + std::to_string(second.port()) + ",127.0.0.1:" +
                           std::to_string(third.port()) + "?cacert=" + ca);
  ASSERT_TRUE(survivors.ok()) << survivors.status().to_string();
  Result<PutResult> put = Status(Code::kUnavailable, "not tried");
  for (int i = 0; i < 100 && !put.ok(); ++i) {
    put = (*survivors)->put("after", "failover");
    if (!put.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(200));  // an election takes ~1-2 s
  }
  ASSERT_TRUE(put.ok()) << put.status().to_string();
  EXPECT_EQ((*survivors)->get("replicated")->value, "over TLS");

  // A node whose certificate another CA signed gets in through the client port (which asks for
  // no client certificate here), but no member will talk Raft with it.
  const std::string survivor = "127.0.0.1:" + std::to_string(second.port());
  DkvServerProcess rogue("", plus({"--node-id", "4", "--join", survivor + ",127.0.0.1:" + std::to_string(third.port())},
                                  plus({"--tls-clients", "--tls-peers"}, certs.server_flags("rogue", "ca"))));
  ASSERT_TRUE(rogue.start());
  std::string refused = rogue.process()->wait_for_line("TLS handshake failed", 20'000);
  EXPECT_NE(refused, "") << rogue.process()->output();
  // It holds nothing: asked alone, it has no leader to read through, or an empty store.
  Remote::Options alone;
  alone.tls = {.enabled = true, .ca_file = ca};
  alone.discover_members = false;
  alone.request_timeout_ms = 1000;
  Remote only_rogue({{"127.0.0.1", static_cast<uint16_t>(rogue.port())}}, alone);
  Result<resp::Value> dbsize = only_rogue.raw({"DBSIZE"});
  EXPECT_TRUE(!dbsize.ok() || dbsize->integer == 0) << dbsize->debug_string();
}

// With client certificates in use, members get a CA of their own (--tls-peer-ca-cert-file): a
// client certificate then opens the client port but not the Raft port. Without it the server
// warns at start-up.
TEST(TlsTest, ClientCertificatesDoNotOpenTheRaftPortWhenMembersHaveTheirOwnCa) {
  Certificates certs;
  DkvServerProcess server("", {"--tls-clients", "--tls-auth-clients", "yes", "--tls-peers", "--tls-cert-file",
                               certs.file("member.crt"), "--tls-key-file", certs.file("member.key"),
                               "--tls-ca-cert-file", certs.file("clients-and-members.crt"),
                               "--tls-peer-ca-cert-file", certs.file("member-ca.crt")});
  ASSERT_TRUE(server.start());
  EXPECT_EQ(server.process()->output().find("WARNING"), std::string::npos) << server.process()->output();
  std::smatch m;
  const std::string ready = server.process()->output();
  ASSERT_TRUE(std::regex_search(ready, m, std::regex("raft [^ ]+:([0-9]+) \\(TLS\\)"))) << ready;
  const std::string raft = m[1];
  const std::string client = " -cert " + certs.file("client.crt") + " -key " + certs.file("client.key");
  const std::string member = " -cert " + certs.file("member.crt") + " -key " + certs.file("member.key");
  // TLS 1.2, so that the server's verdict on the certificate is part of the handshake.
  auto s_client = [&](const std::string& cert) {
    return run_shell("openssl s_client -connect 127.0.0.1:" + raft + " -tls1_2 -CAfile " + certs.file("member-ca.crt") +
                     cert + " </dev/null 2>&1");
  };
  const std::string as_member = s_client(member);
  EXPECT_EQ(as_member.find("alert"), std::string::npos) << as_member;
  EXPECT_NE(as_member.find("Verify return code: 0 (ok)"), std::string::npos) << as_member;
  const std::string as_client = s_client(client);
  EXPECT_NE(as_client.find("alert"), std::string::npos) << as_client;
  EXPECT_NE(server.process()->wait_for_line("refused a Raft connection from 127.0.0.1:", 20'000), "")
      << server.process()->output();
  // The same client certificate opens the client port.
  EXPECT_EQ(redis_cli(server.port(), "--tls --cacert " + certs.file("member-ca.crt") + " --cert " + certs.file("client.crt") +
                                         " --key " + certs.file("client.key") + " PING"),
            "PONG\n");

  DkvServerProcess shared("", {"--tls-clients", "--tls-auth-clients", "yes", "--tls-peers", "--tls-cert-file",
                               certs.file("member.crt"), "--tls-key-file", certs.file("member.key"),
                               "--tls-ca-cert-file", certs.file("clients-and-members.crt")});
  ASSERT_TRUE(shared.start());
  EXPECT_NE(shared.process()->output().find("ANY CLIENT CERTIFICATE IT SIGNED CAN ALSO TALK RAFT AS A MEMBER"),
            std::string::npos)
      << shared.process()->output();
}

TEST(TlsTest, IncompleteOrBrokenSettingsStopTheServerWithAMessage) {
  Certificates certs;
  TempDir data;
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--tls-clients"}, "--tls-clients needs --tls-cert-file and --tls-key-file"},
      {{"--tls-peers", "--tls-cert-file", certs.file("server.crt"), "--tls-key-file", certs.file("server.key")},
       "--tls-peers needs --tls-ca-cert-file or --tls-peer-ca-cert-file"},
      {{"--tls-cert-file", certs.file("server.crt"), "--tls-key-file", certs.file("server.key")},
       "need --tls-clients or --tls-peers"},
      {{"--tls-clients", "--tls-cert-file", certs.file("server.crt"), "--tls-key-file", certs.file("server.key"),
        "--tls-auth-clients", "yes"},
       "--tls-auth-clients needs --tls-ca-cert-file"},
      {{"--tls-clients", "--tls-cert-file", "/nonexistent.crt", "--tls-key-file", certs.file("server.key")},
       "cannot use the certificate (--tls-cert-file) '/nonexistent.crt'"},
      {{"--tls-clients", "--tls-cert-file", certs.file("server.crt"), "--tls-key-file", certs.file("client.key")},
       "does not belong to the certificate"},
  };
  for (const Case& c : cases) {
    std::string command = std::string(DKV_SERVER_PATH) + " --data-dir " + data.path() +
                          "/d --listen 127.0.0.1:0 --raft-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0";
    for (const std::string& flag : c.flags) command += " '" + flag + "'";
    const std::string out = run_shell(command + " 2>&1; echo exit=$?");
    EXPECT_NE(out.find(c.message), std::string::npos) << "expected '" << c.message << "' in: " << out;
    EXPECT_EQ(out.find("exit=0"), std::string::npos) << out;
    EXPECT_EQ(out.find("ready"), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace dkv::testing
