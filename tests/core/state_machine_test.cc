// StateMachine driven by explicit commands and timestamps: every operation, option and error.
#include "core/state_machine.h"

#include <xxhash.h>

#include "gtest/gtest.h"

namespace dkv::core {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;

class MachineTest : public ::testing::Test {
 protected:
  CommandResult run(CommandBody body, int64_t at = -1) {
    if (at >= 0) now = at;
    return sm.apply(Command{now, std::move(body)}, &events);
  }
  template <typename T>
  T ok(CommandBody body) {
    CommandResult r = run(std::move(body));
    EXPECT_TRUE(r.status.ok()) << r.status.to_string();
    return std::get<T>(r.body);
  }
  PutResult put(std::string key, std::string value, PutOptions o = {}) {
    return ok<PutResult>(PutCmd{std::move(key), std::move(value), std::move(o)});
  }
  Code put_code(std::string key, std::string value, PutOptions o = {}) {
    return run(PutCmd{std::move(key), std::move(value), std::move(o)}).status.code();
  }
  Result<KeyValue> get(std::string_view key, int64_t revision = 0) {
    return sm.get(key, {.revision = revision}, now);
  }
  int64_t grant(int64_t ttl) { return ok<LeaseGrant>(LeaseGrantCmd{ttl}).id; }

  StateMachine sm;
  std::vector<Event> events;
  int64_t now = kT0;
};

TEST_F(MachineTest, PutCreatesAndUpdatesWithVersionsRevisionsAndTimes) {
  EXPECT_EQ(put("a", "1"), (PutResult{1, 1}));
  now += 10;
  EXPECT_EQ(put("a", "2"), (PutResult{2, 2}));
  auto kv = get("a");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->value, "2");
  EXPECT_EQ(kv->version, 2);
  EXPECT_EQ(kv->create_revision, 1);
  EXPECT_EQ(kv->mod_revision, 2);
  EXPECT_EQ(kv->created_at_ms, kT0);
  EXPECT_EQ(kv->updated_at_ms, kT0 + 10);
  EXPECT_EQ(kv->ttl_ms, -1);
  ASSERT_TRUE(ok<DeleteResult>(DeleteCmd{"a", {}}).deleted);
  EXPECT_EQ(put("a", "3"), (PutResult{1, 4}));  // version resets on re-create
  EXPECT_EQ(get("a")->create_revision, 4);
}

TEST_F(MachineTest, PutStoresBinaryKeysValuesAndMetadata) {
  std::string key("k\0\xff", 3), value("\0v\0", 3);
  put(key, value, {.entity = "user", .content_type = "text/plain", .labels = {{"x", "1"}}});
  auto kv = get(key);
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->value, value);
  EXPECT_EQ(kv->entity, "user");
  EXPECT_EQ(kv->content_type, "text/plain");
  EXPECT_EQ(kv->labels, (Labels{{"x", "1"}}));
}

TEST_F(MachineTest, PutRejectsBadArguments) {
  EXPECT_EQ(put_code("", "v"), Code::kInvalidArgument);
  EXPECT_EQ(put_code("k", "v", {.ttl_ms = -1}), Code::kInvalidArgument);
  int64_t lease = grant(1000);
  CommandResult both = run(PutCmd{"k", "v", {.ttl_ms = 5, .lease = lease}});
  EXPECT_EQ(both.status.code(), Code::kInvalidArgument);
  EXPECT_NE(both.status.message().find("mutually exclusive"), std::string::npos);
  EXPECT_EQ(put_code("k", "v", {.lease = 999}), Code::kLeaseNotFound);
  EXPECT_EQ(sm.revision(), 0);
  EXPECT_TRUE(events.empty());
}

TEST_F(MachineTest, ConditionalPutsConflictAndChangeNothing) {
  put("k", "1");
  EXPECT_EQ(put_code("k", "2", {.if_absent = true}), Code::kConflict);
  EXPECT_EQ(put_code("k", "2", {.if_match = 5}), Code::kConflict);
  EXPECT_EQ(put_code("new", "2", {.if_match = 1}), Code::kConflict);
  EXPECT_EQ(sm.revision(), 1);
  EXPECT_EQ(get("k")->value, "1");
  EXPECT_EQ(put("k", "2", {.if_match = 1}).version, 2);
  EXPECT_EQ(put("other", "x", {.if_absent = true}).version, 1);
}

TEST_F(MachineTest, TtlHidesKeyAtDeadlineAndExpireRemovesIt) {
  put("s", "v", {.ttl_ms = 100});
  EXPECT_EQ(get("s")->ttl_ms, 100);
  EXPECT_TRUE(sm.due(kT0 + 99, 10).empty());
  now = kT0 + 100;
  EXPECT_EQ(get("s").code(), Code::kNotFound);
  EXPECT_EQ(sm.count("", now), 0);
  DueWork due = sm.due(now, 10);
  ASSERT_EQ(due.keys, std::vector<std::string>{"s"});
  events.clear();
  ExpireResult r = ok<ExpireResult>(ExpireCmd{due.keys, {}});
  EXPECT_EQ(r.keys, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::kExpire);
  EXPECT_EQ(sm.stats().keys, 0);
  EXPECT_TRUE(sm.due(now, 10).empty());
}

TEST_F(MachineTest, StaleExpireDoesNothingAfterRePut) {
  put("s", "v", {.ttl_ms = 10});
  now += 10;
  DueWork due = sm.due(now, 10);
  put("s", "v2", {.ttl_ms = 1000});
  int64_t rev = sm.revision();
  EXPECT_EQ(ok<ExpireResult>(ExpireCmd{due.keys, {}}).keys, 0);
  EXPECT_EQ(sm.revision(), rev);
  EXPECT_EQ(get("s")->value, "v2");
}

