// Example state machine commands for the fuzz targets' seeds and starting states: every
// CommandBody alternative, with the options each carries, in an order that makes a state with
// keys (TTLs, labels, entities, history), counters, leases with attached keys, a lock, an
// election with a queue, sessions, member addresses and ACL users.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/command.h"
#include "core/state_machine.h"

namespace dkv::fuzz {

inline constexpr int64_t kExampleClockMs = 1'764'000'000'000;  // 2025-11-24, as in protocol.md

inline std::vector<core::Command> example_commands() {
  using namespace core;
  int64_t t = kExampleClockMs;
  std::vector<Command> out;
  auto add = [&](CommandBody body, SessionRequest session = {}, Origin origin = {}) {
    out.push_back(Command{t, std::move(body), origin, session});
    t += 7;
  };
  PutOptions labelled;
  labelled.entity = "user";
  labelled.content_type = "application/json";
  labelled.labels = {{"age", "31"}, {"city", "oslo"}};
  add(PutCmd{"user/1", "{\"name\":\"alice\"}", labelled});
  labelled.labels = {{"age", "25"}, {"city", "rome"}};
  labelled.ttl_ms = 60'000;
  add(PutCmd{"user/2", "{\"name\":\"bob\"}", labelled});
  add(PutCmd{"config/db", "postgres://a", {.ttl_ms = 3'600'000}});
  add(PutCmd{"config/db", "postgres://b", {.if_match = 1, .keep_ttl = true, .prev_kv = true}});
  add(PutCmd{"plain", "v", {.if_absent = true}});
  add(LeaseGrantCmd{10'000});
  add(LeaseGrantCmd{30'000});
  add(PutCmd{"svc/a", "up", {.lease = 1}});
  add(PutCmd{"svc/b", "up", {.lease = 2}});
  add(LockAcquireCmd{"jobs", 1});
  add(PutCmd{"jobs/state", "running", {.fence = Fence{"jobs", 8}}});
  add(CampaignCmd{"boss", 1, "alice"});
  add(CampaignCmd{"boss", 2, "bob"});
  add(ProclaimCmd{"boss", 12, "alice2"});
  add(CounterAddCmd{"hits", 5, {.min = 0, .max = 100, .ttl_ms = 0}});
  add(CounterAddCmd{"window", 1, {.ttl_ms = 1000}});
  add(CounterSetCmd{"hits", 42, 0});
  add(AppendCmd{"plain", "-more"});
  add(KeyTtlCmd{"plain", KeyTtlCmd::Mode::kExpireIn, 50'000, KeyTtlCmd::Cond::kNx});
  add(KeyTtlCmd{"config/db", KeyTtlCmd::Mode::kPersist, 0, KeyTtlCmd::Cond::kAlways});
  add(MultiPutCmd{{PutItem{"m/1", "1", {}}, PutItem{"m/2", "2", {.ttl_ms = 5000}}}});
  add(MultiDeleteCmd{{"m/1", "absent"}});
  {
    TxnRequest txn;
    txn.reads = {{"user/1", 1}, {"nothing", 0}};
    txn.conditions = {TxnCondition{"user/1", CompareTarget::kValue, CompareOp::kNotEqual, 0, "x"},
                      TxnCondition{"hits", CompareTarget::kVersion, CompareOp::kGreater, 0, ""}};
    txn.writes = {TxnWrite::make_put("txn/a", "1", {.labels = {{"k", "v"}}}),
                  TxnWrite::make_delete("m/2", {.if_match = 1})};
    add(TxnCmd{txn});
  }
  {
    MultiCmd multi;
    multi.watched = {{"plain", 0}};
    multi.ops = {MultiOp{PutCmd{"multi/a", "1", {}}}, MultiOp{CounterAddCmd{"multi/a", 2, {}}},
                 MultiOp{ReadCmd{{"multi/a", "plain"}}}, MultiOp{AppendCmd{"multi/a", "0"}},
                 MultiOp{KeyTtlCmd{"multi/a", KeyTtlCmd::Mode::kExpireAt, kExampleClockMs + 90'000,
                                   KeyTtlCmd::Cond::kGt}},
                 MultiOp{DeleteCmd{"multi/b", {}}}};
    add(multi);
  }
  add(ReadCmd{{"user/1", "absent"}});
  add(PutCmd{"s/1", "once", {}}, SessionRequest{77, 1, 1});
  add(PutCmd{"s/1", "once", {}}, SessionRequest{77, 1, 1});  // a retry: replayed
  add(CounterAddCmd{"s/ctr", 1, {}}, SessionRequest{77, 2, 2}, Origin{2, 1000});
  add(MemberAddressCmd{1, "127.0.0.1:7101", "127.0.0.1:7104"});
  add(MemberAddressCmd{2, "127.0.0.1:7102", ""});
  add(MemberAddressCmd{3, "", ""});  // removed for good
  add(AclSetUserCmd{"alice", {"on", "#30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4", "~user/*",
                               "&*", "+@read", "-@admin", "+kv.put"}});
  add(AclSetUserCmd{"bob", {"off", "nopass", "allkeys", "allcommands"}});
  add(AclDelUserCmd{{"bob", "nobody"}});
  add(LeaseRefreshCmd{3});
  add(LeaseKeepAliveCmd{2});
  add(PutCmd{"user/1", "{\"name\":\"alice\",\"v\":2}", {.entity = "user", .labels = {{"age", "32"}}}});
  add(DeleteCmd{"config/db", {.if_match = 2, .prev_kv = true}});
  add(ResignCmd{"boss", 12});
  add(LockReleaseCmd{"jobs", 10});
  add(ClearCmd{"m/"});
  add(CompactCmd{3});
  // Later ones end things: the state built from the whole list is still rich.
  t += 40'000;
  add(ExpireCmd{{"user/2", "plain", "window"}, {1}});
  add(LeaseRevokeCmd{2});
  return out;
}

// The state after the first `count` example commands (all of them by default). All but the last
// two leaves every kind of state live: leases, a held lock, an election with a queue.
inline constexpr size_t kAllExamples = SIZE_MAX;
inline std::string example_snapshot(size_t count = kAllExamples) {
  core::StateMachine m;
  const std::vector<core::Command> commands = example_commands();
  if (count == kAllExamples) count = commands.size();
  for (size_t i = 0; i < count && i < commands.size(); ++i) m.apply(commands[i], nullptr);
  return m.save_snapshot();
}
inline size_t rich_example_count() { return example_commands().size() - 2; }

}  // namespace dkv::fuzz
