#include <chrono>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "resp/parser.h"
#include "resp/writer.h"
#include "resp_test_util.h"

namespace dkv::resp {
namespace {

using testing::bytewise;
using testing::feed_replies;
using testing::parse_one;
using testing::random_chunks;
using testing::reply_error;
using testing::same;
using testing::whole;
using Status = ReplyParser::Status;

TEST(ReplyParser, Scalars) {
  Value v = parse_one("+OK\r\n");
  EXPECT_EQ(v.type, Type::kSimpleString);
  EXPECT_EQ(v.str, "OK");

  v = parse_one("-CONFLICT version is 7\r\n");
  EXPECT_EQ(v.type, Type::kError);
  EXPECT_EQ(v.error_code(), "CONFLICT");
  EXPECT_EQ(v.error_message(), "version is 7");

  v = parse_one(":-42\r\n");
  EXPECT_EQ(v.type, Type::kInteger);
  EXPECT_EQ(v.integer, -42);
  EXPECT_EQ(parse_one(":+7\r\n").integer, 7);  // RESP3 allows the sign
  EXPECT_EQ(parse_one(":-9223372036854775808\r\n").integer, INT64_MIN);

  v = parse_one("$4\r\na\r\nb\r\n");
  EXPECT_EQ(v.type, Type::kBulkString);
  EXPECT_EQ(v.str, "a\r\nb");
  v = parse_one(std::string("$4\r\na\0\nb\r\n", 10));
  EXPECT_EQ(v.str, std::string("a\0\nb", 4));
  EXPECT_EQ(parse_one("$0\r\n\r\n").str, "");
  EXPECT_EQ(parse_one("$0\r\n\r\n").type, Type::kBulkString);

  v = parse_one(",1.5\r\n");
  EXPECT_EQ(v.type, Type::kDouble);
  EXPECT_EQ(v.number, 1.5);
  EXPECT_EQ(parse_one(",inf\r\n").number, INFINITY);
  EXPECT_EQ(parse_one(",-inf\r\n").number, -INFINITY);
  EXPECT_TRUE(std::isnan(parse_one(",nan\r\n").number));
  EXPECT_EQ(parse_one(",+1.25e2\r\n").number, 125.0);
  EXPECT_EQ(parse_one(",10\r\n").number, 10.0);

  v = parse_one("#t\r\n");
  EXPECT_EQ(v.type, Type::kBoolean);
  EXPECT_EQ(v.integer, 1);
  EXPECT_EQ(parse_one("#f\r\n").integer, 0);

  v = parse_one("=15\r\ntxt:Some string\r\n");
  EXPECT_EQ(v.type, Type::kVerbatim);
  EXPECT_EQ(v.str, "Some string");

  v = parse_one("(3492890328409238509324850943850943825024385\r\n");
  EXPECT_EQ(v.type, Type::kBigNumber);
  EXPECT_EQ(v.str, "3492890328409238509324850943850943825024385");
  EXPECT_EQ(parse_one("(-1\r\n").str, "-1");

  v = parse_one("!21\r\nSYNTAX invalid syntax\r\n");
  EXPECT_EQ(v.type, Type::kError);
  EXPECT_EQ(v.error_code(), "SYNTAX");
  EXPECT_EQ(v.error_message(), "invalid syntax");
}

TEST(ReplyParser, Nulls) {
  EXPECT_EQ(parse_one("_\r\n").type, Type::kNull);
  EXPECT_EQ(parse_one("$-1\r\n").type, Type::kNull);
  EXPECT_EQ(parse_one("*-1\r\n").type, Type::kNull);
  Value v = parse_one("*3\r\n$-1\r\n*-1\r\n_\r\n");
  ASSERT_EQ(v.elements.size(), 3u);
  for (const Value& e : v.elements) EXPECT_TRUE(e.is_null());
}

TEST(ReplyParser, Aggregates) {
  Value v = parse_one("*2\r\n$3\r\nfoo\r\n*1\r\n:1\r\n");
  EXPECT_EQ(v.type, Type::kArray);
  ASSERT_EQ(v.elements.size(), 2u);
  EXPECT_EQ(v.elements[0].str, "foo");
  ASSERT_EQ(v.elements[1].elements.size(), 1u);
  EXPECT_EQ(v.elements[1].elements[0].integer, 1);

  v = parse_one("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n");
  EXPECT_EQ(v.type, Type::kMap);
  ASSERT_EQ(v.elements.size(), 4u);  // pairs, flattened
  ASSERT_NE(v.find("second"), nullptr);
  EXPECT_EQ(v.find("second")->integer, 2);

  v = parse_one("~2\r\n+a\r\n+b\r\n");
  EXPECT_EQ(v.type, Type::kSet);
  EXPECT_EQ(v.elements.size(), 2u);

  v = parse_one(">3\r\n+message\r\n+chan\r\n+hi\r\n");
  EXPECT_EQ(v.type, Type::kPush);
  EXPECT_EQ(v.elements.size(), 3u);

  EXPECT_EQ(parse_one("*0\r\n").type, Type::kArray);
  EXPECT_EQ(parse_one("%0\r\n").type, Type::kMap);
  EXPECT_EQ(parse_one("~0\r\n").type, Type::kSet);
  EXPECT_EQ(parse_one(">0\r\n").type, Type::kPush);
}

TEST(ReplyParser, AttributesAreSkipped) {
  Value v = parse_one("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n+OK\r\n");
  EXPECT_EQ(v.type, Type::kSimpleString);
  EXPECT_EQ(v.str, "OK");

  // Before an element of an aggregate: the element count is unaffected.
  v = parse_one("*2\r\n|1\r\n+ttl\r\n:3600\r\n:1\r\n:2\r\n");
  ASSERT_EQ(v.elements.size(), 2u);
  EXPECT_EQ(v.elements[0].integer, 1);
  EXPECT_EQ(v.elements[1].integer, 2);

  // Before an aggregate, empty, and several in a row.
  v = parse_one("|0\r\n|1\r\n+a\r\n+b\r\n*1\r\n+x\r\n");
  EXPECT_EQ(v.type, Type::kArray);
  ASSERT_EQ(v.elements.size(), 1u);
  EXPECT_EQ(v.elements[0].str, "x");

  // An attribute alone is not a reply.
  auto fed = feed_replies("|1\r\n+a\r\n+b\r\n", whole());
  EXPECT_TRUE(fed.values.empty());
  EXPECT_EQ(fed.leftover, 0u);
}

TEST(ReplyParser, PipelinedReplies) {
  std::string in = "+OK\r\n:1\r\n*2\r\n$1\r\na\r\n_\r\n-ERR x\r\n";
  ReplyParser parser;
  std::string_view rest = in;
  std::vector<Type> types;
  for (;;) {
    Value v;
    size_t consumed = 0;
    auto status = parser.parse(rest, &v, &consumed);
    rest.remove_prefix(consumed);
    if (status != Status::kValue) {
      EXPECT_EQ(status, Status::kNeedMore);
      break;
    }
    types.push_back(v.type);
  }
  EXPECT_EQ(types, (std::vector<Type>{Type::kSimpleString, Type::kInteger, Type::kArray,
                                      Type::kError}));
  EXPECT_TRUE(rest.empty());
}

TEST(ReplyParser, ProtocolErrors) {
  EXPECT_EQ(reply_error("?what\r\n"), "Protocol error, got '?' as reply type byte");
  EXPECT_EQ(reply_error(":12a\r\n"), "Protocol error: invalid integer");
  EXPECT_EQ(reply_error(":\r\n"), "Protocol error: invalid integer");
  EXPECT_EQ(reply_error(":99999999999999999999\r\n"), "Protocol error: invalid integer");
  EXPECT_EQ(reply_error("$-2\r\n"), "Protocol error: invalid bulk length");
  EXPECT_EQ(reply_error("$x\r\n"), "Protocol error: invalid bulk length");
  EXPECT_EQ(reply_error("!-1\r\n"), "Protocol error: invalid bulk length");
  EXPECT_EQ(reply_error("$3\r\nfooXY"), "Protocol error: bulk string not terminated by CRLF");
  EXPECT_EQ(reply_error("$3\r\nfoo\n"), "Protocol error: bulk string not terminated by CRLF");
  EXPECT_EQ(reply_error("*-2\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(reply_error("%-1\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(reply_error("*1x\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(reply_error("#x\r\n"), "Protocol error: invalid boolean");
  EXPECT_EQ(reply_error(",1.5x\r\n"), "Protocol error: invalid double");
  EXPECT_EQ(reply_error(",\r\n"), "Protocol error: invalid double");
  EXPECT_EQ(reply_error("_x\r\n"), "Protocol error: invalid null");
  EXPECT_EQ(reply_error("(12a\r\n"), "Protocol error: invalid big number");
  EXPECT_EQ(reply_error("=3\r\ntxt\r\n"), "Protocol error: invalid verbatim string");
  EXPECT_EQ(reply_error("=5\r\ntxt-a\r\n"), "Protocol error: invalid verbatim string");
  EXPECT_EQ(reply_error("+OK\rX"), "Protocol error: line not terminated by CRLF");
}

TEST(ReplyParser, Limits) {
  Limits limits;
  limits.max_elements = 4;
  limits.max_bulk_bytes = 3;
  limits.max_inline_bytes = 8;
  EXPECT_EQ(feed_replies("%2\r\n:1\r\n:2\r\n:3\r\n:4\r\n", whole(), limits).values.size(), 1u);
  std::string pairs = reply_error("%3\r\n", limits);  // 3 pairs: 6 elements
  EXPECT_NE(pairs.find("max_elements"), std::string::npos) << pairs;
  std::string elements = reply_error("*5\r\n", limits);
  EXPECT_NE(elements.find("max_elements"), std::string::npos) << elements;
  std::string bulk = reply_error("$4\r\n", limits);
  EXPECT_NE(bulk.find("max_bulk_bytes"), std::string::npos) << bulk;
  EXPECT_EQ(feed_replies("+12345678\r\n", whole(), limits).values.size(), 1u);
  std::string line = reply_error("+123456789\r\n", limits);
  EXPECT_NE(line.find("max_inline_bytes"), std::string::npos) << line;
  EXPECT_EQ(feed_replies("+123456789", bytewise(), limits).error, line);
}

TEST(ReplyParser, NestingDepthLimit) {
  Limits limits;
  limits.max_depth = 3;
  EXPECT_EQ(feed_replies("*1\r\n*1\r\n*1\r\n:1\r\n", whole(), limits).values.size(), 1u);
  EXPECT_EQ(feed_replies("*1\r\n*1\r\n*0\r\n", whole(), limits).values.size(), 1u);
  std::string deep = reply_error("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", limits);
  EXPECT_NE(deep.find("max_depth"), std::string::npos) << deep;
  // An empty aggregate is still one level, and an attribute is one too.
  EXPECT_NE(reply_error("*1\r\n*1\r\n%1\r\n+k\r\n*0\r\n", limits).find("max_depth"),
            std::string::npos);
  EXPECT_EQ(reply_error("*1\r\n*1\r\n|1\r\n+a\r\n+b\r\n:1\r\n", limits), "");
  EXPECT_NE(reply_error("*1\r\n*1\r\n*1\r\n|1\r\n+a\r\n+b\r\n:1\r\n", limits).find("max_depth"),
            std::string::npos);

  // The default allows 32 levels, not 33.
  std::string ok, too_deep;
  for (int i = 0; i < 32; ++i) ok += "*1\r\n";
  too_deep = ok + "*1\r\n:1\r\n";
  ok += ":1\r\n";
  EXPECT_EQ(reply_error(ok), "");
  EXPECT_NE(reply_error(too_deep).find("max_depth"), std::string::npos);
}

TEST(ReplyParser, ErrorsStickUntilReset) {
  ReplyParser parser;
  Value v;
  size_t consumed = 0;
  ASSERT_EQ(parser.parse("*1\r\n?\r\n", &v, &consumed), Status::kError);
  EXPECT_EQ(parser.parse("+OK\r\n", &v, &consumed), Status::kError);
  EXPECT_EQ(consumed, 0u);
  parser.reset();
  ASSERT_EQ(parser.parse("+OK\r\n", &v, &consumed), Status::kValue);
  EXPECT_EQ(v.str, "OK");  // not an element of the abandoned array
}

TEST(ReplyParser, PartialBulkIsConsumedAsItArrives) {
  ReplyParser parser;
  Value v;
  size_t consumed = 0;
  ASSERT_EQ(parser.parse("$10\r\nhello", &v, &consumed), Status::kNeedMore);
  EXPECT_EQ(consumed, 10u);
  ASSERT_EQ(parser.parse("world\r", &v, &consumed), Status::kNeedMore);
  EXPECT_EQ(consumed, 5u);
  ASSERT_EQ(parser.parse("\r\n", &v, &consumed), Status::kValue);
  EXPECT_EQ(consumed, 2u);
  EXPECT_EQ(v.str, "helloworld");
}

TEST(ReplyParser, ByteAtATimeEqualsWhole) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<Value> values;
    std::string bytes;
    Writer w(&bytes, 3);
    for (int i = 0; i < 20; ++i) {
      values.push_back(testing::random_value(rng));
      if (rng() % 5 == 0) bytes += "|1\r\n+meta\r\n:1\r\n";  // attributes vanish
      testing::write_value(w, values.back());
    }
    for (const auto& chunker : {whole(), bytewise(), random_chunks(seed, 300)}) {
      auto fed = feed_replies(bytes, chunker);
      ASSERT_EQ(fed.error, "") << "seed " << seed;
      ASSERT_EQ(fed.values.size(), values.size()) << "seed " << seed;
      for (size_t i = 0; i < values.size(); ++i) {
        EXPECT_TRUE(same(fed.values[i], values[i])) << "seed " << seed << " reply " << i;
      }
      EXPECT_EQ(fed.leftover, 0u);
    }
  }
}

// See RequestParser.ByteAtATimeIsLinear.
TEST(ReplyParser, ByteAtATimeIsLinear) {
  Limits limits;
  limits.max_inline_bytes = 2 << 20;
  std::string line = "+" + std::string(2 << 20, 'x') + "\r\n";
  std::string bulk = "$" + std::to_string(2 << 20) + "\r\n" + std::string(2 << 20, 'y') + "\r\n";
  auto start = std::chrono::steady_clock::now();
  auto a = feed_replies(line, bytewise(), limits);
  ASSERT_EQ(a.values.size(), 1u);
  EXPECT_EQ(a.values[0].str.size(), 2u << 20);
  auto b = feed_replies(bulk, bytewise(), limits);
  ASSERT_EQ(b.values.size(), 1u);
  EXPECT_EQ(b.values[0].str.size(), 2u << 20);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace dkv::resp