TEST_F(MachineTest, KeepTtlKeepsTheDeadline) {
  put("k", "1", {.ttl_ms = 100});
  now += 50;
  put("k", "2", {.keep_ttl = true});
  EXPECT_EQ(get("k")->ttl_ms, 50);
  put("k", "3");
  EXPECT_EQ(get("k")->ttl_ms, -1);
}

TEST_F(MachineTest, PutOverExpiredKeyRecreatesIt) {
  put("k", "old", {.ttl_ms = 10});
  now += 20;
  events.clear();
  PutResult r = put("k", "new");
  EXPECT_EQ(r.version, 1);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, EventType::kExpire);
  EXPECT_EQ(events[1].type, EventType::kPut);
  EXPECT_EQ(events[0].revision, events[1].revision);
}

TEST_F(MachineTest, GetAtRevisionAndCompaction) {
  put("k", "1");
  put("k", "2");
  ok<DeleteResult>(DeleteCmd{"k", {}});
  put("k", "4");
  EXPECT_EQ(get("k", 1)->value, "1");
  EXPECT_EQ(get("k", 2)->value, "2");
  EXPECT_EQ(get("k", 3).code(), Code::kNotFound);
  EXPECT_EQ(get("k", 4)->value, "4");
  EXPECT_EQ(get("k", 9).code(), Code::kInvalidArgument);
  EXPECT_EQ(ok<RevisionResult>(CompactCmd{2}).revision, 2);
  EXPECT_EQ(get("k", 1).code(), Code::kCompacted);
  EXPECT_EQ(get("k", 2)->value, "2");
  EXPECT_EQ(run(CompactCmd{99}).status.code(), Code::kInvalidArgument);
  ok<RevisionResult>(CompactCmd{4});
  EXPECT_EQ(sm.stats().history_versions, 0);
  EXPECT_EQ(get("k", 4)->value, "4");
}

TEST_F(MachineTest, DeleteOptionsAndAbsentKeys) {
  put("k", "1");
  DeleteResult absent = ok<DeleteResult>(DeleteCmd{"nope", {}});
  EXPECT_FALSE(absent.deleted);
  EXPECT_EQ(absent.revision, 1);
  EXPECT_EQ(sm.revision(), 1);
  EXPECT_EQ(run(DeleteCmd{"k", {.if_match = 7}}).status.code(), Code::kConflict);
  EXPECT_EQ(run(DeleteCmd{"", {}}).status.code(), Code::kInvalidArgument);
  DeleteResult d = ok<DeleteResult>(DeleteCmd{"k", {.if_match = 1}});
  EXPECT_TRUE(d.deleted);
  EXPECT_EQ(d.revision, 2);
}

TEST_F(MachineTest, BulkCommandsApplyInOneRevisionWithPerItemResults) {
  auto results = ok<MultiPutResult>(MultiPutCmd{{{"a", "1", {}}, {"", "x", {}}, {"b", "2", {}}}});
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0]->revision, 1);
  EXPECT_EQ(results[1].code(), Code::kInvalidArgument);
  EXPECT_EQ(results[2]->revision, 1);
  EXPECT_EQ(sm.revision(), 1);
  auto dels = ok<MultiDeleteResult>(MultiDeleteCmd{{"a", "zz", "b"}});
  EXPECT_TRUE(dels[0]->deleted);
  EXPECT_FALSE(dels[1]->deleted);
  EXPECT_TRUE(dels[2]->deleted);
  EXPECT_EQ(sm.revision(), 2);
}

TEST_F(MachineTest, RangeCountAndClear) {
  for (std::string k : {"a/1", "a/2", "a/3", "b/1"}) put(k, "v" + k);
  put("a/4", "t", {.ttl_ms = 5});
  now += 5;
  auto all = sm.range(KeyRange::prefix("a/"), {}, now);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->count, 3);
  EXPECT_EQ(all->items.front().key, "a/1");
  auto limited = sm.range(KeyRange::prefix("a/"), {.limit = 2, .keys_only = true}, now);
  EXPECT_EQ(limited->items.size(), 2u);
  EXPECT_TRUE(limited->more);
  EXPECT_TRUE(limited->items[0].value.empty());
  auto counted = sm.range({"a/2", "b/"}, {.count_only = true}, now);
  EXPECT_EQ(counted->count, 2);
  EXPECT_TRUE(counted->items.empty());
  EXPECT_EQ(sm.range({"b", "a"}, {}, now).code(), Code::kInvalidArgument);
  EXPECT_EQ(sm.count("a/", now), 3);
  EXPECT_EQ(sm.count("", now), 4);
  int64_t before = sm.revision();
  ClearResult cleared = ok<ClearResult>(ClearCmd{"a/"});
  EXPECT_EQ(cleared.deleted, 3);
  EXPECT_EQ(cleared.revision, before + 1);
  EXPECT_EQ(sm.count("", now), 1);
  // The range as of the earlier revision still shows the cleared keys.
  EXPECT_EQ(sm.range(KeyRange::prefix("a/"), {.revision = before}, now)->count, 4);
}

