// DKV's namespaced commands over a real dkv-server, checked against docs/protocol.md section 3
// (syntax, reply shapes in RESP2 and RESP3, error codes and messages). Watches: watch_test.cc.
#include <map>
#include <string>
#include <vector>

#include "dkv_test_util.h"

namespace dkv::testing {
namespace {

using Args = std::vector<std::string>;

class KvTest : public SharedServerTest {};

const std::vector<std::string> kKeyValueFields = {
    "key",           "value",         "version", "create_revision", "mod_revision", "created_at_ms", "updated_at_ms",
    "expires_at_ms", "ttl_ms",        "lease",   "entity",          "content_type", "labels"};

// --- KV.PUT / KV.GET --------------------------------------------------------------------------

TEST_F(KvTest, PutRepliesVersionAndRevisionMapInBothProtocols) {
  RespConnection c2(port());
  Value r = c2.command({"KV.PUT", "put:shape", "a"});
  ASSERT_EQ(r.type, Type::kArray) << r.debug_string();
  EXPECT_EQ(map_keys(r), (std::vector<std::string>{"version", "revision"}));
  EXPECT_EQ(int_field(r, "version"), 1);
  const int64_t rev = int_field(r, "revision");
  EXPECT_GT(rev, 0);

  auto c3 = resp3(port());
  Value r3 = c3->command({"kv.put", "put:shape", "b"});  // command names are case-insensitive
  ASSERT_EQ(r3.type, Type::kMap) << r3.debug_string();
  EXPECT_EQ(int_field(r3, "version"), 2);
  EXPECT_EQ(int_field(r3, "revision"), rev + 1);

  // Exact bytes (protocol.md 3.1): RESP2 flat array, RESP3 map.
  const std::string v3 = std::to_string(rev + 2);
  EXPECT_EQ(raw_reply(port(), encode({"KV.PUT", "put:shape", "c"})),
            "*4\r\n$7\r\nversion\r\n:3\r\n$8\r\nrevision\r\n:" + v3 + "\r\n");
  const std::string hello_then_put = encode({"HELLO", "3"}) + encode({"KV.PUT", "put:shape", "d"});
  EXPECT_EQ(raw_reply(port(), hello_then_put, 2),
            "%2\r\n$7\r\nversion\r\n:4\r\n$8\r\nrevision\r\n:" + std::to_string(rev + 3) + "\r\n");
}

TEST_F(KvTest, GetReturnsTheThirteenFieldKeyValueMap) {
  auto c = resp3(port());
  Value put = c->command({"KV.PUT", "get:full", "alice", "ENTITY", "user", "CONTENTTYPE", "text/plain", "LABELS", "2",
                          "role", "admin", "age", "42"});
  ASSERT_EQ(put.type, Type::kMap) << put.debug_string();
  const int64_t rev = int_field(put, "revision");
  Value kv = c->command({"KV.GET", "get:full"});
  ASSERT_EQ(kv.type, Type::kMap) << kv.debug_string();
  EXPECT_EQ(map_keys(kv), kKeyValueFields);
  EXPECT_EQ(str_field(kv, "key"), "get:full");
  EXPECT_EQ(str_field(kv, "value"), "alice");
  EXPECT_EQ(int_field(kv, "version"), 1);
  EXPECT_EQ(int_field(kv, "create_revision"), rev);
  EXPECT_EQ(int_field(kv, "mod_revision"), rev);
  EXPECT_GT(int_field(kv, "created_at_ms"), 1'600'000'000'000);
  EXPECT_EQ(int_field(kv, "updated_at_ms"), int_field(kv, "created_at_ms"));
  EXPECT_EQ(int_field(kv, "expires_at_ms"), 0);
  EXPECT_EQ(int_field(kv, "ttl_ms"), -1);
  EXPECT_EQ(int_field(kv, "lease"), 0);
  EXPECT_EQ(str_field(kv, "entity"), "user");
  EXPECT_EQ(str_field(kv, "content_type"), "text/plain");
  const Value& labels = field(kv, "labels");
  ASSERT_EQ(labels.type, Type::kMap);
  // Ascending by name.
  ASSERT_EQ(labels.elements.size(), 4u);
  EXPECT_EQ(labels.elements[0].str, "age");
  EXPECT_EQ(labels.elements[1].str, "42");
  EXPECT_EQ(labels.elements[2].str, "role");
  EXPECT_EQ(labels.elements[3].str, "admin");

  // RESP2: a flat array of 26, labels a flat array.
  RespConnection c2(port());
  Value kv2 = c2.command({"KV.GET", "get:full"});
  ASSERT_EQ(kv2.type, Type::kArray);
  EXPECT_EQ(kv2.elements.size(), 26u);
  EXPECT_EQ(map_keys(kv2), kKeyValueFields);
  EXPECT_EQ(field(kv2, "labels").type, Type::kArray);
  EXPECT_EQ(field(kv2, "labels").elements.size(), 4u);

  // A write replaces the whole key: options not given go back to their defaults.
  ASSERT_EQ(int_field(c->command({"KV.PUT", "get:full", "bob"}), "version"), 2);
  Value after = c->command({"KV.GET", "get:full"});
  EXPECT_EQ(str_field(after, "value"), "bob");
  EXPECT_EQ(str_field(after, "entity"), "");
  EXPECT_EQ(str_field(after, "content_type"), "");
  EXPECT_EQ(field(after, "labels").elements.size(), 0u);
  EXPECT_EQ(int_field(after, "create_revision"), rev);
  EXPECT_GT(int_field(after, "mod_revision"), rev);
}

TEST_F(KvTest, GetOfAnAbsentKeyIsNullOfTheMapKind) {
  auto c = resp3(port());
  EXPECT_TRUE(c->command({"KV.GET", "get:absent"}).is_null());
  // RESP2 null for a map-shaped reply is *-1, RESP3 _.
  EXPECT_EQ(raw_reply(port(), encode({"KV.GET", "get:absent"})), "*-1\r\n");
  EXPECT_EQ(raw_reply(port(), encode({"HELLO", "3"}) + encode({"KV.GET", "get:absent"}), 2), "_\r\n");
}

TEST_F(KvTest, PutWithEmptyKeyAndGetWithEmptyKeyAreErrors) {
  RespConnection c(port());
  EXPECT_EQ(error_of(c.command({"KV.PUT", "", "v"})), "ERR key must not be empty");
  EXPECT_EQ(error_of(c.command({"KV.GET", ""})), "ERR key must not be empty");
  EXPECT_EQ(error_of(c.command({"KV.DEL", ""})), "ERR key must not be empty");
}

TEST_F(KvTest, IfAbsentAndIfMatchConditions) {
  auto c = resp3(port());
  EXPECT_EQ(int_field(c->command({"KV.PUT", "cond:a", "1", "IFABSENT"}), "version"), 1);
  EXPECT_EQ(code_of(c->command({"KV.PUT", "cond:a", "2", "IFABSENT"})), "CONFLICT");
  EXPECT_EQ(code_of(c->command({"KV.PUT", "cond:a", "2", "IFMATCH", "7"})), "CONFLICT");
  EXPECT_EQ(int_field(c->command({"KV.PUT", "cond:a", "2", "ifmatch", "1"}), "version"), 2);
  // IFMATCH 0 = IFABSENT.
  EXPECT_EQ(code_of(c->command({"KV.PUT", "cond:a", "3", "IFMATCH", "0"})), "CONFLICT");
  EXPECT_EQ(int_field(c->command({"KV.PUT", "cond:b", "1", "IFMATCH", "0"}), "version"), 1);
  EXPECT_EQ(str_field(c->command({"KV.GET", "cond:a"}), "value"), "2");
  // Exclusive with each other.
  EXPECT_EQ(code_of(c->command({"KV.PUT", "cond:c", "1", "IFABSENT", "IFMATCH", "0"})), "ERR");
}

TEST_F(KvTest, PutOptionErrorsAreSyntaxErrors) {
  RespConnection c(port());
  const std::vector<Args> bad = {
      {"KV.PUT", "opt:k", "v", "BOGUS"},
      {"KV.PUT", "opt:k", "v", "TTL"},
      {"KV.PUT", "opt:k", "v", "TTL", "10", "TTL", "10"},
      {"KV.PUT", "opt:k", "v", "IFABSENT", "IFABSENT"},
      {"KV.PUT", "opt:k", "v", "FENCE", "lock"},
      {"KV.PUT", "opt:k", "v", "ENTITY"},
      {"KV.PUT", "opt:k", "v", "ENTITY", "a", "ENTITY", "b"},
      {"KV.PUT", "opt:k", "v", "CONTENTTYPE"},
      {"KV.PUT", "opt:k", "v", "LABELS", "2", "a", "1"},
      {"KV.PUT", "opt:k", "v", "LABELS", "1", "a", "1", "extra"},
      {"KV.PUT", "opt:k", "v", "LABELS", "2", "a", "1", "a", "2"},
      {"KV.PUT", "opt:k", "v", "LABELS", "-1"},
      {"KV.PUT", "opt:k", "v", "LABELS"},
  };
  for (const Args& a : bad) {
    EXPECT_EQ(error_of(c.command(a)), "ERR syntax error") << a.back();
  }
  const std::vector<Args> not_int = {
      {"KV.PUT", "opt:k", "v", "TTL", "ten"},    {"KV.PUT", "opt:k", "v", "TTL", "+5"},
      {"KV.PUT", "opt:k", "v", "TTL", "007"},    {"KV.PUT", "opt:k", "v", "LEASE", "x"},
      {"KV.PUT", "opt:k", "v", "IFMATCH", "1.5"}, {"KV.PUT", "opt:k", "v", "FENCE", "l", "tok"},
      {"KV.PUT", "opt:k", "v", "LABELS", "one", "a", "b"},
      {"KV.PUT", "opt:k", "v", "TTL", "99999999999999999999"},
  };
  for (const Args& a : not_int) {
    EXPECT_EQ(error_of(c.command(a)), "ERR value is not an integer or out of range") << a.back();
  }
  EXPECT_EQ(code_of(c.command({"KV.PUT", "opt:k", "v", "TTL", "-1"})), "ERR");
  EXPECT_EQ(code_of(c.command({"KV.PUT", "opt:k", "v", "LEASE", "-1"})), "ERR");
  // Nothing of the above was written.
  EXPECT_TRUE(c.command({"KV.GET", "opt:k"}).is_null());
  // LABELS 0 is fine; options in any order, any case.
  Value ok = c.command({"KV.PUT", "opt:k", "v", "labels", "0", "Entity", "e", "ttl", "0"});
  EXPECT_EQ(int_field(ok, "version"), 1) << ok.debug_string();
}

TEST_F(KvTest, TtlKeyShowsItsDeadline) {
  auto c = resp3(port());
  ASSERT_EQ(c->command({"KV.PUT", "ttl:k", "v", "TTL", "600000"}).type, Type::kMap);
  Value kv = c->command({"KV.GET", "ttl:k"});
  const int64_t expires = int_field(kv, "expires_at_ms");
  EXPECT_EQ(expires, int_field(kv, "updated_at_ms") + 600000);
  EXPECT_GT(int_field(kv, "ttl_ms"), 500000);
  EXPECT_LE(int_field(kv, "ttl_ms"), 600000);
  // TTL 0 = none.
  ASSERT_EQ(c->command({"KV.PUT", "ttl:k", "v", "TTL", "0"}).type, Type::kMap);
  EXPECT_EQ(int_field(c->command({"KV.GET", "ttl:k"}), "ttl_ms"), -1);
}

TEST_F(KvTest, LeaseOptionAttachesTheKey) {
  auto c = resp3(port());
  Value lease = c->command({"LEASE.GRANT", "600000"});
  ASSERT_EQ(lease.type, Type::kInteger) << lease.debug_string();
  const std::string id = std::to_string(lease.integer);
  ASSERT_EQ(c->command({"KV.PUT", "lease:k", "v", "LEASE", id}).type, Type::kMap);
  Value kv = c->command({"KV.GET", "lease:k"});
  EXPECT_EQ(int_field(kv, "lease"), lease.integer);
  EXPECT_EQ(int_field(kv, "expires_at_ms"), 0);
  EXPECT_EQ(int_field(kv, "ttl_ms"), -1);
  // Exclusive with TTL > 0 (ERR); TTL 0 is fine.
  EXPECT_EQ(code_of(c->command({"KV.PUT", "lease:k", "v", "LEASE", id, "TTL", "1000"})), "ERR");
  EXPECT_EQ(c->command({"KV.PUT", "lease:k", "v", "LEASE", id, "TTL", "0"}).type, Type::kMap);
  // An unknown lease.
  EXPECT_EQ(code_of(c->command({"KV.PUT", "lease:k", "v", "LEASE", "987654"})), "NOLEASE");
  // LEASE 0 = none.
  ASSERT_EQ(c->command({"KV.PUT", "lease:k", "v", "LEASE", "0"}).type, Type::kMap);
  EXPECT_EQ(int_field(c->command({"KV.GET", "lease:k"}), "lease"), 0);
}

TEST_F(KvTest, FenceAndTheOrderOfChecks) {
  auto c = resp3(port());
  const int64_t lease = c->command({"LEASE.GRANT", "600000"}).integer;
  ASSERT_GT(lease, 0);
  Value token = c->command({"LOCK.ACQUIRE", "fence:lock", std::to_string(lease)});
  ASSERT_EQ(token.type, Type::kInteger) << token.debug_string();
  const std::string tok = std::to_string(token.integer);
  const std::string wrong = std::to_string(token.integer + 1000);
  EXPECT_EQ(c->command({"KV.PUT", "fence:k", "1", "FENCE", "fence:lock", tok}).type, Type::kMap);
  EXPECT_EQ(code_of(c->command({"KV.PUT", "fence:k", "2", "FENCE", "fence:lock", wrong})), "FENCED");
  EXPECT_EQ(code_of(c->command({"KV.PUT", "fence:k", "2", "FENCE", "no-such-lock", tok})), "FENCED");
  // ERR before FENCED before CONFLICT before NOLEASE.
  EXPECT_EQ(code_of(c->command({"KV.PUT", "fence:k", "2", "FENCE", "fence:lock", wrong, "IFABSENT", "TTL", "-5"})),
            "ERR");
  EXPECT_EQ(code_of(c->command({"KV.PUT", "fence:k", "2", "FENCE", "fence:lock", wrong, "IFABSENT"})), "FENCED");
  EXPECT_EQ(code_of(c->command({"KV.PUT", "fence:k", "2", "IFABSENT", "LEASE", "987654"})), "CONFLICT");
  EXPECT_EQ(code_of(c->command({"KV.PUT", "fence:new", "2", "IFABSENT", "LEASE", "987654"})), "NOLEASE");
  // KV.DEL: FENCED before CONFLICT.
  EXPECT_EQ(code_of(c->command({"KV.DEL", "fence:k", "IFMATCH", "9", "FENCE", "fence:lock", wrong})), "FENCED");
  EXPECT_EQ(c->command({"KV.DEL", "fence:k", "FENCE", "fence:lock", tok}).integer, 1);
}

TEST_F(KvTest, GetAtAnOlderRevision) {
  auto c = resp3(port());
  ASSERT_EQ(c->command({"KV.PUT", "rev:before", "x"}).type, Type::kMap);  // so that r1 - 1 > 0
  const int64_t r1 = int_field(c->command({"KV.PUT", "rev:k", "one"}), "revision");
  const int64_t r2 = int_field(c->command({"KV.PUT", "rev:k", "two"}), "revision");
  Value old = c->command({"KV.GET", "rev:k", "REV", std::to_string(r1)});
  EXPECT_EQ(str_field(old, "value"), "one");
  EXPECT_EQ(int_field(old, "version"), 1);
  EXPECT_EQ(str_field(c->command({"KV.GET", "rev:k", "rev", std::to_string(r2)}), "value"), "two");
  EXPECT_EQ(str_field(c->command({"KV.GET", "rev:k", "REV", "0"}), "value"), "two");
  // Before the key existed: absent.
  EXPECT_TRUE(c->command({"KV.GET", "rev:k", "REV", std::to_string(r1 - 1)}).is_null());
  EXPECT_EQ(code_of(c->command({"KV.GET", "rev:k", "REV", "-1"})), "ERR");
  EXPECT_EQ(code_of(c->command({"KV.GET", "rev:k", "REV", std::to_string(r2 + 1'000'000)})), "ERR");
  EXPECT_EQ(error_of(c->command({"KV.GET", "rev:k", "REV", "x"})), "ERR value is not an integer or out of range");
  EXPECT_EQ(error_of(c->command({"KV.GET", "rev:k", "REV"})), "ERR syntax error");
  EXPECT_EQ(error_of(c->command({"KV.GET", "rev:k", "BOGUS", "1"})), "ERR syntax error");
  EXPECT_EQ(error_of(c->command({"KV.GET", "rev:k", "REV", "1", "REV", "1"})), "ERR syntax error");
}

// --- KV.DEL -----------------------------------------------------------------------------------

TEST_F(KvTest, DelRepliesOneOrZeroAndHonoursIfMatch) {
  RespConnection c(port());
  ASSERT_EQ(c.command({"KV.PUT", "del:k", "v"}).type, Type::kArray);
  EXPECT_EQ(code_of(c.command({"KV.DEL", "del:k", "IFMATCH", "2"})), "CONFLICT");
  EXPECT_EQ(c.command({"KV.DEL", "del:k", "IFMATCH", "1"}).integer, 1);
  EXPECT_EQ(c.command({"KV.DEL", "del:k"}).integer, 0);
  // Absent: IFMATCH 0 replies 0, any other version is a CONFLICT.
  Value zero = c.command({"KV.DEL", "del:k", "IFMATCH", "0"});
  EXPECT_EQ(zero.type, Type::kInteger) << zero.debug_string();
  EXPECT_EQ(zero.integer, 0);
  EXPECT_EQ(code_of(c.command({"KV.DEL", "del:k", "IFMATCH", "1"})), "CONFLICT");
  EXPECT_EQ(error_of(c.command({"KV.DEL", "del:k", "BOGUS"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"KV.DEL", "del:k", "IFMATCH"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"KV.DEL", "del:k", "IFMATCH", "1", "IFMATCH", "1"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"KV.DEL", "del:k", "FENCE", "x"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"KV.DEL", "del:k", "PUT"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"KV.DEL", "del:k", "IFMATCH", "v"})), "ERR value is not an integer or out of range");
}

// --- KV.MPUT / KV.MGET / KV.MDEL --------------------------------------------------------------

TEST_F(KvTest, MputWritesEveryItemInOneRevisionWithErrorsInPlace) {
  auto c = resp3(port());
  Value r = c->command({"KV.MPUT", "3", "mput:a", "1", "", "x", "mput:a", "2"});
  ASSERT_EQ(r.type, Type::kArray) << r.debug_string();
  ASSERT_EQ(r.elements.size(), 3u);
  EXPECT_EQ(int_field(r.elements[0], "version"), 1);
  EXPECT_EQ(error_of(r.elements[1]), "ERR key must not be empty");
  // A key given twice is written twice.
  EXPECT_EQ(int_field(r.elements[2], "version"), 2);
  EXPECT_EQ(int_field(r.elements[0], "revision"), int_field(r.elements[2], "revision"));
  EXPECT_EQ(str_field(c->command({"KV.GET", "mput:a"}), "value"), "2");

  RespConnection c2(port());
  Value r2 = c2.command({"KV.MPUT", "2", "mput:b", "1", "mput:c", "2"});
  ASSERT_EQ(r2.type, Type::kArray);
  ASSERT_EQ(r2.elements.size(), 2u);
  EXPECT_EQ(r2.elements[0].type, Type::kArray);  // RESP2 map = flat array
  EXPECT_EQ(map_keys(r2.elements[0]), (std::vector<std::string>{"version", "revision"}));

  EXPECT_EQ(error_of(c2.command({"KV.MPUT", "2", "mput:b", "1"})), "ERR syntax error");
  EXPECT_EQ(error_of(c2.command({"KV.MPUT", "1", "mput:b", "1", "mput:c"})), "ERR syntax error");
  EXPECT_EQ(error_of(c2.command({"KV.MPUT", "0", "mput:b", "1"})), "ERR syntax error");
  EXPECT_EQ(error_of(c2.command({"KV.MPUT", "-1", "mput:b", "1"})), "ERR syntax error");
  EXPECT_EQ(error_of(c2.command({"KV.MPUT", "one", "mput:b", "1"})), "ERR value is not an integer or out of range");
  EXPECT_EQ(error_of(c2.command({"KV.MPUT", "1", "k"})), "ERR wrong number of arguments for 'kv.mput' command");
}

TEST_F(KvTest, MgetRepliesPerKeyMapsNullsAndErrors) {
  auto c = resp3(port());
  ASSERT_EQ(c->command({"KV.PUT", "mget:a", "A"}).type, Type::kMap);
  Value r = c->command({"KV.MGET", "mget:a", "mget:none", "", "mget:a"});
  ASSERT_EQ(r.type, Type::kArray) << r.debug_string();
  ASSERT_EQ(r.elements.size(), 4u);
  EXPECT_EQ(str_field(r.elements[0], "value"), "A");
  EXPECT_EQ(map_keys(r.elements[0]), kKeyValueFields);
  EXPECT_TRUE(r.elements[1].is_null());
  EXPECT_EQ(error_of(r.elements[2]), "ERR key must not be empty");
  EXPECT_EQ(str_field(r.elements[3], "value"), "A");
}

TEST_F(KvTest, MdelDeletesInOneRevision) {
  auto c = resp3(port());
  ASSERT_EQ(c->command({"KV.MPUT", "2", "mdel:a", "1", "mdel:b", "2"}).type, Type::kArray);
  Value r = c->command({"KV.MDEL", "mdel:a", "mdel:a", "mdel:none", "", "mdel:b"});
  ASSERT_EQ(r.type, Type::kArray) << r.debug_string();
  ASSERT_EQ(r.elements.size(), 5u);
  EXPECT_EQ(r.elements[0].integer, 1);
  EXPECT_EQ(r.elements[1].type, Type::kInteger);
  EXPECT_EQ(r.elements[1].integer, 0);
  EXPECT_EQ(r.elements[2].integer, 0);
  EXPECT_EQ(error_of(r.elements[3]), "ERR key must not be empty");
  EXPECT_EQ(r.elements[4].integer, 1);
  EXPECT_EQ(c->command({"KV.COUNT", "PREFIX", "mdel:"}).integer, 0);
}

// --- KV.RANGE ---------------------------------------------------------------------------------

TEST_F(KvTest, RangeByBoundsAndByPrefix) {
  auto c = resp3(port());
  ASSERT_EQ(c->command({"KV.MPUT", "4", "rng:a", "1", "rng:b", "2", "rng:c", "3", "rng:d", "4"}).type, Type::kArray);
  Value r = c->command({"KV.RANGE", "rng:b", "rng:d"});
  ASSERT_EQ(r.type, Type::kMap) << r.debug_string();
  EXPECT_EQ(map_keys(r), (std::vector<std::string>{"items", "count", "more", "revision"}));
  const Value& items = field(r, "items");
  ASSERT_EQ(items.elements.size(), 2u);
  EXPECT_EQ(str_field(items.elements[0], "key"), "rng:b");
  EXPECT_EQ(str_field(items.elements[1], "key"), "rng:c");
  EXPECT_EQ(map_keys(items.elements[0]), kKeyValueFields);
  EXPECT_EQ(int_field(r, "count"), 2);
  EXPECT_EQ(field(r, "more").type, Type::kBoolean);
  EXPECT_EQ(field(r, "more").integer, 0);

  Value p = c->command({"KV.RANGE", "PREFIX", "rng:", "LIMIT", "3"});
  EXPECT_EQ(field(p, "items").elements.size(), 3u);
  EXPECT_EQ(int_field(p, "count"), 4);
  EXPECT_EQ(field(p, "more").integer, 1);
  // Paging: start = last key + "\0".
  Value next = c->command({"KV.RANGE", std::string("rng:c\0", 6), "rng:~", "LIMIT", "3"});
  ASSERT_EQ(field(next, "items").elements.size(), 1u);
  EXPECT_EQ(str_field(field(next, "items").elements[0], "key"), "rng:d");
  EXPECT_EQ(field(next, "more").integer, 0);
  // lower-case prefix word, empty end = to the last key.
  Value open_end = c->command({"KV.RANGE", "rng:c", "", "keysonly"});
  ASSERT_GE(field(open_end, "items").elements.size(), 2u);
  EXPECT_EQ(map_keys(field(open_end, "items").elements[0]), (std::vector<std::string>{"key"}));
  EXPECT_EQ(str_field(field(open_end, "items").elements[0], "key"), "rng:c");
  EXPECT_EQ(field(c->command({"KV.RANGE", "prefix", "rng:", "KEYSONLY"}), "items").elements.size(), 4u);

  Value count = c->command({"KV.RANGE", "PREFIX", "rng:", "COUNT"});
  EXPECT_EQ(map_keys(count), (std::vector<std::string>{"count", "revision"}));
  EXPECT_EQ(int_field(count, "count"), 4);
  EXPECT_EQ(int_field(count, "revision"), int_field(r, "revision"));

  // RESP2: flat arrays, more :0/:1.
  RespConnection c2(port());
  Value r2 = c2.command({"KV.RANGE", "PREFIX", "rng:", "LIMIT", "1"});
  ASSERT_EQ(r2.type, Type::kArray);
  EXPECT_EQ(r2.elements.size(), 8u);
  EXPECT_EQ(field(r2, "more").type, Type::kInteger);
  EXPECT_EQ(field(r2, "more").integer, 1);
  EXPECT_EQ(field(r2, "items").elements[0].elements.size(), 26u);
}

TEST_F(KvTest, RangeAtAnOlderRevisionAndErrors) {
  auto c = resp3(port());
  const int64_t r1 = int_field(c->command({"KV.PUT", "rrev:a", "1"}), "revision");
  ASSERT_EQ(c->command({"KV.PUT", "rrev:b", "2"}).type, Type::kMap);
  Value old = c->command({"KV.RANGE", "PREFIX", "rrev:", "REV", std::to_string(r1)});
  EXPECT_EQ(int_field(old, "count"), 1);
  EXPECT_EQ(int_field(old, "revision"), r1);
  EXPECT_EQ(error_of(c->command({"KV.RANGE", "b", "a"})).substr(0, 4), "ERR ");
  EXPECT_EQ(code_of(c->command({"KV.RANGE", "a", "b", "LIMIT", "-1"})), "ERR");
  EXPECT_EQ(code_of(c->command({"KV.RANGE", "a", "b", "REV", "-1"})), "ERR");
  EXPECT_EQ(code_of(c->command({"KV.RANGE", "a", "b", "REV", "999999999"})), "ERR");
  EXPECT_EQ(error_of(c->command({"KV.RANGE", "a", "b", "KEYSONLY", "COUNT"})), "ERR syntax error");
  EXPECT_EQ(error_of(c->command({"KV.RANGE", "a", "b", "COUNT", "KEYSONLY"})), "ERR syntax error");
  EXPECT_EQ(error_of(c->command({"KV.RANGE", "a", "b", "LIMIT"})), "ERR syntax error");
  EXPECT_EQ(error_of(c->command({"KV.RANGE", "a", "b", "LIMIT", "1", "LIMIT", "1"})), "ERR syntax error");
  EXPECT_EQ(error_of(c->command({"KV.RANGE", "a", "b", "BOGUS"})), "ERR syntax error");
  EXPECT_EQ(error_of(c->command({"KV.RANGE", "a", "b", "LIMIT", "x"})), "ERR value is not an integer or out of range");
  EXPECT_EQ(error_of(c->command({"KV.RANGE", "a"})), "ERR wrong number of arguments for 'kv.range' command");
}

// KV.CLEAR and KV.COUNT act on every key: a server of their own.
TEST(KvClearTest, ClearAndCountWithAndWithoutPrefix) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  RespConnection c(server.port());
  ASSERT_EQ(c.command({"KV.MPUT", "3", "a:1", "x", "a:2", "y", "b:1", "z"}).type, Type::kArray);
  EXPECT_EQ(c.command({"KV.COUNT"}).integer, 3);
  EXPECT_EQ(c.command({"KV.COUNT", "PREFIX", "a:"}).integer, 2);
  EXPECT_EQ(c.command({"kv.count", "prefix", "c:"}).integer, 0);
  EXPECT_EQ(c.command({"KV.CLEAR", "PREFIX", "a:"}).integer, 2);
  EXPECT_EQ(c.command({"KV.COUNT"}).integer, 1);
  EXPECT_EQ(c.command({"KV.CLEAR"}).integer, 1);
  EXPECT_EQ(c.command({"KV.CLEAR"}).integer, 0);
  EXPECT_EQ(c.command({"DBSIZE"}).integer, 0);
  EXPECT_EQ(error_of(c.command({"KV.CLEAR", "PREFIX"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"KV.CLEAR", "BOGUS", "x"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"KV.COUNT", "PREFIX", "a", "b"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"KV.COUNT", "x"})), "ERR syntax error");
}

// --- counters ---------------------------------------------------------------------------------

class CtrTest : public SharedServerTest {};

TEST_F(CtrTest, AddGetSetShapes) {
  RespConnection c(port());
  Value r = c.command({"CTR.ADD", "ctr:a", "5"});
  ASSERT_EQ(r.type, Type::kArray) << r.debug_string();
  ASSERT_EQ(r.elements.size(), 2u);
  EXPECT_EQ(r.elements[0].integer, 0);
  EXPECT_EQ(r.elements[1].integer, 5);
  Value neg = c.command({"CTR.ADD", "ctr:a", "-7"});
  EXPECT_EQ(neg.elements[0].integer, 5);
  EXPECT_EQ(neg.elements[1].integer, -2);
  EXPECT_EQ(c.command({"CTR.GET", "ctr:a"}).integer, -2);
  // Shared with INCR.
  EXPECT_EQ(c.command({"INCR", "ctr:a"}).integer, -1);
  EXPECT_EQ(c.command({"CTR.GET", "ctr:a"}).integer, -1);
  // Absent: RESP2 $-1.
  EXPECT_EQ(raw_reply(port(), encode({"CTR.GET", "ctr:none"})), "$-1\r\n");
  // Same shape in RESP3.
  EXPECT_EQ(raw_reply(port(), encode({"HELLO", "3"}) + encode({"CTR.ADD", "ctr:wire", "4"}), 2),
            "*2\r\n:0\r\n:4\r\n");

  Value set = c.command({"CTR.SET", "ctr:a", "100"});
  EXPECT_EQ(set.elements[0].integer, -1);
  EXPECT_EQ(set.elements[1].integer, 100);
  // Previous of a non-number is 0, no error.
  ASSERT_EQ(c.command({"SET", "ctr:text", "hello"}).str, "OK");
  Value over_text = c.command({"CTR.SET", "ctr:text", "3"});
  ASSERT_EQ(over_text.type, Type::kArray) << over_text.debug_string();
  EXPECT_EQ(over_text.elements[0].integer, 0);
  EXPECT_EQ(over_text.elements[1].integer, 3);
}

TEST_F(CtrTest, BoundsOverflowAndWrongType) {
  RespConnection c(port());
  ASSERT_EQ(c.command({"CTR.ADD", "ctr:b", "5", "MIN", "0", "MAX", "10"}).type, Type::kArray);
  EXPECT_EQ(code_of(c.command({"CTR.ADD", "ctr:b", "6", "MAX", "10"})), "OUTOFRANGE");
  EXPECT_EQ(code_of(c.command({"CTR.ADD", "ctr:b", "-6", "MIN", "0"})), "OUTOFRANGE");
  EXPECT_EQ(c.command({"CTR.GET", "ctr:b"}).integer, 5);  // nothing changed
  EXPECT_EQ(c.command({"CTR.ADD", "ctr:b", "5", "max", "10"}).elements[1].integer, 10);
  EXPECT_EQ(code_of(c.command({"CTR.ADD", "ctr:b", "1", "MIN", "5", "MAX", "4"})), "ERR");
  ASSERT_EQ(c.command({"CTR.SET", "ctr:big", "9223372036854775807"}).type, Type::kArray);
  EXPECT_EQ(code_of(c.command({"CTR.ADD", "ctr:big", "1"})), "OVERFLOW");
  ASSERT_EQ(c.command({"SET", "ctr:str", "abc"}).str, "OK");
  EXPECT_EQ(code_of(c.command({"CTR.ADD", "ctr:str", "1"})), "WRONGTYPE");
  EXPECT_EQ(code_of(c.command({"CTR.GET", "ctr:str"})), "WRONGTYPE");
  ASSERT_EQ(c.command({"SET", "ctr:lead0", "007"}).str, "OK");
  EXPECT_EQ(code_of(c.command({"CTR.GET", "ctr:lead0"})), "WRONGTYPE");
}

TEST_F(CtrTest, TtlOnlyOnCreateAndMetadataKept) {
  auto c = resp3(port());
  ASSERT_EQ(c->command({"CTR.ADD", "ctr:ttl", "1", "TTL", "600000"}).type, Type::kArray);
  const int64_t expires = int_field(c->command({"KV.GET", "ctr:ttl"}), "expires_at_ms");
  EXPECT_GT(expires, 0);
  ASSERT_EQ(c->command({"CTR.ADD", "ctr:ttl", "1", "TTL", "1200000"}).type, Type::kArray);
  Value kv = c->command({"KV.GET", "ctr:ttl"});
  EXPECT_EQ(int_field(kv, "expires_at_ms"), expires);  // an existing key keeps its TTL
  EXPECT_EQ(str_field(kv, "value"), "2");

  ASSERT_EQ(c->command({"KV.PUT", "ctr:meta", "10", "ENTITY", "e", "LABELS", "1", "l", "v"}).type, Type::kMap);
  ASSERT_EQ(c->command({"CTR.ADD", "ctr:meta", "1"}).type, Type::kArray);
  Value meta = c->command({"KV.GET", "ctr:meta"});
  EXPECT_EQ(str_field(meta, "value"), "11");
  EXPECT_EQ(str_field(meta, "entity"), "e");
  EXPECT_EQ(field(meta, "labels").elements.size(), 2u);
  // ... and its lease.
  const int64_t lease = c->command({"LEASE.GRANT", "600000"}).integer;
  ASSERT_EQ(c->command({"KV.PUT", "ctr:leased", "1", "LEASE", std::to_string(lease)}).type, Type::kMap);
  ASSERT_EQ(c->command({"CTR.ADD", "ctr:leased", "1"}).type, Type::kArray);
  EXPECT_EQ(int_field(c->command({"KV.GET", "ctr:leased"}), "lease"), lease);
  // CTR.SET replaces metadata as KV.PUT with only TTL would.
  ASSERT_EQ(c->command({"CTR.SET", "ctr:meta", "1", "TTL", "600000"}).type, Type::kArray);
  Value replaced = c->command({"KV.GET", "ctr:meta"});
  EXPECT_EQ(str_field(replaced, "entity"), "");
  EXPECT_GT(int_field(replaced, "expires_at_ms"), 0);
}

TEST_F(CtrTest, ArgumentErrors) {
  RespConnection c(port());
  EXPECT_EQ(error_of(c.command({"CTR.ADD", "ctr:e", "x"})), "ERR value is not an integer or out of range");
  EXPECT_EQ(error_of(c.command({"CTR.ADD", "ctr:e", "1", "MIN", "x"})), "ERR value is not an integer or out of range");
  EXPECT_EQ(error_of(c.command({"CTR.ADD", "ctr:e", "1", "MIN"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"CTR.ADD", "ctr:e", "1", "MIN", "1", "MIN", "1"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"CTR.ADD", "ctr:e", "1", "BOGUS", "1"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"CTR.ADD", "ctr:e", "1", "TTL", "1", "TTL", "1"})), "ERR syntax error");
  EXPECT_EQ(code_of(c.command({"CTR.ADD", "ctr:e", "1", "TTL", "-1"})), "ERR");
  EXPECT_EQ(error_of(c.command({"CTR.ADD", "", "1"})), "ERR key must not be empty");
  EXPECT_EQ(error_of(c.command({"CTR.SET", "ctr:e", "x"})), "ERR value is not an integer or out of range");
  EXPECT_EQ(error_of(c.command({"CTR.SET", "ctr:e", "1", "TTL"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"CTR.SET", "ctr:e", "1", "BOGUS", "1"})), "ERR syntax error");
  EXPECT_EQ(code_of(c.command({"CTR.SET", "ctr:e", "1", "TTL", "-5"})), "ERR");
  EXPECT_EQ(error_of(c.command({"CTR.GET", "ctr:e", "x"})), "ERR wrong number of arguments for 'ctr.get' command");
  EXPECT_TRUE(c.command({"CTR.GET", "ctr:e"}).is_null());
}

// --- leases -----------------------------------------------------------------------------------

class LeaseTest : public SharedServerTest {};

TEST_F(LeaseTest, GrantKeepAliveTtlListRevoke) {
  auto c = resp3(port());
  EXPECT_EQ(code_of(c->command({"LEASE.GRANT", "0"})), "ERR");
  EXPECT_EQ(code_of(c->command({"LEASE.GRANT", "-5"})), "ERR");
  EXPECT_EQ(error_of(c->command({"LEASE.GRANT", "x"})), "ERR value is not an integer or out of range");
  // A deadline beyond int64 ms is refused, as KV.PUT TTL refuses one.
  EXPECT_EQ(code_of(c->command({"LEASE.GRANT", "9223372036854775807"})), "ERR");
  EXPECT_EQ(code_of(c->command({"KV.PUT", "lease:big", "v", "TTL", "9223372036854775807"})), "ERR");
  EXPECT_EQ(code_of(c->command({"CTR.ADD", "lease:big", "1", "TTL", "9223372036854775807"})), "ERR");
  const int64_t a = c->command({"LEASE.GRANT", "600000"}).integer;
  const int64_t b = c->command({"LEASE.GRANT", "300000"}).integer;
  ASSERT_GT(a, 0);
  EXPECT_GT(b, a);  // increasing
  EXPECT_EQ(c->command({"LEASE.KEEPALIVE", std::to_string(a)}).integer, 600000);
  EXPECT_EQ(code_of(c->command({"LEASE.KEEPALIVE", "987654"})), "NOLEASE");

  ASSERT_EQ(c->command({"KV.PUT", "lease:z", "1", "LEASE", std::to_string(a)}).type, Type::kMap);
  ASSERT_EQ(c->command({"KV.PUT", "lease:y", "1", "LEASE", std::to_string(a)}).type, Type::kMap);
  Value ttl = c->command({"LEASE.TTL", std::to_string(a)});
  ASSERT_EQ(ttl.type, Type::kMap) << ttl.debug_string();
  EXPECT_EQ(map_keys(ttl), (std::vector<std::string>{"id", "granted_ttl_ms", "remaining_ms"}));
  EXPECT_EQ(int_field(ttl, "id"), a);
  EXPECT_EQ(int_field(ttl, "granted_ttl_ms"), 600000);
  EXPECT_GT(int_field(ttl, "remaining_ms"), 500000);
  Value with_keys = c->command({"LEASE.TTL", std::to_string(a), "KEYS"});
  EXPECT_EQ(map_keys(with_keys), (std::vector<std::string>{"id", "granted_ttl_ms", "remaining_ms", "keys"}));
  const Value& keys = field(with_keys, "keys");
  ASSERT_EQ(keys.elements.size(), 2u);
  EXPECT_EQ(keys.elements[0].str, "lease:y");  // key order
  EXPECT_EQ(keys.elements[1].str, "lease:z");
  EXPECT_EQ(error_of(c->command({"LEASE.TTL", std::to_string(a), "BOGUS"})), "ERR syntax error");
  EXPECT_EQ(code_of(c->command({"LEASE.TTL", "987654"})), "NOLEASE");

  Value list = c->command({"LEASE.LIST"});
  ASSERT_EQ(list.type, Type::kArray);
  std::vector<int64_t> ids;
  for (const Value& l : list.elements) ids.push_back(int_field(l, "id"));
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_NE(std::find(ids.begin(), ids.end(), a), ids.end());
  EXPECT_NE(std::find(ids.begin(), ids.end(), b), ids.end());

  EXPECT_EQ(c->command({"LEASE.REVOKE", std::to_string(a)}).integer, 2);
  EXPECT_TRUE(c->command({"KV.GET", "lease:y"}).is_null());
  EXPECT_EQ(code_of(c->command({"LEASE.REVOKE", std::to_string(a)})), "NOLEASE");
  EXPECT_EQ(code_of(c->command({"LEASE.TTL", std::to_string(a)})), "NOLEASE");

  // RESP2: flat arrays.
  RespConnection c2(port());
  Value ttl2 = c2.command({"LEASE.TTL", std::to_string(b)});
  ASSERT_EQ(ttl2.type, Type::kArray);
  EXPECT_EQ(ttl2.elements.size(), 6u);
  EXPECT_EQ(error_of(c2.command({"LEASE.LIST", "x"})), "ERR wrong number of arguments for 'lease.list' command");
}

// --- locks ------------------------------------------------------------------------------------

class LockTest : public SharedServerTest {};

// A field of INFO clients (connected_clients, blocked_clients): what tests await a close or a
// wait by.
int64_t info_clients(RespConnection& c, const std::string& name) {
  std::string info = c.command({"INFO", "clients"}).str;
  size_t at = info.find(name + ":");
  return at == std::string::npos ? -1 : std::stoll(info.substr(at + name.size() + 1));
}

// Polls INFO until `name` reaches `want` (at most 10 s); the server has no event for these.
bool await_info_clients(RespConnection& c, const std::string& name, int64_t want) {
  for (int i = 0; i < 1000; ++i) {
    if (info_clients(c, name) == want) return true;
    usleep(10'000);
  }
  return false;
}

TEST_F(LockTest, AcquireReleaseOwner) {
  auto c = resp3(port());
  const std::string a = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  const std::string b = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  EXPECT_TRUE(c->command({"LOCK.OWNER", "lk:1"}).is_null());
  EXPECT_EQ(raw_reply(port(), encode({"LOCK.OWNER", "lk:1"})), "*-1\r\n");
  Value token = c->command({"LOCK.ACQUIRE", "lk:1", a});
  ASSERT_EQ(token.type, Type::kInteger) << token.debug_string();
  // Same lease: same token again.
  EXPECT_EQ(c->command({"LOCK.ACQUIRE", "lk:1", a}).integer, token.integer);
  Value locked = c->command({"LOCK.ACQUIRE", "lk:1", b});
  EXPECT_EQ(code_of(locked), "LOCKED");
  EXPECT_EQ(code_of(c->command({"LOCK.ACQUIRE", "lk:1", b, "WAIT", "0"})), "LOCKED");
  Value owner = c->command({"LOCK.OWNER", "lk:1"});
  ASSERT_EQ(owner.type, Type::kMap) << owner.debug_string();
  EXPECT_EQ(map_keys(owner), (std::vector<std::string>{"name", "lease", "token", "acquired_at_ms"}));
  EXPECT_EQ(str_field(owner, "name"), "lk:1");
  EXPECT_EQ(std::to_string(int_field(owner, "lease")), a);
  EXPECT_EQ(int_field(owner, "token"), token.integer);
  EXPECT_GT(int_field(owner, "acquired_at_ms"), 0);

  EXPECT_EQ(code_of(c->command({"LOCK.RELEASE", "lk:1", std::to_string(token.integer + 1)})), "FENCED");
  Value released = c->command({"LOCK.RELEASE", "lk:1", std::to_string(token.integer)});
  ASSERT_EQ(released.type, Type::kInteger);
  EXPECT_GT(released.integer, token.integer);
  EXPECT_EQ(code_of(c->command({"LOCK.RELEASE", "lk:1", std::to_string(token.integer)})), "NOTFOUND");
  // Tokens increase.
  Value again = c->command({"LOCK.ACQUIRE", "lk:1", b});
  EXPECT_GT(again.integer, token.integer);
}

TEST_F(LockTest, WaitGetsTheLockWhenReleasedOrTimesOut) {
  auto c = resp3(port());
  const std::string a = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  const std::string b = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  const int64_t token = c->command({"LOCK.ACQUIRE", "lk:wait", a}).integer;
  ASSERT_GT(token, 0);
  // Times out with LOCKED.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(code_of(c->command({"LOCK.ACQUIRE", "lk:wait", b, "WAIT", "200"})), "LOCKED");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(190));

  // A waiter gets the lock as soon as it is released.
  RespConnection waiter(port());
  waiter.send_raw(encode({"LOCK.ACQUIRE", "lk:wait", b, "WAIT", "30000"}));
  // Its connection answers nothing until then (a later pipelined command waits too).
  waiter.send_raw(encode({"PING"}));
  ASSERT_TRUE(await_info_clients(*c, "blocked_clients", 1));
  ASSERT_EQ(c->command({"LOCK.RELEASE", "lk:wait", std::to_string(token)}).type, Type::kInteger);
  Value got = waiter.read_value(10'000);
  ASSERT_EQ(got.type, Type::kInteger) << got.debug_string();
  EXPECT_GT(got.integer, token);
  EXPECT_EQ(waiter.read_value(10'000).str, "PONG");
  EXPECT_EQ(std::to_string(int_field(c->command({"LOCK.OWNER", "lk:wait"}), "lease")), b);
  EXPECT_EQ(info_clients(*c, "blocked_clients"), 0);
}

TEST_F(LockTest, WaitGetsTheLockWhenTheHolderExpires) {
  auto c = resp3(port());
  const std::string holder = std::to_string(c->command({"LEASE.GRANT", "200"}).integer);
  const std::string b = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  ASSERT_EQ(c->command({"LOCK.ACQUIRE", "lk:exp", holder}).type, Type::kInteger);
  Value got = c->command({"LOCK.ACQUIRE", "lk:exp", b, "WAIT", "20000"});
  ASSERT_EQ(got.type, Type::kInteger) << got.debug_string();
  EXPECT_EQ(std::to_string(int_field(c->command({"LOCK.OWNER", "lk:exp"}), "lease")), b);
}

TEST_F(LockTest, WaitEndsWithNoLeaseWhenTheWaitersLeaseExpires) {
  auto c = resp3(port());
  const std::string holder = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  const std::string brief = std::to_string(c->command({"LEASE.GRANT", "300"}).integer);
  ASSERT_EQ(c->command({"LOCK.ACQUIRE", "lk:nolease", holder}).type, Type::kInteger);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(code_of(c->command({"LOCK.ACQUIRE", "lk:nolease", brief, "WAIT", "60000"})), "NOLEASE");
  // When the lease ends, not when the wait runs out.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
}

TEST_F(LockTest, AHugeWaitWaits) {
  auto c = resp3(port());
  const std::string a = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  const std::string b = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  const int64_t token = c->command({"LOCK.ACQUIRE", "lk:huge", a}).integer;
  auto waiter = resp3(port());
  const int64_t blocked = info_clients(*c, "blocked_clients");
  waiter->send_raw(encode({"LOCK.ACQUIRE", "lk:huge", b, "WAIT", "9223372036854775807"}));
  waiter->send_raw(encode({"PING", "after"}));
  // The waiter is blocked (not timed out at once by an overflowing deadline).
  ASSERT_TRUE(await_info_clients(*c, "blocked_clients", blocked + 1));
  ASSERT_EQ(c->command({"LOCK.RELEASE", "lk:huge", std::to_string(token)}).type, Type::kInteger);
  Value got = waiter->read_value(10'000);
  ASSERT_EQ(got.type, Type::kInteger) << got.debug_string();
  EXPECT_GT(got.integer, token);
  EXPECT_EQ(waiter->read_value(10'000).str, "after");
}

TEST_F(LockTest, AWaitIsAbandonedWhenItsConnectionCloses) {
  auto c = resp3(port());
  const std::string a = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  const std::string b = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  const int64_t token = c->command({"LOCK.ACQUIRE", "lk:gone", a}).integer;
  const int64_t before = info_clients(*c, "connected_clients");
  const int64_t blocked = info_clients(*c, "blocked_clients");
  {
    RespConnection waiter(port());
    waiter.send_raw(encode({"LOCK.ACQUIRE", "lk:gone", b, "WAIT", "60000"}));
    ASSERT_TRUE(await_info_clients(*c, "blocked_clients", blocked + 1));
  }
  ASSERT_TRUE(await_info_clients(*c, "connected_clients", before));
  ASSERT_EQ(c->command({"LOCK.RELEASE", "lk:gone", std::to_string(token)}).type, Type::kInteger);
  // The abandoned waiter does not take the lock: lease a can take it back at once.
  Value again = c->command({"LOCK.ACQUIRE", "lk:gone", a});
  EXPECT_EQ(again.type, Type::kInteger) << again.debug_string();
  EXPECT_EQ(std::to_string(int_field(c->command({"LOCK.OWNER", "lk:gone"}), "lease")), a);
}

TEST_F(LockTest, ArgumentErrors) {
  RespConnection c(port());
  const std::string a = std::to_string(c.command({"LEASE.GRANT", "600000"}).integer);
  EXPECT_EQ(code_of(c.command({"LOCK.ACQUIRE", "", a})), "ERR");
  EXPECT_EQ(code_of(c.command({"LOCK.ACQUIRE", "lk:e", a, "WAIT", "-1"})), "ERR");
  EXPECT_EQ(error_of(c.command({"LOCK.ACQUIRE", "lk:e", a, "WAIT"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"LOCK.ACQUIRE", "lk:e", a, "BOGUS", "1"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"LOCK.ACQUIRE", "lk:e", "x"})), "ERR value is not an integer or out of range");
  EXPECT_EQ(error_of(c.command({"LOCK.ACQUIRE", "lk:e", a, "WAIT", "x"})),
            "ERR value is not an integer or out of range");
  EXPECT_EQ(code_of(c.command({"LOCK.ACQUIRE", "lk:e", "987654"})), "NOLEASE");
  EXPECT_EQ(code_of(c.command({"LOCK.ACQUIRE", "lk:e", "987654", "WAIT", "100"})), "NOLEASE");
  EXPECT_EQ(error_of(c.command({"LOCK.RELEASE", "lk:e", "x"})), "ERR value is not an integer or out of range");
  EXPECT_EQ(code_of(c.command({"LOCK.RELEASE", "", "1"})), "ERR");
  EXPECT_EQ(code_of(c.command({"LOCK.OWNER", ""})), "ERR");
  EXPECT_EQ(error_of(c.command({"LOCK.OWNER"})), "ERR wrong number of arguments for 'lock.owner' command");
  EXPECT_EQ(error_of(c.command({"LOCK.RELEASE", "a"})), "ERR wrong number of arguments for 'lock.release' command");
}

// --- elections --------------------------------------------------------------------------------

class ElectTest : public SharedServerTest {};

TEST_F(ElectTest, CampaignQueueResignProclaim) {
  auto c = resp3(port());
  const std::string a = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  const std::string b = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  EXPECT_TRUE(c->command({"ELECT.LEADER", "el:1"}).is_null());
  Value first = c->command({"ELECT.CAMPAIGN", "el:1", a, "va"});
  ASSERT_EQ(first.type, Type::kMap) << first.debug_string();
  EXPECT_EQ(map_keys(first), (std::vector<std::string>{"leader", "token", "position"}));
  EXPECT_EQ(field(first, "leader").type, Type::kBoolean);
  EXPECT_EQ(field(first, "leader").integer, 1);
  const int64_t token = int_field(first, "token");
  EXPECT_GT(token, 0);
  EXPECT_EQ(int_field(first, "position"), 0);
  Value second = c->command({"ELECT.CAMPAIGN", "el:1", b, "vb"});
  EXPECT_EQ(field(second, "leader").integer, 0);
  EXPECT_EQ(int_field(second, "token"), 0);
  EXPECT_EQ(int_field(second, "position"), 1);
  // Again: nothing changes, the new value is ignored.
  Value again = c->command({"ELECT.CAMPAIGN", "el:1", a, "ignored"});
  EXPECT_EQ(int_field(again, "token"), token);

  // RESP2 shape: *6 with :0 for false.
  RespConnection c2(port());
  Value second2 = c2.command({"ELECT.CAMPAIGN", "el:1", b, "vb"});
  ASSERT_EQ(second2.type, Type::kArray);
  EXPECT_EQ(second2.elements.size(), 6u);
  EXPECT_EQ(field(second2, "leader").type, Type::kInteger);
  EXPECT_EQ(field(second2, "leader").integer, 0);

  Value leader = c->command({"ELECT.LEADER", "el:1"});
  ASSERT_EQ(leader.type, Type::kMap);
  EXPECT_EQ(map_keys(leader), (std::vector<std::string>{"name", "value", "lease", "token"}));
  EXPECT_EQ(str_field(leader, "value"), "va");
  EXPECT_EQ(int_field(leader, "token"), token);

  EXPECT_EQ(code_of(c->command({"ELECT.PROCLAIM", "el:1", std::to_string(token + 1), "x"})), "FENCED");
  Value proclaimed = c->command({"ELECT.PROCLAIM", "el:1", std::to_string(token), "va2"});
  ASSERT_EQ(proclaimed.type, Type::kInteger);
  EXPECT_GT(proclaimed.integer, token);
  EXPECT_EQ(str_field(c->command({"ELECT.LEADER", "el:1"}), "value"), "va2");

  EXPECT_EQ(code_of(c->command({"ELECT.RESIGN", "el:1", std::to_string(token + 1)})), "FENCED");
  Value resigned = c->command({"ELECT.RESIGN", "el:1", std::to_string(token)});
  ASSERT_EQ(resigned.type, Type::kInteger);
  Value next = c->command({"ELECT.LEADER", "el:1"});
  EXPECT_EQ(str_field(next, "value"), "vb");
  EXPECT_EQ(int_field(next, "token"), resigned.integer);
  // The last leader resigns: no leader, then NOTFOUND.
  ASSERT_EQ(c->command({"ELECT.RESIGN", "el:1", std::to_string(resigned.integer)}).type, Type::kInteger);
  EXPECT_TRUE(c->command({"ELECT.LEADER", "el:1"}).is_null());
  EXPECT_EQ(code_of(c->command({"ELECT.RESIGN", "el:1", "1"})), "NOTFOUND");
  EXPECT_EQ(code_of(c->command({"ELECT.PROCLAIM", "el:1", "1", "v"})), "NOTFOUND");
}


TEST_F(ElectTest, CampaignWaitBecomesLeaderOrReportsItsPlace) {
  auto c = resp3(port());
  const std::string a = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  const std::string b = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  const std::string d = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  const int64_t token = int_field(c->command({"ELECT.CAMPAIGN", "el:wait", a, "va"}), "token");
  ASSERT_GT(token, 0);
  // Not leader within the wait: the current place, and the candidacy stays.
  Value queued = c->command({"ELECT.CAMPAIGN", "el:wait", b, "vb", "WAIT", "100"});
  EXPECT_EQ(field(queued, "leader").integer, 0);
  EXPECT_EQ(int_field(queued, "position"), 1);
  Value third = c->command({"ELECT.CAMPAIGN", "el:wait", d, "vd"});
  EXPECT_EQ(int_field(third, "position"), 2);

  auto waiter = resp3(port());
  waiter->send_raw(encode({"ELECT.CAMPAIGN", "el:wait", b, "vb", "WAIT", "30000"}));
  ASSERT_TRUE(await_info_clients(*c, "blocked_clients", 1));
  ASSERT_EQ(c->command({"ELECT.RESIGN", "el:wait", std::to_string(token)}).type, Type::kInteger);
  Value won = waiter->read_value(10'000);
  ASSERT_EQ(won.type, Type::kMap) << won.debug_string();
  EXPECT_EQ(field(won, "leader").integer, 1);
  EXPECT_GT(int_field(won, "token"), token);
  EXPECT_EQ(int_field(won, "position"), 0);
  EXPECT_EQ(int_field(c->command({"ELECT.CAMPAIGN", "el:wait", d, "vd"}), "position"), 1);
}

TEST_F(ElectTest, LeaderLeaseEndHandsOnAndAWaitersLeaseEndIsNoLease) {
  auto c = resp3(port());
  const std::string brief = std::to_string(c->command({"LEASE.GRANT", "200"}).integer);
  const std::string b = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  ASSERT_EQ(field(c->command({"ELECT.CAMPAIGN", "el:exp", brief, "vbrief"}), "leader").integer, 1);
  // The waiting candidate becomes leader when the leader's lease ends.
  Value won = c->command({"ELECT.CAMPAIGN", "el:exp", b, "vb", "WAIT", "20000"});
  EXPECT_EQ(field(won, "leader").integer, 1) << won.debug_string();
  EXPECT_EQ(str_field(c->command({"ELECT.LEADER", "el:exp"}), "value"), "vb");

  const std::string brief2 = std::to_string(c->command({"LEASE.GRANT", "300"}).integer);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(code_of(c->command({"ELECT.CAMPAIGN", "el:exp", brief2, "v2", "WAIT", "60000"})), "NOLEASE");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
}

TEST_F(ElectTest, ArgumentErrors) {
  RespConnection c(port());
  const std::string a = std::to_string(c.command({"LEASE.GRANT", "600000"}).integer);
  EXPECT_EQ(code_of(c.command({"ELECT.CAMPAIGN", "", a, "v"})), "ERR");
  EXPECT_EQ(code_of(c.command({"ELECT.CAMPAIGN", "el:e", a, "v", "WAIT", "-1"})), "ERR");
  EXPECT_EQ(error_of(c.command({"ELECT.CAMPAIGN", "el:e", a, "v", "WAIT"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"ELECT.CAMPAIGN", "el:e", a, "v", "NOWAIT", "1"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"ELECT.CAMPAIGN", "el:e", "x", "v"})), "ERR value is not an integer or out of range");
  EXPECT_EQ(code_of(c.command({"ELECT.CAMPAIGN", "el:e", "987654", "v"})), "NOLEASE");
  EXPECT_EQ(code_of(c.command({"ELECT.LEADER", ""})), "ERR");
  EXPECT_EQ(code_of(c.command({"ELECT.RESIGN", "", "1"})), "ERR");
  EXPECT_EQ(code_of(c.command({"ELECT.PROCLAIM", "", "1", "v"})), "ERR");
  EXPECT_EQ(error_of(c.command({"ELECT.RESIGN", "el:e", "x"})), "ERR value is not an integer or out of range");
  EXPECT_EQ(error_of(c.command({"ELECT.PROCLAIM", "el:e", "x", "v"})), "ERR value is not an integer or out of range");
  EXPECT_EQ(error_of(c.command({"ELECT.CAMPAIGN", "el:e", a})),
            "ERR wrong number of arguments for 'elect.campaign' command");
  EXPECT_EQ(error_of(c.command({"ELECT.PROCLAIM", "el:e", "1"})),
            "ERR wrong number of arguments for 'elect.proclaim' command");
}

// --- what changes the revision ------------------------------------------------------------------

int64_t current_revision(RespConnection& c) {
  return int_field(c.command({"KV.RANGE", "a", "b", "COUNT"}), "revision");
}

TEST_F(LeaseTest, GrantsKeepAlivesQueueingAndRetriedAcquiresChangeNoRevision) {
  auto c = resp3(port());
  const int64_t r0 = current_revision(*c);
  const std::string a = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  const std::string b = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  ASSERT_EQ(c->command({"LEASE.KEEPALIVE", a}).type, Type::kInteger);
  EXPECT_EQ(current_revision(*c), r0);
  const int64_t token = c->command({"LOCK.ACQUIRE", "rev:lock", a}).integer;
  EXPECT_EQ(token, r0 + 1);  // the token is the revision of the grant
  EXPECT_EQ(c->command({"LOCK.ACQUIRE", "rev:lock", a}).integer, token);
  EXPECT_EQ(current_revision(*c), token);
  const int64_t etoken = int_field(c->command({"ELECT.CAMPAIGN", "rev:el", a, "x"}), "token");
  EXPECT_EQ(etoken, token + 1);
  EXPECT_EQ(int_field(c->command({"ELECT.CAMPAIGN", "rev:el", b, "y"}), "position"), 1);
  EXPECT_EQ(current_revision(*c), etoken);
}

TEST_F(LeaseTest, RevokeEndsKeysLocksAndElectionsInOneRevision) {
  auto w = resp3(port());
  auto c = resp3(port());
  const std::string a = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  const std::string b = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  ASSERT_EQ(c->command({"KV.PUT", "rv:k", "v", "LEASE", a}).type, Type::kMap);
  ASSERT_GT(c->command({"LOCK.ACQUIRE", "rv:lock", a}).integer, 0);
  ASSERT_EQ(field(c->command({"ELECT.CAMPAIGN", "rv:el", a, "va"}), "leader").integer, 1);
  ASSERT_EQ(field(c->command({"ELECT.CAMPAIGN", "rv:el", b, "vb"}), "leader").integer, 0);
  const int64_t keys = w->command({"KV.WATCH", "KEY", "rv:k"}).integer;
  const int64_t lock = w->command({"KV.WATCH", "LOCK", "rv:lock"}).integer;
  const int64_t el = w->command({"KV.WATCH", "ELECTION", "rv:el"}).integer;
  EXPECT_EQ(c->command({"LEASE.REVOKE", a}).integer, 1);
  std::map<int64_t, Value> by_watch;
  for (int i = 0; i < 3; ++i) {
    Value p = w->next_push();
    ASSERT_EQ(p.elements.size(), 6u) << p.debug_string();
    by_watch[p.elements[1].integer] = p;
  }
  ASSERT_EQ(by_watch.size(), 3u);
  EXPECT_EQ(by_watch[keys].elements[3].str, "DELETE");
  EXPECT_EQ(by_watch[lock].elements[3].str, "DELETE");
  // The election is handed on to b: a PUT of b's value.
  EXPECT_EQ(by_watch[el].elements[3].str, "PUT");
  EXPECT_EQ(by_watch[el].elements[5].str, "vb");
  const int64_t rev = by_watch[keys].elements[2].integer;
  EXPECT_EQ(by_watch[lock].elements[2].integer, rev);
  EXPECT_EQ(by_watch[el].elements[2].integer, rev);
  EXPECT_EQ(int_field(c->command({"ELECT.LEADER", "rv:el"}), "token"), rev);
  EXPECT_TRUE(c->command({"LOCK.OWNER", "rv:lock"}).is_null());
}

TEST_F(KvTest, ClearIsOneRevisionOfDeleteEvents) {
  auto w = resp3(port());
  auto c = resp3(port());
  ASSERT_EQ(c->command({"KV.MPUT", "3", "clr:a", "1", "clr:b", "2", "clr:c", "3"}).type, Type::kArray);
  const int64_t id = w->command({"KV.WATCH", "PREFIX", "clr:"}).integer;
  EXPECT_EQ(c->command({"KV.CLEAR", "PREFIX", "clr:"}).integer, 3);
  const int64_t rev = current_revision(*c);
  for (const char* key : {"clr:a", "clr:b", "clr:c"}) {
    Value p = w->next_push();
    ASSERT_EQ(p.elements.size(), 6u) << p.debug_string();
    EXPECT_EQ(p.elements[1].integer, id);
    EXPECT_EQ(p.elements[2].integer, rev);
    EXPECT_EQ(p.elements[3].str, "DELETE");
    EXPECT_EQ(p.elements[4].str, key);
  }
}

TEST_F(KvTest, AnOldRevisionShowsAnExpiredKeyAsStored) {
  auto w = resp3(port());
  auto c = resp3(port());
  const int64_t id = w->command({"KV.WATCH", "KEY", "old:ttl"}).integer;
  const int64_t r = int_field(c->command({"KV.PUT", "old:ttl", "v", "TTL", "50"}), "revision");
  ASSERT_EQ(w->next_push().elements[3].str, "PUT");
  Value expired = w->next_push(10'000);
  ASSERT_EQ(expired.elements.size(), 6u) << expired.debug_string();
  EXPECT_EQ(expired.elements[1].integer, id);
  EXPECT_EQ(expired.elements[3].str, "EXPIRE");
  EXPECT_TRUE(c->command({"KV.GET", "old:ttl"}).is_null());
  Value old = c->command({"KV.GET", "old:ttl", "REV", std::to_string(r)});
  ASSERT_EQ(old.type, Type::kMap) << old.debug_string();
  EXPECT_EQ(str_field(old, "value"), "v");
  EXPECT_EQ(int_field(old, "ttl_ms"), 0);
  EXPECT_GT(int_field(old, "expires_at_ms"), 0);
  EXPECT_EQ(int_field(c->command({"KV.RANGE", "PREFIX", "old:", "REV", std::to_string(r)}), "count"), 1);
}

// --- TXN.COMMIT -------------------------------------------------------------------------------

class TxnTest : public SharedServerTest {};

TEST_F(TxnTest, ReadsAndWritesApplyInOneRevision) {
  auto c = resp3(port());
  ASSERT_EQ(c->command({"KV.PUT", "txn:a", "1"}).type, Type::kMap);
  Value r = c->command({"TXN.COMMIT", "READS", "2", "txn:a", "1", "txn:absent", "0", "WRITES", "3", "PUT", "txn:a",
                        "2", "IFMATCH", "1", "ENTITY", "e", "PUT", "txn:b", "x", "DEL", "txn:c"});
  ASSERT_EQ(r.type, Type::kMap) << r.debug_string();
  EXPECT_EQ(map_keys(r), (std::vector<std::string>{"revision", "versions"}));
  const Value& versions = field(r, "versions");
  ASSERT_EQ(versions.elements.size(), 3u);
  EXPECT_EQ(versions.elements[0].integer, 2);
  EXPECT_EQ(versions.elements[1].integer, 1);
  EXPECT_EQ(versions.elements[2].integer, 0);  // DEL
  const int64_t rev = int_field(r, "revision");
  Value a = c->command({"KV.GET", "txn:a"});
  EXPECT_EQ(int_field(a, "mod_revision"), rev);
  EXPECT_EQ(str_field(a, "entity"), "e");
  EXPECT_EQ(int_field(c->command({"KV.GET", "txn:b"}), "mod_revision"), rev);

  // Nothing written: the current revision.
  Value none = c->command({"TXN.COMMIT", "READS", "1", "txn:a", "2"});
  EXPECT_EQ(int_field(none, "revision"), rev);
  EXPECT_EQ(field(none, "versions").elements.size(), 0u);
  EXPECT_EQ(int_field(c->command({"TXN.COMMIT"}), "revision"), rev);

  // RESP2 shape.
  RespConnection c2(port());
  Value r2 = c2.command({"TXN.COMMIT", "WRITES", "1", "PUT", "txn:d", "v"});
  ASSERT_EQ(r2.type, Type::kArray) << r2.debug_string();
  EXPECT_EQ(r2.elements.size(), 4u);
  EXPECT_EQ(field(r2, "versions").elements.size(), 1u);
}

// Conditions are judged against the state before the transaction, and writes apply in order.
TEST_F(TxnTest, ConditionsSeeTheStateBeforeTheTransaction) {
  auto c = resp3(port());
  Value r = c->command({"TXN.COMMIT", "WRITES", "3", "PUT", "tb:k", "v1", "IFABSENT", "PUT", "tb:k", "v2", "IFMATCH",
                        "0", "DEL", "tb:gone", "IFMATCH", "0"});
  ASSERT_EQ(r.type, Type::kMap) << r.debug_string();
  const Value& versions = field(r, "versions");
  ASSERT_EQ(versions.elements.size(), 3u);
  EXPECT_EQ(versions.elements[0].integer, 1);
  EXPECT_EQ(versions.elements[1].integer, 2);
  EXPECT_EQ(versions.elements[2].integer, 0);
  Value kv = c->command({"KV.GET", "tb:k"});
  EXPECT_EQ(str_field(kv, "value"), "v2");
  EXPECT_EQ(int_field(kv, "version"), 2);
  // The same writes again: both conditions now fail on the one key, named once.
  EXPECT_EQ(error_of(c->command({"TXN.COMMIT", "WRITES", "2", "PUT", "tb:k", "v1", "IFABSENT", "PUT", "tb:k", "v2",
                                 "IFMATCH", "0"})),
            "CONFLICT transaction conflict on keys: 'tb:k'");
}

TEST_F(TxnTest, ConflictNamesEveryFailedKeyInFirstMentionOrder) {
  auto c = resp3(port());
  ASSERT_EQ(c->command({"KV.MPUT", "2", "tc:a", "1", "tc:b", "1"}).type, Type::kArray);
  Value r = c->command({"TXN.COMMIT", "READS", "3", "tc:b", "5", "tc:ok", "0", "tc:a", "0", "WRITES", "3", "PUT",
                        "tc:a", "x", "IFABSENT", "PUT", "tc:new", "y", "DEL", "tc:b", "IFMATCH", "9"});
  EXPECT_EQ(error_of(r), "CONFLICT transaction conflict on keys: 'tc:b' 'tc:a'");
  EXPECT_TRUE(c->command({"KV.GET", "tc:new"}).is_null());  // nothing applied
  // Version 0 = must be absent.
  EXPECT_EQ(error_of(c->command({"TXN.COMMIT", "READS", "1", "tc:a", "0"})),
            "CONFLICT transaction conflict on keys: 'tc:a'");
  // CR and LF in a key become spaces.
  EXPECT_EQ(error_of(c->command({"TXN.COMMIT", "READS", "1", "tc:\r\nx", "3"})),
            "CONFLICT transaction conflict on keys: 'tc:  x'");
}

TEST_F(TxnTest, OtherFailuresTakePrecedenceOverConflict) {
  auto c = resp3(port());
  ASSERT_EQ(c->command({"KV.PUT", "tp:a", "1"}).type, Type::kMap);
  EXPECT_EQ(code_of(c->command({"TXN.COMMIT", "READS", "1", "tp:a", "7", "WRITES", "1", "PUT", "tp:b", "v", "FENCE",
                                "no-lock", "5"})),
            "FENCED");
  EXPECT_EQ(code_of(c->command({"TXN.COMMIT", "READS", "1", "tp:a", "7", "WRITES", "1", "PUT", "tp:b", "v", "LEASE",
                                "987654"})),
            "NOLEASE");
  Value err = c->command({"TXN.COMMIT", "READS", "1", "tp:a", "7", "WRITES", "1", "PUT", "", "v"});
  EXPECT_EQ(code_of(err), "ERR");
  EXPECT_EQ(error_of(err).rfind("ERR transaction write to '': ", 0), 0u) << error_of(err);
  EXPECT_EQ(code_of(c->command({"TXN.COMMIT", "READS", "1", "", "0"})), "ERR");
  EXPECT_TRUE(c->command({"KV.GET", "tp:b"}).is_null());
}

TEST_F(TxnTest, SyntaxErrors) {
  RespConnection c(port());
  const std::vector<Args> bad = {
      {"TXN.COMMIT", "READS"},
      {"TXN.COMMIT", "READS", "2", "k", "1"},
      {"TXN.COMMIT", "READS", "1", "k", "1", "READS", "1", "k", "1"},
      {"TXN.COMMIT", "WRITES", "1", "PUT", "k", "v", "READS", "1", "k", "1"},
      {"TXN.COMMIT", "WRITES", "2", "PUT", "k", "v"},
      {"TXN.COMMIT", "WRITES", "1", "PUT", "k", "v", "PUT", "k2", "v"},
      {"TXN.COMMIT", "WRITES", "1", "PUT", "k"},
      {"TXN.COMMIT", "WRITES", "1", "GET", "k"},
      {"TXN.COMMIT", "WRITES", "1", "DEL", "k", "TTL", "5"},
      {"TXN.COMMIT", "WRITES", "1", "PUT", "k", "v", "BOGUS"},
      {"TXN.COMMIT", "WRITES", "-1"},
      {"TXN.COMMIT", "BOGUS"},
      {"TXN.COMMIT", "WRITES", "1", "PUT", "k", "v", "WRITES", "1", "PUT", "k", "v"},
  };
  for (const Args& a : bad) {
    std::string line;
    for (const auto& w : a) line += w + " ";
    EXPECT_EQ(error_of(c.command(a)), "ERR syntax error") << line;
  }
  EXPECT_EQ(error_of(c.command({"TXN.COMMIT", "READS", "x", "k", "1"})), "ERR value is not an integer or out of range");
  EXPECT_EQ(error_of(c.command({"TXN.COMMIT", "READS", "1", "k", "v"})), "ERR value is not an integer or out of range");
}

// --- QUERY ------------------------------------------------------------------------------------

// QUERY reads whole entities: a server of its own with known data.
class QueryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new DkvServerProcess();
    ASSERT_TRUE(server_->start());
    RespConnection c(server_->port());
    auto put = [&](const std::string& key, std::vector<std::string> labels) {
      Args a = {"KV.PUT", key, "val-" + key, "ENTITY", "user", "LABELS", std::to_string(labels.size() / 2)};
      a.insert(a.end(), labels.begin(), labels.end());
      ASSERT_EQ(c.command(a).type, Type::kArray);
    };
    put("u1", {"age", "30", "city", "paris"});
    put("u2", {"age", "9", "city", "berlin"});
    put("u3", {"age", "100", "city", "paris"});
    put("u4", {"city", "rome"});
    put("u5", {"age", "abc", "city", "parma"});
    ASSERT_EQ(c.command({"KV.PUT", "o1", "x", "ENTITY", "order", "LABELS", "1", "age", "30"}).type, Type::kArray);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static std::vector<std::string> keys_of(const Value& reply) {
    std::vector<std::string> keys;
    for (const Value& item : field(reply, "items").elements) keys.push_back(str_field(item, "key"));
    return keys;
  }
  std::vector<std::string> query(Args a) {
    a.insert(a.begin(), {"QUERY", "user"});
    Value r = conn_->command(a);
    EXPECT_FALSE(r.is_error()) << r.debug_string();
    return keys_of(r);
  }
  void SetUp() override { conn_ = resp3(server_->port()); }
  std::unique_ptr<RespConnection> conn_;
  static inline DkvServerProcess* server_ = nullptr;
};

using V = std::vector<std::string>;

TEST_F(QueryTest, WhereOperators) {
  EXPECT_EQ(query({}), (V{"u1", "u2", "u3", "u4", "u5"}));
  EXPECT_EQ(query({"WHERE", "age", "EQ", "30"}), (V{"u1"}));
  EXPECT_EQ(query({"WHERE", "age", "EQ", "30.0"}), (V{"u1"}));  // numeric when both parse
  // Numeric: 9 < 30 < 100 (byte-wise "100" < "30" < "9"); u5's "abc" is compared byte-wise,
  // and "abc" > "30" > "10".
  EXPECT_EQ(query({"WHERE", "age", "GT", "10"}), (V{"u1", "u3", "u5"}));
  EXPECT_EQ(query({"WHERE", "age", "GE", "30"}), (V{"u1", "u3", "u5"}));
  EXPECT_EQ(query({"WHERE", "age", "GT", "50"}), (V{"u3", "u5"}));
  EXPECT_EQ(query({"WHERE", "age", "LT", "30"}), (V{"u2"}));
  EXPECT_EQ(query({"WHERE", "age", "LE", "30"}), (V{"u1", "u2"}));
  // NE never holds on a key lacking the label.
  EXPECT_EQ(query({"WHERE", "age", "NE", "30"}), (V{"u2", "u3", "u5"}));
  EXPECT_EQ(query({"WHERE", "city", "PREFIX", "par"}), (V{"u1", "u3", "u5"}));
  EXPECT_EQ(query({"WHERE", "age", "BETWEEN", "9", "30"}), (V{"u1", "u2"}));
  EXPECT_EQ(query({"WHERE", "city", "IN", "2", "rome", "berlin"}), (V{"u2", "u4"}));
  // AND of clauses; lower-case words.
  EXPECT_EQ(query({"where", "city", "eq", "paris", "where", "age", "lt", "50"}), (V{"u1"}));
  EXPECT_EQ(query({"WHERE", "nolabel", "EQ", "x"}), (V{}));
  Value unknown = conn_->command({"QUERY", "nobody"});
  EXPECT_EQ(int_field(unknown, "count"), 0);
}

TEST_F(QueryTest, OrderByLimitCursor) {
  // Numbers before text, lacking the label last.
  EXPECT_EQ(query({"ORDERBY", "age"}), (V{"u2", "u1", "u3", "u5", "u4"}));
  EXPECT_EQ(query({"ORDERBY", "age", "ASC"}), (V{"u2", "u1", "u3", "u5", "u4"}));
  EXPECT_EQ(query({"ORDERBY", "age", "DESC"}), (V{"u5", "u3", "u1", "u2", "u4"}));
  Value page1 = conn_->command({"QUERY", "user", "ORDERBY", "age", "DESC", "LIMIT", "2"});
  EXPECT_EQ(map_keys(page1), (V{"items", "count", "next_cursor"}));
  EXPECT_EQ(keys_of(page1), (V{"u5", "u3"}));
  EXPECT_EQ(int_field(page1, "count"), 5);
  const std::string cursor = str_field(page1, "next_cursor");
  ASSERT_FALSE(cursor.empty());
  Value page2 = conn_->command({"QUERY", "user", "ORDERBY", "age", "DESC", "LIMIT", "2", "CURSOR", cursor});
  EXPECT_EQ(keys_of(page2), (V{"u1", "u2"}));
  Value page3 = conn_->command(
      {"QUERY", "user", "ORDERBY", "age", "DESC", "LIMIT", "2", "CURSOR", str_field(page2, "next_cursor")});
  EXPECT_EQ(keys_of(page3), (V{"u4"}));
  EXPECT_EQ(str_field(page3, "next_cursor"), "");
  // A cursor from another ordering, or garbage.
  EXPECT_EQ(code_of(conn_->command({"QUERY", "user", "ORDERBY", "age", "ASC", "LIMIT", "2", "CURSOR", cursor})),
            "ERR");
  EXPECT_EQ(code_of(conn_->command({"QUERY", "user", "LIMIT", "2", "CURSOR", "garbage"})), "ERR");
  EXPECT_EQ(query({"LIMIT", "0"}).size(), 5u);
}

TEST_F(QueryTest, Projections) {
  Value full = conn_->command({"QUERY", "user", "WHERE", "age", "EQ", "30"});
  ASSERT_EQ(field(full, "items").elements.size(), 1u);
  EXPECT_EQ(map_keys(field(full, "items").elements[0]), kKeyValueFields);
  EXPECT_EQ(str_field(field(full, "items").elements[0], "value"), "val-u1");

  Value keys = conn_->command({"QUERY", "user", "WHERE", "age", "EQ", "30", "KEYSONLY"});
  EXPECT_EQ(map_keys(field(keys, "items").elements[0]), (V{"key"}));

  Value sel = conn_->command({"QUERY", "user", "WHERE", "age", "EQ", "30", "SELECT", "2", "city", "missing"});
  const Value& item = field(sel, "items").elements[0];
  EXPECT_EQ(map_keys(item), kKeyValueFields);
  EXPECT_EQ(str_field(item, "value"), "");
  const Value& labels = field(item, "labels");
  ASSERT_EQ(labels.elements.size(), 2u);
  EXPECT_EQ(labels.elements[0].str, "city");

  Value count = conn_->command({"QUERY", "user", "WHERE", "city", "PREFIX", "par", "COUNT"});
  EXPECT_EQ(map_keys(count), (V{"count"}));
  EXPECT_EQ(int_field(count, "count"), 3);

  // RESP2: flat arrays.
  RespConnection c2(server_->port());
  Value count2 = c2.command({"QUERY", "user", "COUNT"});
  ASSERT_EQ(count2.type, Type::kArray);
  EXPECT_EQ(int_field(count2, "count"), 5);
}

TEST_F(QueryTest, Errors) {
  const std::vector<Args> syntax = {
      {"QUERY", "user", "KEYSONLY", "COUNT"},
      {"QUERY", "user", "COUNT", "KEYSONLY"},
      {"QUERY", "user", "SELECT", "1", "a", "KEYSONLY"},
      {"QUERY", "user", "COUNT", "SELECT", "1", "a"},
      {"QUERY", "user", "WHERE", "age", "LIKE", "3"},
      {"QUERY", "user", "WHERE", "age", "EQ"},
      {"QUERY", "user", "WHERE", "age"},
      {"QUERY", "user", "WHERE", "age", "BETWEEN", "1"},
      {"QUERY", "user", "WHERE", "age", "IN", "2", "1"},
      {"QUERY", "user", "WHERE", "age", "IN", "0"},
      {"QUERY", "user", "SELECT", "0"},
      {"QUERY", "user", "SELECT", "2", "a"},
      {"QUERY", "user", "LIMIT"},
      {"QUERY", "user", "LIMIT", "1", "LIMIT", "1"},
      {"QUERY", "user", "ORDERBY"},
      {"QUERY", "user", "ORDERBY", "a", "ORDERBY", "b"},
      {"QUERY", "user", "BOGUS"},
      {"QUERY", "user", "REV", "1"},
  };
  for (const Args& a : syntax) {
    std::string line;
    for (const auto& w : a) line += w + " ";
    EXPECT_EQ(error_of(conn_->command(a)), "ERR syntax error") << line;
  }
  EXPECT_EQ(code_of(conn_->command({"QUERY", "user", "LIMIT", "-1"})), "ERR");
  EXPECT_EQ(code_of(conn_->command({"QUERY", "user", "WHERE", "", "EQ", "1"})), "ERR");
  EXPECT_EQ(error_of(conn_->command({"QUERY", "user", "LIMIT", "x"})), "ERR value is not an integer or out of range");
  EXPECT_EQ(error_of(conn_->command({"QUERY"})), "ERR wrong number of arguments for 'query' command");
}

// --- COMPACT / SNAPSHOT -----------------------------------------------------------------------

TEST(StoreTest, CompactDropsHistoryAndSnapshotReportsItsIndex) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  auto c = resp3(server.port());
  const int64_t r1 = int_field(c->command({"KV.PUT", "cmp:k", "1"}), "revision");
  const int64_t r2 = int_field(c->command({"KV.PUT", "cmp:k", "2"}), "revision");
  ASSERT_EQ(c->command({"KV.PUT", "cmp:k", "3"}).type, Type::kMap);
  EXPECT_EQ(code_of(c->command({"COMPACT", "-1"})), "ERR");
  EXPECT_EQ(code_of(c->command({"COMPACT", std::to_string(r2 + 1000)})), "ERR");
  EXPECT_EQ(error_of(c->command({"COMPACT", "x"})), "ERR value is not an integer or out of range");
  Value compacted = c->command({"COMPACT", std::to_string(r2)});
  ASSERT_EQ(compacted.type, Type::kInteger) << compacted.debug_string();
  EXPECT_EQ(compacted.integer, r2);
  // The larger of the current one and the argument.
  EXPECT_EQ(c->command({"COMPACT", std::to_string(r1)}).integer, r2);
  Value gone = c->command({"KV.GET", "cmp:k", "REV", std::to_string(r1)});
  EXPECT_EQ(code_of(gone), "COMPACTED");
  EXPECT_NE(error_of(gone).find(std::to_string(r2)), std::string::npos) << error_of(gone);
  EXPECT_EQ(code_of(c->command({"KV.RANGE", "PREFIX", "cmp:", "REV", std::to_string(r1)})), "COMPACTED");
  EXPECT_EQ(str_field(c->command({"KV.GET", "cmp:k", "REV", std::to_string(r2)}), "value"), "2");

  Value snap = c->command({"SNAPSHOT"});
  ASSERT_EQ(snap.type, Type::kInteger) << snap.debug_string();
  EXPECT_GT(snap.integer, 0);
  EXPECT_EQ(error_of(c->command({"SNAPSHOT", "now"})), "ERR wrong number of arguments for 'snapshot' command");
  // The state survives a restart from the snapshot.
  server.kill9();
  ASSERT_TRUE(server.start());
  auto again = resp3(server.port());
  EXPECT_EQ(str_field(again->command({"KV.GET", "cmp:k"}), "value"), "3");
}

// --- arity and bad input -----------------------------------------------------------------------

TEST_F(KvTest, ArityErrorsNameTheCommandInLowerCase) {
  RespConnection c(port());
  const std::vector<std::pair<Args, std::string>> cases = {
      {{"KV.PUT", "k"}, "kv.put"},          {{"KV.GET"}, "kv.get"},
      {{"KV.DEL"}, "kv.del"},                {{"KV.MPUT", "1", "k"}, "kv.mput"},
      {{"KV.MGET"}, "kv.mget"},              {{"KV.MDEL"}, "kv.mdel"},
      {{"KV.RANGE", "a"}, "kv.range"},       {{"KV.WATCH", "KEY"}, "kv.watch"},
      {{"KV.UNWATCH"}, "kv.unwatch"},        {{"KV.UNWATCH", "1", "2"}, "kv.unwatch"},
      {{"CTR.ADD", "k"}, "ctr.add"},         {{"CTR.GET"}, "ctr.get"},
      {{"CTR.SET", "k"}, "ctr.set"},         {{"LEASE.GRANT"}, "lease.grant"},
      {{"LEASE.GRANT", "1", "2"}, "lease.grant"}, {{"LEASE.KEEPALIVE"}, "lease.keepalive"},
      {{"LEASE.REVOKE"}, "lease.revoke"},    {{"LEASE.TTL"}, "lease.ttl"},
      {{"LEASE.LIST", "x"}, "lease.list"},   {{"LOCK.ACQUIRE", "n"}, "lock.acquire"},
      {{"LOCK.RELEASE", "n"}, "lock.release"}, {{"LOCK.OWNER"}, "lock.owner"},
      {{"ELECT.CAMPAIGN", "n", "1"}, "elect.campaign"}, {{"ELECT.LEADER"}, "elect.leader"},
      {{"ELECT.RESIGN", "n"}, "elect.resign"}, {{"ELECT.PROCLAIM", "n", "1"}, "elect.proclaim"},
      {{"QUERY"}, "query"},                  {{"COMPACT"}, "compact"},
      {{"SNAPSHOT", "x"}, "snapshot"},       {{"kv.PuT", "k"}, "kv.put"},
  };
  for (const auto& [args, name] : cases) {
    EXPECT_EQ(error_of(c.command(args)), "ERR wrong number of arguments for '" + name + "' command") << name;
  }
}

TEST_F(KvTest, NonNumericAndOutOfRangeNumbersAreRefused) {
  RespConnection c(port());
  const std::string kNotInt = "ERR value is not an integer or out of range";
  const std::vector<Args> cases = {
      {"LEASE.GRANT", "1.5"},          {"LEASE.GRANT", " 5"},         {"LEASE.GRANT", "-0"},
      {"LEASE.KEEPALIVE", "abc"},      {"LEASE.REVOKE", "9223372036854775808"},
      {"LEASE.TTL", ""},               {"CTR.ADD", "k", "0x10"},      {"CTR.SET", "k", "1e3"},
      {"KV.UNWATCH", "one"},           {"COMPACT", "+1"},             {"KV.GET", "k", "REV", "01"},
  };
  for (const Args& a : cases) {
    EXPECT_EQ(error_of(c.command(a)), kNotInt) << a[0] << " " << a.back();
  }
}

// Garbage in every position of every command: the server answers each with an error (or a
// reply) and stays up.
TEST_F(KvTest, BadInputNeverCrashesTheServer) {
  RespConnection c(port());
  const std::vector<std::string> commands = {
      "KV.PUT",      "KV.GET",       "KV.DEL",          "KV.MPUT",      "KV.MGET",     "KV.MDEL",
      "KV.RANGE",    "KV.CLEAR",     "KV.COUNT",        "KV.WATCH",     "KV.UNWATCH",  "CTR.ADD",
      "CTR.GET",     "CTR.SET",      "LEASE.GRANT",     "LEASE.KEEPALIVE", "LEASE.REVOKE", "LEASE.TTL",
      "LEASE.LIST",  "LOCK.ACQUIRE", "LOCK.RELEASE",    "LOCK.OWNER",   "ELECT.CAMPAIGN", "ELECT.LEADER",
      "ELECT.RESIGN", "ELECT.PROCLAIM", "TXN.COMMIT",   "QUERY",        "COMPACT",     "SNAPSHOT"};
  const std::vector<std::string> junk = {"",   "-1",  "0",     "9223372036854775807", "-9223372036854775808",
                                         "x",  "PUT", "WHERE", "LIMIT",               "PREFIX",
                                         "IN", "99999999999999999999", std::string("\0\r\n", 3)};
  int replies = 0;
  for (const std::string& cmd : commands) {
    if (cmd == "KV.CLEAR" || cmd == "SNAPSHOT" || cmd == "KV.WATCH") continue;  // would clear, or enter watch mode
    for (size_t n = 1; n <= 5; ++n) {
      for (const std::string& j : junk) {
        Args a = {cmd};
        for (size_t i = 0; i < n; ++i) a.push_back(i % 2 == 0 ? j : junk[(i * 7 + j.size()) % junk.size()]);
        Value v = c.command(a);
        ASSERT_NE(v.str, "<closed>") << cmd << " with " << n << " args";
        ++replies;
      }
    }
  }
  EXPECT_GT(replies, 1000);
  EXPECT_EQ(c.command({"PING"}).str, "PONG");
  // KV.WATCH junk on its own connection (a success enters watch mode).
  for (const std::string& j : junk) {
    RespConnection w(port());
    for (const Args& a : std::vector<Args>{{"KV.WATCH", j, j}, {"KV.WATCH", "KEY", "k", j}, {"KV.WATCH", "PREFIX", j, "FROM", j}}) {
      ASSERT_NE(w.command(a).str, "<closed>");
    }
  }
  EXPECT_EQ(c.command({"PING"}).str, "PONG");
}

// COMMAND INFO for DKV commands (protocol.md 2.1): arity as section 3, flags, key positions.
TEST_F(KvTest, CommandInfoDescribesDkvCommands) {
  RespConnection c(port());
  struct Expected {
    std::string name;
    int64_t arity;
    std::vector<std::string> flags;
    int64_t first, last, step;
  };
  const std::vector<Expected> table = {
      {"kv.put", -3, {"write", "fast"}, 1, 1, 1},       {"kv.get", -2, {"readonly", "fast"}, 1, 1, 1},
      {"kv.del", -2, {"write", "fast"}, 1, 1, 1},       {"kv.mput", -4, {"write"}, 2, -1, 2},
      {"kv.mget", -2, {"readonly"}, 1, -1, 1},          {"kv.mdel", -2, {"write"}, 1, -1, 1},
      {"kv.range", -3, {"readonly"}, 0, 0, 0},          {"kv.clear", -1, {"write"}, 0, 0, 0},
      {"kv.count", -1, {"readonly"}, 0, 0, 0},          {"kv.watch", -3, {"pubsub"}, 0, 0, 0},
      {"kv.unwatch", 2, {"pubsub"}, 0, 0, 0},           {"ctr.add", -3, {"write", "fast"}, 1, 1, 1},
      {"ctr.get", 2, {"readonly", "fast"}, 1, 1, 1},    {"ctr.set", -3, {"write", "fast"}, 1, 1, 1},
      {"lease.grant", 2, {"write"}, 0, 0, 0},           {"lease.keepalive", 2, {"write"}, 0, 0, 0},
      {"lease.revoke", 2, {"write"}, 0, 0, 0},          {"lease.ttl", -2, {"readonly"}, 0, 0, 0},
      {"lease.list", 1, {"readonly"}, 0, 0, 0},         {"lock.acquire", -3, {"write", "blocking"}, 0, 0, 0},
      {"lock.release", 3, {"write"}, 0, 0, 0},          {"lock.owner", 2, {"readonly"}, 0, 0, 0},
      {"elect.campaign", -4, {"write", "blocking"}, 0, 0, 0}, {"elect.leader", 2, {"readonly"}, 0, 0, 0},
      {"elect.resign", 3, {"write"}, 0, 0, 0},          {"elect.proclaim", 4, {"write"}, 0, 0, 0},
      {"txn.commit", -1, {"write"}, 0, 0, 0},           {"query", -2, {"readonly"}, 0, 0, 0},
      {"compact", 2, {"write", "admin"}, 0, 0, 0},      {"snapshot", 1, {"admin"}, 0, 0, 0},
  };
  for (const Expected& e : table) {
    Value info = c.command({"COMMAND", "INFO", e.name});
    ASSERT_EQ(info.type, Type::kArray) << e.name;
    ASSERT_EQ(info.elements.size(), 1u) << e.name;
    const Value& entry = info.elements[0];
    ASSERT_EQ(entry.elements.size(), 10u) << e.name << ": " << entry.debug_string();
    EXPECT_EQ(entry.elements[0].str, e.name);
    EXPECT_EQ(entry.elements[1].integer, e.arity) << e.name;
    std::vector<std::string> flags;
    for (const Value& f : entry.elements[2].elements) flags.push_back(f.str);
    EXPECT_EQ(flags, e.flags) << e.name;
    EXPECT_EQ(entry.elements[3].integer, e.first) << e.name;
    EXPECT_EQ(entry.elements[4].integer, e.last) << e.name;
    EXPECT_EQ(entry.elements[5].integer, e.step) << e.name;
    std::vector<std::string> categories;
    for (const Value& cat : entry.elements[6].elements) categories.push_back(cat.str);
    // protocol.md 2.1: @dkv; @admin @slow @dangerous, else @write or @read; then the family's.
    auto flagged = [&](const char* f) { return std::find(e.flags.begin(), e.flags.end(), f) != e.flags.end(); };
    std::vector<std::string> expected = {"@dkv"};
    if (flagged("admin")) {
      expected.insert(expected.end(), {"@admin", "@slow", "@dangerous"});
    } else {
      expected.push_back(flagged("write") ? "@write" : "@read");
    }
    const std::string name = e.name;
    if (name == "kv.watch" || name == "kv.unwatch") expected.push_back("@watch");
    if (name.starts_with("lease.")) expected.push_back("@lease");
    if (name.starts_with("lock.") || name.starts_with("elect.")) expected.push_back("@lock");
    EXPECT_EQ(categories, expected) << e.name;
  }
}

// DKV commands cannot be queued in MULTI (protocol.md 2.5), KV.WATCH included (4.1).
TEST_F(KvTest, DkvCommandsAreRefusedInsideMulti) {
  RespConnection c(port());
  ASSERT_EQ(c.command({"MULTI"}).str, "OK");
  EXPECT_EQ(error_of(c.command({"KV.PUT", "multi:k", "v"})), "ERR Command not allowed inside a transaction");
  EXPECT_EQ(error_of(c.command({"KV.WATCH", "KEY", "multi:k"})), "ERR Command not allowed inside a transaction");
  EXPECT_EQ(c.command({"SET", "multi:k", "v"}).str, "QUEUED");
  EXPECT_EQ(code_of(c.command({"EXEC"})), "EXECABORT");
  EXPECT_TRUE(c.command({"KV.GET", "multi:k"}).is_null());
  // Not in watch mode: the refused KV.WATCH started nothing.
  EXPECT_EQ(c.command({"GET", "multi:k"}).type, Type::kNull);
}

// --- admin HTTP -------------------------------------------------------------------------------

TEST_F(KvTest, AdminHealthAndMetrics) {
  ASSERT_GT(server_->admin_port(), 0);
  std::string health = http_request(server_->admin_port(), "GET", "/health");
  EXPECT_EQ(health.rfind("HTTP/1.1 200", 0), 0u) << health;
  EXPECT_NE(health.find("\r\n\r\nok\n"), std::string::npos) << health;
  EXPECT_NE(health.find("Content-Type: text/plain; charset=utf-8"), std::string::npos) << health;

  RespConnection c(port());
  ASSERT_EQ(c.command({"KV.PUT", "metrics:k", "v"}).type, Type::kArray);
  EXPECT_EQ(code_of(c.command({"KV.PUT", "metrics:k", "v", "IFABSENT"})), "CONFLICT");
  std::string metrics = http_request(server_->admin_port(), "GET", "/metrics");
  EXPECT_EQ(metrics.rfind("HTTP/1.1 200", 0), 0u) << metrics.substr(0, 200);
  EXPECT_NE(metrics.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(metrics.find("dkv_commands_total{cmd=\"kv.put\"}"), std::string::npos);
  EXPECT_NE(metrics.find("dkv_command_errors_total{cmd=\"kv.put\",code=\"CONFLICT\"}"), std::string::npos);
  EXPECT_NE(metrics.find("dkv_command_duration_seconds_bucket{cmd=\"kv.put\",le=\"0.0001\"}"), std::string::npos);
  for (const char* name : {"dkv_keys ", "dkv_memory_bytes ", "dkv_revision ", "dkv_raft_term ", "dkv_raft_commit_index ",
                           "dkv_raft_applied_index ", "dkv_connected_clients ", "dkv_watchers "}) {
    EXPECT_NE(metrics.find(std::string("\n") + name), std::string::npos) << name;
  }
  for (const char* role : {"leader", "follower", "candidate", "learner"}) {
    EXPECT_NE(metrics.find(std::string("dkv_raft_role{role=\"") + role + "\"}"), std::string::npos) << role;
  }
  EXPECT_NE(metrics.find("dkv_raft_role{role=\"leader\"} 1"), std::string::npos);

  EXPECT_EQ(http_request(server_->admin_port(), "GET", "/nope").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(http_request(server_->admin_port(), "POST", "/health").rfind("HTTP/1.1 405", 0), 0u);
  // Simulated network faults only with --fault-injection.
  const std::string refused = http_request(server_->admin_port(), "POST", "/debug/network?block=2");
  EXPECT_EQ(refused.rfind("HTTP/1.1 403", 0), 0u) << refused;
  EXPECT_NE(refused.find("start dkv-server with --fault-injection"), std::string::npos) << refused;
}

// --- other clients ----------------------------------------------------------------------------

TEST_F(KvTest, RedisCliRunsDkvCommands) {
  const std::string cli = "redis-cli -p " + std::to_string(port()) + " ";
  int status = -1;
  std::string put = run_shell(cli + "KV.PUT cli:k hello LABELS 1 color blue", &status);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(put, "version\n1\nrevision\n" + std::to_string(std::stoll(put.substr(put.rfind("revision\n") + 9))) + "\n")
      << put;
  std::string get = run_shell(cli + "--raw KV.GET cli:k", &status);
  EXPECT_NE(get.find("value\nhello\n"), std::string::npos) << get;
  EXPECT_NE(get.find("labels\ncolor\nblue\n"), std::string::npos) << get;
  std::string ctr = run_shell(cli + "CTR.ADD cli:ctr 5", &status);
  EXPECT_EQ(ctr, "0\n5\n");
  // redis-cli (not on a terminal) prints an error reply's text and a blank line.
  std::string err = run_shell(cli + "KV.PUT cli:k v BOGUS 2>&1", &status);
  EXPECT_EQ(err.rfind("ERR syntax error\n", 0), 0u) << err;
  // RESP3: a map prints one "field value" line per entry.
  std::string resp3_get = run_shell(cli + "-3 KV.GET cli:k 2>&1", &status);
  EXPECT_NE(resp3_get.find("\nvalue hello\n"), std::string::npos) << resp3_get;
  EXPECT_NE(resp3_get.find("\nlabels color blue\n"), std::string::npos) << resp3_get;
}

TEST_F(KvTest, PythonRedisClientRunsDkvCommands) {
  const std::string script = R"PY(
import sys, redis
port = int(sys.argv[1])
import inspect
# redis-py learned RESP3 (protocol=3) in 5.0; Debian's may be older: then RESP2 only.
resp3 = "protocol" in inspect.signature(redis.Redis.__init__).parameters
for proto in ((2, 3) if resp3 else (2,)):
    r = redis.Redis(port=port, protocol=proto) if resp3 else redis.Redis(port=port)
    put = r.execute_command("KV.PUT", "py:k%d" % proto, "v", "TTL", "600000")
    if proto == 3:
        assert put[b"version"] == 1, put
    else:
        assert put[0] == b"version" and put[1] == 1, put
    got = r.execute_command("KV.GET", "py:k%d" % proto)
    fields = got if proto == 3 else dict(zip(got[0::2], got[1::2]))
    assert fields[b"value"] == b"v", got
    assert fields[b"ttl_ms"] > 0, got
    assert r.execute_command("KV.GET", "py:absent") is None
    try:
        r.execute_command("KV.PUT", "py:k%d" % proto, "v", "IFABSENT")
        raise SystemExit("no conflict")
    except redis.ResponseError as e:
        assert str(e).startswith("CONFLICT"), e
    assert r.execute_command("CTR.ADD", "py:c%d" % proto, "3") == [0, 3]
    rng = r.execute_command("KV.RANGE", "PREFIX", "py:", "COUNT")
    count = rng[b"count"] if proto == 3 else rng[1]
    assert count >= 2, rng
    print("ok", proto)
)PY";
  TempDir dir;
  const std::string path = dir.path() + "/client.py";
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs(script.c_str(), f);
  fclose(f);
  int status = -1;
  std::string out = run_shell("/usr/bin/python3 " + path + " " + std::to_string(port()) + " 2>&1", &status);
  // "ok 3" too where redis-py speaks RESP3.
  EXPECT_TRUE(out == "ok 2\n" || out == "ok 2\nok 3\n") << out;
  EXPECT_EQ(status, 0);
}

}  // namespace
}  // namespace dkv::testing
