#include "raft/codec.h"

#include <cstdint>
#include <random>
#include <string>

#include <gtest/gtest.h>

namespace dkv::raft {
namespace {

constexpr uint64_t kBig = ~uint64_t{0};  // the longest varint

Entry sample_entry() { return Entry{7, 42, EntryType::kConfChange, std::string("abc\0def", 7)}; }

SnapshotMeta sample_meta() { return SnapshotMeta{1000, 9, ConfState{{1, 2, 3}, {kBig}}}; }

Message sample_message(MessageType type) {
  Message m;
  m.type = type;
  m.group = 3;
  m.from = 1;
  m.to = kBig;
  m.term = 12;
  m.log_term = 11;
  m.index = 300;
  m.commit = 299;
  m.entries = {Entry{11, 301, EntryType::kNormal, "x"}, Entry{12, 302, EntryType::kNormal, ""},
               sample_entry()};
  m.reject = true;
  m.reject_hint = 250;
  m.context = "transfer";
  m.snapshot = sample_meta();
  m.snap_offset = 1 << 20;
  m.snap_total = 5 << 20;
  m.snap_chunk = std::string(100, '\xff');
  return m;
}

// Every proper prefix of a valid encoding is refused, and so is the encoding plus one byte.
template <typename T, typename Decode>
void expect_strict(const std::string& enc, Decode decode) {
  for (size_t n = 0; n < enc.size(); ++n) {
    EXPECT_FALSE(decode(std::string_view(enc.data(), n)).has_value()) << "prefix of " << n << " bytes";
  }
  EXPECT_FALSE(decode(enc + '\0').has_value()) << "trailing byte";
  EXPECT_TRUE(decode(enc).has_value());
}

TEST(RaftCodec, EntryRoundTrip) {
  for (const Entry& e : {Entry{}, sample_entry(), Entry{kBig, kBig, EntryType::kNormal, std::string(1000, 'z')}}) {
    auto d = decode_entry(encode_entry(e));
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(*d, e);
  }
}

TEST(RaftCodec, HardStateRoundTrip) {
  for (const HardState& hs : {HardState{}, HardState{5, 2, 40}, HardState{kBig, kBig, kBig}}) {
    auto d = decode_hard_state(encode_hard_state(hs));
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(*d, hs);
  }
}

TEST(RaftCodec, ConfStateRoundTrip) {
  for (const ConfState& cs : {ConfState{}, ConfState{{1}, {}}, ConfState{{1, 2, 3}, {4, kBig}}}) {
    auto d = decode_conf_state(encode_conf_state(cs));
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(*d, cs);
  }
}

TEST(RaftCodec, SnapshotMetaRoundTrip) {
  for (const SnapshotMeta& m : {SnapshotMeta{}, sample_meta()}) {
    auto d = decode_snapshot_meta(encode_snapshot_meta(m));
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(*d, m);
  }
}

TEST(RaftCodec, ConfChangeRoundTrip) {
  for (auto type : {ConfChangeType::kAddVoter, ConfChangeType::kAddLearner, ConfChangeType::kRemoveNode}) {
    ConfChange cc{type, 17, "10.0.0.1:7000"};
    auto d = decode_conf_change(encode_conf_change(cc));
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(*d, cc);
  }
}

TEST(RaftCodec, EveryMessageTypeRoundTrips) {
  for (int t = 0; t <= static_cast<int>(MessageType::kTimeoutNow); ++t) {
    auto type = static_cast<MessageType>(t);
    for (const Message& m : {sample_message(type), Message{.type = type}}) {
      auto d = decode_message(encode_message(m));
      ASSERT_TRUE(d.has_value()) << message_type_name(type);
      EXPECT_EQ(*d, m) << message_type_name(type);
    }
  }
}

TEST(RaftCodec, AppendingFormAppends) {
  std::string out = "prefix";
  encode_hard_state(HardState{1, 2, 3}, &out);
  EXPECT_EQ(out, "prefix" + encode_hard_state(HardState{1, 2, 3}));
}

TEST(RaftCodec, EncodingStartsWithVersion) {
  EXPECT_EQ(static_cast<uint8_t>(encode_entry(Entry{})[0]), kCodecVersion);
  EXPECT_EQ(static_cast<uint8_t>(encode_message(Message{})[0]), kCodecVersion);
  std::string enc = encode_hard_state(HardState{1, 2, 3});
  enc[0] = static_cast<char>(kCodecVersion + 1);
  EXPECT_FALSE(decode_hard_state(enc).has_value());
}

TEST(RaftCodec, TruncationAndTrailingBytesAreRefused) {
  expect_strict<Entry>(encode_entry(sample_entry()), decode_entry);
  expect_strict<HardState>(encode_hard_state(HardState{kBig, 3, 300}), decode_hard_state);
  expect_strict<ConfState>(encode_conf_state(sample_meta().conf), decode_conf_state);
  expect_strict<SnapshotMeta>(encode_snapshot_meta(sample_meta()), decode_snapshot_meta);
  expect_strict<ConfChange>(encode_conf_change(ConfChange{ConfChangeType::kRemoveNode, 9, "ctx"}),
                            decode_conf_change);
  for (int t = 0; t <= static_cast<int>(MessageType::kTimeoutNow); ++t) {
    expect_strict<Message>(encode_message(sample_message(static_cast<MessageType>(t))), decode_message);
  }
}

TEST(RaftCodec, UnknownEnumValuesAreRefused) {
  std::string e = encode_entry(Entry{1, 2, EntryType::kNormal, ""});
  e[3] = 2;  // version, term, index, type
  EXPECT_FALSE(decode_entry(e).has_value());

  std::string cc = encode_conf_change(ConfChange{});
  cc[1] = 3;
  EXPECT_FALSE(decode_conf_change(cc).has_value());

  std::string m = encode_message(Message{});
  m[1] = static_cast<char>(static_cast<uint8_t>(MessageType::kForward) + 1);
  EXPECT_FALSE(decode_message(m).has_value());
}

TEST(RaftCodec, NonCanonicalBooleanIsRefused) {
  Message msg;
  msg.reject = true;
  std::string m = encode_message(msg);
  // version, type, 7 zero varints, entry count 0, then reject.
  ASSERT_EQ(m[10], 1);
  m[10] = 2;
  EXPECT_FALSE(decode_message(m).has_value());
}

TEST(RaftCodec, HostileCountsAreRefusedWithoutAllocating) {
  // A message claiming 2^62 entries, and a conf state claiming 2^62 voters, in a few bytes.
  std::string m;
  m.push_back(static_cast<char>(kCodecVersion));
  m.push_back(0);                          // type
  m.append(7, '\0');                       // group .. commit
  m.append("\xff\xff\xff\xff\xff\xff\xff\xff\x3f", 9);  // entry count
  m.append(64, '\0');
  EXPECT_FALSE(decode_message(m).has_value());

  std::string cs;
  cs.push_back(static_cast<char>(kCodecVersion));
  cs.append("\xff\xff\xff\xff\xff\xff\xff\xff\x3f", 9);
  EXPECT_FALSE(decode_conf_state(cs).has_value());

  std::string e = encode_entry(Entry{1, 2, EntryType::kNormal, ""});
  e.back() = static_cast<char>(0x7f);  // data length 127 with no data
  EXPECT_FALSE(decode_entry(e).has_value());
}

TEST(RaftCodec, RandomGarbageNeverCrashes) {
  std::mt19937_64 rng(12345);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string g(rng() % 64, '\0');
    for (char& c : g) c = static_cast<char>(rng());
    if (!g.empty() && rng() % 2) g[0] = static_cast<char>(kCodecVersion);
    accepted += decode_message(g).has_value();
    accepted += decode_entry(g).has_value();
    accepted += decode_snapshot_meta(g).has_value();
    accepted += decode_conf_change(g).has_value();
    decode_hard_state(g);
    decode_conf_state(g);
  }
  // Random bytes almost never form exact encodings; anything accepted must re-encode to itself.
  EXPECT_LT(accepted, 2000);
}

TEST(RaftCodec, MutatedEncodingsEitherFailOrDecodeToSomethingReencodable) {
  std::mt19937_64 rng(99);
  std::string base = encode_message(sample_message(MessageType::kAppend));
  for (int i = 0; i < 20000; ++i) {
    std::string g = base;
    int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) g[rng() % g.size()] = static_cast<char>(rng());
    auto d = decode_message(g);
    if (d) {
      // Whatever decoded is a well-formed message that survives its own round trip.
      auto again = decode_message(encode_message(*d));
      ASSERT_TRUE(again.has_value());
      EXPECT_EQ(*again, *d);
    }
  }
}

}  // namespace
}  // namespace dkv::raft
