// Snapshots whose checksum is right but whose contents no machine could have produced (found by
// tests/fuzz/snapshot_fuzz): restoring them must not leave a state that crashes a later apply.
#include <gtest/gtest.h>
#include <xxhash.h>

#include <string>
#include <string_view>

#include "core/codec.h"
#include "core/command.h"
#include "core/state_machine.h"

namespace dkv::core {
namespace {

constexpr int64_t kT = 1'764'000'000'000;

// `snapshot` with its leases section emptied and the checksum made right again. Layout
// (snapshot.cc): "DKVS", version, revision, compacted, clock, next lease id, lease count, leases
// (id, ttl, deadline) ..., the rest, XXH64.
std::string without_leases(const std::string& snapshot) {
  ByteReader r(std::string_view(snapshot).substr(0, snapshot.size() - 8));
  r.raw(5);
  for (int i = 0; i < 4; ++i) r.svarint();
  const size_t count_at = r.position();
  const uint64_t leases = r.varint();
  for (uint64_t i = 0; i < 3 * leases; ++i) r.svarint();
  EXPECT_TRUE(r.ok());
  std::string out = snapshot.substr(0, count_at);
  ByteWriter w(&out);
  w.varint(0);
  out += snapshot.substr(r.position(), snapshot.size() - 8 - r.position());
  w.fixed64(XXH64(out.data(), out.size(), 0));
  return out;
}

// `snapshot` with its next lease id replaced and the checksum made right again.
std::string with_next_lease_id(const std::string& snapshot, int64_t next) {
  ByteReader r(std::string_view(snapshot).substr(0, snapshot.size() - 8));
  r.raw(5);
  for (int i = 0; i < 3; ++i) r.svarint();
  const size_t at = r.position();
  r.svarint();
  EXPECT_TRUE(r.ok());
  std::string out = snapshot.substr(0, at);
  ByteWriter w(&out);
  w.svarint(next);
  out += snapshot.substr(r.position(), snapshot.size() - 8 - r.position());
  w.fixed64(XXH64(out.data(), out.size(), 0));
  return out;
}

// What restore refuses: states that would go on silently wrong (a later lease grant reusing an
// id, a key that no revoke would remove).
TEST(DamagedSnapshotTest, LeaseIdsAtOrAboveTheNextOneAndKeysOnMissingLeasesAreRefused) {
  StateMachine m;
  ASSERT_TRUE(m.apply(Command{kT, LeaseGrantCmd{10'000}}, nullptr).status.ok());  // lease 1
  PutCmd put;
  put.key = "on-lease";
  put.value = "v";
  put.options.lease = 1;
  ASSERT_TRUE(m.apply(Command{kT, put}, nullptr).status.ok());
  const std::string good = m.save_snapshot();
  StateMachine check;
  ASSERT_TRUE(check.restore_snapshot(good).ok());

  StateMachine damaged;
  Status reused = damaged.restore_snapshot(with_next_lease_id(good, 1));
  EXPECT_EQ(reused.message(), "snapshot is corrupt: lease 1 is outside 1..0");
  Status orphan = damaged.restore_snapshot(without_leases(good));
  EXPECT_EQ(orphan.message(),
            "snapshot is corrupt: key 'on-lease' is attached to lease 1, which the snapshot does not hold");
  // A refused restore leaves an empty machine, not half of the file.
  EXPECT_EQ(damaged.revision(), 0);
}

TEST(DamagedSnapshotTest, LockAndElectionHeldByALeaseThatDoesNotExistAreFree) {
  StateMachine m;
  ASSERT_TRUE(m.apply(Command{kT, LeaseGrantCmd{10'000}}, nullptr).status.ok());  // lease 1
  ASSERT_TRUE(m.apply(Command{kT, LockAcquireCmd{"jobs", 1}}, nullptr).status.ok());
  ASSERT_TRUE(m.apply(Command{kT, CampaignCmd{"boss", 1, "alice"}}, nullptr).status.ok());

  StateMachine damaged;
  ASSERT_TRUE(damaged.restore_snapshot(without_leases(m.save_snapshot())).ok());
  ASSERT_TRUE(damaged.leases(kT).empty());
  EXPECT_EQ(damaged.lock_owner("jobs", kT).code(), Code::kNotFound);

  auto grant = damaged.apply(Command{kT + 1, LeaseGrantCmd{10'000}}, nullptr);
  ASSERT_TRUE(grant.status.ok());
  const int64_t lease = std::get<LeaseGrant>(grant.body).id;
  // Both used to follow the holder's lease through a null pointer.
  auto lock = damaged.apply(Command{kT + 2, LockAcquireCmd{"jobs", lease}}, nullptr);
  ASSERT_TRUE(lock.status.ok()) << lock.status.message();
  EXPECT_EQ(damaged.lock_owner("jobs", kT + 2)->lease, lease);
  auto campaign = damaged.apply(Command{kT + 3, CampaignCmd{"boss", lease, "bob"}}, nullptr);
  ASSERT_TRUE(campaign.status.ok()) << campaign.status.message();
  EXPECT_TRUE(std::get<CampaignResult>(campaign.body).leader);
  EXPECT_EQ(damaged.election_leader("boss", kT + 3)->value, "bob");
}

}  // namespace
}  // namespace dkv::core
