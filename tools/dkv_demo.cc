// dkv-demo: an in-process DKV store exercising every primitive and printing what it did.
// Exits non-zero if anything behaves other than documented.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include "dkv/embedded.h"

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    std::printf("  !! unexpected: %s\n", what.c_str());
  }
}

template <typename T>
const T& must(const dkv::Result<T>& r, const std::string& what) {
  if (!r.ok()) {
    std::printf("  !! %s failed: %s\n", what.c_str(), r.status().to_string().c_str());
    std::exit(1);
  }
  return r.value();
}

const char* type_name(dkv::EventType t) {
  switch (t) {
    case dkv::EventType::kPut: return "PUT";
    case dkv::EventType::kDelete: return "DELETE";
    case dkv::EventType::kExpire: return "EXPIRE";
  }
  return "?";
}

}  // namespace

int main() {
  dkv::Embedded store;
  std::printf("DKV embedded demo: one in-memory store in this process\n\n");

  // Watch everything under app/ first, so the later changes show up as events.
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> seen;
  auto watch_id = must(store.watch({.key = "app/", .prefix = true},
                                   [&](const dkv::Event& e) {
                                     std::lock_guard lock(mu);
                                     seen.push_back(std::string(type_name(e.type)) + " " +
                                                    e.kv.key + " @" + std::to_string(e.revision));
                                     cv.notify_all();
                                   }),
                       "watch");
  std::printf("[watch] watching prefix app/ (id %lld)\n", static_cast<long long>(watch_id));

  std::printf("\n[key-value]\n");
  dkv::PutOptions user_opts;
  user_opts.entity = "user";
  user_opts.content_type = "application/json";
  user_opts.labels = {{"team", "core"}, {"age", "34"}};
  auto put = must(store.put("app/users/ada", R"({"name":"Ada"})", user_opts), "put");
  std::printf("put app/users/ada -> version %lld, revision %lld\n",
              static_cast<long long>(put.version), static_cast<long long>(put.revision));
  user_opts.labels = {{"team", "web"}, {"age", "29"}};
  must(store.put("app/users/bob", R"({"name":"Bob"})", user_opts), "put");
  user_opts.labels = {{"team", "core"}, {"age", "41"}};
  must(store.put("app/users/cyd", R"({"name":"Cyd"})", user_opts), "put");
  auto kv = must(store.get("app/users/ada"), "get");
  std::printf("get app/users/ada -> %s (entity %s, content type %s, version %lld)\n",
              kv.value.c_str(), kv.entity.c_str(), kv.content_type.c_str(),
              static_cast<long long>(kv.version));
  auto range = must(store.range(dkv::KeyRange::prefix("app/users/"), {.keys_only = true}), "range");
  std::printf("range app/users/ -> %lld keys:", static_cast<long long>(range.count));
  for (const auto& item : range.items) std::printf(" %s", item.key.c_str());
  std::printf("\n");
  auto old = must(store.get("app/users/ada", {.revision = put.revision}), "get at revision");
  std::printf("get app/users/ada at revision %lld -> version %lld\n",
              static_cast<long long>(put.revision), static_cast<long long>(old.version));

  std::printf("\n[compare-and-swap]\n");
  auto stale = store.put("app/users/ada", "{}", {.if_match = 7});
  std::printf("put with IFMATCH 7 (current version 1) -> %s\n", stale.status().to_string().c_str());
  check(stale.code() == dkv::Code::kConflict, "stale IFMATCH should conflict");
  // A put replaces the value and its metadata, so it restates entity and labels.
  dkv::PutOptions cas = user_opts;
  cas.labels = {{"team", "core"}, {"age", "34"}};
  cas.if_match = 1;
  auto fresh = store.put("app/users/ada", R"({"name":"Ada L."})", cas);
  std::printf("put with IFMATCH 1 -> version %lld\n", static_cast<long long>(must(fresh, "cas").version));
  auto exists = store.put("app/users/bob", "x", {.if_absent = true});
  std::printf("put IFABSENT on existing key -> %s\n", exists.status().to_string().c_str());

  std::printf("\n[bulk]\n");
  auto many = store.put_many({{"app/cfg/a", "1", {}}, {"app/cfg/b", "2", {}}, {"", "bad", {}}});
  for (size_t i = 0; i < many.size(); ++i) {
    std::printf("item %zu -> %s\n", i,
                many[i].ok() ? ("revision " + std::to_string(many[i]->revision)).c_str()
                             : many[i].status().to_string().c_str());
  }

  std::printf("\n[counters]\n");
  for (int i = 0; i < 2; ++i) {
    auto c = must(store.counter_add("app/visits", 5, {.max = 12}), "counter add");
    std::printf("add 5 (max 12) -> %lld\n", static_cast<long long>(c.current));
  }
  auto over = store.counter_add("app/visits", 5, {.max = 12});
  std::printf("add 5 more -> %s\n", over.status().to_string().c_str());
  check(over.code() == dkv::Code::kOutOfRange, "counter should refuse to pass max");

  std::printf("\n[ttl]\n");
  must(store.put("app/session", "token", {.ttl_ms = 50}), "put ttl");
  std::printf("put app/session with ttl 50 ms -> ttl now %lld ms\n",
              static_cast<long long>(must(store.get("app/session"), "get").ttl_ms));
  std::this_thread::sleep_for(std::chrono::milliseconds(80));  // a demo waits like a user would
  std::printf("after 80 ms: get app/session -> %s\n",
              store.get("app/session").status().to_string().c_str());

  std::printf("\n[leases and locks]\n");
  auto lease = must(store.lease_grant(5000), "lease grant");
  std::printf("lease %lld granted for 5000 ms\n", static_cast<long long>(lease.id));
  must(store.put("app/workers/w1", "alive", {.lease = lease.id}), "put with lease");
  auto token = must(store.lock_acquire("jobs", lease.id), "lock");
  std::printf("lock 'jobs' acquired with fencing token %lld\n", static_cast<long long>(token));
  auto other = must(store.lease_grant(5000), "lease grant");
  std::printf("another lease tries the lock -> %s\n",
              store.lock_acquire("jobs", other.id).status().to_string().c_str());
  auto fenced_ok = store.put("app/jobs/state", "running", {.fence = dkv::Fence{"jobs", token}});
  std::printf("fenced write with token %lld -> %s\n", static_cast<long long>(token),
              fenced_ok.ok() ? "OK" : fenced_ok.status().to_string().c_str());
  auto revoked = must(store.lease_revoke(lease.id), "revoke");
  std::printf("revoke lease %lld -> %lld key(s) deleted, lock released: %s\n",
              static_cast<long long>(lease.id), static_cast<long long>(revoked.deleted),
              store.lock_owner("jobs").status().to_string().c_str());
  auto fenced_late = store.put("app/jobs/state", "stale", {.fence = dkv::Fence{"jobs", token}});
  std::printf("fenced write with the old token -> %s\n", fenced_late.status().to_string().c_str());
  check(fenced_late.code() == dkv::Code::kFenced, "old token should be fenced");
  auto token2 = must(store.lock_acquire("jobs", other.id), "lock");
  std::printf("the other lease now gets the lock with token %lld (> %lld)\n",
              static_cast<long long>(token2), static_cast<long long>(token));
  check(token2 > token, "fencing tokens must increase");

  std::printf("\n[leader election]\n");
  auto l1 = must(store.lease_grant(5000), "lease");
  auto l2 = must(store.lease_grant(5000), "lease");
  auto c1 = must(store.campaign("scheduler", l1.id, "node-1"), "campaign");
  auto c2 = must(store.campaign("scheduler", l2.id, "node-2"), "campaign");
  std::printf("node-1 campaigns -> leader=%s token %lld; node-2 -> queued at position %lld\n",
              c1.leader ? "yes" : "no", static_cast<long long>(c1.token),
              static_cast<long long>(c2.position));
  must(store.lease_revoke(l1.id), "revoke");
  auto leader = must(store.election_leader("scheduler"), "leader");
  std::printf("node-1's lease ends -> leader is %s with token %lld\n", leader.value.c_str(),
              static_cast<long long>(leader.token));
  check(leader.value == "node-2", "node-2 should take over");

  std::printf("\n[transactions]\n");
  must(store.put("app/acct/a", "100"), "put");
  must(store.put("app/acct/b", "0"), "put");
  dkv::Transaction txn = store.begin_transaction();
  int a = std::stoi(must(txn.get("app/acct/a"), "txn get").value);
  int b = std::stoi(must(txn.get("app/acct/b"), "txn get").value);
  txn.put("app/acct/a", std::to_string(a - 30));
  txn.put("app/acct/b", std::to_string(b + 30));
  std::printf("inside the transaction a reads %s\n", must(txn.get("app/acct/a"), "ryw").value.c_str());
  must(store.put("app/acct/a", "90"), "concurrent put");  // someone else writes a meanwhile
  auto conflict = txn.commit();
  std::printf("commit after a concurrent write -> %s\n", conflict.status().to_string().c_str());
  check(conflict.code() == dkv::Code::kConflict, "transaction should conflict");
  a = std::stoi(must(txn.get("app/acct/a"), "txn get").value);
  b = std::stoi(must(txn.get("app/acct/b"), "txn get").value);
  txn.put("app/acct/a", std::to_string(a - 30));
  txn.put("app/acct/b", std::to_string(b + 30));
  auto committed = must(txn.commit(), "commit");
  std::printf("retry -> committed at revision %lld: a=%s b=%s\n",
              static_cast<long long>(committed.revision),
              must(store.get("app/acct/a"), "get").value.c_str(),
              must(store.get("app/acct/b"), "get").value.c_str());

  std::printf("\n[query]\n");
  dkv::Query q;
  q.entity = "user";
  q.where = {{"team", dkv::QueryOp::kEq, {"core"}}};
  q.order_by = "age";
  q.descending = true;
  auto result = must(store.query(q), "query");
  std::printf("users WHERE team = core ORDER BY age DESC ->");
  for (const auto& item : result.items) {
    std::printf(" %s(age %s)", item.key.c_str(), item.labels.at("age").c_str());
  }
  std::printf("\n");
  check(result.count == 2, "two users are in team core");

  std::printf("\n[snapshot]\n");
  std::string snapshot = store.save_snapshot();
  dkv::Embedded copy;
  must(dkv::Result<int>(copy.restore_snapshot(snapshot).ok() ? 0 : 1), "restore");
  auto copied = must(copy.get("app/users/ada"), "get from copy");
  std::printf("snapshot of %zu bytes restored into a second store: app/users/ada -> %s\n",
              snapshot.size(), copied.value.c_str());

  {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(2), [&] { return seen.size() >= 10; });
    std::printf("\n[watch] %zu events seen under app/, first ones:\n", seen.size());
    for (size_t i = 0; i < seen.size() && i < 6; ++i) std::printf("  %s\n", seen[i].c_str());
    check(!seen.empty(), "the watch should have seen events");
  }
  store.unwatch(watch_id);

  auto stats = must(store.stats(), "stats");
  std::printf("\nstore: revision %lld, %lld keys, %lld leases, %lld locks\n",
              static_cast<long long>(stats.revision), static_cast<long long>(stats.keys),
              static_cast<long long>(stats.leases), static_cast<long long>(stats.locks));
  std::printf(failures == 0 ? "\nall primitives behaved as documented\n"
                            : "\n%d unexpected outcome(s)\n",
              failures);
  return failures == 0 ? 0 : 1;
}
