// A hierarchical timing wheel: tells the deterministic state machine which timers (key TTLs,
// leases) are due at time T without scanning the keyspace.
//
// Contract:
//  - schedule() and cancel() are O(1) and allocate nothing (timers are intrusive).
//  - collect_due(now) returns exactly timers whose deadline <= now (up to a limit). The answer
//    depends only on the scheduled deadlines and the order of calls, never on pointer values or
//    clocks, so replicas replaying the same commands see the same results in the same order.
//  - Advancing time costs O(non-empty slots passed + timers moved); each timer moves between
//    levels at most 8 times over its life, so a jump of any size (0 -> 1.7e12 ms, or across the
//    whole int64 range) is cheap when few timers are scheduled.
//
// Design: 8 levels x 256 slots, one byte of the (offset) deadline per level, plus a "due" list
// for timers whose deadline <= the wheel's internal time. A timer with deadline d > now sits at
// the level of the highest byte in which d and now differ, in the slot given by that byte of d.
// The internal time only moves forward; a collect_due() with a smaller now than before filters
// the due list instead (O(due list length) for that call).
//
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dkv::core {

class TimingWheel;

// An intrusive timer. Owners derive from it so scheduling allocates nothing. A Timer must be
// cancelled (or the wheel destroyed) before it is destroyed; the destructor asserts this.
class Timer {
 public:
  Timer() = default;
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  ~Timer();

  // The deadline last passed to schedule() (0 if never scheduled). Still readable after cancel.
  int64_t deadline_ms() const { return deadline_ms_; }
  bool scheduled() const { return wheel_ != nullptr; }

 private:
  friend class TimingWheel;

  Timer* prev_ = nullptr;
  Timer* next_ = nullptr;
  TimingWheel* wheel_ = nullptr;  // non-null iff scheduled
  int64_t deadline_ms_ = 0;
  uint32_t list_ = 0;  // index of the list holding this timer (a slot, or the due list)
};

class TimingWheel {
 public:
  TimingWheel();
  ~TimingWheel();  // unlinks every timer still scheduled (does not delete them)

  TimingWheel(const TimingWheel&) = delete;
  TimingWheel& operator=(const TimingWheel&) = delete;

  // O(1). Schedules t at deadline_ms (any int64, also in the past); moves it if already
  // scheduled (it then counts as newly scheduled for ordering). t must not be scheduled on
  // another wheel.
  void schedule(Timer* t, int64_t deadline_ms);

  // O(1). No-op when t is not scheduled.
  void cancel(Timer* t);

  // Appends to *out up to `limit` scheduled timers whose deadline <= now_ms. They stay
  // scheduled: the caller cancels each one when it acts on it (so asking twice returns them
  // again). now_ms may be smaller than a previous call's now_ms; then only timers with
  // deadline <= now_ms are returned. The order is deterministic: timers come in the order they
  // became due inside the wheel. While the wheel advances that is deadline order (ties in
  // schedule order); a timer scheduled with a deadline the wheel has already passed joins the
  // end at once.
  void collect_due(int64_t now_ms, size_t limit, std::vector<Timer*>* out);

  size_t size() const { return size_; }  // scheduled timers

 private:
  static constexpr int kLevels = 8;
  static constexpr int kSlots = 256;
  static constexpr uint32_t kDueList = kLevels * kSlots;  // index of the due list
  static constexpr int kWords = kSlots / 64;

  struct List {
    Timer* head = nullptr;
    Timer* tail = nullptr;
  };

  void link(Timer* t, uint32_t list);
  void unlink(Timer* t);
  void place(Timer* t);  // puts a linked-out timer where its deadline belongs given now_
  // Moves now_ forward to `target`, cascading every slot whose start time is <= target.
  void advance(uint64_t target);

  // Internal time as an offset key: int64 value with the sign bit flipped, so unsigned order
  // matches signed order and INT64_MIN maps to 0. Starts at 0, never decreases.
  uint64_t now_ = 0;
  size_t size_ = 0;
  List lists_[kLevels * kSlots + 1];  // slots of level L are [L*kSlots, (L+1)*kSlots); then due
  uint64_t occupied_[kLevels][kWords] = {};  // bit s set iff slot s of that level is non-empty
};

}  // namespace dkv::core
