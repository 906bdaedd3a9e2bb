#include <chrono>
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
using testing::feed_requests;
using testing::random_chunks;
using testing::request_error;
using testing::whole;
using Args = std::vector<std::string>;
using Status = RequestParser::Status;

std::string encode(const std::vector<std::string_view>& args) {
  std::string out;
  append_request(&out, args);
  return out;
}

TEST(RequestParser, OneRequest) {
  RequestParser parser;
  std::string in = "*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n";
  Args args;
  size_t consumed = 0;
  ASSERT_EQ(parser.parse(in, &args, &consumed), Status::kRequest);
  EXPECT_EQ(args, (Args{"GET", "foo"}));
  EXPECT_EQ(consumed, in.size());
}

TEST(RequestParser, ArgumentsAreBinarySafeCopies) {
  std::string payload("a\r\nb\0c$*", 8);
  std::string in = encode({"SET", payload, ""});
  RequestParser parser;
  Args args;
  size_t consumed = 0;
  ASSERT_EQ(parser.parse(in, &args, &consumed), Status::kRequest);
  in.assign(in.size(), 'x');  // the caller's buffer changes; the arguments must not
  EXPECT_EQ(args, (Args{"SET", payload, ""}));
}

TEST(RequestParser, PipelinedRequestsComeOneAtATime) {
  std::string first = encode({"SET", "k", "v"});
  std::string second = "PING\r\n";
  std::string third = encode({"GET", "k"});
  std::string in = first + second + third;
  RequestParser parser;
  Args args;
  size_t consumed = 0;
  std::string_view rest = in;

  ASSERT_EQ(parser.parse(rest, &args, &consumed), Status::kRequest);
  EXPECT_EQ(args, (Args{"SET", "k", "v"}));
  EXPECT_EQ(consumed, first.size());
  rest.remove_prefix(consumed);

  ASSERT_EQ(parser.parse(rest, &args, &consumed), Status::kRequest);
  EXPECT_EQ(args, (Args{"PING"}));
  EXPECT_EQ(consumed, second.size());
  rest.remove_prefix(consumed);

  ASSERT_EQ(parser.parse(rest, &args, &consumed), Status::kRequest);
  EXPECT_EQ(args, (Args{"GET", "k"}));
  EXPECT_EQ(consumed, third.size());
  rest.remove_prefix(consumed);

  EXPECT_EQ(parser.parse(rest, &args, &consumed), Status::kNeedMore);
  EXPECT_EQ(consumed, 0u);
}

TEST(RequestParser, EmptyAndNullArraysAreSkipped) {
  RequestParser parser;
  Args args;
  size_t consumed = 0;
  EXPECT_EQ(parser.parse("*0\r\n", &args, &consumed), Status::kNeedMore);
  EXPECT_EQ(consumed, 4u);  // gone, not a request

  std::string in = "*-1\r\n*0\r\n*1\r\n$4\r\nPING\r\n";
  ASSERT_EQ(parser.parse(in, &args, &consumed), Status::kRequest);
  EXPECT_EQ(args, (Args{"PING"}));
  EXPECT_EQ(consumed, in.size());
}

TEST(RequestParser, CompleteArgumentsAreConsumedBeforeTheRequestIs) {
  RequestParser parser;
  Args args;
  size_t consumed = 0;
  std::string head = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n";
  ASSERT_EQ(parser.parse(head + "$5\r\nva", &args, &consumed), Status::kNeedMore);
  // Everything so far is in the parser: the connection keeps no bytes of a finished argument.
  EXPECT_EQ(consumed, head.size() + 6);
  ASSERT_EQ(parser.parse("lue", &args, &consumed), Status::kNeedMore);
  EXPECT_EQ(consumed, 3u);
  ASSERT_EQ(parser.parse("\r", &args, &consumed), Status::kNeedMore);
  EXPECT_EQ(consumed, 0u);  // half a CRLF stays with the caller
  ASSERT_EQ(parser.parse("\r\n", &args, &consumed), Status::kRequest);
  EXPECT_EQ(consumed, 2u);
  EXPECT_EQ(args, (Args{"SET", "k", "value"}));
}

TEST(RequestParser, UnfinishedHeaderLinesAreNotConsumed) {
  RequestParser parser;
  Args args;
  size_t consumed = 0;
  EXPECT_EQ(parser.parse("*1", &args, &consumed), Status::kNeedMore);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(parser.parse("*1\r", &args, &consumed), Status::kNeedMore);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(parser.parse("*1\r\n$1", &args, &consumed), Status::kNeedMore);
  EXPECT_EQ(consumed, 4u);
  ASSERT_EQ(parser.parse("$1\r\nx\r\n", &args, &consumed), Status::kRequest);
  EXPECT_EQ(args, (Args{"x"}));
}