TEST_F(MachineTest, Counters) {
  EXPECT_EQ(ok<CounterResult>(CounterAddCmd{"c", 5, {}}), (CounterResult{0, 5, 1}));
  EXPECT_EQ(ok<CounterResult>(CounterAddCmd{"c", -2, {}}), (CounterResult{5, 3, 2}));
  EXPECT_EQ(get("c")->value, "3");
  EXPECT_EQ(run(CounterAddCmd{"c", 10, {.max = 10}}).status.code(), Code::kOutOfRange);
  EXPECT_EQ(run(CounterAddCmd{"c", -10, {.min = 0}}).status.code(), Code::kOutOfRange);
  EXPECT_EQ(run(CounterAddCmd{"c", 1, {.min = 5, .max = 1}}).status.code(), Code::kInvalidArgument);
  EXPECT_EQ(sm.counter_get("c", now).value(), 3);
  ok<CounterResult>(CounterSetCmd{"big", INT64_MAX, 0});
  EXPECT_EQ(run(CounterAddCmd{"big", 1, {}}).status.code(), Code::kOverflow);
  put("text", "abc");
  EXPECT_EQ(run(CounterAddCmd{"text", 1, {}}).status.code(), Code::kWrongType);
  EXPECT_EQ(sm.counter_get("text", now).code(), Code::kWrongType);
  // TTL applies only when the add creates the counter (fixed windows).
  ok<CounterResult>(CounterAddCmd{"w", 1, {.ttl_ms = 100}});
  now += 60;
  ok<CounterResult>(CounterAddCmd{"w", 1, {.ttl_ms = 100}});
  EXPECT_EQ(get("w")->ttl_ms, 40);
  now += 40;
  EXPECT_EQ(sm.counter_get("w", now).code(), Code::kNotFound);
  EXPECT_EQ(ok<CounterResult>(CounterAddCmd{"w", 1, {.ttl_ms = 100}}).current, 1);
}

TEST_F(MachineTest, LeasesGrantKeepaliveRevokeAndExpire) {
  int64_t a = grant(1000), b = grant(1000);
  EXPECT_GT(b, a);
  EXPECT_EQ(sm.revision(), 0);  // grants are not visible changes
  EXPECT_EQ(run(LeaseGrantCmd{0}).status.code(), Code::kInvalidArgument);
  put("x", "1", {.lease = a});
  put("y", "2", {.lease = a});
  auto info = sm.lease_info(a, true, now);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->keys, (std::vector<std::string>{"x", "y"}));
  now += 600;
  EXPECT_EQ(sm.lease_info(a, false, now)->remaining_ms, 400);
  EXPECT_EQ(ok<KeepAliveResult>(LeaseKeepAliveCmd{a}).ttl_ms, 1000);
  EXPECT_EQ(sm.lease_info(a, false, now)->remaining_ms, 1000);
  EXPECT_EQ(sm.leases(now).size(), 2u);
  events.clear();
  RevokeResult r = ok<RevokeResult>(LeaseRevokeCmd{a});
  EXPECT_EQ(r.deleted, 2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].revision, events[1].revision);  // one revision for the whole revoke
  EXPECT_EQ(get("x").code(), Code::kNotFound);
  EXPECT_EQ(run(LeaseRevokeCmd{a}).status.code(), Code::kLeaseNotFound);
  // b expires: its key is absent at once, and due() reports the lease.
  put("z", "3", {.lease = b});
  now += 1000;
  EXPECT_EQ(get("z").code(), Code::kNotFound);
  EXPECT_EQ(run(LeaseKeepAliveCmd{b}).status.code(), Code::kLeaseNotFound);
  EXPECT_EQ(put_code("w", "v", {.lease = b}), Code::kLeaseNotFound);
  DueWork due = sm.due(now, 10);
  EXPECT_EQ(due.leases, std::vector<int64_t>{b});
  events.clear();
  EXPECT_EQ(ok<ExpireResult>(ExpireCmd{{}, due.leases}).leases, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::kExpire);
  EXPECT_EQ(sm.stats().leases, 0);
}

TEST_F(MachineTest, LocksWithFencingTokens) {
  int64_t a = grant(1000), b = grant(5000);
  int64_t t1 = ok<TokenResult>(LockAcquireCmd{"L", a}).token;
  EXPECT_EQ(t1, sm.revision());
  EXPECT_EQ(ok<TokenResult>(LockAcquireCmd{"L", a}).token, t1);  // retried acquire
  EXPECT_EQ(run(LockAcquireCmd{"L", b}).status.code(), Code::kLocked);
  EXPECT_EQ(run(LockAcquireCmd{"L", 77}).status.code(), Code::kLeaseNotFound);
  EXPECT_EQ(run(LockAcquireCmd{"", a}).status.code(), Code::kInvalidArgument);
  EXPECT_EQ(sm.lock_owner("L", now)->lease, a);
  EXPECT_EQ(run(LockReleaseCmd{"L", t1 + 1}).status.code(), Code::kFenced);
  ok<RevisionResult>(LockReleaseCmd{"L", t1});
  EXPECT_EQ(sm.lock_owner("L", now).code(), Code::kNotFound);
  EXPECT_EQ(run(LockReleaseCmd{"L", t1}).status.code(), Code::kNotFound);
  int64_t t2 = ok<TokenResult>(LockAcquireCmd{"L", a}).token;
  EXPECT_GT(t2, t1);
  // a's lease runs out: b takes the lock over even before the revoke is proposed.
  now += 1000;
  EXPECT_EQ(sm.lock_owner("L", now).code(), Code::kNotFound);
  int64_t t3 = ok<TokenResult>(LockAcquireCmd{"L", b}).token;
  EXPECT_GT(t3, t2);
  EXPECT_EQ(sm.stats().leases, 1);  // a was reaped
  // Revoking b releases the lock.
  ok<RevokeResult>(LeaseRevokeCmd{b});
  EXPECT_EQ(sm.stats().locks, 0);
}

TEST_F(MachineTest, FencedWrites) {
  int64_t a = grant(1000);
  int64_t token = ok<TokenResult>(LockAcquireCmd{"L", a}).token;
  EXPECT_EQ(put("k", "1", {.fence = Fence{"L", token}}).version, 1);
  EXPECT_EQ(put_code("k", "2", {.fence = Fence{"L", token - 1}}), Code::kFenced);
  EXPECT_EQ(put_code("k", "2", {.fence = Fence{"nope", token}}), Code::kFenced);
  EXPECT_EQ(run(DeleteCmd{"k", {.fence = Fence{"L", token + 100}}}).status.code(), Code::kFenced);
  int64_t e = ok<CampaignResult>(CampaignCmd{"E", a, "me"}).token;
  EXPECT_EQ(put("k", "3", {.fence = Fence{"E", e}}).version, 2);
  ok<RevisionResult>(LockReleaseCmd{"L", token});
  EXPECT_EQ(put_code("k", "4", {.fence = Fence{"L", token}}), Code::kFenced);
  EXPECT_EQ(get("k")->value, "3");
}

