// sample-watch: a key watch and a prefix watch with an initial snapshot; then a watcher that
// goes away, misses changes, and resumes FROM the revision after the last one it saw: it gets
// exactly the changes it missed, in order.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "sample.h"

namespace {

// Events a watch delivered, for the main thread to wait on.
class Seen {
 public:
  dkv::WatchEventHandler handler() {
    return [this](const dkv::Event& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
      cv_.notify_all();
    };
  }
  std::vector<dkv::Event> wait_for(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return events_.size() >= n; });
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<dkv::Event> events_;
};

std::string describe(const dkv::Event& e) {
  const char* type = e.type == dkv::EventType::kPut ? "PUT" : e.type == dkv::EventType::kDelete ? "DELETE" : "EXPIRE";
  return std::string(e.snapshot ? "snapshot " : "") + type + " " + e.kv.key + (e.type == dkv::EventType::kPut ? "=" + e.kv.value : "");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace dkv;
  samples::Sample s(argc, argv, "watch", "key and prefix watches, initial snapshot, resume after reconnect");
  Client& db = s.store();
  const std::string dir = s.prefix() + "feature/";
  samples::must(db.put(dir + "dark-mode", "off"), "put");
  samples::must(db.put(dir + "beta", "on"), "put");

  Seen prefix_events, key_events;
  const int64_t prefix_watch =
      samples::must(db.watch({.key = dir, .prefix = true, .snapshot = true}, prefix_events.handler()), "watch prefix");
  samples::must(db.watch({.key = dir + "dark-mode"}, key_events.handler()), "watch key");
  std::vector<Event> snapshot = prefix_events.wait_for(2);
  for (const Event& e : snapshot) s.say("prefix watch: %s", describe(e).c_str());
  s.check(snapshot.size() == 2 && snapshot[0].snapshot && snapshot[1].snapshot,
          "the prefix watch starts with the current keys (snapshot events)");

  samples::must(db.put(dir + "dark-mode", "on"), "flip");
  samples::must(db.del(dir + "beta"), "delete");
  std::vector<Event> changes = prefix_events.wait_for(4);
  std::vector<Event> key_only = key_events.wait_for(1);
  for (size_t i = 2; i < changes.size(); ++i) s.say("prefix watch: %s", describe(changes[i]).c_str());
  s.check(changes.size() == 4 && describe(changes[2]) == "PUT " + dir + "dark-mode=on" &&
              describe(changes[3]) == "DELETE " + dir + "beta",
          "the prefix watch sees the update and the delete, in order");
  s.check(key_only.size() == 1 && describe(key_only[0]) == "PUT " + dir + "dark-mode=on",
          "the key watch sees only its key");

  // The watcher goes away; three changes happen; it comes back FROM where it stopped.
  const int64_t resume_from = changes.back().revision + 1;
  db.unwatch(prefix_watch);
  samples::must(db.put(dir + "new-ui", "on"), "put while away");
  samples::must(db.put(dir + "dark-mode", "auto"), "put while away");
  samples::must(db.del(dir + "new-ui"), "delete while away");
  Seen resumed;
  samples::must(db.watch({.key = dir, .prefix = true, .from_revision = resume_from}, resumed.handler()), "resume");
  std::vector<Event> missed = resumed.wait_for(3);
  for (const Event& e : missed) s.say("resumed from revision %lld: %s", static_cast<long long>(resume_from), describe(e).c_str());
  s.check(missed.size() == 3 && describe(missed[0]) == "PUT " + dir + "new-ui=on" &&
              describe(missed[1]) == "PUT " + dir + "dark-mode=auto" && describe(missed[2]) == "DELETE " + dir + "new-ui",
          "the resumed watch delivers exactly the three missed changes, in order");
  return s.finish();
}
