#include "resp/writer.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "resp_test_util.h"

namespace dkv::resp {
namespace {

using testing::degrade;
using testing::parse_one;
using testing::same;
using testing::write_value;

// What one call writes, in RESP2 and in RESP3.
template <typename F>
std::pair<std::string, std::string> both(F f) {
  std::string two, three;
  Writer w2(&two, 2), w3(&three, 3);
  f(w2);
  f(w3);
  return {two, three};
}

using Pair = std::pair<std::string, std::string>;

TEST(Writer, Protocol) {
  std::string out;
  EXPECT_EQ(Writer(&out, 2).protocol(), 2);
  EXPECT_EQ(Writer(&out, 3).protocol(), 3);
}

TEST(Writer, TypesSharedByBothProtocols) {
  EXPECT_EQ(both([](Writer& w) { w.ok(); }), Pair("+OK\r\n", "+OK\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.simple("PONG"); }), Pair("+PONG\r\n", "+PONG\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.integer(-42); }), Pair(":-42\r\n", ":-42\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.bulk("foo"); }), Pair("$3\r\nfoo\r\n", "$3\r\nfoo\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.bulk(""); }), Pair("$0\r\n\r\n", "$0\r\n\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.array(3); }), Pair("*3\r\n", "*3\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.raw("+x\r\n"); }), Pair("+x\r\n", "+x\r\n"));
}

TEST(Writer, Resp3TypesAndTheirResp2Forms) {
  EXPECT_EQ(both([](Writer& w) { w.null(); }), Pair("$-1\r\n", "_\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.null_array(); }), Pair("*-1\r\n", "_\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.map(2); }), Pair("*4\r\n", "%2\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.set(2); }), Pair("*2\r\n", "~2\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.push(3); }), Pair("*3\r\n", ">3\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.boolean(true); }), Pair(":1\r\n", "#t\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.boolean(false); }), Pair(":0\r\n", "#f\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.number(1.5); }), Pair("$3\r\n1.5\r\n", ",1.5\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.verbatim("txt", "Some string"); }),
            Pair("$11\r\nSome string\r\n", "=15\r\ntxt:Some string\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.verbatim("mkd", "# x"); }),
            Pair("$3\r\n# x\r\n", "=7\r\nmkd:# x\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.big_number("12345678901234567890"); }),
            Pair("$20\r\n12345678901234567890\r\n", "(12345678901234567890\r\n"));
}

TEST(Writer, Doubles) {
  EXPECT_EQ(both([](Writer& w) { w.number(INFINITY); }), Pair("$3\r\ninf\r\n", ",inf\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.number(-INFINITY); }), Pair("$4\r\n-inf\r\n", ",-inf\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.number(NAN); }), Pair("$3\r\nnan\r\n", ",nan\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.number(-NAN); }), Pair("$3\r\nnan\r\n", ",nan\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.number(0.1); }).second, ",0.10000000000000001\r\n");
  EXPECT_EQ(both([](Writer& w) { w.number(1e300); }).second, ",1.0000000000000001e+300\r\n");
  EXPECT_EQ(both([](Writer& w) { w.number(3); }).second, ",3\r\n");
  EXPECT_EQ(both([](Writer& w) { w.number(-2.5e-7); }).second, ",-2.4999999999999999e-07\r\n");
  // Same as printf("%.17g") for many values.
  std::mt19937_64 rng(5);
  for (int i = 0; i < 2000; ++i) {
    uint64_t bits = rng();
    double d;
    std::memcpy(&d, &bits, sizeof(d));
    std::string out;
    Writer(&out, 3).number(d);
    EXPECT_EQ(out, "," + testing::redis_double(d) + "\r\n");
  }
}

TEST(Writer, Integers) {
  const int64_t kValues[] = {0, 1, -1, 9, 10, -10, 99, 100, 123456789, INT64_MAX, INT64_MIN,
                             INT64_MIN + 1};
  for (int64_t n : kValues) {
    std::string out;
    Writer(&out, 3).integer(n);
    EXPECT_EQ(out, ":" + std::to_string(n) + "\r\n");
  }
  std::mt19937_64 rng(9);
  for (int i = 0; i < 1000; ++i) {
    int64_t n = static_cast<int64_t>(rng()) >> (rng() % 64);
    std::string out;
    Writer(&out, 2).integer(n);
    EXPECT_EQ(out, ":" + std::to_string(n) + "\r\n");
  }
}