TEST_F(MachineTest, ElectionsQueueInOrderAndHandOver) {
  int64_t a = grant(1000), b = grant(2000), c = grant(3000);
  CampaignResult ca = ok<CampaignResult>(CampaignCmd{"E", a, "A"});
  EXPECT_TRUE(ca.leader);
  EXPECT_EQ(ca.token, sm.revision());
  EXPECT_EQ(ok<CampaignResult>(CampaignCmd{"E", b, "B"}), (CampaignResult{false, 0, 1}));
  EXPECT_EQ(ok<CampaignResult>(CampaignCmd{"E", c, "C"}), (CampaignResult{false, 0, 2}));
  EXPECT_EQ(ok<CampaignResult>(CampaignCmd{"E", b, "B"}).position, 1);  // idempotent
  EXPECT_EQ(sm.election_leader("E", now)->value, "A");
  EXPECT_EQ(run(ProclaimCmd{"E", ca.token + 1, "x"}).status.code(), Code::kFenced);
  ok<RevisionResult>(ProclaimCmd{"E", ca.token, "A2"});
  EXPECT_EQ(sm.election_leader("E", now)->value, "A2");
  EXPECT_EQ(run(ResignCmd{"E", ca.token + 5}).status.code(), Code::kFenced);
  events.clear();
  int64_t resign_rev = ok<RevisionResult>(ResignCmd{"E", ca.token}).revision;
  auto leader = sm.election_leader("E", now);
  EXPECT_EQ(leader->value, "B");
  EXPECT_EQ(leader->token, resign_rev);  // hand-over happens in the resign's revision
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].space, WatchSpace::kElections);
  // B's lease expires: C leads once the expiry is applied.
  now += 2000;
  EXPECT_EQ(sm.election_leader("E", now).code(), Code::kNotFound);
  ok<ExpireResult>(ExpireCmd{{}, sm.due(now, 10).leases});
  EXPECT_EQ(sm.election_leader("E", now)->value, "C");
  ok<RevokeResult>(LeaseRevokeCmd{c});
  EXPECT_EQ(sm.stats().elections, 0);
}

TEST_F(MachineTest, TransactionsApplyAtomicallyOrConflict) {
  put("a", "1");
  put("b", "1");
  TxnRequest t;
  t.reads = {{"a", 1}, {"missing", 0}};
  t.conditions = {{"b", CompareTarget::kValue, CompareOp::kEqual, 0, "1"}};
  t.writes = {TxnWrite::make_put("a", "2"), TxnWrite::make_delete("b"),
              TxnWrite::make_put("c", "3")};
  TxnResult r = ok<TxnResult>(TxnCmd{t});
  EXPECT_EQ(r.revision, 3);
  EXPECT_EQ(r.versions, (std::vector<int64_t>{2, 0, 1}));
  EXPECT_EQ(get("a")->mod_revision, 3);
  EXPECT_EQ(get("c")->mod_revision, 3);
  EXPECT_EQ(get("b").code(), Code::kNotFound);
  // Re-running the same transaction now conflicts on a (changed) and b (condition).
  CommandResult again = run(TxnCmd{t});
  EXPECT_EQ(again.status.code(), Code::kConflict);
  EXPECT_NE(again.status.message().find("'a'"), std::string::npos);
  EXPECT_NE(again.status.message().find("'b'"), std::string::npos);
  EXPECT_EQ(sm.revision(), 3);
  TxnRequest cas;
  cas.writes = {TxnWrite::make_put("c", "4", {.if_match = 9})};
  EXPECT_EQ(run(TxnCmd{cas}).status.code(), Code::kConflict);
  TxnRequest cond;
  cond.conditions = {{"a", CompareTarget::kModRevision, CompareOp::kLess, 3, ""}};
  EXPECT_EQ(run(TxnCmd{cond}).status.code(), Code::kConflict);
  cond.conditions[0].op = CompareOp::kEqual;
  EXPECT_EQ(ok<TxnResult>(TxnCmd{cond}).revision, 3);  // no writes: no new revision
}

TEST_F(MachineTest, EventsCarryPrevValuesAndRevisions) {
  put("k", "1");
  put("k", "2");
  ok<DeleteResult>(DeleteCmd{"k", {}});
  ASSERT_EQ(events.size(), 3u);
  EXPECT_FALSE(events[0].prev.has_value());
  ASSERT_TRUE(events[1].prev.has_value());
  EXPECT_EQ(events[1].prev->value, "1");
  EXPECT_EQ(events[2].type, EventType::kDelete);
  EXPECT_EQ(events[2].prev->value, "2");
  EXPECT_EQ(events[2].kv.mod_revision, 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(events[i].revision, i + 1);
}

TEST_F(MachineTest, QueryUsesLabelsOfLiveKeys) {
  put("u/1", "", {.entity = "user", .labels = {{"age", "30"}}});
  put("u/2", "", {.entity = "user", .labels = {{"age", "40"}}});
  put("u/3", "", {.ttl_ms = 5, .entity = "user", .labels = {{"age", "50"}}});
  now += 5;
  Query q{.entity = "user", .where = {{"age", QueryOp::kGe, {"35"}}}};
  auto r = sm.query(q, now);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->items.size(), 1u);
  EXPECT_EQ(r->items[0].key, "u/2");
  ok<DeleteResult>(DeleteCmd{"u/2", {}});
  EXPECT_EQ(sm.query(q, now)->count, 0);
}

