#include "core/timing_wheel.h"

#include <bit>
#include <cassert>

namespace dkv::core {

namespace {

// Maps int64 to uint64 preserving order (INT64_MIN -> 0), so byte-wise placement works for
// negative deadlines too.
uint64_t to_key(int64_t ms) { return static_cast<uint64_t>(ms) ^ (uint64_t{1} << 63); }

// The occupancy bit of a slot within its 64-bit bitmap word.
uint64_t bit(uint32_t slot) { return uint64_t{1} << (slot % 64); }

}  // namespace

Timer::~Timer() { assert(wheel_ == nullptr && "Timer destroyed while scheduled"); }

TimingWheel::TimingWheel() = default;

TimingWheel::~TimingWheel() {
  for (List& l : lists_) {
    for (Timer* t = l.head; t != nullptr;) {
      Timer* next = t->next_;
      t->prev_ = t->next_ = nullptr;
      t->wheel_ = nullptr;
      t = next;
    }
  }
}

void TimingWheel::link(Timer* t, uint32_t list) {
  List& l = lists_[list];
  t->list_ = list;
  t->prev_ = l.tail;
  t->next_ = nullptr;
  if (l.tail != nullptr) {
    l.tail->next_ = t;
  } else {
    l.head = t;
    if (list != kDueList) occupied_[list / kSlots][(list % kSlots) / 64] |= bit(list);
  }
  l.tail = t;
}

void TimingWheel::unlink(Timer* t) {
  List& l = lists_[t->list_];
  (t->prev_ != nullptr ? t->prev_->next_ : l.head) = t->next_;
  (t->next_ != nullptr ? t->next_->prev_ : l.tail) = t->prev_;
  t->prev_ = t->next_ = nullptr;
  if (l.head == nullptr && t->list_ != kDueList) {
    occupied_[t->list_ / kSlots][(t->list_ % kSlots) / 64] &= ~bit(t->list_);
  }
}

void TimingWheel::place(Timer* t) {
  uint64_t key = to_key(t->deadline_ms_);
  if (key <= now_) {
    link(t, kDueList);
    return;
  }
  // Level = highest byte where the deadline and now differ; that byte of the deadline is
  // necessarily greater than now's, which is what lets advance() find slots in time order.
  int level = (63 - std::countl_zero(key ^ now_)) / 8;
  uint32_t slot = static_cast<uint32_t>(key >> (8 * level)) & (kSlots - 1);
  link(t, static_cast<uint32_t>(level) * kSlots + slot);
}

void TimingWheel::schedule(Timer* t, int64_t deadline_ms) {
  assert(t->wheel_ == nullptr || t->wheel_ == this);
  if (t->wheel_ == this) {
    unlink(t);
  } else {
    t->wheel_ = this;
    ++size_;
  }
  t->deadline_ms_ = deadline_ms;
  place(t);
}

void TimingWheel::cancel(Timer* t) {
  if (t->wheel_ == nullptr) return;
  assert(t->wheel_ == this);
  unlink(t);
  t->wheel_ = nullptr;
  --size_;
}

void TimingWheel::advance(uint64_t target) {
  while (now_ < target) {
    // Every slot of level L starts later than every slot of a level below it (its start has a
    // larger byte L than now, theirs has now's byte L), so the next slot to fire is the lowest
    // occupied slot of the lowest non-empty level.
    int level = -1;
    uint32_t slot = 0;
    for (int l = 0; l < kLevels && level < 0; ++l) {
      for (int w = 0; w < kWords; ++w) {
        if (occupied_[l][w] != 0) {
          level = l;
          slot = static_cast<uint32_t>(w * 64 + std::countr_zero(occupied_[l][w]));
          break;
        }
      }
    }
    if (level < 0) {
      now_ = target;
      return;
    }
    // Start of that slot: now's bytes above `level`, the slot byte, zeros below.
    int shift = 8 * level;
    uint64_t above = level == kLevels - 1 ? 0 : now_ & ~((uint64_t{1} << (shift + 8)) - 1);
    uint64_t start = above | (uint64_t{slot} << shift);
    assert(start > now_);
    if (start > target) {
      // No slot starts in (now_, target]: every timer keeps its placement relative to target.
      now_ = target;
      return;
    }
    now_ = start;
    // Detach the whole slot, then re-place its timers in list order (keeps determinism). Each
    // lands strictly lower (or in the due list), so no timer moves more than kLevels times.
    List& l = lists_[static_cast<uint32_t>(level) * kSlots + slot];
    Timer* t = l.head;
    l.head = l.tail = nullptr;
    occupied_[level][slot / 64] &= ~bit(slot);
    while (t != nullptr) {
      Timer* next = t->next_;
      place(t);
      t = next;
    }
  }
}

void TimingWheel::collect_due(int64_t now_ms, size_t limit, std::vector<Timer*>* out) {
  uint64_t target = to_key(now_ms);
  advance(target);
  // After advance(), the due list holds exactly the timers with deadline <= now_. When the
  // caller went back in time (target < now_) they must be filtered.
  bool filter = target < now_;
  size_t taken = 0;
  for (Timer* t = lists_[kDueList].head; t != nullptr && taken < limit; t = t->next_) {
    if (filter && to_key(t->deadline_ms_) > target) continue;
    out->push_back(t);
    ++taken;
  }
}

}  // namespace dkv::core