TEST(RequestParser, InlineCommands) {
  EXPECT_EQ(feed_requests("PING\r\n", whole()).requests, (std::vector<Args>{{"PING"}}));
  EXPECT_EQ(feed_requests("PING\n", whole()).requests, (std::vector<Args>{{"PING"}}));
  EXPECT_EQ(feed_requests("  SET\tkey   value  \r\n", whole()).requests,
            (std::vector<Args>{{"SET", "key", "value"}}));
  // Not yet a line: nothing to do.
  auto partial = feed_requests("GET ke", whole());
  EXPECT_TRUE(partial.requests.empty());
  EXPECT_EQ(partial.leftover, 6u);
}

TEST(RequestParser, InlineQuotes) {
  auto split = [](std::string line) {
    auto fed = feed_requests(line + "\r\n", whole());
    EXPECT_EQ(fed.error, "") << line;
    return fed.requests.size() == 1 ? fed.requests[0] : Args{"<no request>"};
  };
  EXPECT_EQ(split(R"(SET "hello world" 'it\'s')"), (Args{"SET", "hello world", "it's"}));
  EXPECT_EQ(split(R"(X "\n\r\t\b\a\\\"\q")"), (Args{"X", "\n\r\t\b\a\\\"q"}));
  EXPECT_EQ(split(R"(X "\x41\x7a\x00" "\xZZ")"), (Args{"X", std::string("Az\0", 3), "xZZ"}));
  EXPECT_EQ(split(R"(X 'a\nb' 'back\slash')"), (Args{"X", "a\\nb", "back\\slash"}));
  EXPECT_EQ(split(R"(X "" '')"), (Args{"X", "", ""}));
  // A quote inside a word starts a quoted part of the same argument, as in sdssplitargs.
  EXPECT_EQ(split(R"(X foo"bar baz")"), (Args{"X", "foobar baz"}));
  // Whitespace other than space, tab, CR, LF separates arguments only between them.
  EXPECT_EQ(split("X \va\fb"), (Args{"X", "a\fb"}));
}

TEST(RequestParser, EmptyInlineLinesAreSkipped) {
  auto fed = feed_requests("\r\n\n   \r\n\t\nPING\r\n", whole());
  EXPECT_EQ(fed.error, "");
  EXPECT_EQ(fed.requests, (std::vector<Args>{{"PING"}}));
  EXPECT_EQ(fed.leftover, 0u);
}

TEST(RequestParser, UnbalancedQuotes) {
  const char* kBad[] = {"SET \"abc\r\n", "SET 'abc\r\n", "SET \"a\"b\r\n", "SET 'a'b\r\n",
                        "SET \"abc\\\"\r\n", "SET 'abc\\'\r\n"};
  for (const char* line : kBad) {
    EXPECT_EQ(request_error(line), "Protocol error: unbalanced quotes in request") << line;
  }
}