TEST_F(MachineTest, ClockNeverRunsBackwards) {
  put("k", "1");
  now = kT0 - 1000;  // a new leader with a slower clock
  put("k", "2");
  EXPECT_EQ(get("k")->updated_at_ms, kT0);
}

TEST_F(MachineTest, CommandsRoundTripThroughTheirEncoding) {
  TxnRequest t;
  t.reads = {{"a", 3}};
  t.conditions = {{"b", CompareTarget::kLease, CompareOp::kGreater, 2, "x"}};
  t.writes = {TxnWrite::make_put("c", "v", {.ttl_ms = 4, .labels = {{"l", "1"}}}),
              TxnWrite::make_delete("d", {.if_match = 2, .fence = Fence{"f", 9}})};
  std::vector<CommandBody> bodies = {
      PutCmd{"k", "v", {.ttl_ms = 1, .if_match = 3, .fence = Fence{"L", 4}, .entity = "e"}},
      DeleteCmd{"k", {.if_match = 1}}, MultiPutCmd{{{"a", "1", {}}, {"b", "2", {.lease = 3}}}},
      MultiDeleteCmd{{"a", "b"}}, ClearCmd{"p/"}, ExpireCmd{{"a"}, {1, 2}},
      CounterAddCmd{"c", -5, {.min = -10, .max = 10, .ttl_ms = 7}}, CounterSetCmd{"c", 9, 3},
      LeaseGrantCmd{100}, LeaseKeepAliveCmd{1}, LeaseRevokeCmd{2}, LockAcquireCmd{"L", 1},
      LockReleaseCmd{"L", 5}, CampaignCmd{"E", 1, "v"}, ResignCmd{"E", 3},
      ProclaimCmd{"E", 3, "w"}, TxnCmd{t}, CompactCmd{12}, AppendCmd{"k", "s"},
      KeyTtlCmd{"k", KeyTtlCmd::Mode::kExpireAt, 5, KeyTtlCmd::Cond::kGt}, ReadCmd{{"a", "b"}},
      MultiCmd{{{"w", 4}}, {MultiOp{PutCmd{"a", "1", {}}}, MultiOp{ReadCmd{{"a"}}}}},
      LeaseRefreshCmd{}, MemberAddressCmd{4, "10.0.0.4:7071", "10.0.0.4:7070"},
      AclSetUserCmd{"alice", {"on", "~app:*", "+@read"}}, AclDelUserCmd{{"alice", "bob"}}};
  ASSERT_EQ(bodies.size(), std::variant_size_v<CommandBody>);
  for (const CommandBody& body : bodies) {
    Command c{kT0, body, Origin{3, 1u << 20}, SessionRequest{~0ull, 7, 5}};
    std::string bytes = encode_command(c);
    Result<Command> back = decode_command(bytes);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(back->body.index(), body.index());
    EXPECT_EQ(back->origin, c.origin);
    EXPECT_EQ(back->session, c.session);
    EXPECT_EQ(encode_command(*back), bytes);
    // Every proper prefix is rejected, never misread.
    for (size_t n = 0; n < bytes.size(); ++n) {
      EXPECT_EQ(decode_command(bytes.substr(0, n)).code(), Code::kInvalidArgument) << n;
    }
    EXPECT_EQ(decode_command(bytes + "x").code(), Code::kInvalidArgument);
  }
  EXPECT_EQ(decode_command(std::string("\x01\xff\x00", 3)).code(), Code::kInvalidArgument);
  // Version 1 (before origins): a command logged by an older server still decodes. With
  // timestamp 0 a version 2 command is 02 op 00 (timestamp) 00 00 (origin) 00 00 00 (session)
  // body.
  std::string v2 = encode_command(Command{0, LeaseRefreshCmd{}, Origin{}});
  ASSERT_EQ(v2.substr(2, 6), std::string(6, '\0'));
  std::string v1 = "\x01" + v2.substr(1, 2) + v2.substr(8);
  Result<Command> old = decode_command(v1);
  ASSERT_TRUE(old.ok()) << old.status().to_string();
  EXPECT_TRUE(std::holds_alternative<LeaseRefreshCmd>(old->body));
  EXPECT_EQ(old->origin, Origin{});
  // Version 2 (before client addresses): a MemberAddressCmd without one.
  std::string v3 = encode_command(Command{0, MemberAddressCmd{4, "h:1", ""}, Origin{}});
  ASSERT_EQ(v3.back(), '\0');  // the empty client address
  std::string v2_member = "\x02" + v3.substr(1, v3.size() - 2);
  Result<Command> member = decode_command(v2_member);
  ASSERT_TRUE(member.ok()) << member.status().to_string();
  EXPECT_EQ(std::get<MemberAddressCmd>(member->body).raft_address, "h:1");
  EXPECT_EQ(decode_command(v2_member + "x").code(), Code::kInvalidArgument);
  EXPECT_EQ(decode_command(std::string("\x09\x00\x00", 3)).code(), Code::kInvalidArgument);
  // A huge declared count is refused without allocating it.
  EXPECT_EQ(decode_command(std::string("\x01\x03\x00\xff\xff\xff\xff\x0f", 8)).code(),
            Code::kInvalidArgument);
}

