// Engine benchmarks: the state machine's ops/s for put, get, counter add, transaction commit
// and query, the embedded store's round trip, and bytes of memory per key for 1M keys.
//
// Most applies pass no event vector: the engine's own cost is what is measured. BM_PutWithEvents
// shows what building watch events adds.
#include <malloc.h>

#include <cstdio>
#include <string>

#include "benchmark/benchmark.h"
#include "core/state_machine.h"
#include "dkv/embedded.h"

namespace {

using dkv::core::Command;
using dkv::core::StateMachine;

constexpr int64_t kNow = 1'700'000'000'000;

// 16-byte keys as in the memory target: "key:" + 12 digits.
std::string key_of(int64_t i) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "key:%012lld", static_cast<long long>(i));
  return std::string(buf, 16);
}

const std::string kValue(100, 'v');

// Built by appending: g++ 12 at -O3 misreports "literal" + std::string&& (-Wrestrict).
std::string label(const char* prefix, int64_t n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

void BM_Put(benchmark::State& state) {
  StateMachine sm;
  int64_t i = 0;
  for (auto _ : state) {
    auto r = sm.apply(Command{kNow, dkv::core::PutCmd{key_of(i++ % 100000), kValue, {}}}, nullptr);
    benchmark::DoNotOptimize(r);
    if (i % 100000 == 0) sm.apply(Command{kNow, dkv::core::CompactCmd{sm.revision()}}, nullptr);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Put);

void BM_PutWithEvents(benchmark::State& state) {
  StateMachine sm;
  std::vector<dkv::Event> events;
  int64_t i = 0;
  for (auto _ : state) {
    events.clear();
    auto r = sm.apply(Command{kNow, dkv::core::PutCmd{key_of(i++ % 100000), kValue, {}}}, &events);
    benchmark::DoNotOptimize(r);
    if (i % 100000 == 0) sm.apply(Command{kNow, dkv::core::CompactCmd{sm.revision()}}, nullptr);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PutWithEvents);

void BM_Get(benchmark::State& state) {
  StateMachine sm;
  constexpr int64_t kKeys = 100000;
  for (int64_t i = 0; i < kKeys; ++i) {
    sm.apply(Command{kNow, dkv::core::PutCmd{key_of(i), kValue, {}}}, nullptr);
  }
  int64_t i = 0;
  for (auto _ : state) {
    auto r = sm.get(key_of(i++ % kKeys), {}, kNow);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Get);

void BM_CounterAdd(benchmark::State& state) {
  StateMachine sm;
  int64_t i = 0;
  for (auto _ : state) {
    auto r = sm.apply(Command{kNow, dkv::core::CounterAddCmd{key_of(i++ % 1000), 1, {}}}, nullptr);
    benchmark::DoNotOptimize(r);
    if (i % 100000 == 0) sm.apply(Command{kNow, dkv::core::CompactCmd{sm.revision()}}, nullptr);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterAdd);

// Two reads and two writes, reads unchanged so every commit succeeds.
void BM_TxnCommit(benchmark::State& state) {
  StateMachine sm;
  constexpr int64_t kKeys = 10000;
  for (int64_t i = 0; i < kKeys; ++i) {
    sm.apply(Command{kNow, dkv::core::PutCmd{key_of(i), kValue, {}}}, nullptr);
  }
  int64_t i = 0;
  for (auto _ : state) {
    std::string a = key_of(i % kKeys), b = key_of((i + 1) % kKeys);
    ++i;
    dkv::TxnRequest t;
    t.reads = {{a, sm.get(a, {}, kNow)->version}, {b, sm.get(b, {}, kNow)->version}};
    t.writes = {dkv::TxnWrite::make_put(a, kValue), dkv::TxnWrite::make_put(b, kValue)};
    auto r = sm.apply(Command{kNow, dkv::core::TxnCmd{std::move(t)}}, nullptr);
    if (!r.status.ok()) state.SkipWithError(r.status.to_string().c_str());
    if (i % 50000 == 0) sm.apply(Command{kNow, dkv::core::CompactCmd{sm.revision()}}, nullptr);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TxnCommit);

// 10k users of one entity in 100 teams; EQ on team, first 10 by key.
void BM_Query(benchmark::State& state) {
  StateMachine sm;
  for (int64_t i = 0; i < 10000; ++i) {
    dkv::PutOptions o;
    o.entity = "user";
    o.labels = {{"team", label("t", i % 100)}, {"age", label("", 20 + i % 50)}};
    sm.apply(Command{kNow, dkv::core::PutCmd{key_of(i), kValue, o}}, nullptr);
  }
  int64_t i = 0;
  for (auto _ : state) {
    dkv::Query q;
    q.entity = "user";
    q.where = {{"team", dkv::QueryOp::kEq, {label("t", i++ % 100)}}};
    q.limit = 10;
    auto r = sm.query(q, kNow);
    if (!r.ok() || r->items.size() != 10) state.SkipWithError("query returned too little");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Query);

// Through dkv::Embedded: each call hops to the engine thread and back.
void BM_EmbeddedPut(benchmark::State& state) {
  dkv::Embedded store;
  int64_t i = 0;
  for (auto _ : state) {
    auto r = store.put(key_of(i++ % 100000), kValue);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EmbeddedPut)->UseRealTime();

void BM_EmbeddedGet(benchmark::State& state) {
  dkv::Embedded store;
  for (int64_t i = 0; i < 1000; ++i) (void)store.put(key_of(i), kValue);
  int64_t i = 0;
  for (auto _ : state) {
    auto r = store.get(key_of(i++ % 1000));
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EmbeddedGet)->UseRealTime();

// Heap bytes per key for 1M keys of 16-byte keys and 100-byte values (Redis: about 200).
void BM_MemoryPerKey(benchmark::State& state) {
  constexpr int64_t kKeys = 1000000;
  for (auto _ : state) {
    malloc_trim(0);
    size_t before = mallinfo2().uordblks;
    auto sm = std::make_unique<StateMachine>();
    for (int64_t i = 0; i < kKeys; ++i) {
      sm->apply(Command{kNow, dkv::core::PutCmd{key_of(i), kValue, {}}}, nullptr);
    }
    size_t after = mallinfo2().uordblks;
    state.counters["bytes_per_key"] =
        static_cast<double>(after - before) / static_cast<double>(kKeys);
    state.counters["keys"] = static_cast<double>(sm->stats().keys);
  }
}
BENCHMARK(BM_MemoryPerKey)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