TEST(RequestParser, ProtocolErrors) {
  EXPECT_EQ(request_error("*abc\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(request_error("*01\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(request_error("*+1\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(request_error("*3000000000\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(request_error("*99999999999999999999999\r\n"),
            "Protocol error: invalid multibulk length");
  EXPECT_EQ(request_error("*1\rx"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(request_error("*1\r\n$x\r\n"), "Protocol error: invalid bulk length");
  EXPECT_EQ(request_error("*1\r\n$-1\r\n"), "Protocol error: invalid bulk length");
  EXPECT_EQ(request_error("*1\r\n$\r\n"), "Protocol error: invalid bulk length");
  EXPECT_EQ(request_error("*1\r\n$1\rx"), "Protocol error: invalid bulk length");
  EXPECT_EQ(request_error("*1\r\n:1\r\n"), "Protocol error: expected '$', got ':'");
  EXPECT_EQ(request_error("*2\r\n$1\r\na\r\nfoo"), "Protocol error: expected '$', got 'f'");
  EXPECT_EQ(request_error("*1\r\n$3\r\nfooXY"), "Protocol error: bulk string not terminated by CRLF");
  EXPECT_EQ(request_error("*1\r\n$3\r\nfoo\rX"), "Protocol error: bulk string not terminated by CRLF");
  EXPECT_EQ(request_error("*1\r\n$3\r\nfoo\n"), "Protocol error: bulk string not terminated by CRLF");
}

TEST(RequestParser, TooLongLines) {
  Limits limits;
  limits.max_inline_bytes = 16;
  std::string word(16, 'a');
  // Exactly at the limit is fine, with either line ending.
  EXPECT_EQ(feed_requests(word + "\r\n", whole(), limits).requests, (std::vector<Args>{{word}}));
  EXPECT_EQ(feed_requests(word + "\n", whole(), limits).requests, (std::vector<Args>{{word}}));
  // One more is not, whether the line end has arrived or not.
  EXPECT_EQ(request_error(word + "a\r\n", limits), "Protocol error: too big inline request");
  EXPECT_EQ(request_error(word + "aa", limits), "Protocol error: too big inline request");
  EXPECT_EQ(request_error("*" + std::string(20, '1'), limits),
            "Protocol error: too big mbulk count string");
  EXPECT_EQ(request_error("*1\r\n$" + std::string(20, '1'), limits),
            "Protocol error: too big bulk count string");
  // The same failures a byte at a time.
  EXPECT_EQ(feed_requests(word + "aa", bytewise(), limits).error,
            "Protocol error: too big inline request");
  EXPECT_EQ(feed_requests("*1\r\n$" + std::string(20, '1'), bytewise(), limits).error,
            "Protocol error: too big bulk count string");
}

TEST(RequestParser, Limits) {
  Limits limits;
  limits.max_elements = 3;
  limits.max_bulk_bytes = 5;
  EXPECT_EQ(feed_requests(encode({"a", "b", "c"}), whole(), limits).requests.size(), 1u);
  EXPECT_EQ(feed_requests(encode({"12345"}), whole(), limits).requests.size(), 1u);
  std::string elements = request_error(encode({"a", "b", "c", "d"}), limits);
  EXPECT_NE(elements.find("Protocol error: invalid multibulk length"), std::string::npos);
  EXPECT_NE(elements.find("max_elements"), std::string::npos) << elements;
  std::string bulk = request_error(encode({"123456"}), limits);
  EXPECT_NE(bulk.find("Protocol error: invalid bulk length"), std::string::npos);
  EXPECT_NE(bulk.find("max_bulk_bytes"), std::string::npos) << bulk;
}

TEST(RequestParser, ErrorsStickUntilReset) {
  RequestParser parser;
  Args args;
  size_t consumed = 0;
  ASSERT_EQ(parser.parse("*x\r\n", &args, &consumed), Status::kError);
  std::string ping = encode({"PING"});
  EXPECT_EQ(parser.parse(ping, &args, &consumed), Status::kError);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(parser.error(), "Protocol error: invalid multibulk length");
  parser.reset();
  EXPECT_EQ(parser.error(), "");
  ASSERT_EQ(parser.parse(ping, &args, &consumed), Status::kRequest);
  EXPECT_EQ(args, (Args{"PING"}));
}

TEST(RequestParser, ResetDropsAHalfReadRequest) {
  RequestParser parser;
  Args args;
  size_t consumed = 0;
  ASSERT_EQ(parser.parse("*2\r\n$3\r\nGET\r\n$10\r\nabc", &args, &consumed), Status::kNeedMore);
  parser.reset();
  ASSERT_EQ(parser.parse("PING\r\n", &args, &consumed), Status::kRequest);
  EXPECT_EQ(args, (Args{"PING"}));
}

// How an inline command can carry any argument: double quotes with escapes.
std::string quote(const std::string& arg) {
  std::string out = "\"";
  for (char c : arg) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out.push_back(c);
        } else {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned char>(c));
          out += buf;
        }
    }
  }
  return out + "\"";
}

// Random requests in every form, the bytes of all of them, and what they should parse to.
struct Script {
  std::string bytes;
  std::vector<Args> expected;
};

Script random_script(uint64_t seed, int count) {
  std::mt19937_64 rng(seed);
  Script s;
  for (int i = 0; i < count; ++i) {
    switch (rng() % 6) {
      case 0: {  // inline: a command word, then plain, quoted and single-quoted arguments
        Args args{testing::random_word(rng, 1, 8)};
        std::string line = args[0];
        for (size_t n = rng() % 4; n > 0; --n) {
          std::string sep = rng() % 2 ? " " : " \t ";
          if (rng() % 2) {
            args.push_back(testing::random_word(rng, 1, 10));
            line += sep + args.back();
          } else if (rng() % 2) {
            args.push_back(testing::random_bytes(rng, rng() % 20));
            line += sep + quote(args.back());
          } else {
            args.push_back(testing::random_word(rng, 0, 10) + "'" + testing::random_word(rng, 0, 3));
            std::string quoted;
            for (char c : args.back()) quoted += c == '\'' ? std::string("\\'") : std::string(1, c);
            line += sep + "'" + quoted + "'";
          }
        }
        s.bytes += line + (rng() % 2 ? "\r\n" : "\n");
        s.expected.push_back(args);
        break;
      }
      case 1:  // noise Redis ignores
        s.bytes += rng() % 2 ? "*0\r\n" : "\r\n";
        break;
      default: {
        Args args;
        for (size_t n = 1 + rng() % 6; n > 0; --n) {
          args.push_back(testing::random_bytes(rng, testing::random_length(rng)));
        }
        std::vector<std::string_view> views(args.begin(), args.end());
        append_request(&s.bytes, views);
        s.expected.push_back(args);
        break;
      }
    }
  }
  return s;
}

TEST(RequestParser, ByteAtATimeEqualsWhole) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Script s = random_script(seed, 60);
    auto at_once = feed_requests(s.bytes, whole());
    ASSERT_EQ(at_once.error, "") << "seed " << seed;
    ASSERT_EQ(at_once.requests, s.expected) << "seed " << seed;
    EXPECT_EQ(at_once.leftover, 0u);

    auto bytes = feed_requests(s.bytes, bytewise());
    ASSERT_EQ(bytes.error, "") << "seed " << seed;
    EXPECT_EQ(bytes.requests, s.expected) << "seed " << seed;
    EXPECT_EQ(bytes.leftover, 0u);

    auto chunks = feed_requests(s.bytes, random_chunks(seed, 700));
    ASSERT_EQ(chunks.error, "") << "seed " << seed;
    EXPECT_EQ(chunks.requests, s.expected) << "seed " << seed;
  }
}