TEST(Writer, Errors) {
  EXPECT_EQ(both([](Writer& w) { w.error("ERR", "unknown command"); }).first,
            "-ERR unknown command\r\n");
  EXPECT_EQ(both([](Writer& w) { w.error("CONFLICT", ""); }).second, "-CONFLICT\r\n");
  EXPECT_EQ(both([](Writer& w) { w.error("ERR", "bad\r\nkey\rx\ny"); }).second,
            "-ERR bad  key x y\r\n");
}

TEST(Writer, LineTypesCannotBreakTheStream) {
  std::string out;
  Writer w(&out, 3);
  w.simple("a\r\n:1");
  EXPECT_EQ(out, "+a  :1\r\n");
}

TEST(Writer, AppendsToWhatIsThere) {
  std::string out = "prefix";
  Writer w(&out, 3);
  w.array(2);
  w.bulk("a");
  w.integer(1);
  EXPECT_EQ(out, "prefix*2\r\n$1\r\na\r\n:1\r\n");
}

TEST(Writer, AppendRequest) {
  std::string out;
  append_request(&out, {"SET", "key", ""});
  EXPECT_EQ(out, "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$0\r\n\r\n");
  append_request(&out, {});
  EXPECT_EQ(out.substr(out.size() - 4), "*0\r\n");
}

// Writer then parser, for every type, in both protocols.
TEST(WriterRoundTrip, EveryType) {
  auto value = [](Type t) {
    Value v;
    v.type = t;
    return v;
  };
  std::vector<Value> values;
  Value v = value(Type::kSimpleString);
  v.str = "OK";
  values.push_back(v);
  v = value(Type::kError);
  v.str = "WRONGTYPE Operation against a key";
  values.push_back(v);
  v = value(Type::kError);
  v.str = "CONFLICT";
  values.push_back(v);
  v = value(Type::kInteger);
  v.integer = INT64_MIN;
  values.push_back(v);
  v = value(Type::kBulkString);
  v.str = std::string("bin\0\r\nary", 9);
  values.push_back(v);
  values.push_back(value(Type::kNull));
  v = value(Type::kDouble);
  v.number = -0.1;
  values.push_back(v);
  v.number = INFINITY;
  values.push_back(v);
  v = value(Type::kBoolean);
  v.integer = 1;
  values.push_back(v);
  v.integer = 0;
  values.push_back(v);
  v = value(Type::kVerbatim);
  v.str = "line 1\r\nline 2";
  values.push_back(v);
  v = value(Type::kBigNumber);
  v.str = "-123456789012345678901234567890";
  values.push_back(v);
  Value array = value(Type::kArray);
  array.elements = {values[0], values[3], values[5]};
  values.push_back(array);
  Value map = value(Type::kMap);
  map.elements = {values[0], array, values[4], values[6]};
  values.push_back(map);
  Value set = value(Type::kSet);
  set.elements = {values[4], values[8]};
  values.push_back(set);
  Value push = value(Type::kPush);
  push.elements = {values[0], map};
  values.push_back(push);
  values.push_back(value(Type::kArray));
  values.push_back(value(Type::kMap));

  for (const Value& original : values) {
    std::string three, two;
    Writer w3(&three, 3), w2(&two, 2);
    write_value(w3, original);
    write_value(w2, original);
    EXPECT_TRUE(same(parse_one(three), original)) << three;
    EXPECT_TRUE(same(parse_one(two), degrade(original))) << two;
  }
}

TEST(WriterRoundTrip, Resp2Degradations) {
  std::string out;
  Writer w(&out, 2);
  w.map(1);
  w.bulk("k");
  w.boolean(true);
  Value v = parse_one(out);
  EXPECT_EQ(v.type, Type::kArray);
  ASSERT_EQ(v.elements.size(), 2u);
  EXPECT_EQ(v.elements[1].type, Type::kInteger);
  ASSERT_NE(v.find("k"), nullptr);  // the flat form still finds keys
  EXPECT_EQ(v.find("k")->integer, 1);

  out.clear();
  w.null_array();
  EXPECT_TRUE(parse_one(out).is_null());
  out.clear();
  w.number(2.5);
  v = parse_one(out);
  EXPECT_EQ(v.type, Type::kBulkString);
  EXPECT_EQ(v.str, "2.5");
}

TEST(WriterRoundTrip, RandomValues) {
  for (uint64_t seed = 100; seed < 300; ++seed) {
    std::mt19937_64 rng(seed);
    Value original = testing::random_value(rng);
    std::string three, two;
    Writer w3(&three, 3), w2(&two, 2);
    write_value(w3, original);
    write_value(w2, original);
    EXPECT_TRUE(same(parse_one(three), original)) << "seed " << seed;
    EXPECT_TRUE(same(parse_one(two), degrade(original))) << "seed " << seed;
  }
}

}  // namespace
}  // namespace dkv::resp
