// Fuzzes the Raft codec's decoders (src/raft/codec.cc): what a node reads from its peers over
// the Raft transport (messages) and from its WAL (entries, hard state, snapshot metadata,
// membership changes).
//
// Input: one selector byte (mod 6: message, entry, hard state, conf state, snapshot meta, conf
// change), then the bytes to decode.
//
// Asserts: decoding returns a value or nullopt, never crashes, and allocates no single block
// larger than 64 KiB + 64 x the input (counts and lengths are checked against the bytes left);
// a decoded value re-encoded decodes to an equal value, and that re-encodes to the same bytes.
// (Only the core's behaviour on messages is out of scope: peers are trusted members.)
//
// Seeds: encodings of every message type with entries carrying encoded commands, snapshots
// chunks, read-index contexts; entries, hard states, conf states, snapshot metadata and conf
// changes. DKV_FUZZ_WRITE_CORPUS=<dir> writes them.
#include <optional>
#include <string>
#include <string_view>

#include "core_examples.h"
#include "fuzz_util.h"
#include "raft/codec.h"

namespace dkv::fuzz {
namespace {

enum Kind : uint8_t { kMessage, kEntry, kHardState, kConfState, kSnapshotMeta, kConfChange, kKinds };

template <typename T, typename Decode, typename Encode>
void round_trip(std::string_view bytes, Decode decode, Encode encode, const char* what) {
  std::optional<T> value;
  {
    AllocationBound bound((64u << 10) + 64 * bytes.size());
    value = decode(bytes);
  }
  if (!value) return;
  const std::string encoded = encode(*value);
  std::optional<T> again = decode(encoded);
  FUZZ_CHECK(again.has_value(), "a decoded %s re-encoded does not decode", what);
  FUZZ_CHECK(*again == *value, "a decoded %s re-encoded decodes to another value", what);
  FUZZ_CHECK(encode(*again) == encoded, "a decoded %s encodes to other bytes the second time", what);
}

void check(std::string_view input) {
  if (input.empty()) return;
  const uint8_t kind = static_cast<uint8_t>(input[0]) % kKinds;
  std::string_view bytes = input.substr(1);
  using namespace raft;
  switch (kind) {
    case kMessage:
      return round_trip<Message>(bytes, [](std::string_view b) { return decode_message(b); },
                                 [](const Message& v) { return encode_message(v); }, "message");
    case kEntry:
      return round_trip<Entry>(bytes, [](std::string_view b) { return decode_entry(b); },
                               [](const Entry& v) { return encode_entry(v); }, "entry");
    case kHardState:
      return round_trip<HardState>(bytes, [](std::string_view b) { return decode_hard_state(b); },
                                   [](const HardState& v) { return encode_hard_state(v); }, "hard state");
    case kConfState:
      return round_trip<ConfState>(bytes, [](std::string_view b) { return decode_conf_state(b); },
                                   [](const ConfState& v) { return encode_conf_state(v); }, "conf state");
    case kSnapshotMeta:
      return round_trip<SnapshotMeta>(bytes, [](std::string_view b) { return decode_snapshot_meta(b); },
                                      [](const SnapshotMeta& v) { return encode_snapshot_meta(v); },
                                      "snapshot meta");
    case kConfChange:
      return round_trip<ConfChange>(bytes, [](std::string_view b) { return decode_conf_change(b); },
                                    [](const ConfChange& v) { return encode_conf_change(v); }, "conf change");
  }
}

void write_corpus(const std::string& dir) {
  using namespace raft;
  size_t n = 0;
  auto seed = [&](Kind kind, const std::string& name, const std::string& bytes) {
    write_seed(dir, seed_name("raft", n++, name), std::string(1, static_cast<char>(kind)) + bytes);
  };
  std::vector<Entry> entries;
  uint64_t index = 10;
  for (const core::Command& c : example_commands()) {
    if (entries.size() == 4) break;
    entries.push_back(Entry{3, index++, EntryType::kNormal, core::encode_command(c)});
  }
  entries.push_back(Entry{3, index++, EntryType::kNormal, ""});  // a leader's no-op
  entries.push_back(Entry{3, index++, EntryType::kConfChange,
                          encode_conf_change(ConfChange{ConfChangeType::kAddLearner, 4, "127.0.0.1:7104"})});
  const ConfState conf{{1, 2, 3}, {4}};
  const SnapshotMeta meta{9, 2, conf};
  for (uint8_t t = 0; t <= static_cast<uint8_t>(MessageType::kForward); ++t) {
    Message m;
    m.type = static_cast<MessageType>(t);
    m.group = 0;
    m.from = 1;
    m.to = 2;
    m.term = 3;
    m.log_term = 2;
    m.index = 9;
    m.commit = 11;
    switch (m.type) {
      case MessageType::kAppend: m.entries = entries; break;
      case MessageType::kAppendResp: m.reject = true; m.reject_hint = 7; break;
      case MessageType::kHeartbeat:
      case MessageType::kHeartbeatResp:
      case MessageType::kReadIndex:
      case MessageType::kReadIndexResp: m.context = std::string("\x00\x00\x00\x00\x00\x00\x00\x2a", 8); break;
      case MessageType::kSnapshot:
        m.snapshot = meta;
        m.snap_offset = 0;
        m.snap_total = 100;
        m.snap_chunk = example_snapshot(3).substr(0, 100);
        break;
      case MessageType::kSnapshotResp: m.snap_offset = 100; break;
      case MessageType::kForward: m.entries = {Entry{0, 0, EntryType::kNormal, entries[0].data}}; break;
      case MessageType::kVote:
      case MessageType::kPreVote: m.context = "transfer"; break;
      default: break;
    }
    seed(kMessage, std::string("message_") + message_type_name(m.type), encode_message(m));
  }
  for (const Entry& e : entries) seed(kEntry, "entry", encode_entry(e));
  seed(kHardState, "hard_state", encode_hard_state(HardState{3, 1, 11}));
  seed(kConfState, "conf_state", encode_conf_state(conf));
  seed(kSnapshotMeta, "snapshot_meta", encode_snapshot_meta(meta));
  seed(kConfChange, "conf_change", encode_conf_change(ConfChange{ConfChangeType::kRemoveNode, 2, ""}));
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
