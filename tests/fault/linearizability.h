// A linearizability checker for histories of register and counter operations, written for the
// fault tests: Wing & Gong's search with Lowe's memoisation of (linearized set, state), run per
// key (operations on different keys commute, so each key's sub-history is checked alone).
//
// An operation is a call and a return. One whose outcome is unknown (a timeout, a dropped
// connection, "may or may not have been applied") returns at infinity: it may take effect at
// any point after its call, or never. Failed operations (refused before anything was proposed)
// and reads with unknown outcome carry no information and are left out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dkv::fault {

enum class OpKind {
  kRead,   // register or counter read: `output`, or `absent`
  kWrite,  // register write of `input`
  kAdd,    // counter add of `input`, returning the value after it in `output`
};

enum class Outcome { kOk, kFailed, kUnknown };

struct Op {
  int client = 0;
  std::string key;
  OpKind kind = OpKind::kRead;
  int64_t input = 0;
  int64_t output = 0;
  bool absent = false;     // kRead: the key did not exist
  int64_t invoked_ns = 0;  // monotonic clock
  int64_t completed_ns = 0;
  Outcome outcome = Outcome::kOk;
  int member = 0;  // the server that answered (0: not recorded), for explanations
};

struct CheckResult {
  bool linearizable = true;
  bool gave_up = false;          // the search exceeded its state budget (not a verdict)
  std::string key;               // the first key whose history is not linearizable
  std::string explanation;       // what could not be placed, in words
  size_t operations_checked = 0;  // Ok and Unknown operations that entered the search
  size_t keys_checked = 0;
};

// States explored per key before giving up.
inline constexpr size_t kDefaultStateBudget = 5'000'000;

CheckResult check_linearizable(const std::vector<Op>& history,
                               size_t state_budget = kDefaultStateBudget);

std::string describe(const Op& op);

}  // namespace dkv::fault
