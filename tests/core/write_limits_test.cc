// core::check_write_limits: every client-sized part of a write is checked, nested ones too, and
// the message names the limit and its flag.
#include "core/limits.h"

#include <gtest/gtest.h>

namespace dkv::core {
namespace {

WriteLimits small() { return WriteLimits{.max_key_bytes = 4, .max_value_bytes = 8, .max_labels = 1, .max_txn_ops = 2}; }

std::string refusal(const CommandBody& body) {
  Status s = check_write_limits(body, small());
  EXPECT_EQ(s.ok() ? Code::kOk : s.code(), s.ok() ? Code::kOk : Code::kInvalidArgument);
  return s.ok() ? "" : s.message();
}

TEST(WriteLimits, WithinEveryLimitPasses) {
  PutOptions o;
  o.labels = {{"l", "v"}};
  EXPECT_EQ(refusal(PutCmd{"kkkk", "vvvvvvvv", o}), "");
  EXPECT_EQ(refusal(MultiPutCmd{{PutItem{"a", "1", {}}, PutItem{"b", "2", {}}}}), "");
  EXPECT_EQ(refusal(ExpireCmd{{"a-key-longer-than-four"}, {}}), "");  // made by the server itself
}

TEST(WriteLimits, EachPartIsCheckedAndNamed) {
  EXPECT_EQ(refusal(PutCmd{"kkkkk", "v", {}}), "key 'kkkkk' is 5 bytes, over the limit of 4 (--max-key-bytes)");
  EXPECT_EQ(refusal(PutCmd{"k", "123456789", {}}), "value of 'k' is 9 bytes, over the limit of 8 (--max-value-bytes)");
  PutOptions labels;
  labels.labels = {{"a", "1"}, {"b", "2"}};
  EXPECT_EQ(refusal(PutCmd{"k", "v", labels}), "key 'k' has 2 labels, over the limit of 1 (--max-labels)");
  PutOptions entity;
  entity.entity = "users";
  EXPECT_EQ(refusal(PutCmd{"k", "v", entity}), "entity 'users' is 5 bytes, over the limit of 4 (--max-key-bytes)");
  EXPECT_EQ(refusal(CampaignCmd{"e", 1, "a-long-value"}),
            "candidate value of 'e' is 12 bytes, over the limit of 8 (--max-value-bytes)");
  EXPECT_EQ(refusal(LockAcquireCmd{"lockname", 1}), "lock name 'lockname' is 8 bytes, over the limit of 4 (--max-key-bytes)");
  EXPECT_EQ(refusal(MultiDeleteCmd{{"a", "b", "c"}}), "a multi-key delete has 3 operations, over the limit of 2 (--max-txn-ops)");
}

TEST(WriteLimits, TransactionsCountEveryOperationAndCheckInsideIt) {
  TxnRequest t;
  t.reads = {TxnRead{"a", 0}};
  t.writes = {TxnWrite::make_put("b", "1"), TxnWrite::make_delete("c")};
  EXPECT_EQ(refusal(TxnCmd{t}), "a transaction has 3 operations, over the limit of 2 (--max-txn-ops)");
  t.reads.clear();
  t.writes[0] = TxnWrite::make_put("b", "far-too-long");
  EXPECT_EQ(refusal(TxnCmd{t}), "value of 'b' is 12 bytes, over the limit of 8 (--max-value-bytes)");
  MultiCmd m;
  m.ops.push_back(MultiOp{PutCmd{"k", "v", {}}});
  m.ops.push_back(MultiOp{AppendCmd{"kkkkkk", "v"}});
  EXPECT_EQ(refusal(m), "key 'kkkkkk' is 6 bytes, over the limit of 4 (--max-key-bytes)");
  m.ops.push_back(MultiOp{PutCmd{"k", "v", {}}});
  EXPECT_EQ(refusal(m), "a MULTI transaction has 3 operations, over the limit of 2 (--max-txn-ops)");
}

TEST(WriteLimits, LongKeysAreCutShortInMessages) {
  WriteLimits l = small();
  Status s = check_write_limits(PutCmd{std::string(1000, 'x'), "v", {}}, l);
  EXPECT_EQ(s.message(), "key '" + std::string(40, 'x') + "...' is 1000 bytes, over the limit of 4 (--max-key-bytes)");
}

}  // namespace
}  // namespace dkv::core
