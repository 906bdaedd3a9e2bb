// Exactly-once writes: the state machine's session table (state_machine.h, "sessions") and the
// binary form of the answers it keeps (result_codec.h).
#include <gtest/gtest.h>

#include "core/result_codec.h"
#include "core/state_machine.h"

namespace dkv::core {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;

class SessionTest : public ::testing::Test {
 protected:
  CommandResult run(CommandBody body, SessionRequest session = {}) {
    events.clear();
    return sm.apply(Command{now, std::move(body), Origin{}, session}, &events);
  }
  int64_t add(std::string key, SessionRequest session) {
    CommandResult r = run(CounterAddCmd{std::move(key), 1, {}}, session);
    EXPECT_TRUE(r.status.ok()) << r.status.to_string();
    return r.status.ok() ? std::get<CounterResult>(r.body).current : -1;
  }

  StateMachine sm;
  std::vector<Event> events;
  int64_t now = kT0;
};

TEST_F(SessionTest, ARetriedWriteIsAppliedOnceAndGetsTheFirstAnswer) {
  EXPECT_EQ(add("c", {7, 1, 1}), 1);
  const int64_t revision = sm.revision();
  EXPECT_EQ(events.size(), 1u);
  // The retry (after a timeout, from another node): same answer, nothing applied, no events.
  EXPECT_EQ(add("c", {7, 1, 1}), 1);
  EXPECT_EQ(sm.revision(), revision);
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(*sm.counter_get("c", now), 1);
  // The next number is a new write; another session's number 1 too.
  EXPECT_EQ(add("c", {7, 2, 1}), 2);
  EXPECT_EQ(add("c", {8, 1, 1}), 3);
  EXPECT_EQ(*sm.counter_get("c", now), 3);
  // Without a session, nothing is deduplicated.
  EXPECT_EQ(add("c", {}), 4);
  EXPECT_EQ(add("c", {}), 5);
}

TEST_F(SessionTest, ErrorsAreAnswersToo) {
  ASSERT_TRUE(run(PutCmd{"text", "abc", {}}).status.ok());
  CommandResult first = run(CounterAddCmd{"text", 1, {}}, {9, 1, 1});
  EXPECT_EQ(first.status.code(), Code::kWrongType);
  ASSERT_TRUE(run(PutCmd{"text", "10", {}}).status.ok());
  // The retry replays the refusal; it does not increment the now numeric value.
  EXPECT_EQ(run(CounterAddCmd{"text", 1, {}}, {9, 1, 1}).status, first.status);
  EXPECT_EQ(*sm.counter_get("text", now), 10);
}

TEST_F(SessionTest, AcknowledgedAnswersAreForgottenAndTheirRetriesRefused) {
  EXPECT_EQ(add("c", {5, 1, 1}), 1);
  EXPECT_EQ(add("c", {5, 2, 1}), 2);
  EXPECT_EQ(add("c", {5, 3, 3}), 3);  // the client has the answers to 1 and 2
  CommandResult late = run(CounterAddCmd{"c", 1, {}}, {5, 1, 3});
  EXPECT_EQ(late.status.code(), Code::kInvalidArgument);
  EXPECT_NE(late.status.message().find("forgotten"), std::string::npos) << late.status.to_string();
  EXPECT_EQ(add("c", {5, 3, 3}), 3);  // still kept: not acknowledged yet
  EXPECT_EQ(*sm.counter_get("c", now), 3);
}

TEST_F(SessionTest, IdleSessionsExpireAndTheTableIsBounded) {
  EXPECT_EQ(add("c", {1, 1, 1}), 1);
  now += StateMachine::kSessionIdleMs + 1;
  EXPECT_EQ(add("d", {2, 1, 1}), 1);  // session 1 is dropped now
  EXPECT_EQ(sm.sessions(), 1u);
  EXPECT_EQ(add("c", {1, 1, 1}), 2);  // so its retry applies again: the documented limit
  for (uint64_t id = 100; id < 100 + StateMachine::kMaxSessions + 5; ++id) {
    ++now;
    add("e", {id, 1, 1});
  }
  EXPECT_LE(sm.sessions(), StateMachine::kMaxSessions + 1);
}

TEST_F(SessionTest, TheTableIsInSnapshots) {
  EXPECT_EQ(add("c", {42, 1, 1}), 1);
  CommandResult put = run(PutCmd{"k", "v", {.prev_kv = true}}, {42, 2, 1});
  ASSERT_TRUE(put.status.ok());
  StateMachine copy;
  ASSERT_TRUE(copy.restore_snapshot(sm.save_snapshot()).ok());
  EXPECT_EQ(copy.save_snapshot(), sm.save_snapshot());
  std::vector<Event> ev;
  CommandResult again = copy.apply(Command{now, CounterAddCmd{"c", 1, {}}, Origin{}, {42, 1, 1}}, &ev);
  ASSERT_TRUE(again.status.ok());
  EXPECT_EQ(std::get<CounterResult>(again.body).current, 1);
  EXPECT_TRUE(ev.empty());
  EXPECT_EQ(*copy.counter_get("c", now), 1);
}

// Every kind of answer survives its binary form; truncated input is refused.
TEST(ResultCodec, AnswersRoundTrip) {
  KeyValue kv{"k", "v", 2, 3, 4, 5, 6, 7, 8, 9, "e", "text/plain", {{"a", "1"}}};
  std::vector<CommandResult> samples = {
      CommandResult(),
      CommandResult(Status(Code::kConflict, "key \"k\" exists")),
      CommandResult(PutResult{1, 2, kv}),
      CommandResult(DeleteResult{true, 3, std::nullopt}),
      CommandResult(MultiPutResult{PutResult{1, 2, std::nullopt}, Status(Code::kInvalidArgument, "x")}),
      CommandResult(CounterResult{1, 2, 3}),
      CommandResult(LeaseGrant{5, 1000}),
      CommandResult(CampaignResult{true, 9, 0}),
      CommandResult(TxnResult{4, {1, 0, 2}}),
      CommandResult(ReadResult{{kv, std::nullopt}}),
      CommandResult(MultiResult{{CommandResult(CounterResult{0, 1, 7}), CommandResult(ReadResult{{kv}})}, 7}),
  };
  for (const CommandResult& sample : samples) {
    std::string bytes;
    ByteWriter w(&bytes);
    write_result(w, sample);
    ByteReader r(bytes);
    CommandResult back;
    ASSERT_TRUE(read_result(r, &back));
    EXPECT_TRUE(r.at_end());
    std::string again;
    ByteWriter w2(&again);
    write_result(w2, back);
    EXPECT_EQ(again, bytes);
    EXPECT_EQ(back.status, sample.status);
    EXPECT_EQ(back.body.index(), sample.body.index());
    for (size_t n = 0; n < bytes.size(); ++n) {
      ByteReader cut(std::string_view(bytes).substr(0, n));
      CommandResult partial;
      EXPECT_FALSE(read_result(cut, &partial) && cut.ok()) << n;
    }
  }
}

}  // namespace
}  // namespace dkv::core