TEST_F(MachineTest, SnapshotRestoresAnEquivalentMachine) {
  int64_t a = grant(10000), b = grant(10000);
  put("k", "1", {.entity = "e", .labels = {{"n", "5"}}});
  put("k", "2", {.entity = "e", .labels = {{"n", "6"}}});
  put("t", "x", {.ttl_ms = 500});
  put("l", "y", {.lease = a});
  ok<TokenResult>(LockAcquireCmd{"L", a});
  ok<CampaignResult>(CampaignCmd{"E", a, "A"});
  ok<CampaignResult>(CampaignCmd{"E", b, "B"});
  ok<DeleteResult>(DeleteCmd{"gone", {}});
  std::string bytes = sm.save_snapshot();
  StateMachine copy;
  ASSERT_TRUE(copy.restore_snapshot(bytes).ok());
  EXPECT_EQ(copy.save_snapshot(), bytes);
  EXPECT_EQ(copy.revision(), sm.revision());
  EXPECT_EQ(copy.get("k", {.revision = 2}, now)->value, sm.get("k", {.revision = 2}, now)->value);
  EXPECT_EQ(copy.query({.entity = "e", .where = {{"n", QueryOp::kEq, {"6"}}}}, now)->count, 1);
  // Later commands behave identically on both, including expiry and lease hand-over.
  now += 10000;
  std::vector<Event> e1, e2;
  Command revoke{now, ExpireCmd{{"t"}, {a, b}}};
  CommandResult r1 = sm.apply(revoke, &e1);
  CommandResult r2 = copy.apply(revoke, &e2);
  EXPECT_EQ(r1.status, r2.status);
  EXPECT_EQ(e1.size(), e2.size());
  EXPECT_EQ(copy.save_snapshot(), sm.save_snapshot());
  EXPECT_EQ(copy.due(now, 10).keys, sm.due(now, 10).keys);
}

TEST_F(MachineTest, RestoreRejectsCorruptSnapshots) {
  put("k", "v");
  std::string bytes = sm.save_snapshot();
  StateMachine copy;
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 1;
  EXPECT_EQ(copy.restore_snapshot(flipped).code(), Code::kInvalidArgument);
  EXPECT_EQ(copy.restore_snapshot(bytes.substr(0, bytes.size() - 1)).code(), Code::kInvalidArgument);
  EXPECT_EQ(copy.restore_snapshot("").code(), Code::kInvalidArgument);
  EXPECT_EQ(copy.revision(), 0);
  EXPECT_TRUE(copy.restore_snapshot(bytes).ok());
  EXPECT_EQ(copy.get("k", {}, now)->value, "v");
}

TEST_F(MachineTest, MemberAddressesKeepTheClientAddressAndLoadFromAVersion2Snapshot) {
  run(MemberAddressCmd{2, "10.0.0.2:7071", "10.0.0.2:7070"});
  run(MemberAddressCmd{3, "10.0.0.3:7071"});
  run(MemberAddressCmd{2, "10.0.0.2:7081"});  // no client address: the recorded one stays
  EXPECT_EQ(sm.member_addresses().at(2), "10.0.0.2:7081");
  EXPECT_EQ(sm.member_client_addresses().at(2), "10.0.0.2:7070");
  EXPECT_FALSE(sm.member_client_addresses().contains(3));
  StateMachine copy;
  ASSERT_TRUE(copy.restore_snapshot(sm.save_snapshot()).ok());
  EXPECT_EQ(copy.member_client_addresses(), sm.member_client_addresses());
  run(MemberAddressCmd{2, ""});  // forgets both: removed for good
  EXPECT_FALSE(sm.member_addresses().contains(2));
  EXPECT_FALSE(sm.member_client_addresses().contains(2));
  EXPECT_TRUE(sm.removed_members().contains(2));
  run(MemberAddressCmd{2, "10.0.0.2:7071", "10.0.0.2:7070"});  // a removed node's late announcement
  EXPECT_FALSE(sm.member_addresses().contains(2));
  StateMachine after_removal;
  ASSERT_TRUE(after_removal.restore_snapshot(sm.save_snapshot()).ok());
  EXPECT_EQ(after_removal.removed_members(), sm.removed_members());

  // Format 2 ended after the Raft addresses: the same bytes without the (empty) client table.
  StateMachine v2_machine;
  v2_machine.apply(Command{kT0, MemberAddressCmd{3, "10.0.0.3:7071"}}, nullptr);
  std::string v5 = v2_machine.save_snapshot();
  // Empty client, removed and ACL user tables.
  ASSERT_EQ(v5.substr(v5.size() - 11, 3), std::string(3, '\0'));
  std::string v2 = v5.substr(0, v5.size() - 11);
  v2[4] = 2;  // the version byte, after "DKVS"
  const uint64_t sum = XXH64(v2.data(), v2.size(), 0);
  for (int i = 0; i < 8; ++i) v2.push_back(static_cast<char>(sum >> (8 * i)));
  StateMachine loaded;
  ASSERT_TRUE(loaded.restore_snapshot(v2).ok());
  EXPECT_EQ(loaded.member_addresses().at(3), "10.0.0.3:7071");
  EXPECT_TRUE(loaded.member_client_addresses().empty());
}

