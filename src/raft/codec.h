// Binary forms of the Raft values in types.h, for the WAL and for the wire (RaftTransport).
//
// Every top-level encoding starts with a one-byte format version (kCodecVersion); values nested
// inside another (the entries of a Message, the ConfState of a SnapshotMeta) do not repeat it.
// Integers are varints and strings are length-prefixed (core/codec.h).
//
// encode_x(value, &out) appends to `out`; encode_x(value) returns a new string.
// decode_x(bytes) returns nullopt unless `bytes` is exactly one well-formed value of the current
// version: truncated input, trailing bytes, unknown enum values, non-0/1 booleans and counts the
// input cannot possibly hold are all refused. Decoding never reads past the input, and what it
// allocates is bounded by a small multiple of the input's size (a count is checked against the
// bytes left before anything is reserved), so it is safe on bytes from the network or a damaged
// disk.
// It checks form, not meaning: e.g. a ConfState's lists are not checked to be sorted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "raft/types.h"

namespace dkv::raft {

inline constexpr uint8_t kCodecVersion = 1;

void encode_entry(const Entry& e, std::string* out);
void encode_hard_state(const HardState& hs, std::string* out);
void encode_conf_state(const ConfState& cs, std::string* out);
void encode_snapshot_meta(const SnapshotMeta& meta, std::string* out);
void encode_conf_change(const ConfChange& cc, std::string* out);
void encode_message(const Message& m, std::string* out);

std::string encode_entry(const Entry& e);
std::string encode_hard_state(const HardState& hs);
std::string encode_conf_state(const ConfState& cs);
std::string encode_snapshot_meta(const SnapshotMeta& meta);
std::string encode_conf_change(const ConfChange& cc);
std::string encode_message(const Message& m);

std::optional<Entry> decode_entry(std::string_view in);
std::optional<HardState> decode_hard_state(std::string_view in);
std::optional<ConfState> decode_conf_state(std::string_view in);
std::optional<SnapshotMeta> decode_snapshot_meta(std::string_view in);
std::optional<ConfChange> decode_conf_change(std::string_view in);
std::optional<Message> decode_message(std::string_view in);

}  // namespace dkv::raft
