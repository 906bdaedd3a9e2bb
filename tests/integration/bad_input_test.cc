// Bad input against a real dkv-server: every command in its table (COMMAND) with missing,
// extra and garbage arguments (non-numbers, negatives, overflowing numbers, empty strings,
// binary bytes, stray option words), then random malformed RESP frames. Whatever comes back,
// the server must answer, stay up, keep serving other clients, and stop cleanly at the end.
#include <random>
#include <set>
#include <string>
#include <vector>

#include "dkv_test_util.h"

namespace dkv::testing {
namespace {

// Values that break number parsing, option parsing and size assumptions, and option words
// every parser looks for.
const std::vector<std::string>& garbage() {
  static const std::vector<std::string> tokens = {
      "", "x", "0", "-1", "1", "-9223372036854775808", "9223372036854775807", "99999999999999999999999",
      "1e999", "nan", "-0", " 1", "1.5", std::string("\xff\xfe\x00\x01", 4), std::string(300, 'k'),
      "*", "[", "\\", "%", "LIMIT", "PREFIX", "KEY", "WAIT", "TTL", "LEASE", "LABELS", "WHERE", "EQ", "IN",
      "BETWEEN", "FROM", "SNAPSHOT", "COUNT", "MATCH", "EX", "PX", "EXAT", "NX", "XX", "GET", "KEEPTTL", "WRITES",
      "READS", "PUT", "DEL", "IFMATCH", "IFABSENT", "FENCE", "ENTITY", "SELECT", "KEYS", "REV", "ORDERBY",
      "CURSOR", "KEYSONLY", "PREVKV", "MIN", "MAX", "AUTH", "SETNAME", "TYPE", "CONTENTTYPE"};
  return tokens;
}

struct CommandInfo {
  std::string name;
  int64_t arity = 0;
};

std::vector<CommandInfo> command_table(RespConnection& c) {
  std::vector<CommandInfo> out;
  resp::Value table = c.command({"COMMAND"});
  for (const resp::Value& entry : table.elements) {
    if (entry.elements.size() < 2) continue;
    out.push_back({entry.elements[0].str, entry.elements[1].integer});
  }
  return out;
}

TEST(BadInputTest, EveryCommandSurvivesGarbageArguments) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  RespConnection probe(server.port());
  // Some state for the commands to trip over: keys of every kind, a lease, a lock.
  ASSERT_EQ(probe.command({"SET", "s", "v"}).str, "OK");
  ASSERT_FALSE(probe.command({"CTR.ADD", "c", "5"}).is_error());
  ASSERT_FALSE(probe.command({"KV.PUT", "x", "v", "ENTITY", "e", "LABELS", "1", "n", "1"}).is_error());
  const std::vector<CommandInfo> commands = command_table(probe);
  ASSERT_GT(commands.size(), 80u);

  std::mt19937_64 rng(20261202);
  const auto& tokens = garbage();
  auto token = [&] { return tokens[rng() % tokens.size()]; };
  // Not sent: QUIT and SHUTDOWN-like commands end what is being tested, membership changes
  // could legitimately remove this node, and those with a WAIT could legitimately block.
  const std::set<std::string> skipped = {"quit", "shutdown", "member.remove", "member.add", "member.promote",
                                         "member.transfer"};
  int sent = 0, errors = 0;
  for (const CommandInfo& info : commands) {
    if (skipped.count(info.name)) continue;
    const size_t exact = static_cast<size_t>(info.arity > 0 ? info.arity : -info.arity);
    std::vector<std::vector<std::string>> cases;
    cases.push_back({info.name});                                   // no arguments
    for (const std::string& t : tokens) {                          // each garbage value everywhere
      cases.push_back(std::vector<std::string>(std::max<size_t>(exact, 2), t));
      cases.back()[0] = info.name;
    }
    for (int i = 0; i < 40; ++i) {                                  // random lengths and mixes
      std::vector<std::string> args = {info.name};
      const size_t n = rng() % (exact + 8);
      for (size_t k = 0; k < n; ++k) args.push_back(token());
      cases.push_back(std::move(args));
    }
    for (const auto& args : cases) {
      // A fresh connection each: a case may switch protocols, start a watch or a MULTI.
      RespConnection c(server.port());
      ASSERT_TRUE(c.connected()) << "server gone after " << info.name;
      resp::Value reply = c.command(args, 5000);
      ++sent;
      if (reply.is_error()) ++errors;
      ASSERT_EQ(probe.command({"PING"}, 5000).str, "PONG")
          << "no PONG after " << info.name << " with " << args.size() - 1 << " arguments";
    }
  }
  std::printf("bad input: %d requests over %zu commands, %d error replies; server alive\n", sent, commands.size(),
              errors);
  EXPECT_GT(errors, sent / 2);  // garbage is mostly refused
  // Still a working store (the garbage may have included FLUSHALL or KV.CLEAR).
  ASSERT_EQ(probe.command({"SET", "after", "1"}).str, "OK");
  EXPECT_EQ(probe.command({"GET", "after"}).str, "1");
  EXPECT_EQ(server.stop(), 0);
}

TEST(BadInputTest, RandomMalformedFramesGetProtocolErrorsAndNothingElseBreaks) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  RespConnection probe(server.port());
  ASSERT_EQ(probe.command({"SET", "kept", "1"}).str, "OK");
  std::mt19937_64 rng(7);
  const std::vector<std::string> frames = {
      "*-5\r\n", "*2\r\n$-1\r\n", "*1\r\n$3\r\nPING", "*1\r\n$999999999999\r\n", "$5\r\nhello\r\n", "*1\r\n:1\r\n",
      "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nvv\r\n", "*2\r\n$3\r\nGET\r\n$1\r\nk", "*99999999\r\n", "\r\n\r\n",
      "*1\r\n$4\r\nPING\n\n", "*1\r\n$0\r\n\r\n", "\"unbalanced\r\n", "*1x\r\n", "*1\r\n$x\r\n", "*1\r\n$1\r\nab\r\n"};
  int closed = 0;
  for (int i = 0; i < 150; ++i) {
    RespConnection c(server.port());
    std::string bytes = frames[rng() % frames.size()];
    if (i % 3 == 0) {  // and some pure noise
      bytes.clear();
      for (size_t n = rng() % 200; n > 0; --n) bytes.push_back(static_cast<char>(rng() % 256));
    }
    c.send_raw(bytes);
    resp::Value reply = c.read_value(100);
    if (reply.is_error()) {  // noise that does not start with '*' is an inline command
      EXPECT_TRUE(reply.str.find("Protocol error") != std::string::npos ||
                  reply.str.find("unknown command") != std::string::npos)
          << reply.str;
    }
    if (c.closed_by_peer(50)) ++closed;
    ASSERT_EQ(probe.command({"PING"}, 5000).str, "PONG") << "after frame " << i;
  }
  std::printf("malformed frames: 150 sent, %d connections closed by the server\n", closed);
  EXPECT_GT(closed, 0);
  EXPECT_EQ(probe.command({"GET", "kept"}).str, "1");
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace dkv::testing
