// sample-job-queue: producers enqueue jobs; workers claim one with an insert-if-absent claim
// key bound to their lease, do it, and complete it in a transaction that checks the claim is
// still theirs. One worker crashes mid-job (its keep-alive stops): its claim ends with its
// lease and another worker recovers the orphan. Checked: every job completed exactly once.
// (A first version forgot to check, inside the completing transaction, that the job was still
// pending: a worker with a stale list re-claimed a finished job and completed it again.)
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "dkv/coordination.h"
#include "sample.h"

int main(int argc, char** argv) {
  using namespace dkv;
  samples::Sample s(argc, argv, "job-queue", "claims with CAS and leases, a worker crashes mid-job, every job done exactly once");
  Client& db = s.store();
  constexpr int kProducers = 2, kJobsEach = 20, kWorkers = 4;
  constexpr int64_t kLeaseMs = 800;
  const std::string pending = s.prefix() + "pending/", claims = s.prefix() + "claims/", done = s.prefix() + "done/";

  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int j = 0; j < kJobsEach; ++j) {
        const std::string id = std::to_string(p) + "-" + std::to_string(j);
        samples::must(db.put(pending + id, "resize image " + id), "enqueue");
      }
    });
  }
  for (auto& t : producers) t.join();
  s.say("%d producers enqueued %d jobs", kProducers, kProducers * kJobsEach);

  std::mutex mu;
  std::map<std::string, int> completions, claimed;
  std::atomic<int> crashed{0};
  std::string orphan;  // the job the crashed worker held
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    Client& c = s.worker(w);
    workers.emplace_back([&, w, &c = c] {
      const int64_t lease = samples::must(c.lease_grant(kLeaseMs), "grant").id;
      auto keepalive = std::make_unique<LeaseKeepAlive>(c, lease, kLeaseMs);
      const std::string me = "worker-" + std::to_string(w);
      int jobs_done = 0;
      for (;;) {
        RangeResult queue = samples::must(c.range(KeyRange::prefix(pending)), "list pending jobs");
        if (queue.items.empty()) return;
        bool claimed_one = false;
        for (const KeyValue& job : queue.items) {
          const std::string id = job.key.substr(pending.size());
          // The claim: created only if nobody holds one; it ends with this worker's lease.
          if (!c.put(claims + id, me, {.lease = lease, .if_absent = true}).ok()) continue;
          claimed_one = true;
          {
            std::lock_guard lock(mu);
            ++claimed[id];
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the work
          if (w == 0 && jobs_done == 2) {  // worker-0 crashes mid-job: no completion, no keep-alive
            ++crashed;
            {
              std::lock_guard lock(mu);
              orphan = id;
            }
            keepalive.reset();
            return;
          }
          Transaction txn = c.begin_transaction();
          Result<KeyValue> claim = txn.get(claims + id);
          if (!claim.ok() || claim->value != me) break;  // the claim lapsed: someone else may do it
          if (!txn.get(pending + id).ok()) {  // done by another worker since we listed it
            c.del(claims + id);
            break;
          }
          txn.put(done + id, me);
          txn.del(pending + id);
          txn.del(claims + id);
          if (!txn.commit().ok()) break;  // the claim or the job changed meanwhile: look again
          ++jobs_done;
          std::lock_guard lock(mu);
          ++completions[id];
          break;
        }
        if (!claimed_one) std::this_thread::sleep_for(std::chrono::milliseconds(50));  // all claimed: wait
      }
    });
  }
  for (auto& t : workers) t.join();

  int recovered = 0, twice = 0;
  for (const auto& [id, n] : claimed) recovered += n > 1 ? 1 : 0;
  for (const auto& [id, n] : completions) twice += n > 1 ? 1 : 0;
  const int64_t done_count = samples::must(db.count(done), "count done");
  s.say("%d worker crashed holding job %s; %d job(s) were claimed more than once (that orphan, after the "
        "crashed worker's lease ended, and jobs finished while a worker's list was stale)",
        crashed.load(), orphan.c_str(), recovered);
  s.say("%zu jobs completed, %lld done markers, %lld still pending", completions.size(),
        static_cast<long long>(done_count), static_cast<long long>(samples::must(db.count(pending), "count pending")));
  s.check(crashed == 1 && claimed[orphan] >= 2 && completions[orphan] == 1,
          "the crashed worker's job was claimed again and completed by another worker");
  s.check(static_cast<int>(completions.size()) == kProducers * kJobsEach && done_count == kProducers * kJobsEach,
          "every job was completed");
  s.check(twice == 0, "no job was completed twice");
  return s.finish();
}
