// sample-leader-election: workers campaign for one leadership, each with its own lease kept
// alive. The leader does fenced work (writes with its token); then it dies mid-term (its
// keep-alive stops, as when a process is killed), and the next candidate takes over within the
// lease TTL. Checked: one worker per fencing token, tokens increase across terms, the dead
// leader's late write is refused, and each hand-over takes at most the TTL (plus slack).
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dkv/coordination.h"
#include "sample.h"

int main(int argc, char** argv) {
  using namespace dkv;
  samples::Sample s(argc, argv, "leader-election",
                    "workers campaign; the leader is killed mid-term; one leader per token, hand-over within the TTL");
  constexpr int kWorkers = 3;
  constexpr int64_t kTtlMs = 1000;
  const std::string election = s.prefix() + "scheduler";
  const std::string work = s.prefix() + "work-log";

  struct Worker {
    Client* client = nullptr;
    int64_t lease = 0;
    std::unique_ptr<LeaseKeepAlive> keepalive;
    std::unique_ptr<Election> candidacy;
  };
  std::vector<Worker> workers(kWorkers);
  for (int w = 0; w < kWorkers; ++w) {
    Worker& wk = workers[w];
    wk.client = &s.worker(w);
    wk.lease = samples::must(wk.client->lease_grant(kTtlMs), "grant a lease").id;
    wk.keepalive = std::make_unique<LeaseKeepAlive>(*wk.client, wk.lease, kTtlMs);
    wk.candidacy = std::make_unique<Election>(*wk.client, election, wk.lease);
  }

  std::map<int64_t, int> leader_of_token;
  int64_t last_token = 0;
  bool tokens_increase = true, one_per_token = true;
  std::vector<int> alive = {0, 1, 2};
  for (int term = 0; term < kWorkers; ++term) {
    // Every live worker campaigns; the one that leads answers at once, the others wait in line.
    int leader = -1;
    CampaignResult won;
    const auto started = std::chrono::steady_clock::now();
    for (int w : alive) {
      CampaignResult r = samples::must(workers[w].candidacy->campaign("worker-" + std::to_string(w), 0), "campaign");
      if (r.leader) {
        leader = w;
        won = r;
      }
    }
    if (leader < 0) {  // the previous leader's lease has not run out yet: wait for the hand-over
      for (int w : alive) {
        CampaignResult r = samples::must(workers[w].candidacy->campaign("worker-" + std::to_string(w), 3 * kTtlMs),
                                         "wait to lead");
        if (r.leader) {
          leader = w;
          won = r;
          break;
        }
      }
    }
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    if (!s.check(leader >= 0, "term " + std::to_string(term + 1) + " has a leader")) break;
    s.say("term %d: worker-%d leads with token %lld (after %lld ms)", term + 1, leader,
          static_cast<long long>(won.token), static_cast<long long>(waited.count()));
    if (term > 0) {
      s.check(waited.count() <= kTtlMs + 1000, "the hand-over took at most the lease TTL (plus 1 s of slack)");
    }
    auto [it, fresh] = leader_of_token.emplace(won.token, leader);
    one_per_token = one_per_token && (fresh || it->second == leader);
    tokens_increase = tokens_increase && won.token > last_token;
    last_token = won.token;

    // Fenced work: accepted only while this token leads.
    Worker& lw = workers[leader];
    for (int i = 0; i < 3; ++i) {
      samples::must(lw.client->put(work, "worker-" + std::to_string(leader) + " step " + std::to_string(i),
                                   {.fence = lw.candidacy->fence()}),
                    "fenced work");
    }
    // The leader dies mid-term: its keep-alive stops, and its lease runs out.
    lw.keepalive.reset();
    std::erase(alive, leader);
    if (alive.empty()) {
      // The last leader: wait for its lease to end, then its stale write must be refused.
      std::this_thread::sleep_for(std::chrono::milliseconds(kTtlMs + 200));
    } else {
      continue;
    }
  }
  // The first leader (long dead) tries once more with its old token.
  const int first = leader_of_token.begin()->second;
  Result<PutResult> late = workers[first].client->put(work, "zombie write", {.fence = workers[first].candidacy->fence()});
  s.say("the first leader, dead since, writes with its old token: %s",
        late.ok() ? "accepted?!" : late.status().to_string().c_str());
  s.check(late.status().code() == Code::kFenced, "a deposed leader's fenced write is refused");
  s.check(one_per_token, "exactly one leader at each fencing token");
  s.check(tokens_increase && leader_of_token.size() == kWorkers, "each term's token is higher than the last");
  return s.finish();
}
