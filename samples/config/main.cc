// sample-config: configuration distribution. Several services each keep a local copy of a
// config prefix, filled by a watch with an initial snapshot; an operator changes, adds and
// removes settings; every service converges on the store's exact config after each change.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "sample.h"

namespace {

// A service's view of the config: applied from its watch's events.
class Service {
 public:
  dkv::WatchEventHandler handler() {
    return [this](const dkv::Event& e) {
      std::lock_guard lock(mu_);
      if (e.type == dkv::EventType::kPut) {
        config_[e.kv.key] = e.kv.value;
      } else {
        config_.erase(e.kv.key);
      }
    };
  }
  std::map<std::string, std::string> config() {
    std::lock_guard lock(mu_);
    return config_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> config_;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace dkv;
  samples::Sample s(argc, argv, "config", "services watch a prefix and converge on every change");
  Client& db = s.store();
  const std::string prefix = s.prefix() + "app/";
  samples::must(db.put(prefix + "db/url", "postgres://primary"), "seed");
  samples::must(db.put(prefix + "cache/ttl", "60"), "seed");

  constexpr int kServices = 3;
  std::vector<std::unique_ptr<Service>> services;
  for (int i = 0; i < kServices; ++i) {
    services.push_back(std::make_unique<Service>());
    samples::must(s.worker(i).watch({.key = prefix, .prefix = true, .snapshot = true}, services.back()->handler()), "watch");
  }
  auto store_config = [&] {
    std::map<std::string, std::string> out;
    for (const KeyValue& kv : samples::must(db.range(KeyRange::prefix(prefix)), "range").items) out[kv.key] = kv.value;
    return out;
  };
  auto all_converge = [&](const std::string& change) {
    const std::map<std::string, std::string> truth = store_config();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    bool converged = false;
    while (!converged && std::chrono::steady_clock::now() < deadline) {
      converged = true;
      for (auto& svc : services) converged = converged && svc->config() == truth;
      if (!converged) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    s.check(converged, "after " + change + ": all " + std::to_string(kServices) + " services hold the store's " +
                           std::to_string(truth.size()) + " settings");
  };

  all_converge("start-up (the snapshot)");
  samples::must(db.put(prefix + "db/url", "postgres://replica"), "change");
  all_converge("a changed setting");
  samples::must(db.put(prefix + "feature/search", "on"), "add");
  all_converge("a new setting");
  samples::must(db.del(prefix + "cache/ttl"), "remove");
  all_converge("a removed setting");
  for (int i = 0; i < 20; ++i) samples::must(db.put(prefix + "pool/size", std::to_string(i)), "burst");
  all_converge("a burst of 20 updates to one setting");
  s.say("final config: %zu settings, pool/size = %s", store_config().size(), store_config()[prefix + "pool/size"].c_str());
  return s.finish();
}
