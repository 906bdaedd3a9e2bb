// sample-lease: keys attached to a lease live as long as it does: a watch sees them expire
// together when the lease runs out; revoking another lease removes its keys at once.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>

#include "sample.h"

int main(int argc, char** argv) {
  using namespace dkv;
  samples::Sample s(argc, argv, "lease", "grant, attach keys, watch them vanish on expiry, revoke removes the rest at once");
  Client& db = s.store();
  const std::string workers = s.prefix() + "workers/";

  std::mutex mu;
  std::condition_variable cv;
  std::set<std::string> expired;
  samples::must(db.watch({.key = workers, .prefix = true},
                         [&](const Event& e) {
                           if (e.type != EventType::kExpire) return;
                           std::lock_guard lock(mu);
                           expired.insert(e.kv.key);
                           cv.notify_all();
                         }),
                "watch " + workers);

  LeaseGrant short_lease = samples::must(db.lease_grant(500), "grant a 500 ms lease");
  for (int i = 0; i < 3; ++i) {
    samples::must(db.put(workers + std::to_string(i), "alive", {.lease = short_lease.id}), "attach a key");
  }
  LeaseInfo info = samples::must(db.lease_ttl(short_lease.id, true), "lease info");
  s.say("lease %lld (500 ms) holds %zu keys", static_cast<long long>(short_lease.id), info.keys.size());
  s.check(info.keys.size() == 3, "the lease lists its three keys");
  {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return expired.size() == 3; });
  }
  s.say("the watch saw %zu EXPIRE events when the lease ran out", expired.size());
  s.check(expired.size() == 3, "every attached key expired with the lease");
  s.check(samples::must(db.count(workers), "count") == 0, "none of them is left");
  s.check(db.lease_keepalive(short_lease.id).status().code() == Code::kLeaseNotFound,
          "an expired lease cannot be kept alive");

  LeaseGrant long_lease = samples::must(db.lease_grant(60'000), "grant a 60 s lease");
  for (int i = 0; i < 5; ++i) {
    samples::must(db.put(s.prefix() + "cache/" + std::to_string(i), "v", {.lease = long_lease.id}), "attach");
  }
  samples::must(db.lease_keepalive(long_lease.id), "keep it alive");
  RevokeResult revoked = samples::must(db.lease_revoke(long_lease.id), "revoke");
  s.say("revoking lease %lld removed its keys at once", static_cast<long long>(long_lease.id));
  s.check(samples::must(db.count(s.prefix() + "cache/"), "count") == 0, "revoke deletes every attached key at once");
  (void)revoked;
  return s.finish();
}
