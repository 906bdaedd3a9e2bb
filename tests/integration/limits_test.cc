// Limits (protocol.md section 7) against a real dkv-server started with small ones: each
// refusal names the limit and its flag, nothing refused is applied, and the connection stays
// usable where the protocol allows.
#include <string>
#include <vector>

#include "dkv_test_util.h"

namespace dkv::testing {
namespace {

bool mentions(const resp::Value& v, const std::string& text) { return v.str.find(text) != std::string::npos; }

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.start()); }

  DkvServerProcess server_{"", {"--max-key-bytes", "16", "--max-value-bytes", "100", "--max-labels", "2",
                                "--max-txn-ops", "3", "--max-request-bytes", "4096", "--max-clients", "4",
                                "--max-watches", "2", "--max-query-results", "5", "--max-output-bytes", "65536"}};
};

TEST_F(LimitsTest, OversizedWritesAreRefusedNamingTheLimitAndNothingIsApplied) {
  RespConnection c(server_.port());
  const std::string long_key(17, 'k'), long_value(101, 'v');
  resp::Value r = c.command({"SET", long_key, "x"});
  EXPECT_TRUE(r.is_error() && mentions(r, "is 17 bytes, over the limit of 16 (--max-key-bytes)")) << r.str;
  r = c.command({"KV.PUT", "k", long_value});
  EXPECT_TRUE(r.is_error() && mentions(r, "value of 'k' is 101 bytes, over the limit of 100 (--max-value-bytes)")) << r.str;
  r = c.command({"APPEND", "k", long_value});
  EXPECT_TRUE(r.is_error() && mentions(r, "--max-value-bytes")) << r.str;
  r = c.command({"KV.PUT", "k", "v", "LABELS", "3", "a", "1", "b", "2", "c", "3"});
  EXPECT_TRUE(r.is_error() && mentions(r, "has 3 labels, over the limit of 2 (--max-labels)")) << r.str;
  r = c.command({"MSET", "a", "1", "b", "2", "c", "3", "d", "4"});
  EXPECT_TRUE(r.is_error() && mentions(r, "has 4 operations, over the limit of 3 (--max-txn-ops)")) << r.str;
  r = c.command({"TXN.COMMIT", "READS", "2", "a", "0", "b", "0", "WRITES", "2", "PUT", "a", "1", "PUT", "b", "2"});
  EXPECT_TRUE(r.is_error() && mentions(r, "a transaction has 4 operations")) << r.str;
  // A MULTI whose queue is over the limit: EXEC refuses it whole.
  EXPECT_EQ(c.command({"MULTI"}).str, "OK");
  for (const char* k : {"a", "b", "c", "d"}) EXPECT_EQ(c.command({"SET", k, "1"}).str, "QUEUED");
  r = c.command({"EXEC"});
  EXPECT_TRUE(r.is_error() && mentions(r, "a MULTI transaction has 4 operations")) << r.debug_string();
  EXPECT_EQ(c.command({"DBSIZE"}).integer, 0);  // nothing refused was applied
  // Within the limits, the same connection works.
  EXPECT_EQ(c.command({"SET", std::string(16, 'k'), std::string(100, 'v')}).str, "OK");
  EXPECT_EQ(c.command({"MSET", "a", "1", "b", "2", "c", "3"}).str, "OK");
  EXPECT_EQ(c.command({"DBSIZE"}).integer, 4);
}

TEST_F(LimitsTest, AnOversizedRequestIsAProtocolErrorThatClosesOnlyItsConnection) {
  RespConnection c(server_.port());
  // The declared size alone is refused: the 5000 bytes are never sent, nor allocated.
  c.send_raw("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5000\r\n");
  resp::Value r = c.read_value();
  EXPECT_TRUE(r.is_error() && mentions(r, "request too large (exceeds max_request_bytes 4096)")) << r.debug_string();
  EXPECT_TRUE(c.closed_by_peer(5000));
  RespConnection other(server_.port());
  EXPECT_EQ(other.command({"PING"}).str, "PONG");
}

