// dkv::Remote against a real dkv-server: every Client method through dkv::connect, watches
// (live, resumed after a dropped connection and after a server restart), waiting locks and
// elections, and error replies mapped to their Status codes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "client/remote.h"
#include "client/remote_codec.h"
#include "resp/parser.h"
#include "dkv/connect.h"
#include "dkv/coordination.h"
#include "dkv/embedded.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace dkv {
namespace {

using std::chrono::milliseconds;
using testing::DkvServerProcess;

std::string url_of(int port) { return "dkv://127.0.0.1:" + std::to_string(port); }

// Events a watch delivered, for a test thread to wait on.
class EventLog {
 public:
  WatchEventHandler handler() {
    return [this](const Event& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
      cv_.notify_all();
    };
  }
  WatchEndHandler end_handler() {
    return [this](const Status& s) {
      std::lock_guard lock(mu_);
      end_ = s;
      ended_ = true;
      cv_.notify_all();
    };
  }
  // True once at least n events arrived (within 10 s).
  bool wait_for(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return events_.size() >= n; });
  }
  bool wait_for_end() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return ended_; });
  }
  std::vector<Event> events() {
    std::lock_guard lock(mu_);
    return events_;
  }
  Status end() {
    std::lock_guard lock(mu_);
    return end_;
  }
  // "PUT k v", "DELETE k" ... for compact assertions.
  std::vector<std::string> summary() {
    std::vector<std::string> out;
    for (const Event& e : events()) {
      std::string type = e.type == EventType::kPut ? "PUT" : e.type == EventType::kDelete ? "DELETE" : "EXPIRE";
      out.push_back(type + " " + e.kv.key + (e.type == EventType::kPut ? " " + e.kv.value : ""));
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
  Status end_;
  bool ended_ = false;
};

class ClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new DkvServerProcess();
    ASSERT_TRUE(server_->start());
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    Result<std::unique_ptr<Client>> c = connect(url_of(server_->port()));
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    client_ = std::move(c).value();
  }
  Client& c() { return *client_; }
  // A key unique to the running test.
  std::string k(const std::string& suffix) {
    return std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "/" + suffix;
  }

  static DkvServerProcess* server_;
  std::unique_ptr<Client> client_;
};

DkvServerProcess* ClientTest::server_ = nullptr;

TEST(ConnectTest, UrlsSelectTheStore) {
  Result<std::unique_ptr<Client>> embedded = connect("embedded://");
  ASSERT_TRUE(embedded.ok()) << embedded.status().to_string();
  ASSERT_TRUE((*embedded)->put("a", "1").ok());
  EXPECT_EQ((*embedded)->get("a")->value, "1");

  testing::TempDir dir;
  {
    Result<std::unique_ptr<Client>> durable = connect("embedded://" + dir.path() + "/store");
    ASSERT_TRUE(durable.ok()) << durable.status().to_string();
    ASSERT_TRUE((*durable)->put("d", "kept").ok());
  }
  Result<std::unique_ptr<Client>> reopened = connect("embedded://" + dir.path() + "/store");
  ASSERT_TRUE(reopened.ok()) << reopened.status().to_string();
  EXPECT_EQ((*reopened)->get("d")->value, "kept");
  EXPECT_EQ(connect("embedded://relative/path").code(), Code::kInvalidArgument);

  EXPECT_EQ(connect("http://x").code(), Code::kInvalidArgument);
  EXPECT_EQ(connect("dkv://nohost").code(), Code::kInvalidArgument);
  EXPECT_EQ(connect("dkv://127.0.0.1:70000").code(), Code::kInvalidArgument);
  // A port nobody listens on: the backoff gives up at the request timeout.
  EXPECT_EQ(connect("dkv://127.0.0.1:" + std::to_string(testing::free_port())).code(),
            Code::kUnavailable);
}