TEST(RequestParser, ErrorsAreTheSameFedAByteAtATime) {
  const std::string kBad[] = {"*1\r\n$3\r\nfooXY", "*1\r\n:1\r\n", "*1\r\n$-5\r\n", "*x\r\n",
                              "SET \"a\r\n"};
  for (const std::string& in : kBad) {
    std::string prefixed = encode({"PING"}) + in;
    auto at_once = feed_requests(prefixed, whole());
    auto bytes = feed_requests(prefixed, bytewise());
    EXPECT_NE(at_once.error, "") << in;
    EXPECT_EQ(bytes.error, at_once.error) << in;
    EXPECT_EQ(bytes.requests.size(), 1u) << in;
  }
}

// A big argument streamed in pieces never piles up in the connection's buffer.
TEST(RequestParser, BigArgumentIsAbsorbedAsItArrives) {
  std::mt19937_64 rng(7);
  std::string big = testing::random_bytes(rng, 1 << 20);
  std::string in = encode({"SET", "k", big});
  auto fed = feed_requests(in, random_chunks(3, 4096));
  ASSERT_EQ(fed.requests.size(), 1u);
  EXPECT_EQ(fed.requests[0][2], big);
  EXPECT_LE(fed.max_buffer, 4096u + 64);
}

// Linear work: a long line or a big bulk arriving a byte at a time must not be rescanned on
// every call. Rescanning these 2 MB lines from their start on every byte takes about half a minute;
// linear work takes a small fraction of a second.
TEST(RequestParser, ByteAtATimeIsLinear) {
  Limits limits;
  limits.max_inline_bytes = 2 << 20;
  std::string line = "ECHO " + std::string((2 << 20) - 10, 'x') + "\r\n";
  std::string header = "*1\r\n$" + std::string((2 << 20) - 10, '0') + "\r\n";  // leading zeros
  auto start = std::chrono::steady_clock::now();
  auto fed = feed_requests(line, bytewise(), limits);
  ASSERT_EQ(fed.requests.size(), 1u);
  EXPECT_EQ(fed.requests[0][1].size(), line.size() - 7);
  auto bad = feed_requests(header, bytewise(), limits);
  EXPECT_EQ(bad.error, "Protocol error: invalid bulk length");
  std::string bulk = encode({std::string(2 << 20, 'y')});
  auto big = feed_requests(bulk, bytewise(), limits);
  ASSERT_EQ(big.requests.size(), 1u);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

}  // namespace
}  // namespace dkv::resp
