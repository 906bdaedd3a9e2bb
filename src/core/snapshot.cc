// StateMachine snapshots: the replicated state as one checksummed byte stream.
//
// Only replicated state is written (keys with their history, leases, locks, elections and the
// counters that drive ids and time); timers, lease attachments and the label index are rebuilt
// from it. Layout: "DKVS", format version, body, then an XXH64 of everything before it.
#include <xxhash.h>

#include "core/codec.h"
#include "core/result_codec.h"
#include "core/state_machine.h"

namespace dkv::core {
namespace {

constexpr std::string_view kMagic = "DKVS";
// Version 2 added the exactly-once session table and the member address table at the end,
// version 3 the members' client addresses after it, version 4 the removed node ids, version 5
// the ACL users; older images still load.
constexpr uint8_t kSnapshotVersion = 5;

void write_record_body(ByteWriter& w, const Record& r) {
  RecordMeta m = r.meta();
  w.bytes(r.value());
  w.svarint(m.version);
  w.svarint(m.create_revision);
  w.svarint(m.mod_revision);
  w.svarint(m.created_at_ms);
  w.svarint(m.updated_at_ms);
  w.svarint(m.expires_at_ms);
  w.svarint(m.lease);
  w.bytes(r.entity());
  w.bytes(r.content_type());
  write_labels(w, r.labels());
}

RecordPtr read_record_body(ByteReader& r, std::string_view key) {
  std::string_view value = r.bytes();
  RecordMeta m;
  m.version = r.svarint();
  m.create_revision = r.svarint();
  m.mod_revision = r.svarint();
  m.created_at_ms = r.svarint();
  m.updated_at_ms = r.svarint();
  m.expires_at_ms = r.svarint();
  m.lease = r.svarint();
  std::string_view entity = r.bytes();
  std::string_view content_type = r.bytes();
  Labels labels = read_labels(r);
  if (!r.ok()) return nullptr;
  return Record::create(key, value, m, entity, content_type, labels);
}

}  // namespace

std::string StateMachine::save_snapshot() const {
  std::string out;
  ByteWriter w(&out);
  w.raw(kMagic);
  w.u8(kSnapshotVersion);
  w.svarint(revision_);
  w.svarint(compacted_);
  w.svarint(clock_ms_);
  w.svarint(next_lease_id_);

  w.varint(leases_.size());
  for (const auto& [id, lease] : leases_) {
    w.svarint(id);
    w.svarint(lease->ttl_ms);
    w.svarint(lease->deadline_ms);
  }

  w.varint(keys_.size());
  keys_.scan(KeyRange::all(), [&](const Record& r) {
    w.bytes(r.key());
    write_record_body(w, r);
    return true;
  });

  w.varint(keys_.history().size());
  for (const auto& [key, versions] : keys_.history()) {
    w.bytes(key);
    w.varint(versions.size());
    for (const Keyspace::Version& v : versions) {
      w.svarint(v.revision);
      w.boolean(v.record != nullptr);
      if (v.record != nullptr) write_record_body(w, *v.record);
    }
  }

  w.varint(locks_.size());
  for (const auto& [name, owner] : locks_) {
    w.bytes(name);
    w.svarint(owner.lease);
    w.svarint(owner.token);
    w.svarint(owner.acquired_at_ms);
  }

  w.varint(elections_.size());
  for (const auto& [name, e] : elections_) {
    w.bytes(name);
    w.boolean(e.leader.has_value());
    if (e.leader) {
      w.bytes(e.leader->value);
      w.svarint(e.leader->lease);
      w.svarint(e.leader->token);
    }
    w.varint(e.queue.size());
    for (const Candidate& c : e.queue) {
      w.svarint(c.lease);
      w.bytes(c.value);
    }
  }

  w.varint(sessions_.size());
  for (const auto& [id, s] : sessions_) {
    w.varint(id);
    w.svarint(s.last_used_ms);
    w.varint(s.acked);
    w.varint(s.answers.size());
    for (const auto& [seq, answer] : s.answers) {
      w.varint(seq);
      write_result(w, answer);
    }
  }

  w.varint(lease_refresh_term_);
  w.varint(member_addresses_.size());
  for (const auto& [node, address] : member_addresses_) {
    w.varint(node);
    w.bytes(address);
  }
  w.varint(member_client_addresses_.size());
  for (const auto& [node, address] : member_client_addresses_) {
    w.varint(node);
    w.bytes(address);
  }
  w.varint(removed_members_.size());
  for (uint64_t node : removed_members_) w.varint(node);
  w.varint(acl_users_.size());
  for (const auto& [name, user] : acl_users_) {
    w.bytes(name);
    w.u8(static_cast<uint8_t>((user.enabled ? 1 : 0) | (user.nopass ? 2 : 0)));
    for (const auto* list : {&user.password_hashes, &user.key_patterns, &user.channel_patterns,
                             &user.command_rules}) {
      w.varint(list->size());
      for (const std::string& item : *list) w.bytes(item);
    }
  }

  w.fixed64(XXH64(out.data(), out.size(), 0));
  return out;
}

void StateMachine::reset() {
  for (auto& [key, timer] : key_timers_) key_wheel_.cancel(&timer);
  key_timers_.clear();
  for (auto& [id, lease] : leases_) lease_wheel_.cancel(lease.get());
  leases_.clear();
  keys_.clear();
  locks_.clear();
  elections_.clear();
  labels_.clear();
  sessions_.clear();
  sessions_by_use_.clear();
  member_addresses_.clear();
  member_client_addresses_.clear();
  removed_members_.clear();
  acl_users_.clear();
  lease_refresh_term_ = 0;
  revision_ = 0;
  compacted_ = 0;
  clock_ms_ = 0;
  next_lease_id_ = 1;
}

Status StateMachine::restore_snapshot(std::string_view bytes) {
  reset();
  auto corrupt = [&](const std::string& what) {
    reset();
    return Status(Code::kInvalidArgument, "snapshot is corrupt: " + what);
  };
  if (bytes.size() < kMagic.size() + 1 + 8 || bytes.substr(0, kMagic.size()) != kMagic) {
    return corrupt("not a DKV snapshot");
  }
  std::string_view body = bytes.substr(0, bytes.size() - 8);
  ByteReader trailer(bytes.substr(bytes.size() - 8));
  if (trailer.fixed64() != XXH64(body.data(), body.size(), 0)) return corrupt("checksum mismatch");
  ByteReader r(body.substr(kMagic.size()));
  const uint8_t version = r.u8();
  if (version < 1 || version > kSnapshotVersion) {
    return corrupt("unsupported format version " + std::to_string(version));
  }
  revision_ = r.svarint();
  compacted_ = r.svarint();
  clock_ms_ = r.svarint();
  next_lease_id_ = r.svarint();

  uint64_t n = r.count(3);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    auto lease = std::make_unique<Lease>();
    lease->id = r.svarint();
    lease->ttl_ms = r.svarint();
    lease->deadline_ms = r.svarint();
    if (!r.ok()) break;
    // Checked for meaning too: a later grant takes next_lease_id, and must not find it taken.
    const int64_t id = lease->id;
    if (id <= 0 || id >= next_lease_id_) {
      return corrupt("lease " + std::to_string(id) + " is outside 1.." + std::to_string(next_lease_id_ - 1));
    }
    if (!leases_.emplace(id, std::move(lease)).second) return corrupt("lease " + std::to_string(id) + " appears twice");
  }

