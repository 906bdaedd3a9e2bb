#include "history_checks.h"

#include <gtest/gtest.h>

namespace dkv::fault {
namespace {

Op write(const std::string& key, int64_t v, Outcome outcome = Outcome::kOk) {
  Op op;
  op.key = key;
  op.kind = OpKind::kWrite;
  op.input = v;
  op.outcome = outcome;
  return op;
}

Op add(const std::string& key) {
  Op op;
  op.key = key;
  op.kind = OpKind::kAdd;
  op.input = 1;
  return op;
}

WatchedEvent put(int64_t revision, const std::string& key, int64_t v) {
  return WatchedEvent{revision, "PUT", key, std::to_string(v)};
}

TEST(CheckWatchTest, AcceptsAWatcherThatSawEverything) {
  std::vector<Op> history = {write("r", 1), write("r", 2, Outcome::kUnknown), add("c"), add("c")};
  std::vector<WatchedEvent> events = {put(1, "r", 1), put(2, "c", 1), put(3, "c", 2)};
  auto r = check_watch(events, history, {{"r", 1}, {"c", 2}});
  EXPECT_TRUE(r.ok) << r.explanation;
  // The unknown write took effect: also fine.
  events.push_back(put(4, "r", 2));
  r = check_watch(events, history, {{"r", 2}, {"c", 2}});
  EXPECT_TRUE(r.ok) << r.explanation;
}

TEST(CheckWatchTest, FindsAGapInACounter) {
  std::vector<Op> history = {add("c"), add("c"), add("c")};
  auto r = check_watch({put(1, "c", 1), put(3, "c", 3)}, history, {{"c", 3}});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.explanation.find("an increment missed"), std::string::npos) << r.explanation;
}

TEST(CheckWatchTest, FindsAnIncrementAppliedTwiceOrAnEventRepeated) {
  std::vector<Op> history = {add("c"), add("c")};
  EXPECT_FALSE(check_watch({put(1, "c", 1), put(2, "c", 1)}, history, {{"c", 1}}).ok);
  auto r = check_watch({put(1, "c", 1), put(1, "c", 2)}, history, {{"c", 2}});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.explanation.find("revision not after"), std::string::npos) << r.explanation;
}

TEST(CheckWatchTest, FindsAMissedAcknowledgedWriteAndARefusedWriteThatTookEffect) {
  std::vector<Op> history = {write("r", 1), write("r", 2), write("r", 3, Outcome::kFailed)};
  auto r = check_watch({put(2, "r", 2)}, history, {{"r", 2}});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.explanation.find("acknowledged write of 1 never reached"), std::string::npos) << r.explanation;
  r = check_watch({put(1, "r", 1), put(2, "r", 2), put(3, "r", 3)}, history, {{"r", 3}});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.explanation.find("value 3 was never written"), std::string::npos) << r.explanation;
}

TEST(CheckWatchTest, FindsAMissingTail) {
  // Write 2's outcome was unknown, but a final read saw it: the watcher must have too.
  std::vector<Op> history = {write("r", 1), write("r", 2, Outcome::kUnknown)};
  auto r = check_watch({put(1, "r", 1)}, history, {{"r", 2}});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.explanation.find("final value is 2"), std::string::npos) << r.explanation;
}

TEST(CheckFencingTest, AcceptsIncreasingTokensAndRetriedGrants) {
  EXPECT_TRUE(check_fencing({{5, 1}, {5, 1}, {9, 2}}, {5, 5, 9, 9}).ok);
}

TEST(CheckFencingTest, FindsATokenGrantedTwiceAndAStaleFencedWrite) {
  auto r = check_fencing({{5, 1}, {5, 2}}, {});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.explanation.find("granted to lease 1 and to lease 2"), std::string::npos) << r.explanation;
  r = check_fencing({{5, 1}, {9, 2}}, {5, 9, 5});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.explanation.find("token 5 was accepted after one fenced with token 9"), std::string::npos)
      << r.explanation;
}

}  // namespace
}  // namespace dkv::fault
