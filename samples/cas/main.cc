// sample-cas: compare-and-swap on versions: insert only if absent, update only if unchanged
// since it was read, a stale version refused, delete only at a known version.
#include "sample.h"

int main(int argc, char** argv) {
  using namespace dkv;
  samples::Sample s(argc, argv, "cas", "insert-if-absent, update with IFMATCH, stale version refused, delete with IFMATCH");
  Client& db = s.store();
  const std::string key = s.prefix() + "config/limit";

  PutResult first = samples::must(db.put(key, "10", {.if_absent = true}), "insert if absent");
  s.say("inserted %s = 10 (version %lld)", key.c_str(), static_cast<long long>(first.version));
  Result<PutResult> second = db.put(key, "99", {.if_absent = true});
  s.check(second.status().code() == Code::kConflict, "a second insert-if-absent is refused with CONFLICT");

  // Two writers read the same version; the first to write wins, the second is told it is stale.
  KeyValue seen_by_a = samples::must(db.get(key), "writer A reads");
  KeyValue seen_by_b = samples::must(db.get(key), "writer B reads");
  PutResult a = samples::must(db.put(key, "20", {.if_match = seen_by_a.version}), "writer A updates");
  s.say("writer A updated at version %lld -> %lld", static_cast<long long>(seen_by_a.version),
        static_cast<long long>(a.version));
  Result<PutResult> b = db.put(key, "30", {.if_match = seen_by_b.version});
  s.say("writer B's update at stale version %lld: %s", static_cast<long long>(seen_by_b.version),
        b.ok() ? "accepted?!" : b.status().to_string().c_str());
  s.check(b.status().code() == Code::kConflict, "an update at a stale version is refused");
  // B retries the read-modify-write on the fresh version.
  KeyValue fresh = samples::must(db.get(key), "writer B reads again");
  samples::must(db.put(key, std::to_string(std::stoll(fresh.value) + 5), {.if_match = fresh.version}),
                "writer B updates on the fresh version");
  s.check(samples::must(db.get(key), "read").value == "25", "no update was lost: 10 -> 20 (A) -> 25 (B)");

  Result<DeleteResult> stale_delete = db.del(key, {.if_match = first.version});
  s.check(stale_delete.status().code() == Code::kConflict, "a delete at a stale version is refused");
  KeyValue last = samples::must(db.get(key), "read");
  DeleteResult deleted = samples::must(db.del(key, {.if_match = last.version}), "delete at the current version");
  s.check(deleted.deleted && db.get(key).status().code() == Code::kNotFound, "a delete at the current version removes it");
  return s.finish();
}