TEST(AclMachineTest, UsersFollowSetUserRulesAndSurviveASnapshot) {
  StateMachine sm;
  auto run = [&](CommandBody body) { return sm.apply(Command{kT0, std::move(body)}, nullptr); };
  // Before any change: the default user, allowed everything, and nobody else.
  ASSERT_NE(sm.acl_user("default"), nullptr);
  EXPECT_EQ(*sm.acl_user("default"), default_acl_user());
  EXPECT_EQ(sm.acl_user("alice"), nullptr);
  const std::string hash(64, 'a');
  ASSERT_TRUE(run(AclSetUserCmd{"alice", {"on", "#" + hash, "~app:*", "+@read", "+@write", "-del"}}).status.ok());
  const AclUser* alice = sm.acl_user("alice");
  ASSERT_NE(alice, nullptr);
  EXPECT_TRUE(alice->enabled);
  EXPECT_FALSE(alice->nopass);
  EXPECT_EQ(alice->password_hashes, std::vector<std::string>{hash});
  EXPECT_EQ(alice->key_patterns, std::vector<std::string>{"app:*"});
  EXPECT_EQ(describe_acl_user(*alice), "on #" + hash + " ~app:* resetchannels -@all +@read +@write -del");
  // All or nothing: a bad rule changes nothing.
  EXPECT_EQ(run(AclSetUserCmd{"alice", {"off", "bogus"}}).status.code(), Code::kInvalidArgument);
  EXPECT_TRUE(sm.acl_user("alice")->enabled);
  // +@all starts the command rules again; reset makes a new user of it.
  ASSERT_TRUE(run(AclSetUserCmd{"alice", {"+@all", "-flushall"}}).status.ok());
  EXPECT_EQ(sm.acl_user("alice")->command_rules, (std::vector<std::string>{"+@all", "-flushall"}));
  ASSERT_TRUE(run(AclSetUserCmd{"bob", {"reset", "on", "nopass", "allkeys"}}).status.ok());
  StateMachine restored;
  ASSERT_TRUE(restored.restore_snapshot(sm.save_snapshot()).ok());
  EXPECT_EQ(restored.acl_users(), sm.acl_users());
  EXPECT_EQ(restored.acl_users().size(), 3u);  // default, alice, bob
  // DELUSER: the default user stays.
  EXPECT_EQ(run(AclDelUserCmd{{"default"}}).status.code(), Code::kInvalidArgument);
  CommandResult del = run(AclDelUserCmd{{"alice", "nobody"}});
  ASSERT_TRUE(del.status.ok());
  EXPECT_EQ(std::get<ClearResult>(del.body).deleted, 1);
  EXPECT_EQ(sm.acl_user("alice"), nullptr);
}

// --- the commands behind Redis's string, expiry and MULTI commands ---

TEST_F(MachineTest, SetOptionsExistsAbsoluteExpiryAndPreviousValue) {
  EXPECT_EQ(put_code("k", "v", {.if_exists = true}), Code::kConflict);  // SET XX on nothing
  put("k", "1");
  PutResult r = put("k", "2", {.if_exists = true, .prev_kv = true});
  ASSERT_TRUE(r.prev.has_value());
  EXPECT_EQ(r.prev->value, "1");
  // SET NX GET on an existing key: nothing written, the old value still answered.
  CommandResult nx = run(PutCmd{"k", "3", {.if_absent = true, .prev_kv = true}});
  EXPECT_EQ(nx.status.code(), Code::kConflict);
  ASSERT_TRUE(std::get<PutResult>(nx.body).prev.has_value());
  EXPECT_EQ(std::get<PutResult>(nx.body).prev->value, "2");
  EXPECT_EQ(get("k")->value, "2");
  // PXAT in the future sets the deadline; at or before now the put succeeds and the key is gone.
  put("t", "v", {.expires_at_ms = now + 500});
  EXPECT_EQ(get("t")->ttl_ms, 500);
  events.clear();
  put("t", "w", {.expires_at_ms = now});
  EXPECT_EQ(get("t").code(), Code::kNotFound);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, EventType::kPut);
  EXPECT_EQ(events[1].type, EventType::kExpire);
  EXPECT_EQ(events[0].revision, events[1].revision);
  EXPECT_EQ(put_code("t", "v", {.ttl_ms = 5, .expires_at_ms = now + 9}), Code::kInvalidArgument);
  EXPECT_EQ(put_code("t", "v", {.expires_at_ms = -1}), Code::kInvalidArgument);
  // KEEPTTL keeps the key's own deadline.
  put("e", "1", {.ttl_ms = 1000});
  now += 400;
  put("e", "2", {.keep_ttl = true});
  EXPECT_EQ(get("e")->ttl_ms, 600);
}

TEST_F(MachineTest, GetDelAnswersTheDeletedValue) {
  put("k", "v");
  DeleteResult d = ok<DeleteResult>(DeleteCmd{"k", {.prev_kv = true}});
  EXPECT_TRUE(d.deleted);
  ASSERT_TRUE(d.prev.has_value());
  EXPECT_EQ(d.prev->value, "v");
  d = ok<DeleteResult>(DeleteCmd{"k", {.prev_kv = true}});
  EXPECT_FALSE(d.deleted);
  EXPECT_FALSE(d.prev.has_value());
}

TEST_F(MachineTest, AppendCreatesOrExtendsKeepingMetadataAndTtl) {
  AppendResult a = ok<AppendResult>(AppendCmd{"k", "ab"});
  EXPECT_EQ(a.length, 2);
  EXPECT_EQ(a.version, 1);
  put("k", "x", {.ttl_ms = 1000, .entity = "e", .labels = {{"l", "1"}}});
  a = ok<AppendResult>(AppendCmd{"k", "yz"});
  EXPECT_EQ(a.length, 3);
  EXPECT_EQ(a.version, 3);
  auto kv = get("k");
  EXPECT_EQ(kv->value, "xyz");
  EXPECT_EQ(kv->ttl_ms, 1000);
  EXPECT_EQ(kv->entity, "e");
  EXPECT_EQ(run(AppendCmd{"", "x"}).status.code(), Code::kInvalidArgument);
}

