#include "resp/value.h"

#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "resp_test_util.h"

namespace dkv::resp {
namespace {

using testing::parse_one;

TEST(Value, ErrorCodeAndMessage) {
  Value v = parse_one("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
  EXPECT_TRUE(v.is_error());
  EXPECT_EQ(v.error_code(), "WRONGTYPE");
  EXPECT_EQ(v.error_message(), "Operation against a key holding the wrong kind of value");
  v = parse_one("-CONFLICT\r\n");
  EXPECT_EQ(v.error_code(), "CONFLICT");
  EXPECT_EQ(v.error_message(), "");
  v = parse_one("-ERR  two spaces\r\n");  // split at the first space only
  EXPECT_EQ(v.error_code(), "ERR");
  EXPECT_EQ(v.error_message(), " two spaces");
}

TEST(Value, FindInMapsAndFlatArrays) {
  Value map = parse_one("%2\r\n+version\r\n:7\r\n$5\r\nvalue\r\n$3\r\nabc\r\n");
  ASSERT_NE(map.find("version"), nullptr);
  EXPECT_EQ(map.find("version")->integer, 7);
  ASSERT_NE(map.find("value"), nullptr);
  EXPECT_EQ(map.find("value")->str, "abc");
  EXPECT_EQ(map.find("abc"), nullptr);  // values are not keys
  EXPECT_EQ(map.find("missing"), nullptr);

  Value flat = parse_one("*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nb\r\n$1\r\nc\r\n");
  ASSERT_NE(flat.find("b"), nullptr);
  EXPECT_EQ(flat.find("b")->str, "c");
  EXPECT_EQ(flat.find("c"), nullptr);

  // Odd-length arrays: the last key has no value.
  EXPECT_EQ(parse_one("*1\r\n$1\r\na\r\n").find("a"), nullptr);
  // Not a map: nothing to find.
  EXPECT_EQ(parse_one("~2\r\n+a\r\n+b\r\n").find("a"), nullptr);
  EXPECT_EQ(parse_one("+a\r\n").find("a"), nullptr);
  // A non-string key never matches, even the empty key.
  EXPECT_EQ(parse_one("%1\r\n:1\r\n+x\r\n").find(""), nullptr);
}

TEST(Value, DebugStringScalars) {
  EXPECT_EQ(parse_one("+OK\r\n").debug_string(), "OK");
  EXPECT_EQ(parse_one("-ERR bad\r\n").debug_string(), "(error) ERR bad");
  EXPECT_EQ(parse_one(":5\r\n").debug_string(), "(integer) 5");
  EXPECT_EQ(parse_one("$3\r\nfoo\r\n").debug_string(), "\"foo\"");
  EXPECT_EQ(parse_one(std::string("$6\r\na\"\n\\\x01\xff\r\n", 12)).debug_string(),
            "\"a\\\"\\n\\\\\\x01\\xff\"");
  EXPECT_EQ(parse_one("_\r\n").debug_string(), "(nil)");
  EXPECT_EQ(parse_one("$-1\r\n").debug_string(), "(nil)");
  EXPECT_EQ(parse_one("#t\r\n").debug_string(), "(true)");
  EXPECT_EQ(parse_one("#f\r\n").debug_string(), "(false)");
  EXPECT_EQ(parse_one(",1.5\r\n").debug_string(), "(double) 1.5");
  EXPECT_EQ(parse_one(",-inf\r\n").debug_string(), "(double) -inf");
  EXPECT_EQ(parse_one(",nan\r\n").debug_string(), "(double) nan");
  EXPECT_EQ(parse_one("(123\r\n").debug_string(), "(big number) 123");
  EXPECT_EQ(parse_one("=8\r\ntxt:text\r\n").debug_string(), "text");
}

TEST(Value, DebugStringAggregates) {
  EXPECT_EQ(parse_one("*0\r\n").debug_string(), "(empty array)");
  EXPECT_EQ(parse_one("%0\r\n").debug_string(), "(empty hash)");
  EXPECT_EQ(parse_one("~0\r\n").debug_string(), "(empty set)");
  EXPECT_EQ(parse_one("*3\r\n$1\r\na\r\n:1\r\n*2\r\n$1\r\nb\r\n_\r\n").debug_string(),
            "1) \"a\"\n"
            "2) (integer) 1\n"
            "3) 1) \"b\"\n"
            "   2) (nil)");
  EXPECT_EQ(parse_one("%2\r\n$1\r\nk\r\n$1\r\nv\r\n$1\r\nn\r\n:2\r\n").debug_string(),
            "1# \"k\" => \"v\"\n"
            "2# \"n\" => (integer) 2");
  EXPECT_EQ(parse_one("~2\r\n+a\r\n+b\r\n").debug_string(), "1~ a\n2~ b");
  EXPECT_EQ(parse_one(">2\r\n+message\r\n+hi\r\n").debug_string(), "1) message\n2) hi");

  std::string ten = "*10\r\n";
  for (int i = 0; i < 10; ++i) ten += ":" + std::to_string(i) + "\r\n";
  std::string s = parse_one(ten).debug_string();
  EXPECT_EQ(s.substr(0, s.find('\n')), " 1) (integer) 0");  // indexes are right-aligned
  EXPECT_EQ(s.substr(s.rfind('\n') + 1), "10) (integer) 9");
}

}  // namespace
}  // namespace dkv::resp