TEST_F(LimitsTest, ClientsBeyondMaxClientsAreRefusedWithRedisWords) {
  std::vector<std::unique_ptr<RespConnection>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<RespConnection>(server_.port()));
    EXPECT_EQ(held.back()->command({"PING"}).str, "PONG");
  }
  RespConnection extra(server_.port());
  resp::Value r = extra.read_value(5000);
  EXPECT_TRUE(r.is_error() && r.str == "ERR max number of clients reached") << r.debug_string();
  EXPECT_TRUE(extra.closed_by_peer(5000));
  held.pop_back();  // a slot frees up once the server sees the close
  bool admitted = false;
  for (int attempt = 0; attempt < 100 && !admitted; ++attempt) {
    RespConnection again(server_.port());
    admitted = again.command({"PING"}, 2000).str == "PONG";
  }
  EXPECT_TRUE(admitted);
  const resp::Value info = held[0]->command({"INFO", "stats"});
  EXPECT_TRUE(mentions(info, "rejected_connections:") && !mentions(info, "rejected_connections:0")) << info.str;
}

TEST_F(LimitsTest, WatchesPerConnectionAndResultsPerReplyAreBounded) {
  auto c = resp3(server_.port());
  EXPECT_EQ(c->command({"KV.WATCH", "PREFIX", "a"}).type, resp::Type::kInteger);
  EXPECT_EQ(c->command({"KV.WATCH", "PREFIX", "b"}).type, resp::Type::kInteger);
  resp::Value r = c->command({"KV.WATCH", "PREFIX", "c"});
  EXPECT_TRUE(r.is_error() && mentions(r, "has 2 watches, the limit (--max-watches)")) << r.str;

  RespConnection w(server_.port());
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(w.command({"KV.PUT", "q" + std::to_string(i), "v", "ENTITY", "e", "LABELS", "1", "n", "1"}).is_error(),
              false);
  }
  r = w.command({"QUERY", "e", "WHERE", "n", "EQ", "1"});
  EXPECT_TRUE(r.is_error() && mentions(r, "QUERY matches 6 keys, over the limit of 5 results per reply (--max-query-results)"))
      << r.str;
  r = w.command({"QUERY", "e", "LIMIT", "6"});
  EXPECT_TRUE(r.is_error() && mentions(r, "LIMIT 6 is over the limit of 5")) << r.str;
  EXPECT_EQ(w.command({"QUERY", "e", "WHERE", "n", "EQ", "1", "COUNT"}).find("count")->integer, 6);
  EXPECT_EQ(w.command({"QUERY", "e", "LIMIT", "5", "KEYSONLY"}).find("items")->elements.size(), 5u);
  r = w.command({"KV.RANGE", "PREFIX", "q"});
  EXPECT_TRUE(r.is_error() && mentions(r, "KV.RANGE matches 6 keys, over the limit of 5")) << r.str;
  EXPECT_EQ(w.command({"KV.RANGE", "PREFIX", "q", "LIMIT", "5"}).find("items")->elements.size(), 5u);
  EXPECT_EQ(w.command({"KV.RANGE", "PREFIX", "q", "COUNT"}).find("count")->integer, 6);
}

// A client that pipelines reads and never reads the replies is cut off once more than
// --max-output-bytes wait for it; the server stays well and serves others.
TEST_F(LimitsTest, AClientThatDoesNotReadIsDisconnected) {
  RespConnection setter(server_.port());
  ASSERT_EQ(setter.command({"SET", "big", std::string(100, 'x')}).str, "OK");
  RespConnection hog(server_.port());
  std::string requests;
  for (int i = 0; i < 20000; ++i) requests += "GET big\r\n";  // ~2.2 MB of replies
  hog.send_raw(requests);
  // The kernel's buffers take part of the replies; the rest piles up in the server and passes
  // the limit: the connection is closed (what the hog finally reads ends early).
  const std::string got = hog.read_all(20'000);
  EXPECT_LT(got.size(), 20000u * 107u);
  EXPECT_TRUE(mentions(setter.command({"INFO", "stats"}), "client_output_buffer_limit_disconnections:1"));
  EXPECT_EQ(setter.command({"GET", "big"}).str.size(), 100u);
}

}  // namespace
}  // namespace dkv::testing