TEST_F(MachineTest, KeyTtlFollowsRedisConditions) {
  using Mode = KeyTtlCmd::Mode;
  using Cond = KeyTtlCmd::Cond;
  auto ttl = [&](Mode m, int64_t ms, Cond c = Cond::kAlways) {
    return ok<ChangedResult>(KeyTtlCmd{"k", m, ms, c}).changed;
  };
  EXPECT_FALSE(ttl(Mode::kExpireIn, 100));  // absent key
  put("k", "v");
  EXPECT_FALSE(ttl(Mode::kExpireIn, 100, Cond::kXx));  // no expiry yet
  EXPECT_FALSE(ttl(Mode::kExpireIn, 100, Cond::kGt));  // no expiry counts as infinite
  EXPECT_TRUE(ttl(Mode::kExpireIn, 100, Cond::kLt));
  EXPECT_EQ(get("k")->ttl_ms, 100);
  EXPECT_EQ(get("k")->version, 2);  // a TTL change is a write
  EXPECT_FALSE(ttl(Mode::kExpireIn, 50, Cond::kNx));
  EXPECT_FALSE(ttl(Mode::kExpireIn, 50, Cond::kGt));
  EXPECT_TRUE(ttl(Mode::kExpireIn, 200, Cond::kGt));
  EXPECT_TRUE(ttl(Mode::kExpireAt, now + 150, Cond::kXx));
  EXPECT_EQ(get("k")->ttl_ms, 150);
  EXPECT_TRUE(ttl(Mode::kPersist, 0));
  EXPECT_EQ(get("k")->ttl_ms, -1);
  EXPECT_FALSE(ttl(Mode::kPersist, 0));
  EXPECT_EQ(run(KeyTtlCmd{"k", Mode::kPersist, 0, Cond::kNx}).status.code(),
            Code::kInvalidArgument);
  EXPECT_EQ(run(KeyTtlCmd{"k", Mode::kExpireIn, std::numeric_limits<int64_t>::max()})
                .status.code(),
            Code::kInvalidArgument);
  // EXPIRE 0 (or negative) deletes at once, as a DELETE.
  events.clear();
  EXPECT_TRUE(ttl(Mode::kExpireIn, 0));
  EXPECT_EQ(get("k").code(), Code::kNotFound);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::kDelete);
}

TEST_F(MachineTest, KeyTtlDetachesALeasedKey) {
  int64_t lease = grant(1000);
  put("k", "v", {.lease = lease});
  EXPECT_FALSE(ok<ChangedResult>(KeyTtlCmd{"k", KeyTtlCmd::Mode::kPersist}).changed);
  EXPECT_TRUE(ok<ChangedResult>(KeyTtlCmd{"k", KeyTtlCmd::Mode::kExpireIn, 5000}).changed);
  EXPECT_EQ(get("k")->lease, 0);
  EXPECT_EQ(get("k")->ttl_ms, 5000);
  ok<RevokeResult>(LeaseRevokeCmd{lease});
  EXPECT_TRUE(get("k").ok());  // no longer the lease's
}

TEST_F(MachineTest, MultiAppliesInOrderInOneRevision) {
  put("a", "1");
  MultiCmd m;
  m.watched = {{"a", 1}, {"b", 0}};
  m.ops = {MultiOp{PutCmd{"a", "2", {}}}, MultiOp{ReadCmd{{"a", "b"}}},
           MultiOp{PutCmd{"a", "3", {}}}, MultiOp{CounterAddCmd{"a", 1, {}}},
           MultiOp{CounterAddCmd{"s", 1, {}}}};
  MultiResult r = ok<MultiResult>(m);
  EXPECT_EQ(r.revision, 2);
  ASSERT_EQ(r.results.size(), 5u);
  const ReadResult& read = std::get<ReadResult>(r.results[1].body);
  EXPECT_EQ(read.values[0]->value, "2");  // sees the op before it
  EXPECT_FALSE(read.values[1].has_value());
  EXPECT_EQ(std::get<CounterResult>(r.results[3].body).current, 4);
  EXPECT_EQ(sm.revision(), 2);
  EXPECT_EQ(get("a")->value, "4");
  EXPECT_EQ(get("a")->version, 4);  // one new version per write
  EXPECT_EQ(get("a", 1)->value, "1");  // history before the multi is intact
  EXPECT_EQ(get("a", 2)->value, "4");
}

TEST_F(MachineTest, MultiAbortsWhenAWatchedKeyChangedEvenBackToTheSameVersion) {
  put("a", "1");
  const int64_t seen = get("a")->mod_revision;
  ok<DeleteResult>(DeleteCmd{"a", {}});
  put("a", "1");  // version 1 again, a new mod_revision
  MultiCmd m;
  m.watched = {{"a", seen}};
  m.ops = {MultiOp{PutCmd{"x", "1", {}}}};
  CommandResult r = run(m);
  EXPECT_EQ(r.status.code(), Code::kConflict);
  EXPECT_NE(r.status.message().find("a"), std::string::npos) << r.status.message();
  EXPECT_EQ(get("x").code(), Code::kNotFound);
  // Only the commands EXEC may queue are allowed; nothing applies otherwise.
  m.watched.clear();
  m.ops.push_back(MultiOp{LeaseGrantCmd{100}});
  EXPECT_EQ(run(m).status.code(), Code::kInvalidArgument);
  EXPECT_EQ(get("x").code(), Code::kNotFound);
}

TEST_F(MachineTest, LeaseRefreshGivesEveryLeaseItsFullTtl) {
  int64_t a = grant(1000);
  now += 600;
  int64_t b = grant(5000);
  now += 100;  // a has 300 ms left, b 4900
  run(LeaseRefreshCmd{});
  EXPECT_EQ(sm.lease_info(a, false, now)->remaining_ms, 1000);
  EXPECT_EQ(sm.lease_info(b, false, now)->remaining_ms, 5000);
  EXPECT_EQ(sm.revision(), 0);
}

TEST_F(MachineTest, CountersKeepTtlAndLabels) {
  put("c", "5", {.ttl_ms = 1000, .labels = {{"l", "1"}}});
  ok<CounterResult>(CounterAddCmd{"c", 2, {}});
  EXPECT_EQ(get("c")->ttl_ms, 1000);
  EXPECT_EQ(get("c")->labels, (Labels{{"l", "1"}}));
}

}  // namespace
}  // namespace dkv::core