  n = r.count(10);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    std::string_view key = r.bytes();
    RecordPtr record = read_record_body(r, key);
    if (!record) continue;
    // (At most 64 bytes of a key in a message.)
    const std::string named = "key '" + std::string(key.substr(0, 64)) + (key.size() > 64 ? "...'" : "'");
    if (keys_.find(key) != nullptr) return corrupt(named + " appears twice");
    // A revoked lease takes its keys with it: a key on a lease that is not there would outlive it.
    if (const int64_t lease = record->lease(); lease != 0 && leases_.find(lease) == leases_.end()) {
      return corrupt(named + " is attached to lease " + std::to_string(lease) +
                     ", which the snapshot does not hold");
    }
    keys_.install(std::move(record));
  }

  n = r.count(2);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    std::string key(r.bytes());
    uint64_t versions = r.count(2);
    for (uint64_t j = 0; j < versions && r.ok(); ++j) {
      int64_t revision = r.svarint();
      RecordPtr record;
      if (r.boolean()) {
        record = read_record_body(r, key);
        if (!record) break;
      }
      keys_.restore_version(key, revision, std::move(record));
    }
  }

  n = r.count(4);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    LockOwner owner;
    owner.name = r.bytes();
    owner.lease = r.svarint();
    owner.token = r.svarint();
    owner.acquired_at_ms = r.svarint();
    std::string name = owner.name;
    locks_.emplace(std::move(name), std::move(owner));
  }

  n = r.count(3);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    std::string name(r.bytes());
    Election e;
    if (r.boolean()) {
      ElectionLeader leader;
      leader.name = name;
      leader.value = r.bytes();
      leader.lease = r.svarint();
      leader.token = r.svarint();
      e.leader = std::move(leader);
    }
    uint64_t queued = r.count(2);
    for (uint64_t j = 0; j < queued && r.ok(); ++j) {
      Candidate c;
      c.lease = r.svarint();
      c.value = r.bytes();
      e.queue.push_back(std::move(c));
    }
    elections_.emplace(std::move(name), std::move(e));
  }

  n = version >= 2 ? r.count(4) : 0;
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    const uint64_t id = r.varint();
    ClientSession s;
    s.last_used_ms = r.svarint();
    s.acked = r.varint();
    uint64_t answers = r.count(3);
    for (uint64_t j = 0; j < answers && r.ok(); ++j) {
      const uint64_t seq = r.varint();
      CommandResult answer;
      if (!read_result(r, &answer)) return corrupt("a session's answer does not decode");
      s.answers.emplace(seq, std::move(answer));
    }
    sessions_by_use_.insert({s.last_used_ms, id});
    sessions_.emplace(id, std::move(s));
  }

  lease_refresh_term_ = version >= 2 ? r.varint() : 0;
  n = version >= 2 ? r.count(2) : 0;
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    const uint64_t node = r.varint();
    member_addresses_[node] = std::string(r.bytes());
  }
  n = version >= 3 ? r.count(2) : 0;
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    const uint64_t node = r.varint();
    member_client_addresses_[node] = std::string(r.bytes());
  }
  n = version >= 4 ? r.count(1) : 0;
  for (uint64_t i = 0; i < n && r.ok(); ++i) removed_members_.insert(r.varint());
  n = version >= 5 ? r.count(6) : 0;
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    std::string name(r.bytes());
    AclUser user;
    const uint8_t flags = r.u8();
    user.enabled = (flags & 1) != 0;
    user.nopass = (flags & 2) != 0;
    for (auto* list : {&user.password_hashes, &user.key_patterns, &user.channel_patterns,
                       &user.command_rules}) {
      uint64_t items = r.count(1);
      for (uint64_t j = 0; j < items && r.ok(); ++j) list->emplace_back(r.bytes());
    }
    acl_users_[std::move(name)] = std::move(user);
  }

  if (!r.ok()) return corrupt("truncated or malformed body");
  if (!r.at_end()) return corrupt(std::to_string(r.remaining()) + " trailing bytes");
  rebuild_derived();
  return Status();
}

void StateMachine::rebuild_derived() {
  for (auto& [id, lease] : leases_) lease_wheel_.schedule(lease.get(), lease->deadline_ms);
  keys_.scan(KeyRange::all(), [&](const Record& r) {
    attach(r);
    return true;
  });
  for (const auto& [name, owner] : locks_) {
    if (Lease* l = find_lease(owner.lease)) l->locks.insert(name);
  }
  for (const auto& [name, e] : elections_) {
    if (e.leader) {
      if (Lease* l = find_lease(e.leader->lease)) l->elections.insert(name);
    }
    for (const Candidate& c : e.queue) {
      if (Lease* l = find_lease(c.lease)) l->elections.insert(name);
    }
  }
}

}  // namespace dkv::core