TEST_F(ClientTest, PutGetDeleteWithMetadata) {
  const std::string key = k("user");
  Result<PutResult> first = c().put(key, "alice",
                                    {.ttl_ms = 600'000, .entity = "user", .content_type = "text/plain",
                                     .labels = {{"role", "admin"}, {"age", "30"}}});
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_EQ(first->version, 1);
  EXPECT_GT(first->revision, 0);

  Result<KeyValue> kv = c().get(key);
  ASSERT_TRUE(kv.ok()) << kv.status().to_string();
  EXPECT_EQ(kv->key, key);
  EXPECT_EQ(kv->value, "alice");
  EXPECT_EQ(kv->version, 1);
  EXPECT_EQ(kv->create_revision, first->revision);
  EXPECT_EQ(kv->mod_revision, first->revision);
  EXPECT_GT(kv->expires_at_ms, 0);
  EXPECT_GT(kv->ttl_ms, 500'000);
  EXPECT_LE(kv->ttl_ms, 600'000);
  EXPECT_EQ(kv->entity, "user");
  EXPECT_EQ(kv->content_type, "text/plain");
  EXPECT_EQ(kv->labels, (Labels{{"age", "30"}, {"role", "admin"}}));

  Result<PutResult> second = c().put(key, "bob", {.if_match = 1});
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_EQ(second->version, 2);
  EXPECT_EQ(c().get(key)->ttl_ms, -1);  // a write replaces the whole key
  EXPECT_EQ(c().get(key, {.revision = first->revision})->value, "alice");

  EXPECT_EQ(c().put(key, "x", {.if_absent = true}).code(), Code::kConflict);
  EXPECT_EQ(c().put(key, "x", {.if_match = 1}).code(), Code::kConflict);
  EXPECT_EQ(c().put("", "x").code(), Code::kInvalidArgument);
  EXPECT_EQ(c().put(key, "x", {.keep_ttl = true}).code(), Code::kInvalidArgument);
  EXPECT_EQ(c().get(key, {.revision = 1'000'000'000}).code(), Code::kInvalidArgument);

  EXPECT_EQ(c().del(key, {.if_match = 7}).code(), Code::kConflict);
  Result<DeleteResult> deleted = c().del(key);
  ASSERT_TRUE(deleted.ok());
  EXPECT_TRUE(deleted->deleted);
  EXPECT_EQ(c().get(key).code(), Code::kNotFound);
  EXPECT_FALSE(c().del(key)->deleted);
}

TEST_F(ClientTest, BulkOperations) {
  std::vector<Result<PutResult>> puts = c().put_many({{k("a"), "1"}, {k("b"), "2"}, {"", "3"}});
  ASSERT_EQ(puts.size(), 3u);
  ASSERT_TRUE(puts[0].ok()) << puts[0].status().to_string();
  ASSERT_TRUE(puts[1].ok());
  EXPECT_EQ(puts[0]->revision, puts[1]->revision);  // one KV.MPUT, one revision
  EXPECT_EQ(puts[2].code(), Code::kInvalidArgument);

  // With options: pipelined KV.PUTs, each on its own.
  puts = c().put_many({{k("c"), "3", {.entity = "thing"}}, {k("a"), "x", {.if_absent = true}}});
  ASSERT_EQ(puts.size(), 2u);
  EXPECT_TRUE(puts[0].ok());
  EXPECT_EQ(puts[1].code(), Code::kConflict);
  EXPECT_EQ(c().get(k("c"))->entity, "thing");

  std::vector<Result<KeyValue>> gets = c().get_many({k("a"), k("missing"), k("c"), ""});
  ASSERT_EQ(gets.size(), 4u);
  EXPECT_EQ(gets[0]->value, "1");
  EXPECT_EQ(gets[1].code(), Code::kNotFound);
  EXPECT_EQ(gets[2]->value, "3");
  EXPECT_EQ(gets[3].code(), Code::kInvalidArgument);

  std::vector<Result<DeleteResult>> dels = c().delete_many({k("a"), k("a"), k("missing")});
  ASSERT_EQ(dels.size(), 3u);
  EXPECT_TRUE(dels[0]->deleted);
  EXPECT_FALSE(dels[1]->deleted);
  EXPECT_FALSE(dels[2]->deleted);
  EXPECT_TRUE(c().put_many({}).empty());
}

TEST_F(ClientTest, RangeCountAndClear) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c().put(k("r/" + std::to_string(i)), std::to_string(i)).ok());
  ASSERT_TRUE(c().put(k("s"), "outside").ok());

  Result<RangeResult> all = c().range(KeyRange::prefix(k("r/")));
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  ASSERT_EQ(all->items.size(), 5u);
  EXPECT_EQ(all->items[0].key, k("r/0"));
  EXPECT_EQ(all->items[4].value, "4");
  EXPECT_EQ(all->count, 5);
  EXPECT_FALSE(all->more);

  Result<RangeResult> page = c().range({k("r/1"), k("r/4")}, {.limit = 2});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[1].key, k("r/2"));
  EXPECT_EQ(page->count, 3);
  EXPECT_TRUE(page->more);

  Result<RangeResult> keys = c().range(KeyRange::prefix(k("r/")), {.keys_only = true});
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->items[2].key, k("r/2"));
  EXPECT_EQ(keys->items[2].value, "");
  Result<RangeResult> counted = c().range(KeyRange::prefix(k("r/")), {.count_only = true});
  ASSERT_TRUE(counted.ok());
  EXPECT_TRUE(counted->items.empty());
  EXPECT_EQ(counted->count, 5);

  Result<RangeResult> before = c().range(KeyRange::prefix(k("r/")), {.revision = all->revision});
  ASSERT_TRUE(c().put(k("r/9"), "9").ok());
  EXPECT_EQ(c().range(KeyRange::prefix(k("r/")), {.revision = all->revision})->count, 5);
  EXPECT_EQ(before->count, 5);
  EXPECT_EQ(c().range({"b", "a"}).code(), Code::kInvalidArgument);
  EXPECT_EQ(c().range({"prefix", ""}).code(), Code::kInvalidArgument);

  EXPECT_EQ(*c().count(k("r/")), 6);
  Result<ClearResult> cleared = c().clear(k("r/"));
  ASSERT_TRUE(cleared.ok());
  EXPECT_EQ(cleared->deleted, 6);
  EXPECT_EQ(*c().count(k("r/")), 0);
  EXPECT_EQ(c().get(k("s"))->value, "outside");
}

TEST_F(ClientTest, Counters) {
  const std::string key = k("hits");
  EXPECT_EQ(c().counter_get(key).code(), Code::kNotFound);
  Result<CounterResult> added = c().counter_add(key, 5);
  ASSERT_TRUE(added.ok()) << added.status().to_string();
  EXPECT_EQ(added->previous, 0);
  EXPECT_EQ(added->current, 5);
  EXPECT_EQ(c().counter_add(key, -2)->current, 3);
  EXPECT_EQ(*c().counter_get(key), 3);
  EXPECT_EQ(c().counter_add(key, 10, {.max = 10}).code(), Code::kOutOfRange);
  EXPECT_EQ(c().counter_add(key, -10, {.min = 0}).code(), Code::kOutOfRange);
  EXPECT_EQ(c().counter_add(key, 1, {.min = 5, .max = 1}).code(), Code::kInvalidArgument);
  Result<CounterResult> set = c().counter_set(key, INT64_MAX);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->previous, 3);
  EXPECT_EQ(c().counter_add(key, 1).code(), Code::kOverflow);
  ASSERT_TRUE(c().put(k("text"), "abc").ok());
  EXPECT_EQ(c().counter_add(k("text"), 1).code(), Code::kWrongType);
  EXPECT_EQ(c().counter_get(k("text")).code(), Code::kWrongType);
  Result<CounterResult> windowed = c().counter_add(k("window"), 1, {.ttl_ms = 60'000});
  ASSERT_TRUE(windowed.ok());
  EXPECT_GT(c().get(k("window"))->ttl_ms, 0);
}

TEST_F(ClientTest, Leases) {
  Result<LeaseGrant> lease = c().lease_grant(60'000);
  ASSERT_TRUE(lease.ok()) << lease.status().to_string();
  EXPECT_GT(lease->id, 0);
  EXPECT_EQ(lease->ttl_ms, 60'000);
  ASSERT_TRUE(c().put(k("a"), "1", {.lease = lease->id}).ok());
  ASSERT_TRUE(c().put(k("b"), "2", {.lease = lease->id}).ok());
  EXPECT_EQ(c().get(k("a"))->lease, lease->id);

  Result<LeaseInfo> info = c().lease_ttl(lease->id, true);
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(info->id, lease->id);
  EXPECT_EQ(info->granted_ttl_ms, 60'000);
  EXPECT_GT(info->remaining_ms, 0);
  EXPECT_EQ(info->keys, (std::vector<std::string>{k("a"), k("b")}));
  EXPECT_TRUE(c().lease_ttl(lease->id)->keys.empty());

  EXPECT_EQ(*c().lease_keepalive(lease->id), 60'000);
  Result<std::vector<LeaseInfo>> list = c().lease_list();
  ASSERT_TRUE(list.ok());
  bool listed = false;
  for (const LeaseInfo& l : *list) listed = listed || l.id == lease->id;
  EXPECT_TRUE(listed);

  Result<RevokeResult> revoked = c().lease_revoke(lease->id);
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(revoked->deleted, 2);
  EXPECT_EQ(c().get(k("a")).code(), Code::kNotFound);
  EXPECT_EQ(c().lease_ttl(lease->id).code(), Code::kLeaseNotFound);
  EXPECT_EQ(c().lease_keepalive(lease->id).code(), Code::kLeaseNotFound);
  EXPECT_EQ(c().lease_revoke(lease->id).code(), Code::kLeaseNotFound);
  EXPECT_EQ(c().put(k("c"), "3", {.lease = lease->id}).code(), Code::kLeaseNotFound);
  EXPECT_EQ(c().lease_grant(0).code(), Code::kInvalidArgument);
}

TEST_F(ClientTest, LeaseKeepAliveHelperOutlivesTheTtl) {
  Result<LeaseGrant> lease = c().lease_grant(600);
  ASSERT_TRUE(lease.ok());
  {
    LeaseKeepAlive keepalive(c(), lease->id, 600);
    // Renewals every 200 ms: after 5 of them the lease has lived well past its 600 ms TTL.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (keepalive.renewals() < 5 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(20));
    }
    ASSERT_GE(keepalive.renewals(), 5);
    EXPECT_FALSE(keepalive.lost());
    EXPECT_TRUE(c().lease_ttl(lease->id).ok());
  }
  // Revoked under the helper's feet: it reports the loss.
  Result<LeaseGrant> other = c().lease_grant(300);
  ASSERT_TRUE(other.ok());
  std::promise<Status> lost;
  LeaseKeepAlive keepalive(c(), other->id, 300, [&](const Status& s) { lost.set_value(s); });
  ASSERT_TRUE(c().lease_revoke(other->id).ok());
  std::future<Status> lost_status = lost.get_future();
  ASSERT_EQ(lost_status.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(lost_status.get().code(), Code::kLeaseNotFound);
  EXPECT_TRUE(keepalive.lost());
}

TEST_F(ClientTest, Locks) {
  Result<LeaseGrant> a = c().lease_grant(60'000);
  Result<LeaseGrant> b = c().lease_grant(60'000);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string name = k("lock");
  Result<int64_t> token = c().lock_acquire(name, a->id);
  ASSERT_TRUE(token.ok()) << token.status().to_string();
  EXPECT_EQ(*c().lock_acquire(name, a->id), *token);  // a retry: same token
  EXPECT_EQ(c().lock_acquire(name, b->id).code(), Code::kLocked);
  EXPECT_EQ(c().lock_acquire_wait(name, b->id, 50).code(), Code::kLocked);  // WAIT ran out

  Result<LockOwner> owner = c().lock_owner(name);
  ASSERT_TRUE(owner.ok());
  EXPECT_EQ(owner->name, name);
  EXPECT_EQ(owner->lease, a->id);
  EXPECT_EQ(owner->token, *token);
  EXPECT_GT(owner->acquired_at_ms, 0);

  EXPECT_TRUE(c().put(k("guarded"), "1", {.fence = Fence{name, *token}}).ok());
  EXPECT_EQ(c().put(k("guarded"), "2", {.fence = Fence{name, *token - 1}}).code(), Code::kFenced);
  EXPECT_EQ(c().del(k("guarded"), {.fence = Fence{name, *token - 1}}).code(), Code::kFenced);
  EXPECT_EQ(c().lock_release(name, *token + 1).code(), Code::kFenced);
  Result<int64_t> released = c().lock_release(name, *token);
  ASSERT_TRUE(released.ok());
  EXPECT_GT(*released, *token);
  EXPECT_EQ(c().lock_release(name, *token).code(), Code::kNotFound);
  EXPECT_EQ(c().lock_owner(name).code(), Code::kNotFound);
  EXPECT_EQ(c().lock_acquire(name, 999'999).code(), Code::kLeaseNotFound);
  EXPECT_EQ(c().lock_acquire("", a->id).code(), Code::kInvalidArgument);
}

// Polls INFO until `blocked_clients` reaches n: the only outside sign that a WAIT is waiting.
bool wait_blocked_clients(Remote& remote, int n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    auto info = remote.info();
    if (info.ok()) {
      for (const auto& [name, value] : *info) {
        if (name == "blocked_clients" && value == std::to_string(n)) return true;
      }
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  return false;
}

TEST_F(ClientTest, LockAcquireWaitsForTheRelease) {
  Result<LeaseGrant> a = c().lease_grant(60'000);
  Result<LeaseGrant> b = c().lease_grant(60'000);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string name = k("lock");
  Lock holder(c(), name, a->id);
  ASSERT_TRUE(holder.acquire().ok());
  Lock waiter(c(), name, b->id);
  auto waited = std::async(std::launch::async, [&] { return waiter.acquire(30'000); });
  ASSERT_TRUE(wait_blocked_clients(dynamic_cast<Remote&>(c()), 1));
  EXPECT_EQ(waited.wait_for(milliseconds(0)), std::future_status::timeout);
  ASSERT_TRUE(holder.release().ok());
  ASSERT_EQ(waited.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  Result<int64_t> token = waited.get();
  ASSERT_TRUE(token.ok()) << token.status().to_string();
  EXPECT_GT(*token, holder.token());
  EXPECT_EQ(c().lock_owner(name)->lease, b->id);
  EXPECT_TRUE(c().put(k("x"), "1", {.fence = waiter.fence()}).ok());
}

TEST_F(ClientTest, Elections) {
  Result<LeaseGrant> a = c().lease_grant(60'000);
  Result<LeaseGrant> b = c().lease_grant(60'000);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string name = k("election");
  EXPECT_EQ(c().election_leader(name).code(), Code::kNotFound);
  Result<CampaignResult> first = c().campaign(name, a->id, "node-a");
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_TRUE(first->leader);
  EXPECT_GT(first->token, 0);
  EXPECT_EQ(first->position, 0);
  Result<CampaignResult> second = c().campaign(name, b->id, "node-b");
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->leader);
  EXPECT_EQ(second->position, 1);

  Result<ElectionLeader> leader = c().election_leader(name);
  ASSERT_TRUE(leader.ok());
  EXPECT_EQ(leader->value, "node-a");
  EXPECT_EQ(leader->lease, a->id);
  EXPECT_EQ(leader->token, first->token);
  ASSERT_TRUE(c().proclaim(name, first->token, "node-a2").ok());
  EXPECT_EQ(c().election_leader(name)->value, "node-a2");
  EXPECT_EQ(c().proclaim(name, first->token + 1000, "x").code(), Code::kFenced);

  // b waits (ELECT.CAMPAIGN WAIT) until a resigns.
  Election candidate(c(), name, b->id);
  auto waited = std::async(std::launch::async, [&] { return candidate.campaign("node-b", 30'000); });
  ASSERT_TRUE(wait_blocked_clients(dynamic_cast<Remote&>(c()), 1));
  ASSERT_TRUE(c().resign(name, first->token).ok());
  ASSERT_EQ(waited.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  Result<CampaignResult> won = waited.get();
  ASSERT_TRUE(won.ok()) << won.status().to_string();
  EXPECT_TRUE(won->leader);
  EXPECT_GT(won->token, first->token);
  EXPECT_TRUE(candidate.leading());
  EXPECT_EQ(c().election_leader(name)->value, "node-b");
  EXPECT_EQ(c().resign(name, first->token).code(), Code::kFenced);
  ASSERT_TRUE(candidate.resign().ok());
  EXPECT_EQ(c().resign(name, won->token).code(), Code::kNotFound);
}

TEST_F(ClientTest, CommitAndReadYourWritesTransactions) {
  ASSERT_TRUE(c().put(k("from"), "10").ok());
  Result<TxnResult> committed = c().commit(
      {.reads = {{k("from"), 1}, {k("absent"), 0}},
       .writes = {TxnWrite::make_put(k("to"), "10", {.entity = "t"}), TxnWrite::make_delete(k("from"))}});
  ASSERT_TRUE(committed.ok()) << committed.status().to_string();
  EXPECT_EQ(committed->versions, (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(c().get(k("to"))->mod_revision, committed->revision);
  EXPECT_EQ(c().get(k("from")).code(), Code::kNotFound);

  Result<TxnResult> conflict = c().commit({.reads = {{k("to"), 7}}, .writes = {TxnWrite::make_put(k("x"), "1")}});
  EXPECT_EQ(conflict.code(), Code::kConflict);
  EXPECT_NE(conflict.status().message().find(k("to")), std::string::npos);
  EXPECT_EQ(c().get(k("x")).code(), Code::kNotFound);
  EXPECT_EQ(c().commit({.conditions = {{.key = k("to"), .target = CompareTarget::kValue, .text = "10"}}}).code(),
            Code::kInvalidArgument);

  Transaction txn = c().begin_transaction();
  ASSERT_EQ(txn.get(k("to"))->value, "10");
  txn.put(k("to"), "11");
  EXPECT_EQ(txn.get(k("to"))->value, "11");  // its own write
  txn.del(k("other"));
  EXPECT_EQ(txn.get(k("other")).code(), Code::kNotFound);
  txn.require({.key = k("to"), .target = CompareTarget::kVersion, .op = CompareOp::kEqual, .number = 1});
  ASSERT_TRUE(txn.commit().ok());
  EXPECT_EQ(c().get(k("to"))->value, "11");

  Transaction stale = c().begin_transaction();
  ASSERT_TRUE(stale.get(k("to")).ok());
  stale.put(k("to"), "12");
  ASSERT_TRUE(c().put(k("to"), "concurrent").ok());
  EXPECT_EQ(stale.commit().code(), Code::kConflict);
  EXPECT_EQ(c().get(k("to"))->value, "concurrent");
}

TEST_F(ClientTest, Queries) {
  const std::string entity = k("person");
  const std::vector<std::pair<std::string, std::string>> people = {
      {"ann", "31"}, {"bob", "25"}, {"cid", "40"}, {"dan", "19"}};
  for (const auto& [name, age] : people) {
    ASSERT_TRUE(c().put(k(name), name, {.entity = entity, .labels = {{"age", age}, {"team", "x"}}}).ok());
  }
  Result<QueryResult> adults = c().query(
      {.entity = entity, .where = {{"age", QueryOp::kGe, {"21"}}}, .order_by = "age", .descending = true});
  ASSERT_TRUE(adults.ok()) << adults.status().to_string();
  ASSERT_EQ(adults->items.size(), 3u);
  EXPECT_EQ(adults->items[0].key, k("cid"));
  EXPECT_EQ(adults->items[2].key, k("bob"));
  EXPECT_EQ(adults->count, 3);
  EXPECT_EQ(adults->items[0].labels.at("team"), "x");

  Result<QueryResult> page1 = c().query({.entity = entity, .order_by = "age", .limit = 2});
  ASSERT_TRUE(page1.ok());
  ASSERT_EQ(page1->items.size(), 2u);
  EXPECT_EQ(page1->items[0].key, k("dan"));
  EXPECT_EQ(page1->count, 4);
  ASSERT_FALSE(page1->next_cursor.empty());
  Result<QueryResult> page2 = c().query({.entity = entity, .order_by = "age", .limit = 2, .cursor = page1->next_cursor});
  ASSERT_TRUE(page2.ok()) << page2.status().to_string();
  ASSERT_EQ(page2->items.size(), 2u);
  EXPECT_EQ(page2->items[1].key, k("cid"));
  EXPECT_TRUE(page2->next_cursor.empty());

  Result<QueryResult> between = c().query(
      {.entity = entity, .where = {{"age", QueryOp::kBetween, {"20", "35"}}, {"team", QueryOp::kIn, {"x", "y"}}},
       .select = {"age"}});
  ASSERT_TRUE(between.ok()) << between.status().to_string();
  ASSERT_EQ(between->items.size(), 2u);
  EXPECT_EQ(between->items[0].labels, (Labels{{"age", "31"}}));
  EXPECT_EQ(between->items[0].value, "");
  Result<QueryResult> counted = c().query({.entity = entity, .count_only = true});
  ASSERT_TRUE(counted.ok());
  EXPECT_EQ(counted->count, 4);
  EXPECT_TRUE(counted->items.empty());
  Result<QueryResult> keys = c().query({.entity = entity, .where = {{"age", QueryOp::kLt, {"20"}}}, .keys_only = true});
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->items.size(), 1u);
  EXPECT_EQ(keys->items[0].key, k("dan"));
  EXPECT_EQ(c().query({.entity = entity, .limit = -1}).code(), Code::kInvalidArgument);
}

TEST_F(ClientTest, WatchDeliversEventsInOrder) {
  EventLog log;
  Result<int64_t> id = c().watch({.key = k("w/"), .prefix = true, .prev_value = true}, log.handler());
  ASSERT_TRUE(id.ok()) << id.status().to_string();
  Result<PutResult> put = c().put(k("w/a"), "1");
  ASSERT_TRUE(c().put(k("w/a"), "2").ok());
  ASSERT_TRUE(c().put(k("other"), "not watched").ok());
  ASSERT_TRUE(c().del(k("w/a")).ok());
  ASSERT_TRUE(log.wait_for(3));
  EXPECT_EQ(log.summary(), (std::vector<std::string>{"PUT " + k("w/a") + " 1", "PUT " + k("w/a") + " 2",
                                                     "DELETE " + k("w/a")}));
  std::vector<Event> events = log.events();
  EXPECT_EQ(events[0].revision, put->revision);
  EXPECT_FALSE(events[0].prev.has_value());
  ASSERT_TRUE(events[1].prev.has_value());
  EXPECT_EQ(events[1].prev->value, "1");
  EXPECT_LT(events[1].revision, events[2].revision);

  c().unwatch(*id);
  ASSERT_TRUE(c().put(k("w/b"), "after").ok());
  // The marker key is written after w/b; once its event arrives on a second watch, w/b's would
  // have arrived on the first if it were still there.
  EventLog marker;
  ASSERT_TRUE(c().watch({.key = k("marker")}, marker.handler()).ok());
  ASSERT_TRUE(c().put(k("marker"), "1").ok());
  ASSERT_TRUE(marker.wait_for(1));
  EXPECT_EQ(log.events().size(), 3u);

  // History from a revision, and a snapshot.
  EventLog replay;
  ASSERT_TRUE(c().watch({.key = k("w/a"), .from_revision = put->revision}, replay.handler()).ok());
  ASSERT_TRUE(replay.wait_for(3));
  EXPECT_EQ(replay.summary()[2], "DELETE " + k("w/a"));
  EventLog snapshot;
  ASSERT_TRUE(c().watch({.key = k("w/"), .prefix = true, .snapshot = true}, snapshot.handler()).ok());
  ASSERT_TRUE(snapshot.wait_for(1));
  EXPECT_TRUE(snapshot.events()[0].snapshot);
  EXPECT_EQ(snapshot.events()[0].kv.key, k("w/b"));
  ASSERT_TRUE(c().put(k("w/c"), "live").ok());
  ASSERT_TRUE(snapshot.wait_for(2));
  EXPECT_FALSE(snapshot.events()[1].snapshot);

  EXPECT_EQ(c().watch({.key = ""}, log.handler()).code(), Code::kInvalidArgument);
  EXPECT_EQ(c().watch({.key = "k", .from_revision = 5, .snapshot = true}, log.handler()).code(),
            Code::kInvalidArgument);
}

TEST_F(ClientTest, WatchLocksAndElections) {
  Result<LeaseGrant> lease = c().lease_grant(60'000);
  ASSERT_TRUE(lease.ok());
  EventLog locks, elections;
  ASSERT_TRUE(c().watch({.space = WatchSpace::kLocks, .key = k("lock")}, locks.handler()).ok());
  ASSERT_TRUE(c().watch({.space = WatchSpace::kElections, .key = k("election")}, elections.handler()).ok());
  Result<int64_t> token = c().lock_acquire(k("lock"), lease->id);
  ASSERT_TRUE(token.ok());
  ASSERT_TRUE(c().campaign(k("election"), lease->id, "me").ok());
  ASSERT_TRUE(c().lock_release(k("lock"), *token).ok());
  ASSERT_TRUE(locks.wait_for(2));
  ASSERT_TRUE(elections.wait_for(1));
  std::vector<Event> events = locks.events();
  EXPECT_EQ(events[0].space, WatchSpace::kLocks);
  EXPECT_EQ(events[0].type, EventType::kPut);
  EXPECT_EQ(events[0].kv.value, std::to_string(*token));
  EXPECT_EQ(events[0].kv.create_revision, *token);
  EXPECT_EQ(events[1].type, EventType::kDelete);
  EXPECT_EQ(elections.events()[0].kv.value, "me");
}

TEST_F(ClientTest, WatchResumesAfterTheConnectionDrops) {
  auto* remote = dynamic_cast<Remote*>(&c());
  ASSERT_NE(remote, nullptr);
  EventLog log;
  ASSERT_TRUE(c().watch({.key = k("r/"), .prefix = true}, log.handler()).ok());
  // One revision with two events, then a drop: neither repeated nor lost.
  ASSERT_EQ(c().put_many({{k("r/1"), "a"}, {k("r/2"), "b"}}).size(), 2u);
  ASSERT_TRUE(log.wait_for(2));
  remote->drop_watch_connection();
  ASSERT_TRUE(c().put(k("r/3"), "c").ok());  // while the watch reconnects
  ASSERT_TRUE(c().put(k("r/4"), "d").ok());
  ASSERT_TRUE(log.wait_for(4));
  remote->drop_watch_connection();
  ASSERT_TRUE(c().put(k("r/5"), "e").ok());
  ASSERT_TRUE(log.wait_for(5));
  EventLog marker;  // everything up to here has been delivered once the marker arrives
  ASSERT_TRUE(c().watch({.key = k("marker")}, marker.handler()).ok());
  ASSERT_TRUE(c().put(k("marker"), "m").ok());
  ASSERT_TRUE(marker.wait_for(1));
  EXPECT_EQ(log.summary(), (std::vector<std::string>{"PUT " + k("r/1") + " a", "PUT " + k("r/2") + " b",
                                                     "PUT " + k("r/3") + " c", "PUT " + k("r/4") + " d",
                                                     "PUT " + k("r/5") + " e"}));
}

TEST_F(ClientTest, CompactAndStats) {
  Result<PutResult> old = c().put(k("v"), "old");
  ASSERT_TRUE(old.ok());
  Result<PutResult> now = c().put(k("v"), "new");
  ASSERT_TRUE(now.ok());
  Result<int64_t> compacted = c().compact(now->revision);
  ASSERT_TRUE(compacted.ok()) << compacted.status().to_string();
  EXPECT_GE(*compacted, now->revision);
  EXPECT_EQ(c().get(k("v"), {.revision = old->revision}).code(), Code::kCompacted);
  EXPECT_EQ(c().compact(-1).code(), Code::kInvalidArgument);

  Result<StoreStats> stats = c().stats();
  ASSERT_TRUE(stats.ok()) << stats.status().to_string();
  EXPECT_GE(stats->revision, now->revision);
  EXPECT_GE(stats->compacted_revision, now->revision);
  EXPECT_EQ(stats->keys, *c().count());
  EXPECT_EQ(stats->leases, static_cast<int64_t>(c().lease_list()->size()));
}

TEST_F(ClientTest, ThePoolServesConcurrentCallers) {
  const std::string key = k("counter");
  std::vector<std::thread> threads;
  std::atomic<int> failures = 0;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (!c().counter_add(key, 1).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(*c().counter_get(key), 400);
}

TEST(RemoteTest, TimesOutOnAStoppedServerAndRecovers) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  Remote remote({{"127.0.0.1", static_cast<uint16_t>(server.port())}},
                {.connect_timeout_ms = 200, .request_timeout_ms = 300});
  ASSERT_TRUE(remote.put("k", "v").ok());
  server.process()->signal(SIGSTOP);
  const auto started = std::chrono::steady_clock::now();
  Result<KeyValue> timed_out = remote.get("k");
  const auto took = std::chrono::steady_clock::now() - started;
  server.process()->signal(SIGCONT);
  EXPECT_EQ(timed_out.code(), Code::kUnavailable);
  EXPECT_LT(took, std::chrono::seconds(3));
  Result<KeyValue> again = remote.get("k");  // a fresh connection
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(again->value, "v");
}

TEST(RemoteTest, ASlowWatchIsCutOffWithLagging) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  EventLog log;  // before the client: its watch ends (calling log's handler) when the client goes
  Remote remote({{"127.0.0.1", static_cast<uint16_t>(server.port())}}, {.watch_max_pending = 3});
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  WatchEventHandler record = log.handler();
  ASSERT_TRUE(remote.watch({.key = "slow/", .prefix = true},
                           [&](const Event& e) {
                             record(e);
                             released.wait();  // the handler is stuck until the test lets go
                           },
                           log.end_handler())
                  .ok());
  std::vector<int64_t> revisions = {remote.put("slow/0", "x")->revision};
  ASSERT_TRUE(log.wait_for(1));  // the handler holds the first event now
  for (int i = 1; i < 10; ++i) revisions.push_back(remote.put("slow/" + std::to_string(i), "x")->revision);
  // Three events queue behind the stuck handler; the fifth ends the watch, which drops the
  // rest: three events and the end notice wait, whatever the timing.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (remote.watch_backlog() != 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_EQ(remote.watch_backlog(), 4u);
  release.set_value();
  ASSERT_TRUE(log.wait_for_end());
  EXPECT_EQ(log.end().code(), Code::kLagging);
  // One event in the handler, three queued: the fifth is the first not delivered.
  EXPECT_EQ(log.events().size(), 4u);
  EXPECT_NE(log.end().message().find("resume from revision " + std::to_string(revisions[4])),
            std::string::npos)
      << log.end().to_string();
}

// kill9 (a crash) or stop (SIGTERM: the server ends watches with CANCELLED before it exits).
class RestartTest : public ::testing::TestWithParam<bool> {};

TEST_P(RestartTest, WatchResumesAfterTheServerRestarts) {
  const bool crash = GetParam();
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  EventLog log;  // before the client: its watch ends (calling log's handler) when the client goes
  Result<std::unique_ptr<Client>> connected = connect(url_of(server.port()));
  ASSERT_TRUE(connected.ok());
  auto& remote = dynamic_cast<Remote&>(**connected);
  ASSERT_TRUE(remote.watch({.key = "jobs/", .prefix = true}, log.handler(), log.end_handler()).ok());
  ASSERT_TRUE(remote.put("jobs/1", "a").ok());
  ASSERT_TRUE(remote.put("jobs/2", "b").ok());
  ASSERT_TRUE(log.wait_for(2));

  if (crash) {
    server.kill9();
  } else {
    ASSERT_EQ(server.stop(), 0);
  }
  ASSERT_TRUE(server.start());  // same data directory, new port
  remote.set_endpoints({{"127.0.0.1", static_cast<uint16_t>(server.port())}});
  // The pool notices its dead connections and reconnects with backoff.
  Result<PutResult> after = remote.put("jobs/3", "c");
  ASSERT_TRUE(after.ok()) << after.status().to_string();
  ASSERT_TRUE(remote.del("jobs/1").ok());
  ASSERT_TRUE(log.wait_for(4));
  EXPECT_EQ(log.summary(), (std::vector<std::string>{"PUT jobs/1 a", "PUT jobs/2 b", "PUT jobs/3 c", "DELETE jobs/1"}));
  EXPECT_EQ(log.events()[2].revision, after->revision);

  // A new client can also pick up where the old one left off, with FROM.
  Result<std::unique_ptr<Client>> fresh = connect(url_of(server.port()));
  ASSERT_TRUE(fresh.ok());
  EventLog replay;
  ASSERT_TRUE((*fresh)->watch({.key = "jobs/", .prefix = true, .from_revision = log.events()[1].revision + 1},
                              replay.handler()).ok());
  ASSERT_TRUE(replay.wait_for(2));
  EXPECT_EQ(replay.summary(), (std::vector<std::string>{"PUT jobs/3 c", "DELETE jobs/1"}));
}

INSTANTIATE_TEST_SUITE_P(CrashOrStop, RestartTest, ::testing::Bool());

TEST(RemoteCodecTest, ErrorRepliesMapToStatusCodes) {
  auto status_of = [](const std::string& text) {
    resp::Value error;
    error.type = resp::Type::kError;
    error.str = text;
    return client::status_from_error(error);
  };
  const std::vector<std::pair<std::string, Code>> table = {
      {"NOTFOUND x", Code::kNotFound},       {"CONFLICT x", Code::kConflict},
      {"OUTOFRANGE x", Code::kOutOfRange},   {"OVERFLOW x", Code::kOverflow},
      {"NOLEASE x", Code::kLeaseNotFound},   {"LOCKED x", Code::kLocked},
      {"FENCED x", Code::kFenced},           {"COMPACTED x", Code::kCompacted},
      {"LAGGING x", Code::kLagging},         {"ERR x", Code::kInvalidArgument},
      {"WRONGTYPE x", Code::kWrongType},     {"CANCELLED x", Code::kCancelled},
      {"NOTLEADER 2 h:1", Code::kNotLeader}, {"UNAVAILABLE no leader", Code::kUnavailable},
      {"ERR internal error: boom", Code::kInternal}, {"MOVED 1 h:2", Code::kInternal},
  };
  for (const auto& [text, code] : table) EXPECT_EQ(status_of(text).code(), code) << text;
  EXPECT_EQ(status_of("CONFLICT transaction conflict on keys: 'a'").message(),
            "transaction conflict on keys: 'a'");
  EXPECT_EQ(status_of("ERR internal error: boom").message(), "boom");
}

// A listening socket on a free loopback port (*port), for the fake servers below.
int listen_on_loopback(int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len);
  ::listen(fd, 8);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

// A node that answers HELLO and then NOTLEADER naming `leader_port` for every command.
class FakeFollower {
 public:
  explicit FakeFollower(int leader_port) : leader_port_(leader_port) {
    listener_ = listen_on_loopback(&port_);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeFollower() {
    ::shutdown(listener_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
  }
  int port() const { return port_; }
  int commands() const { return commands_; }

 private:
  void serve() {
    for (;;) {
      int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      resp::RequestParser parser;
      std::string buffer;
      char chunk[4096];
      for (ssize_t n; (n = ::recv(fd, chunk, sizeof chunk, 0)) > 0;) {
        buffer.append(chunk, static_cast<size_t>(n));
        std::vector<std::string> args;
        size_t consumed = 0;
        while (parser.parse(buffer, &args, &consumed) == resp::RequestParser::Status::kRequest) {
          buffer.erase(0, consumed);
          std::string reply = args[0] == "HELLO" ? "%1\r\n$5\r\nproto\r\n:3\r\n"
                                                 : "-NOTLEADER 2 127.0.0.1:" + std::to_string(leader_port_) + "\r\n";
          if (args[0] != "HELLO") ++commands_;
          (void)::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
        }
        buffer.erase(0, consumed);
      }
      ::close(fd);
    }
  }

  int leader_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<int> commands_ = 0;
  std::thread thread_;
};

// Given one member of a cluster, the client learns the others (MEMBER.LIST) and, when that
// member (the leader) dies, goes on through them: writes succeed exactly once, a watch resumes
// on another member without a gap, and a kept-alive lease survives the failover.
TEST(RemoteClusterTest, GivenOneMemberTheClientSurvivesItsDeath) {
  testing::DkvCluster cluster(3);
  ASSERT_TRUE(cluster.start());
  const int leader = cluster.await_leader();
  ASSERT_GT(leader, 0);
  // Members record their client addresses once they know a leader.
  bool all_listed = false;
  for (int attempt = 0; attempt < 100 && !all_listed; ++attempt) {
    testing::RespConnection c(cluster.port(leader));
    resp::Value members = c.command({"MEMBER.LIST"});
    int listed = 0;
    for (const resp::Value& m : members.elements) {
      const resp::Value* a = m.find("client_address");
      listed += a != nullptr && !a->str.empty() ? 1 : 0;
    }
    all_listed = listed == 3;
    if (!all_listed) usleep(50'000);
  }
  ASSERT_TRUE(all_listed);

  EventLog log;  // before the client: its watch ends (calling log's handler) when the client goes
  Result<std::unique_ptr<Client>> connected = connect(url_of(cluster.port(leader)));
  ASSERT_TRUE(connected.ok()) << connected.status().to_string();
  auto& remote = dynamic_cast<Remote&>(**connected);
  ASSERT_TRUE(remote.put("fo/0", "0").ok());
  std::vector<client::Endpoint> known = remote.endpoints();
  EXPECT_EQ(known.size(), 3u);
  for (int id = 1; id <= 3; ++id) {
    EXPECT_NE(std::find(known.begin(), known.end(), client::Endpoint{"127.0.0.1", static_cast<uint16_t>(cluster.port(id))}),
              known.end()) << "member " << id << " not discovered";
  }

  ASSERT_TRUE(remote.watch(WatchRequest{.key = "fo/", .prefix = true}, log.handler(), log.end_handler()).ok());
  Result<LeaseGrant> lease = remote.lease_grant(2000);
  ASSERT_TRUE(lease.ok()) << lease.status().to_string();
  ASSERT_TRUE(remote.put("leased", "x", {.lease = lease->id}).ok());
  LeaseKeepAlive keepalive(remote, lease->id, 2000);

  constexpr int kWrites = 40;
  auto killed_at = std::chrono::steady_clock::now();
  for (int i = 1; i <= kWrites; ++i) {
    if (i == 10) {
      cluster.kill9(leader);  // the only endpoint the client was given
      killed_at = std::chrono::steady_clock::now();
    }
    Status last;
    bool written = false;
    for (int attempt = 0; attempt < 100 && !written; ++attempt) {  // no leader for a moment
      Result<PutResult> put = remote.put("fo/k", std::to_string(i));
      written = put.ok();
      if (!written) {
        last = put.status();
        ASSERT_EQ(last.code(), Code::kUnavailable) << last.to_string();
        std::this_thread::sleep_for(milliseconds(50));
      }
    }
    ASSERT_TRUE(written) << "write " << i << ": " << last.to_string();
    if (i == 10) {
      std::printf("first write after kill -9 of the leader: %lld ms\n",
                  static_cast<long long>(std::chrono::duration_cast<milliseconds>(
                                             std::chrono::steady_clock::now() - killed_at).count()));
    }
  }

  // Every write, once and in order, through the resumed watch.
  ASSERT_TRUE(log.wait_for(kWrites)) << log.events().size() << " events";
  std::vector<std::string> seen = log.summary();
  ASSERT_EQ(seen.size(), static_cast<size_t>(kWrites));
  for (int i = 1; i <= kWrites; ++i) EXPECT_EQ(seen[i - 1], "PUT fo/k " + std::to_string(i));

  // The lease outlives two of its TTLs after the failover: kept alive through the others.
  std::this_thread::sleep_for(milliseconds(4000));
  EXPECT_FALSE(keepalive.lost());
  Result<KeyValue> leased = remote.get("leased");
  ASSERT_TRUE(leased.ok()) << leased.status().to_string();
  EXPECT_EQ(leased->value, "x");
  EXPECT_TRUE(remote.lease_ttl(lease->id).ok());
}

TEST(RemoteTest, FollowsNotLeaderToTheLeaderAndSkipsDeadEndpoints) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  FakeFollower follower(server.port());
  // Without member discovery: the fake follower would count its MEMBER.LIST.
  auto c = std::make_unique<Remote>(std::vector<client::Endpoint>{{"127.0.0.1", static_cast<uint16_t>(follower.port())}},
                                    Remote::Options{.discover_members = false});
  Result<PutResult> put = c->put("k", "v");
  ASSERT_TRUE(put.ok()) << put.status().to_string();
  EXPECT_EQ(follower.commands(), 1);  // redirected once, then the leader is preferred
  EXPECT_EQ(c->get("k")->value, "v");
  EXPECT_EQ(follower.commands(), 1);

  // The first endpoint refuses connections: the second serves.
  Result<std::unique_ptr<Client>> failover = connect("dkv://127.0.0.1:" + std::to_string(testing::free_port()) +
                                                     ",127.0.0.1:" + std::to_string(server.port()));
  ASSERT_TRUE(failover.ok()) << failover.status().to_string();
  EXPECT_EQ((*failover)->get("k")->value, "v");
}

// A TCP proxy to a server that, the first time it sees a SESSION.REQ, lets the request reach the
// server and the answer come back, then cuts the client's connection without passing the
// answer on: a write whose outcome the client cannot know.
class AnswerDroppingProxy {
 public:
  explicit AnswerDroppingProxy(int server_port) : server_port_(server_port) {
    listener_ = listen_on_loopback(&port_);
    thread_ = std::thread([this] { serve(); });
  }
  ~AnswerDroppingProxy() {
    ::shutdown(listener_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
  }
  int port() const { return port_; }
  int dropped() const { return dropped_; }

 private:
  void serve() {
    for (;;) {
      int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      int server = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(server_port_));
      ::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      pump(client, server);  // one connection at a time is all the test needs
      ::close(client);
      ::close(server);
    }
  }
  void pump(int client, int server) {
    char buf[65536];
    bool cut_next_answer = false;
    for (;;) {
      pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (::poll(fds, 2, 10'000) <= 0) return;
      if (fds[0].revents & (POLLIN | POLLHUP)) {
        ssize_t n = ::recv(client, buf, sizeof buf, 0);
        if (n <= 0) return;
        if (dropped_ == 0 && std::string_view(buf, static_cast<size_t>(n)).find("SESSION.REQ") != std::string_view::npos) {
          cut_next_answer = true;
        }
        (void)::send(server, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
      }
      if (fds[1].revents & (POLLIN | POLLHUP)) {
        ssize_t n = ::recv(server, buf, sizeof buf, 0);
        if (n <= 0) return;
        if (cut_next_answer) {
          ++dropped_;
          return;  // the server answered; the client never hears it
        }
        (void)::send(client, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
      }
    }
  }

  int server_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<int> dropped_ = 0;
  std::thread thread_;
};

// The client sends the write again with the same session number; the server applies it once
// and replays its answer.
TEST(RemoteTest, AWriteWhoseAnswerIsLostIsRetriedAndAppliedOnce) {
  DkvServerProcess server;
  ASSERT_TRUE(server.start());
  AnswerDroppingProxy proxy(server.port());
  Remote::Options options;
  options.pool_size = 1;
  Remote remote({client::Endpoint{"127.0.0.1", static_cast<uint16_t>(proxy.port())}}, options);
  Result<CounterResult> added = remote.counter_add("once", 1);
  ASSERT_TRUE(added.ok()) << added.status().to_string();
  EXPECT_EQ(proxy.dropped(), 1);
  EXPECT_EQ(added->current, 1);
  EXPECT_EQ(*remote.counter_get("once"), 1);  // applied once, though sent twice
  testing::RespConnection direct(server.port());
  EXPECT_EQ(direct.command({"GET", "once"}).str, "1");

  // With exactly_once off, writes go out as they are: the proxy sees no SESSION.REQ to cut.
  AnswerDroppingProxy proxy2(server.port());
  options.exactly_once = false;
  Remote plain({client::Endpoint{"127.0.0.1", static_cast<uint16_t>(proxy2.port())}}, options);
  EXPECT_EQ(plain.counter_add("once", 1)->current, 2);
  EXPECT_EQ(proxy2.dropped(), 0);
}

TEST(EmbeddedWaitTest, LockAcquireWaitUsesAWatch) {
  Embedded store;
  Result<LeaseGrant> a = store.lease_grant(60'000);
  Result<LeaseGrant> b = store.lease_grant(60'000);
  Result<int64_t> token = store.lock_acquire("l", a->id);
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(store.lock_acquire_wait("l", b->id, 20).code(), Code::kLocked);
  std::promise<void> waiting;
  auto waited = std::async(std::launch::async, [&] {
    waiting.set_value();
    return store.lock_acquire_wait("l", b->id, 30'000);
  });
  waiting.get_future().wait();
  ASSERT_TRUE(store.lease_revoke(a->id).ok());  // releases the lock: the watch wakes the waiter
  ASSERT_EQ(waited.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  Result<int64_t> won = waited.get();
  ASSERT_TRUE(won.ok()) << won.status().to_string();
  EXPECT_GT(*won, *token);

  Result<CampaignResult> first = store.campaign("e", b->id, "b");
  Result<LeaseGrant> c = store.lease_grant(60'000);
  auto campaigned = std::async(std::launch::async, [&] { return store.campaign_wait("e", c->id, "c", 30'000); });
  ASSERT_TRUE(first.ok() && first->leader);
  // Campaigning again is idempotent: c is queued right behind b now, whatever the thread did.
  ASSERT_EQ(store.campaign("e", c->id, "c")->position, 1);
  ASSERT_TRUE(store.resign("e", first->token).ok());
  ASSERT_EQ(campaigned.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(campaigned.get()->leader);
}

}  // namespace
}  // namespace dkv
