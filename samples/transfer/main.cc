// sample-transfer: concurrent money transfers between accounts, each an optimistic
// transaction (read both balances, write both, commit; retried on CONFLICT). The total is
// conserved and no balance goes negative.
#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "sample.h"

int main(int argc, char** argv) {
  using namespace dkv;
  samples::Sample s(argc, argv, "transfer", "concurrent transfers in transactions: total conserved, no account negative");
  Client& db = s.store();
  constexpr int kAccounts = 5, kWorkers = 4, kTransfers = 50;
  constexpr int64_t kOpening = 1000;
  auto account = [&](int i) { return s.prefix() + "account/" + std::to_string(i); };
  for (int i = 0; i < kAccounts; ++i) samples::must(db.put(account(i), std::to_string(kOpening)), "open an account");

  std::atomic<int> done{0}, conflicts{0}, refused{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    Client& c = s.worker(w);
    workers.emplace_back([&, w, &c = c] {
      std::mt19937 rng(w);
      for (int t = 0; t < kTransfers; ++t) {
        const int from = static_cast<int>(rng() % kAccounts);
        const int to = (from + 1 + static_cast<int>(rng() % (kAccounts - 1))) % kAccounts;
        const int64_t amount = 1 + static_cast<int64_t>(rng() % 300);
        for (;;) {
          Transaction txn = c.begin_transaction();
          const int64_t a = std::stoll(samples::must(txn.get(account(from)), "read").value);
          const int64_t b = std::stoll(samples::must(txn.get(account(to)), "read").value);
          if (a < amount) {  // insufficient funds: nothing to write
            ++refused;
            break;
          }
          txn.put(account(from), std::to_string(a - amount));
          txn.put(account(to), std::to_string(b + amount));
          Result<TxnResult> r = txn.commit();
          if (r.ok()) {
            ++done;
            break;
          }
          if (r.status().code() != Code::kConflict) samples::must(std::move(r), "commit");
          ++conflicts;  // someone changed one of the balances since we read it: again
        }
      }
    });
  }
  for (auto& t : workers) t.join();

  int64_t total = 0;
  bool negative = false;
  for (int i = 0; i < kAccounts; ++i) {
    const int64_t balance = std::stoll(samples::must(db.get(account(i)), "read").value);
    total += balance;
    negative = negative || balance < 0;
    s.say("account %d: %lld", i, static_cast<long long>(balance));
  }
  s.say("%d transfers committed, %d refused for lack of funds, %d conflicts retried", done.load(), refused.load(),
        conflicts.load());
  s.check(total == kAccounts * kOpening, "the total balance is conserved");
  s.check(!negative, "no account went negative");
  s.check(done + refused == kWorkers * kTransfers, "every transfer was committed or refused, none lost");
  return s.finish();
}
