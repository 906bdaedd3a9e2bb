// Fuzzes the log entry decoder, core::decode_command (src/core/command.cc), and then
// core::StateMachine::apply with whatever decodes: Raft replicates these bytes, and every member
// applies them.
//
// Asserts:
//  - decode_command returns an error or a command, never crashes, and allocates no single block
//    larger than 1 MiB + 1024 x the input (no count or length is trusted before its bytes; the
//    bound is linear because a one-byte item, e.g. an op of a MultiCmd, is hundreds in memory);
//  - a decoded command re-encoded (encode_command) decodes, and re-encodes to the same bytes
//    (the encoding of a decoded command is a fixed point; the input itself need not be canonical:
//    older format versions, non-minimal varints, booleans other than 0/1);
//  - applying it to a machine restored from a rich example state (keys, TTLs, labels, leases,
//    a lock, an election, sessions) never crashes; two such machines give the same result and
//    the same snapshot (determinism); the snapshot after the apply restores, and saves to the
//    same bytes; and the leader's next expiry step (due() + ExpireCmd) applies cleanly too.
//  - the input read as a log, [varint length][command]... (up to 64 entries): applied in order
//    to a fresh machine A and, re-encoded, to B (apply_encoded), with the leader's expiry step
//    after each; halfway A is snapshotted into C, which applies the rest too. A, B and C answer
//    every entry alike and end with the same snapshot, which restores to the same bytes.
//
// Seeds: encode_command of every command alternative (tests/fuzz/core_examples.h), also in the
// older format versions 1 and 2; logs of the examples in order and in windows of eight.
// DKV_FUZZ_WRITE_CORPUS=<dir> writes them.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/codec.h"
#include "core/command.h"
#include "core/result_codec.h"
#include "core/state_machine.h"
#include "core_examples.h"
#include "fuzz_util.h"

namespace dkv::fuzz {
namespace {

const std::string& base_state() {
  static const std::string bytes = example_snapshot(rich_example_count());
  return bytes;
}

std::string encoded_result(const core::CommandResult& r) {
  std::string out;
  core::ByteWriter w(&out);
  core::write_result(w, r);
  return out;
}

void check(std::string_view input) {
  Result<core::Command> decoded = [&] {
    AllocationBound bound((1u << 20) + 1024 * input.size());
    return core::decode_command(input);
  }();
  if (!decoded.ok()) {
    FUZZ_CHECK(decoded.status().code() == Code::kInvalidArgument, "decode error of code %d: %s",
               static_cast<int>(decoded.status().code()), decoded.status().message().c_str());
    return;
  }
  const std::string encoded = core::encode_command(*decoded);
  Result<core::Command> again = core::decode_command(encoded);
  FUZZ_CHECK(again.ok(), "a decoded command re-encoded does not decode: %s", again.status().message().c_str());
  FUZZ_CHECK(core::encode_command(*again) == encoded, "decode(encode(command)) encodes differently (op %s)",
             std::string(core::command_name(decoded->body)).c_str());

  core::StateMachine a;
  core::StateMachine b;
  FUZZ_CHECK(a.restore_snapshot(base_state()).ok(), "the example state does not restore");
  FUZZ_CHECK(b.restore_snapshot(base_state()).ok(), "the example state does not restore");
  std::vector<Event> events;
  core::CommandResult ra = a.apply(*decoded, &events);
  core::CommandResult rb = b.apply_encoded(encoded, nullptr);
  FUZZ_CHECK(encoded_result(ra) == encoded_result(rb), "two machines answered the same command differently");
  const std::string after = a.save_snapshot();
  FUZZ_CHECK(after == b.save_snapshot(), "two machines differ after the same command");

  core::StateMachine c;
  Status restored = c.restore_snapshot(after);
  FUZZ_CHECK(restored.ok(), "the snapshot after applying %s does not restore: %s",
             std::string(core::command_name(decoded->body)).c_str(), restored.message().c_str());
  FUZZ_CHECK(c.save_snapshot() == after, "a restored snapshot saves different bytes");

  // The leader's next duty: expire what is due at the command's time (as Replica does).
  const int64_t now = decoded->timestamp_ms;
  core::DueWork due = a.due(now, 1000);
  if (!due.empty()) {
    core::Command expire{now, core::ExpireCmd{std::move(due.keys), std::move(due.leases)}};
    a.apply(expire, &events);
  }
  (void)a.stats();
}

// The input as a log of length-prefixed entries.
void check_log(std::string_view input) {
  core::ByteReader r(input);
  std::vector<std::string_view> entries;
  while (!r.at_end() && entries.size() < 64) {
    std::string_view e = r.bytes();
    if (!r.ok()) break;
    entries.push_back(e);
  }
  if (entries.size() < 2) return;
  core::StateMachine a;
  core::StateMachine b;
  std::unique_ptr<core::StateMachine> c;
  const size_t half = entries.size() / 2;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i == half) {
      c = std::make_unique<core::StateMachine>();
      Status s = c->restore_snapshot(a.save_snapshot());
      FUZZ_CHECK(s.ok(), "a snapshot taken halfway through a log does not restore: %s", s.message().c_str());
    }
    Result<core::Command> command = core::decode_command(entries[i]);
    if (!command.ok()) continue;  // as Replica::apply_entry: an entry that does not decode changes nothing
    const std::string encoded = core::encode_command(*command);
    const std::string ra = encoded_result(a.apply(*command, nullptr));
    FUZZ_CHECK(ra == encoded_result(b.apply_encoded(encoded, nullptr)), "entry %zu: A and B answer differently", i);
    if (c) FUZZ_CHECK(ra == encoded_result(c->apply(*command, nullptr)), "entry %zu: A and C answer differently", i);
    const int64_t now = command->timestamp_ms;
    core::DueWork due = a.due(now, 1000);
    if (!due.empty()) {
      const core::Command expire{now, core::ExpireCmd{std::move(due.keys), std::move(due.leases)}};
      const std::string re = encoded_result(a.apply(expire, nullptr));
      FUZZ_CHECK(re == encoded_result(b.apply(expire, nullptr)), "entry %zu: A and B expire differently", i);
      if (c) FUZZ_CHECK(re == encoded_result(c->apply(expire, nullptr)), "entry %zu: A and C expire differently", i);
    }
  }
  const std::string end = a.save_snapshot();
  FUZZ_CHECK(end == b.save_snapshot(), "A and B end in different states");
  FUZZ_CHECK(end == c->save_snapshot(), "A and C (restored halfway) end in different states");
  core::StateMachine d;
  FUZZ_CHECK(d.restore_snapshot(end).ok() && d.save_snapshot() == end, "the final snapshot does not round-trip");
}

