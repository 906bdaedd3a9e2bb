// Declared lengths and counts must not be allocated before their bytes arrive. This binary
// replaces the global operator new to see every allocation the parsers make.
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "resp/parser.h"

namespace {

std::atomic<bool> g_tracking{false};
std::atomic<size_t> g_largest{0};
std::atomic<size_t> g_total{0};
void* volatile g_sink = nullptr;  // keeps the self-test's allocation from being optimized away

void* allocate(size_t n) {
  if (g_tracking.load(std::memory_order_relaxed)) {
    g_total.fetch_add(n, std::memory_order_relaxed);
    size_t largest = g_largest.load(std::memory_order_relaxed);
    while (n > largest && !g_largest.compare_exchange_weak(largest, n)) {
    }
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}

// What the parsers allocated while it was alive.
class Tracker {
 public:
  Tracker() {
    g_largest = 0;
    g_total = 0;
    g_tracking = true;
  }
  ~Tracker() { g_tracking = false; }
  size_t largest() const { return g_largest; }
  size_t total() const { return g_total; }
};

}  // namespace

void* operator new(size_t n) { return allocate(n); }
void* operator new[](size_t n) { return allocate(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace dkv::resp {
namespace {

constexpr size_t kSmall = 64 << 10;

TEST(Allocation, TheTrackerSeesAllocations) {
  Tracker t;
  std::vector<char> v(1 << 20);
  g_sink = v.data();
  EXPECT_GE(t.largest(), 1u << 20);  // or every other test here would pass vacuously
}

TEST(Allocation, HugeBulkHeaderInARequest) {
  RequestParser parser;  // default limits: 512 MB bulks
  std::vector<std::string> args;
  size_t consumed = 0;
  Tracker t;
  std::string in = "*1\r\n$500000000\r\n0123456789";
  EXPECT_EQ(parser.parse(in, &args, &consumed), RequestParser::Status::kNeedMore);
  EXPECT_LT(t.largest(), kSmall);
}

TEST(Allocation, HugeArrayHeaderInARequest) {
  RequestParser parser;
  std::vector<std::string> args;
  size_t consumed = 0;
  Tracker t;
  std::string in = "*1000000\r\n$3\r\nSET\r\n$1\r\nk\r\n";
  EXPECT_EQ(parser.parse(in, &args, &consumed), RequestParser::Status::kNeedMore);
  EXPECT_EQ(consumed, in.size());
  EXPECT_LT(t.total(), kSmall);
}

// Memory follows the bytes that arrived, not the length that was declared.
TEST(Allocation, RequestMemoryGrowsWithTheData) {
  RequestParser parser;
  std::vector<std::string> args;
  size_t consumed = 0;
  std::string chunk(64 << 10, 'x');
  Tracker t;
  ASSERT_EQ(parser.parse("*1\r\n$500000000\r\n", &args, &consumed),
            RequestParser::Status::kNeedMore);
  for (int i = 0; i < 16; ++i) {  // 1 MB of the 500 MB
    ASSERT_EQ(parser.parse(chunk, &args, &consumed), RequestParser::Status::kNeedMore);
    ASSERT_EQ(consumed, chunk.size());
  }
  EXPECT_LE(t.largest(), 4u << 20);
}

TEST(Allocation, HugeHeadersInAReply) {
  ReplyParser parser;
  Value v;
  size_t consumed = 0;
  Tracker t;
  EXPECT_EQ(parser.parse("$500000000\r\nabc", &v, &consumed), ReplyParser::Status::kNeedMore);
  EXPECT_LT(t.largest(), kSmall);
  parser.reset();

  // 30 nested million-element aggregates, one element in each so far.
  std::string in;
  for (int i = 0; i < 30; ++i) in += (i % 2 ? "%500000\r\n" : "*1000000\r\n");
  in += ":1\r\n";
  EXPECT_EQ(parser.parse(in, &v, &consumed), ReplyParser::Status::kNeedMore);
  EXPECT_EQ(consumed, in.size());
  EXPECT_LT(t.total(), 4 * kSmall);
}

TEST(Allocation, ReplyMemoryGrowsWithTheData) {
  ReplyParser parser;
  Value v;
  size_t consumed = 0;
  std::string chunk(64 << 10, 'x');
  Tracker t;
  ASSERT_EQ(parser.parse("$500000000\r\n", &v, &consumed), ReplyParser::Status::kNeedMore);
  for (int i = 0; i < 16; ++i) {
    ASSERT_EQ(parser.parse(chunk, &v, &consumed), ReplyParser::Status::kNeedMore);
    ASSERT_EQ(consumed, chunk.size());
  }
  EXPECT_LE(t.largest(), 4u << 20);
}

}  // namespace
}  // namespace dkv::resp
