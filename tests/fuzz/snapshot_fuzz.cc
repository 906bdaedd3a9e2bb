// Fuzzes the snapshot decoder, core::StateMachine::restore_snapshot (src/core/snapshot.cc): what
// a follower installs from its leader, a node loads at start-up and `dkv-server --restore` reads
// from a backup file.
//
// Input: a snapshot WITHOUT its 8-byte XXH64 trailer; the target appends the right checksum,
// so the fuzzer explores the body rather than the checksum. (If the input already ends with a
// valid trailer, e.g. a real snapshot or backup file, it is restored as it is too.) The input as
// it is, checksum and all, is restored as well, which almost always fails the checksum.
//
// Asserts: restore returns OK or an error, never crashes, and allocates no single block larger
// than 1 MiB + 1024 x the input (linear: an item as small as one byte on the wire, e.g. an absent
// value in a session's stored answer, is a few hundred bytes in memory; what this catches is a
// count or length believed before its bytes are there); after an error the machine is empty (revision 0, no keys); after
// success, save_snapshot() gives bytes that restore, and save again to the same bytes; and the
// restored machine serves reads (range, query, leases), reports what is due, and applies the
// leader's next steps (lease refresh, expiry of what is due, a put, compaction) without
// crashing, and still snapshots to bytes that restore.
//
// Seeds: snapshot bodies of a machine after growing prefixes of the example commands
// (tests/fuzz/core_examples.h: keys with TTLs, labels and history, counters, leases, a lock,
// an election with a queue, sessions, member addresses). DKV_FUZZ_WRITE_CORPUS=<dir> writes them.
#include <xxhash.h>

#include <string>
#include <string_view>

#include "core/codec.h"
#include "core/state_machine.h"
#include "core_examples.h"
#include "fuzz_util.h"

namespace dkv::fuzz {
namespace {

std::string with_trailer(std::string_view body) {
  std::string out(body);
  core::ByteWriter w(&out);
  w.fixed64(XXH64(body.data(), body.size(), 0));
  return out;
}

bool has_valid_trailer(std::string_view bytes) {
  if (bytes.size() < 8) return false;
  return with_trailer(bytes.substr(0, bytes.size() - 8)) == bytes;
}

Status restore(core::StateMachine& m, std::string_view bytes) {
  AllocationBound bound((1u << 20) + 1024 * bytes.size());
  return m.restore_snapshot(bytes);
}

void exercise(core::StateMachine& m) {
  const std::string saved = m.save_snapshot();
  {
    core::StateMachine again;
    Status s = again.restore_snapshot(saved);
    FUZZ_CHECK(s.ok(), "a snapshot saved from a restored machine does not restore: %s", s.message().c_str());
    FUZZ_CHECK(again.save_snapshot() == saved, "restore(save()) saves different bytes");
  }

  // Reads at a time after the machine's clock, as a node serving reads would.
  const int64_t now = kExampleClockMs + 1000;
  (void)m.range(KeyRange::all(), {.limit = 50}, now);
  (void)m.range(KeyRange::all(), {.revision = m.compacted_revision() + 1, .keys_only = true}, now);
  (void)m.count("", now);
  (void)m.leases(now);
  Query q;
  q.entity = "user";
  q.where.push_back(QueryClause{"age", QueryOp::kGt, {"20"}});
  q.order_by = "age";
  q.limit = 10;
  (void)m.query(q, now);
  (void)m.get("user/1", {}, now);
  (void)m.lock_owner("jobs", now);
  (void)m.election_leader("boss", now);
  (void)m.current_events(WatchRequest{.key = "", .prefix = true, .snapshot = true}, now);

  // The leader's next steps.
  std::vector<Event> events;
  m.apply(core::Command{now, core::LeaseRefreshCmd{1}}, &events);
  core::DueWork due = m.due(now + 3'600'000, 1000);
  if (!due.empty()) {
    m.apply(core::Command{now + 3'600'000, core::ExpireCmd{std::move(due.keys), std::move(due.leases)}}, &events);
  }
  m.apply(core::Command{now + 3'600'000, core::PutCmd{"user/1", "x", {.lease = 1}}}, &events);
  m.apply(core::Command{now + 3'600'000, core::LockAcquireCmd{"jobs", 1}}, &events);
  m.apply(core::Command{now + 3'600'000, core::CompactCmd{m.revision()}}, &events);
  core::StateMachine after;
  Status s = after.restore_snapshot(m.save_snapshot());
  FUZZ_CHECK(s.ok(), "the snapshot after the leader's steps does not restore: %s", s.message().c_str());
}

void check_one(std::string_view bytes) {
  core::StateMachine m;
  Status s = restore(m, bytes);
  if (!s.ok()) {
    FUZZ_CHECK(s.code() == Code::kInvalidArgument, "restore error of code %d: %s", static_cast<int>(s.code()),
               s.message().c_str());
    FUZZ_CHECK(m.revision() == 0 && m.stats().keys == 0 && m.stats().leases == 0,
               "a failed restore left state behind");
    return;
  }
  exercise(m);
}

void check(std::string_view input) {
  check_one(input);
  if (!has_valid_trailer(input)) check_one(with_trailer(input));
}

void write_corpus(const std::string& dir) {
  const size_t total = example_commands().size();
  size_t n = 0;
  for (size_t count : {size_t{0}, size_t{5}, size_t{12}, size_t{25}, rich_example_count(), total}) {
    std::string bytes = example_snapshot(count);
    bytes.resize(bytes.size() - 8);  // the target appends the checksum
    write_seed(dir, seed_name("body", n++, "after" + std::to_string(count)), bytes);
  }
}

}  // namespace
}  // namespace dkv::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dkv::fuzz::maybe_write_corpus(dkv::fuzz::write_corpus);
  dkv::fuzz::install_allocation_hook();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dkv::fuzz::check(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
