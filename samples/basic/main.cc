// sample-basic: a key with metadata (entity, labels, content type, TTL), read back with its
// version and revisions; a counter; and a key whose TTL runs out.
#include <chrono>
#include <thread>

#include "sample.h"

int main(int argc, char** argv) {
  using namespace dkv;
  samples::Sample s(argc, argv, "basic", "put with metadata and TTL, get with metadata, a counter, TTL expiry");
  Client& db = s.store();
  const std::string user = s.prefix() + "user/42";

  PutResult put = samples::must(db.put(user, R"({"name":"Ada"})",
                                       {.ttl_ms = 600'000, .entity = "user", .content_type = "application/json",
                                        .labels = {{"team", "core"}, {"tier", "gold"}}}),
                                "put " + user);
  s.say("put %s: version %lld at revision %lld", user.c_str(), static_cast<long long>(put.version),
        static_cast<long long>(put.revision));
  KeyValue kv = samples::must(db.get(user), "get " + user);
  s.say("get: value %s, entity %s, content type %s, %zu labels, ttl %lld ms", kv.value.c_str(), kv.entity.c_str(),
        kv.content_type.c_str(), kv.labels.size(), static_cast<long long>(kv.ttl_ms));
  s.check(kv.value == R"({"name":"Ada"})" && kv.entity == "user" && kv.content_type == "application/json",
          "the value and its metadata read back as written");
  s.check(kv.labels == Labels{{"team", "core"}, {"tier", "gold"}}, "both labels read back");
  s.check(kv.version == 1 && kv.create_revision == put.revision && kv.mod_revision == put.revision,
          "a new key has version 1, created and modified at the put's revision");
  s.check(kv.ttl_ms > 590'000 && kv.ttl_ms <= 600'000, "the TTL is counting down from 600 s");

  PutResult again = samples::must(db.put(user, R"({"name":"Ada L."})", {.entity = "user"}), "update");
  s.check(again.version == 2 && again.revision > put.revision, "an update raises the version and the revision");

  const std::string visits = s.prefix() + "visits";
  for (int i = 0; i < 5; ++i) samples::must(db.counter_add(visits, 1), "count a visit");
  const int64_t counted = samples::must(db.counter_get(visits), "read the counter");
  s.say("counter %s = %lld after five increments", visits.c_str(), static_cast<long long>(counted));
  s.check(counted == 5, "five increments count five");

  const std::string session = s.prefix() + "session/abc";
  samples::must(db.put(session, "token", {.ttl_ms = 300}), "put a 300 ms session");
  s.check(db.get(session).ok(), "the session is there at once");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool gone = false;
  while (!gone && std::chrono::steady_clock::now() < deadline) {
    gone = db.get(session).status().code() == Code::kNotFound;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  s.say("the session key expired on its own after its 300 ms TTL");
  s.check(gone, "a key with a TTL is gone once the TTL has passed");
  return s.finish();
}
