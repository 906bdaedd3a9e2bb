// KV.WATCH / KV.UNWATCH over a real dkv-server, checked against docs/protocol.md section 4:
// push shapes in RESP3 and RESP2, SNAPSHOT and its watch-synced marker, FROM, PREVKV, expiry
// events, lock and election watches, RESP2 watch mode, and watch-end on shutdown.
#include <sys/wait.h>

#include <string>
#include <vector>

#include "dkv_test_util.h"

namespace dkv::testing {
namespace {

using Args = std::vector<std::string>;

class WatchTest : public SharedServerTest {};

// Checks one event push: ["watch", id, revision, type, key, value].
void expect_event(const Value& push, int64_t id, const std::string& type, const std::string& key,
                  const std::string& value, int64_t revision = -1) {
  ASSERT_TRUE(push.type == Type::kPush || push.type == Type::kArray) << push.debug_string();
  ASSERT_GE(push.elements.size(), 6u) << push.debug_string();
  EXPECT_EQ(push.elements[0].str, "watch");
  EXPECT_EQ(push.elements[1].integer, id);
  EXPECT_EQ(push.elements[2].type, Type::kInteger);
  if (revision >= 0) {
    EXPECT_EQ(push.elements[2].integer, revision);
  }
  EXPECT_EQ(push.elements[3].str, type);
  EXPECT_EQ(push.elements[4].str, key);
  EXPECT_EQ(push.elements[5].type, Type::kBulkString) << push.debug_string();
  EXPECT_EQ(push.elements[5].str, value);
}

int64_t watch(RespConnection& c, const Args& args) {
  Value id = c.command(args);
  EXPECT_EQ(id.type, Type::kInteger) << id.debug_string();
  return id.integer;
}

TEST_F(WatchTest, KeyWatchPushesPutAndDeleteInResp3) {
  auto w = resp3(port());
  auto c = resp3(port());
  const int64_t id = watch(*w, {"KV.WATCH", "KEY", "w:k"});
  EXPECT_GT(id, 0);
  const int64_t r1 = int_field(c->command({"KV.PUT", "w:k", "v1"}), "revision");
  ASSERT_EQ(c->command({"KV.PUT", "w:other", "x"}).type, Type::kMap);  // not watched
  Value put = w->next_push();
  EXPECT_EQ(put.type, Type::kPush);
  EXPECT_EQ(put.elements.size(), 6u);
  expect_event(put, id, "PUT", "w:k", "v1", r1);
  ASSERT_EQ(c->command({"KV.DEL", "w:k"}).integer, 1);
  // DELETE carries the empty value.
  expect_event(w->next_push(), id, "DELETE", "w:k", "");
  // Commands still work on a watching RESP3 connection, and pushes never split a reply.
  EXPECT_EQ(w->command({"PING"}).str, "PONG");
  EXPECT_EQ(w->command({"KV.UNWATCH", std::to_string(id)}).integer, 1);
  EXPECT_EQ(w->command({"KV.UNWATCH", std::to_string(id)}).integer, 0);
  ASSERT_EQ(c->command({"KV.PUT", "w:k", "v2"}).type, Type::kMap);
  // No push after the UNWATCH reply: the next thing on the wire is the PING reply.
  EXPECT_EQ(w->command({"PING"}).str, "PONG");
  EXPECT_TRUE(w->pushes().empty());
}

TEST_F(WatchTest, PushBytesOnTheWire) {
  // Exact RESP3 frame of an event with PREVKV (protocol.md 4.2).
  auto c = resp3(port());
  ASSERT_EQ(c->command({"KV.PUT", "wire:k", "alice"}).type, Type::kMap);
  RespConnection w(port());
  ASSERT_EQ(w.command({"HELLO", "3"}).type, Type::kMap);
  const int64_t id = watch(w, {"KV.WATCH", "KEY", "wire:k", "PREVKV"});
  const int64_t rev = int_field(c->command({"KV.PUT", "wire:k", "bob"}), "revision");
  Value push = w.next_push();
  ASSERT_EQ(push.type, Type::kPush);
  ASSERT_EQ(push.elements.size(), 7u);
  expect_event(push, id, "PUT", "wire:k", "bob", rev);
  EXPECT_EQ(push.elements[6].str, "alice");
  // The exact bytes, RESP3 then RESP2 (protocol.md 4.2).
  RawConnection raw3(port());
  raw3.send(encode({"HELLO", "3"}) + encode({"KV.WATCH", "KEY", "wire:k", "PREVKV"}));
  raw3.next_frame();
  const std::string id3 = raw3.next_frame();  // ":<id>\r\n"
  RawConnection raw2(port());
  raw2.send(encode({"KV.WATCH", "KEY", "wire:k"}));
  const std::string id2 = raw2.next_frame();
  const std::string r = std::to_string(int_field(c->command({"KV.PUT", "wire:k", "carol"}), "revision"));
  EXPECT_EQ(raw3.next_frame(), ">7\r\n$5\r\nwatch\r\n" + id3 + ":" + r +
                                   "\r\n$3\r\nPUT\r\n$6\r\nwire:k\r\n$5\r\ncarol\r\n$3\r\nbob\r\n");
  EXPECT_EQ(raw2.next_frame(),
            "*6\r\n$5\r\nwatch\r\n" + id2 + ":" + r + "\r\n$3\r\nPUT\r\n$6\r\nwire:k\r\n$5\r\ncarol\r\n");
  ASSERT_EQ(c->command({"KV.DEL", "wire:k"}).integer, 1);
  // The delete's revision: the current one, read by KV.RANGE ... COUNT.
  const std::string d = std::to_string(int_field(c->command({"KV.RANGE", "a", "b", "COUNT"}), "revision"));
  EXPECT_EQ(raw3.next_frame(), ">7\r\n$5\r\nwatch\r\n" + id3 + ":" + d +
                                   "\r\n$6\r\nDELETE\r\n$6\r\nwire:k\r\n$0\r\n\r\n$5\r\ncarol\r\n");
  EXPECT_EQ(raw2.next_frame(),
            "*6\r\n$5\r\nwatch\r\n" + id2 + ":" + d + "\r\n$6\r\nDELETE\r\n$6\r\nwire:k\r\n$0\r\n\r\n");
}

TEST_F(WatchTest, PrefixWatchWithPrevKvAndMultiKeyRevision) {
  auto w = resp3(port());
  auto c = resp3(port());
  ASSERT_EQ(c->command({"KV.PUT", "wp:a", "old"}).type, Type::kMap);
  const int64_t id = watch(*w, {"KV.WATCH", "PREFIX", "wp:", "PREVKV"});
  Value m = c->command({"KV.MPUT", "2", "wp:a", "new", "wp:b", "1"});
  const int64_t rev = int_field(m.elements[0], "revision");
  Value e1 = w->next_push();
  Value e2 = w->next_push();
  expect_event(e1, id, "PUT", "wp:a", "new", rev);
  EXPECT_EQ(e1.elements[6].str, "old");
  expect_event(e2, id, "PUT", "wp:b", "1", rev);
  EXPECT_TRUE(e2.elements[6].is_null());
  ASSERT_EQ(c->command({"KV.MDEL", "wp:a", "wp:b"}).type, Type::kArray);
  Value d1 = w->next_push();
  Value d2 = w->next_push();
  expect_event(d1, id, "DELETE", "wp:a", "");
  expect_event(d2, id, "DELETE", "wp:b", "");
  EXPECT_EQ(d1.elements[2].integer, d2.elements[2].integer);
  EXPECT_EQ(d1.elements[6].str, "new");
}

// A revision's events come in the order the command made them, not key order.
TEST_F(WatchTest, EventsOfOneRevisionKeepTheCommandsOrder) {
  auto w = resp3(port());
  auto c = resp3(port());
  const int64_t id = watch(*w, {"KV.WATCH", "PREFIX", "wo:"});
  ASSERT_EQ(c->command({"KV.MPUT", "3", "wo:c", "3", "wo:a", "1", "wo:b", "2"}).type, Type::kArray);
  Value t = c->command({"TXN.COMMIT", "WRITES", "2", "DEL", "wo:b", "PUT", "wo:a", "9"});
  ASSERT_EQ(t.type, Type::kMap) << t.debug_string();
  expect_event(w->next_push(), id, "PUT", "wo:c", "3");
  expect_event(w->next_push(), id, "PUT", "wo:a", "1");
  expect_event(w->next_push(), id, "PUT", "wo:b", "2");
  const int64_t rev = int_field(t, "revision");
  expect_event(w->next_push(), id, "DELETE", "wo:b", "", rev);
  expect_event(w->next_push(), id, "PUT", "wo:a", "9", rev);
}

TEST_F(WatchTest, SnapshotSendsCurrentValuesThenSyncedThenChanges) {
  auto c = resp3(port());
  ASSERT_EQ(c->command({"KV.MPUT", "2", "ws:b", "2", "ws:a", "1"}).type, Type::kArray);
  const int64_t r = int_field(c->command({"KV.PUT", "zz:unrelated", "x"}), "revision");
  auto w = resp3(port());
  const int64_t id = watch(*w, {"KV.WATCH", "PREFIX", "ws:", "SNAPSHOT", "PREVKV"});
  // Key order, all at the current revision R, prev null.
  Value s1 = w->next_push();
  Value s2 = w->next_push();
  expect_event(s1, id, "PUT", "ws:a", "1", r);
  expect_event(s2, id, "PUT", "ws:b", "2", r);
  EXPECT_TRUE(s1.elements[6].is_null());
  Value synced = w->next_push();
  ASSERT_EQ(synced.type, Type::kPush) << synced.debug_string();
  ASSERT_EQ(synced.elements.size(), 3u);
  EXPECT_EQ(synced.elements[0].str, "watch-synced");
  EXPECT_EQ(synced.elements[1].integer, id);
  EXPECT_EQ(synced.elements[2].integer, r);
  const int64_t r2 = int_field(c->command({"KV.PUT", "ws:a", "3"}), "revision");
  Value change = w->next_push();
  expect_event(change, id, "PUT", "ws:a", "3", r2);
  EXPECT_EQ(change.elements[6].str, "1");
}

// A SNAPSHOT watch pipelined behind the connection's own write sees that write.
TEST_F(WatchTest, SnapshotSeesThePipelinedWriteBeforeIt) {
  auto w = resp3(port());
  w->send_raw(encode({"KV.PUT", "wpp:k", "mine"}) + encode({"KV.WATCH", "KEY", "wpp:k", "SNAPSHOT"}));
  Value put = w->read_value();
  ASSERT_EQ(put.type, Type::kMap) << put.debug_string();
  Value id = w->read_value();
  ASSERT_EQ(id.type, Type::kInteger) << id.debug_string();
  expect_event(w->next_push(), id.integer, "PUT", "wpp:k", "mine", int_field(put, "revision"));
  EXPECT_EQ(w->next_push().elements[0].str, "watch-synced");
}

TEST_F(WatchTest, SnapshotWithoutMatchesStillSendsSynced) {
  auto w = resp3(port());
  const int64_t id = watch(*w, {"KV.WATCH", "KEY", "wsn:none", "SNAPSHOT"});
  Value synced = w->next_push(5000);
  ASSERT_EQ(synced.type, Type::kPush) << synced.debug_string();
  EXPECT_EQ(synced.elements[0].str, "watch-synced");
  EXPECT_EQ(synced.elements[1].integer, id);
  auto c = resp3(port());
  const int64_t rev = int_field(c->command({"KV.PUT", "wsn:none", "v"}), "revision");
  EXPECT_EQ(synced.elements[2].integer, rev - 1);
  expect_event(w->next_push(), id, "PUT", "wsn:none", "v", rev);
}

TEST_F(WatchTest, FromReplaysHistory) {
  auto c = resp3(port());
  const int64_t r1 = int_field(c->command({"KV.PUT", "wf:k", "1"}), "revision");
  const int64_t r2 = int_field(c->command({"KV.PUT", "wf:k", "2"}), "revision");
  auto w = resp3(port());
  const int64_t id = watch(*w, {"KV.WATCH", "KEY", "wf:k", "FROM", std::to_string(r1)});
  expect_event(w->next_push(), id, "PUT", "wf:k", "1", r1);
  expect_event(w->next_push(), id, "PUT", "wf:k", "2", r2);
  // A future revision is allowed: nothing until then.
  const int64_t id2 = watch(*w, {"KV.WATCH", "KEY", "wf:k", "FROM", std::to_string(r2 + 2)});
  ASSERT_EQ(c->command({"KV.PUT", "wf:k", "3"}).type, Type::kMap);  // r2 + 1: id only
  const int64_t r4 = int_field(c->command({"KV.PUT", "wf:k", "4"}), "revision");
  ASSERT_EQ(r4, r2 + 2);
  expect_event(w->next_push(), id, "PUT", "wf:k", "3", r2 + 1);
  expect_event(w->next_push(), id, "PUT", "wf:k", "4", r4);
  expect_event(w->next_push(), id2, "PUT", "wf:k", "4", r4);
}

TEST_F(WatchTest, ArgumentErrors) {
  RespConnection c(port());
  EXPECT_EQ(error_of(c.command({"KV.WATCH", "BOGUS", "k"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"KV.WATCH", "KEY", "k", "BOGUS"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"KV.WATCH", "KEY", "k", "FROM"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"KV.WATCH", "KEY", "k", "SNAPSHOT", "FROM", "1"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"KV.WATCH", "KEY", "k", "FROM", "1", "SNAPSHOT"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"KV.WATCH", "KEY", "k", "PREVKV", "PREVKV"})), "ERR syntax error");
  EXPECT_EQ(error_of(c.command({"KV.WATCH", "KEY", "k", "FROM", "x"})), "ERR value is not an integer or out of range");
  EXPECT_EQ(code_of(c.command({"KV.WATCH", "KEY", "k", "FROM", "-1"})), "ERR");
  EXPECT_EQ(code_of(c.command({"KV.WATCH", "KEY", ""})), "ERR");
  EXPECT_EQ(error_of(c.command({"KV.WATCH", "KEY"})), "ERR wrong number of arguments for 'kv.watch' command");
  EXPECT_EQ(error_of(c.command({"KV.UNWATCH", "x"})), "ERR value is not an integer or out of range");
  EXPECT_EQ(c.command({"KV.UNWATCH", "123456"}).integer, 0);
  // None of these started a watch: not in watch mode.
  EXPECT_EQ(c.command({"KV.PUT", "werr:k", "v"}).type, Type::kArray);
}

TEST_F(WatchTest, TtlExpiryIsAnExpireEvent) {
  auto w = resp3(port());
  auto c = resp3(port());
  const int64_t id = watch(*w, {"KV.WATCH", "KEY", "wt:k"});
  ASSERT_EQ(c->command({"KV.PUT", "wt:k", "v", "TTL", "50"}).type, Type::kMap);
  expect_event(w->next_push(), id, "PUT", "wt:k", "v");
  Value expired = w->next_push(10'000);
  expect_event(expired, id, "EXPIRE", "wt:k", "");
  EXPECT_TRUE(c->command({"KV.GET", "wt:k"}).is_null());
}

TEST_F(WatchTest, LeaseEndsItsKeys) {
  auto w = resp3(port());
  auto c = resp3(port());
  const int64_t id = watch(*w, {"KV.WATCH", "PREFIX", "wl:"});
  const std::string revoked = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  const std::string expiring = std::to_string(c->command({"LEASE.GRANT", "100"}).integer);
  ASSERT_EQ(c->command({"KV.PUT", "wl:r", "v", "LEASE", revoked}).type, Type::kMap);
  ASSERT_EQ(c->command({"KV.PUT", "wl:e", "v", "LEASE", expiring}).type, Type::kMap);
  expect_event(w->next_push(), id, "PUT", "wl:r", "v");
  expect_event(w->next_push(), id, "PUT", "wl:e", "v");
  EXPECT_EQ(c->command({"LEASE.REVOKE", revoked}).integer, 1);
  expect_event(w->next_push(), id, "DELETE", "wl:r", "");
  expect_event(w->next_push(10'000), id, "EXPIRE", "wl:e", "");
  EXPECT_EQ(code_of(c->command({"LEASE.KEEPALIVE", expiring})), "NOLEASE");
  EXPECT_EQ(code_of(c->command({"LEASE.TTL", expiring})), "NOLEASE");
}

TEST_F(WatchTest, LockAndElectionWatches) {
  auto w = resp3(port());
  auto c = resp3(port());
  const int64_t lock_id = watch(*w, {"KV.WATCH", "LOCK", "wlk", "PREVKV"});
  const int64_t elect_id = watch(*w, {"KV.WATCH", "ELECTION", "wel"});
  const std::string a = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  const int64_t token = c->command({"LOCK.ACQUIRE", "wlk", a}).integer;
  Value acquired = w->next_push();
  expect_event(acquired, lock_id, "PUT", "wlk", std::to_string(token), token);
  EXPECT_TRUE(acquired.elements[6].is_null());  // never a prev for locks
  const int64_t released = c->command({"LOCK.RELEASE", "wlk", std::to_string(token)}).integer;
  expect_event(w->next_push(), lock_id, "DELETE", "wlk", "", released);

  const int64_t etoken = int_field(c->command({"ELECT.CAMPAIGN", "wel", a, "me"}), "token");
  expect_event(w->next_push(), elect_id, "PUT", "wel", "me", etoken);
  const int64_t proclaimed = c->command({"ELECT.PROCLAIM", "wel", std::to_string(etoken), "me2"}).integer;
  expect_event(w->next_push(), elect_id, "PUT", "wel", "me2", proclaimed);
  const int64_t resigned = c->command({"ELECT.RESIGN", "wel", std::to_string(etoken)}).integer;
  expect_event(w->next_push(), elect_id, "DELETE", "wel", "", resigned);

  // SNAPSHOT of a lock: its current holder.
  const int64_t token2 = c->command({"LOCK.ACQUIRE", "wlk", a}).integer;
  auto w2 = resp3(port());
  const int64_t snap_id = watch(*w2, {"KV.WATCH", "LOCK", "wlk", "SNAPSHOT"});
  expect_event(w2->next_push(), snap_id, "PUT", "wlk", std::to_string(token2));
  EXPECT_EQ(w2->next_push().elements[0].str, "watch-synced");
}

TEST_F(WatchTest, Resp2WatchModeAllowsOnlyWatchCommands) {
  RespConnection w(port());
  auto c = resp3(port());
  const int64_t id = watch(w, {"KV.WATCH", "KEY", "w2:k"});
  Value refused = w.command({"GET", "w2:k"});
  EXPECT_EQ(error_of(refused),
            "ERR Can't execute 'get': only KV.WATCH / KV.UNWATCH / PING / QUIT are allowed in this context");
  EXPECT_EQ(error_of(w.command({"KV.PUT", "w2:k", "v"})),
            "ERR Can't execute 'kv.put': only KV.WATCH / KV.UNWATCH / PING / QUIT are allowed in this context");
  Value pong = w.command({"PING"});
  ASSERT_EQ(pong.type, Type::kArray) << pong.debug_string();
  ASSERT_EQ(pong.elements.size(), 2u);
  EXPECT_EQ(pong.elements[0].str, "pong");
  EXPECT_EQ(pong.elements[1].str, "");
  Value pong_msg = w.command({"PING", "hi"});
  ASSERT_EQ(pong_msg.elements.size(), 2u);
  EXPECT_EQ(pong_msg.elements[1].str, "hi");
  // A second watch is allowed in watch mode.
  const int64_t id2 = watch(w, {"KV.WATCH", "KEY", "w2:j"});
  EXPECT_GT(id2, id);
  // Events are plain arrays in RESP2.
  const int64_t rev = int_field(c->command({"KV.PUT", "w2:k", "v"}), "revision");
  Value ev = w.read_value();
  ASSERT_EQ(ev.type, Type::kArray) << ev.debug_string();
  expect_event(ev, id, "PUT", "w2:k", "v", rev);
  // Leaving watch mode when the last watch ends.
  EXPECT_EQ(w.command({"KV.UNWATCH", std::to_string(id)}).integer, 1);
  EXPECT_EQ(code_of(w.command({"GET", "w2:k"})), "ERR");
  EXPECT_EQ(w.command({"KV.UNWATCH", std::to_string(id2)}).integer, 1);
  EXPECT_EQ(w.command({"GET", "w2:k"}).str, "v");
  EXPECT_EQ(w.command({"PING"}).str, "PONG");
  // QUIT is allowed in watch mode.
  RespConnection q(port());
  watch(q, {"KV.WATCH", "KEY", "w2:q"});
  EXPECT_EQ(q.command({"QUIT"}).str, "OK");
  EXPECT_TRUE(q.closed_by_peer(5000));
}

// Watch mode starts at the KV.WATCH request: commands pipelined right behind it are judged in
// watch mode although the subscription completes later.
TEST_F(WatchTest, Resp2WatchModeAppliesToCommandsPipelinedAfterKvWatch) {
  RespConnection w(port());
  w.send_raw(encode({"KV.WATCH", "KEY", "w2p:k"}) + encode({"GET", "w2p:k"}) + encode({"PING"}));
  Value id = w.read_value();
  ASSERT_EQ(id.type, Type::kInteger) << id.debug_string();
  EXPECT_EQ(error_of(w.read_value()),
            "ERR Can't execute 'get': only KV.WATCH / KV.UNWATCH / PING / QUIT are allowed in this context");
  Value pong = w.read_value();
  ASSERT_EQ(pong.type, Type::kArray) << pong.debug_string();
  EXPECT_EQ(pong.elements[0].str, "pong");
  // A KV.WATCH that fails leaves the connection out of watch mode.
  RespConnection f(port());
  EXPECT_EQ(code_of(f.command({"KV.WATCH", "KEY", "w2p:k", "FROM", "-1"})), "ERR");
  EXPECT_EQ(f.command({"GET", "w2p:k"}).type, Type::kNull);
}

TEST_F(WatchTest, Resp2EventWireFormat) {
  auto c = resp3(port());
  RespConnection w(port());
  const int64_t id = watch(w, {"KV.WATCH", "KEY", "w2wire:k"});
  ASSERT_EQ(c->command({"KV.PUT", "w2wire:k", "v"}).type, Type::kMap);
  Value put = w.read_value();
  ASSERT_EQ(put.type, Type::kArray);
  ASSERT_EQ(put.elements.size(), 6u);
  EXPECT_EQ(put.elements[1].integer, id);
  ASSERT_EQ(c->command({"KV.DEL", "w2wire:k"}).integer, 1);
  Value del = w.read_value();
  ASSERT_EQ(del.elements.size(), 6u);
  EXPECT_EQ(del.elements[5].type, Type::kBulkString);
  EXPECT_EQ(del.elements[5].str, "");
}

TEST_F(WatchTest, Hello2OnAWatchingResp3ConnectionEntersWatchMode) {
  auto w = resp3(port());
  const int64_t id = watch(*w, {"KV.WATCH", "KEY", "wh:k"});
  EXPECT_EQ(w->command({"GET", "wh:k"}).type, Type::kNull);  // RESP3: everything allowed
  Value hello = w->command({"HELLO", "2"});
  EXPECT_EQ(hello.type, Type::kArray) << hello.debug_string();
  EXPECT_EQ(code_of(w->command({"GET", "wh:k"})), "ERR");
  EXPECT_EQ(w->command({"KV.UNWATCH", std::to_string(id)}).integer, 1);
  EXPECT_EQ(w->command({"GET", "wh:k"}).type, Type::kNull);
}

TEST_F(WatchTest, WatchersMetricCountsLiveWatches) {
  auto w = resp3(port());
  auto metric = [&] {
    std::string m = http_request(server_->admin_port(), "GET", "/metrics");
    size_t at = m.find("\ndkv_watchers ");
    if (at == std::string::npos) return int64_t{-1};
    return static_cast<int64_t>(std::stoll(m.substr(at + 14)));
  };
  auto info_watches = [&] {
    std::string info = w->command({"INFO", "clients"}).str;
    size_t at = info.find("\nwatches:");
    return at == std::string::npos ? int64_t{-1} : static_cast<int64_t>(std::stoll(info.substr(at + 9)));
  };
  const int64_t before = metric();
  const int64_t id = watch(*w, {"KV.WATCH", "KEY", "wm:k"});
  EXPECT_EQ(metric(), before + 1);
  EXPECT_EQ(info_watches(), before + 1);
  // A LOCK.ACQUIRE WAIT (which waits by a watch of its own) is not a KV.WATCH subscription.
  auto c = resp3(port());
  const std::string a = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  const std::string b = std::to_string(c->command({"LEASE.GRANT", "600000"}).integer);
  const int64_t token = c->command({"LOCK.ACQUIRE", "wm:lock", a}).integer;
  auto waiter = resp3(port());
  waiter->send_raw(encode({"LOCK.ACQUIRE", "wm:lock", b, "WAIT", "60000"}));
  std::string info;
  for (int i = 0; i < 1000 && info.find("blocked_clients:1\r\n") == std::string::npos; ++i) {
    if (i > 0) usleep(10'000);  // no event says "blocked": poll INFO
    info = c->command({"INFO", "clients"}).str;
  }
  ASSERT_NE(info.find("blocked_clients:1\r\n"), std::string::npos) << info;
  EXPECT_EQ(metric(), before + 1);
  EXPECT_EQ(info_watches(), before + 1);
  ASSERT_EQ(c->command({"LOCK.RELEASE", "wm:lock", std::to_string(token)}).type, Type::kInteger);
  EXPECT_EQ(waiter->read_value().type, Type::kInteger);
  ASSERT_EQ(w->command({"KV.UNWATCH", std::to_string(id)}).integer, 1);
  EXPECT_EQ(metric(), before);
  EXPECT_EQ(info_watches(), before);
}

// A node restarted from a snapshot has no watch history before it: FROM an older revision is
// COMPACTED, naming the oldest revision still available.
TEST(WatchHistoryTest, FromBelowTheHistoryIsCompacted) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  int64_t rev = 0;
  {
    auto c = resp3(server.port());
    ASSERT_EQ(c->command({"KV.PUT", "k", "1"}).type, Type::kMap);
    rev = int_field(c->command({"KV.PUT", "k", "2"}), "revision");
    ASSERT_EQ(c->command({"SNAPSHOT"}).type, Type::kInteger);
  }
  ASSERT_EQ(server.stop(), 0);
  ASSERT_TRUE(server.start());
  auto c = resp3(server.port());
  Value refused = c->command({"KV.WATCH", "KEY", "k", "FROM", "1"});
  EXPECT_EQ(code_of(refused), "COMPACTED");
  EXPECT_NE(error_of(refused).find(std::to_string(rev + 1)), std::string::npos) << error_of(refused);
  // In RESP2 too; the refused watch leaves the connection out of watch mode.
  RespConnection c2(server.port());
  EXPECT_EQ(code_of(c2.command({"KV.WATCH", "KEY", "k", "FROM", "1"})), "COMPACTED");
  EXPECT_EQ(c2.command({"GET", "k"}).str, "2");
  // FROM the next revision is fine, and SNAPSHOT is the way to re-read.
  const int64_t id = watch(*c, {"KV.WATCH", "KEY", "k", "SNAPSHOT"});
  Value snap = c->next_push();
  ASSERT_GE(snap.elements.size(), 6u) << snap.debug_string();
  EXPECT_EQ(snap.elements[1].integer, id);
  EXPECT_EQ(snap.elements[5].str, "2");
  EXPECT_EQ(c->next_push().elements[0].str, "watch-synced");
}

// A watcher that does not read is cut off once more than 10000 of its events wait unsent
// (protocol.md 4.2, 6); resuming FROM resume_from misses nothing and repeats nothing.
TEST(WatchEndTest, ASlowReaderGetsLaggingAndResumesExactly) {
  // The watch history must hold all 40000 events for the resume (the default keeps 10000).
  DkvServerProcess server("", {"--history-revisions", "100000"});
  ASSERT_TRUE(server.start());
  auto w = resp3(server.port());
  const int64_t id = watch(*w, {"KV.WATCH", "PREFIX", "lag:"});
  auto c = resp3(server.port());
  // 40 revisions of 1000 events of 1 KiB: far more than the socket buffers of a connection that
  // does not read and the 10000-event bound hold together.
  constexpr int kBatches = 40;
  const std::string value(1024, 'v');
  std::vector<int64_t> revisions;
  for (int batch = 0; batch < kBatches; ++batch) {
    Args mput = {"KV.MPUT", "1000"};
    for (int i = 0; i < 1000; ++i) {
      mput.push_back("lag:" + std::to_string(batch) + ":" + std::to_string(i));
      mput.push_back(value);
    }
    Value r = c->command(mput);
    ASSERT_EQ(r.type, Type::kArray) << r.debug_string();
    revisions.push_back(int_field(r.elements[0], "revision"));
  }
  int64_t last_event_revision = 0;
  int64_t events = 0;
  Value end;
  for (;;) {
    Value p = w->next_push(20'000);
    ASSERT_EQ(p.type, Type::kPush) << p.debug_string();
    if (p.elements[0].str == "watch-end") {
      end = p;
      break;
    }
    ASSERT_EQ(p.elements[1].integer, id);
    last_event_revision = p.elements[2].integer;
    ++events;
  }
  ASSERT_EQ(end.elements.size(), 4u);
  EXPECT_EQ(end.elements[1].integer, id);
  const int64_t resume_from = end.elements[3].integer;
  EXPECT_EQ(end.elements[2].str, "LAGGING watch " + std::to_string(id) +
                                     " fell more than 10000 events behind; resume from revision " +
                                     std::to_string(resume_from));
  // Whole revisions only, and the cut is where the delivered events stop.
  EXPECT_EQ(events % 1000, 0);
  EXPECT_LT(events, kBatches * 1000);
  EXPECT_EQ(resume_from, last_event_revision + 1);
  // The watch is gone: UNWATCH says so.
  EXPECT_EQ(w->command({"KV.UNWATCH", std::to_string(id)}).integer, 0);
  const int64_t id2 = watch(*w, {"KV.WATCH", "PREFIX", "lag:", "FROM", std::to_string(resume_from)});
  int64_t resumed = 0;
  int64_t first = 0;
  while (events + resumed < kBatches * 1000) {
    Value p = w->next_push(20'000);
    ASSERT_EQ(p.type, Type::kPush) << p.debug_string();
    ASSERT_EQ(p.elements[0].str, "watch") << p.debug_string();
    ASSERT_EQ(p.elements[1].integer, id2);
    if (resumed == 0) first = p.elements[2].integer;
    ++resumed;
  }
  EXPECT_EQ(first, resume_from);
  EXPECT_EQ(events + resumed, kBatches * 1000);
  EXPECT_EQ(w->command({"PING"}).str, "PONG");
  EXPECT_TRUE(w->pushes().empty());
}

TEST(WatchEndTest, ShutdownEndsWatchesWithCancelled) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  auto w = resp3(server.port());
  auto c = resp3(server.port());
  const int64_t id = watch(*w, {"KV.WATCH", "PREFIX", ""});
  RespConnection w2(server.port());
  const int64_t id2 = watch(w2, {"KV.WATCH", "KEY", "k"});
  const int64_t rev = int_field(c->command({"KV.PUT", "k", "v"}), "revision");
  expect_event(w->next_push(), id, "PUT", "k", "v", rev);
  expect_event(w2.read_value(), id2, "PUT", "k", "v", rev);
  server.process()->signal(SIGTERM);
  Value end = w->next_push(20'000);
  ASSERT_EQ(end.type, Type::kPush) << end.debug_string();
  ASSERT_EQ(end.elements.size(), 4u);
  EXPECT_EQ(end.elements[0].str, "watch-end");
  EXPECT_EQ(end.elements[1].integer, id);
  EXPECT_EQ(end.elements[2].str.rfind("CANCELLED ", 0), 0u) << end.elements[2].str;
  EXPECT_EQ(end.elements[3].integer, rev + 1);
  EXPECT_EQ(end.elements[2].str, "CANCELLED watch " + std::to_string(id) +
                                     " ended: the server is shutting down; resume from revision " +
                                     std::to_string(rev + 1));
  // RESP2: the same elements as an array.
  Value end2 = w2.read_value(20'000);
  ASSERT_EQ(end2.type, Type::kArray) << end2.debug_string();
  ASSERT_EQ(end2.elements.size(), 4u);
  EXPECT_EQ(end2.elements[0].str, "watch-end");
  EXPECT_EQ(end2.elements[1].integer, id2);
  EXPECT_EQ(end2.elements[3].integer, rev + 1);
  EXPECT_TRUE(w->closed_by_peer(20'000));
  // One SIGTERM is the whole shutdown (server.stop() would send another).
  const int status = server.process()->wait_exit(30'000);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << server.process()->output();
}

}  // namespace
}  // namespace dkv::testing