std::string log_of(const std::vector<core::Command>& commands, size_t from, size_t count) {
  std::string out;
  core::ByteWriter w(&out);
  for (size_t i = from; i < from + count && i < commands.size(); ++i) w.bytes(core::encode_command(commands[i]));
  return out;
}

void write_corpus(const std::string& dir) {
  size_t n = 0;
  const std::vector<core::Command> all = example_commands();
  write_seed(dir, seed_name("log", n++, "all"), log_of(all, 0, all.size()));
  for (size_t from = 0; from < all.size(); from += 8) write_seed(dir, seed_name("log", n++, "window"), log_of(all, from, 8));
  for (const core::Command& c : example_commands()) {
    const std::string bytes = core::encode_command(c);
    const std::string name(core::command_name(c.body));
    write_seed(dir, seed_name("v3", n++, name), bytes);
  }
  // Format versions 1 and 2 (no origin and session / no client address in MemberAddress).
  core::Command put{kExampleClockMs, core::PutCmd{"old", "format", {}}};
  std::string v3 = core::encode_command(put);
  std::string v2 = v3;
  v2[0] = 2;
  write_seed(dir, seed_name("v2", n++, "put"), v2);
  std::string v1;
  core::ByteWriter w(&v1);
  w.u8(1);
  w.u8(static_cast<uint8_t>(core::CommandBody(core::LeaseRefreshCmd{}).index()));
  w.svarint(kExampleClockMs);
  write_seed(dir, seed_name("v1", n++, "leaserefresh"), v1);
  std::string member;
  core::ByteWriter m(&member);
  m.u8(2);
  m.u8(static_cast<uint8_t>(core::CommandBody(core::MemberAddressCmd{}).index()));
  m.svarint(kExampleClockMs);
  for (int i = 0; i < 5; ++i) m.varint(0);
  m.varint(4);
  m.bytes("10.0.0.4:7101");
  write_seed(dir, seed_name("v2", n++, "memberaddress"), member);
}

}  // namespace
}  // namespace dkv::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dkv::fuzz::maybe_write_corpus(dkv::fuzz::write_corpus);
  dkv::fuzz::install_allocation_hook();
  (void)dkv::fuzz::base_state();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  dkv::fuzz::check(input);
  dkv::fuzz::check_log(input);
  return 0;
}
