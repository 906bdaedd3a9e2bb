#include "wal/crc32c.h"

#include <random>
#include <string>

#include <gtest/gtest.h>

namespace dkv::wal::crc32c {
namespace {

TEST(Crc32c, StandardCheckValue) {
  EXPECT_EQ(value("123456789"), 0xE3069283u);
  EXPECT_EQ(extend_portable(0, "123456789", 9), 0xE3069283u);
  if (hardware_available()) {
    EXPECT_EQ(extend_hardware(0, "123456789", 9), 0xE3069283u);
  }
}

// Test vectors from RFC 3720 (iSCSI), appendix B.4.
TEST(Crc32c, Rfc3720Vectors) {
  std::string zeros(32, '\0');
  std::string ones(32, '\xff');
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(static_cast<char>(i));
    descending.push_back(static_cast<char>(31 - i));
  }
  EXPECT_EQ(value(zeros), 0x8A9136AAu);
  EXPECT_EQ(value(ones), 0x62A8AB43u);
  EXPECT_EQ(value(ascending), 0x46DD794Eu);
  EXPECT_EQ(value(descending), 0x113FDB5Cu);
  EXPECT_EQ(value(""), 0u);
}

TEST(Crc32c, HardwareAndPortableAgreeOnRandomData) {
  if (!hardware_available()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  std::mt19937_64 rng(7);
  std::string buf(1 << 16, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  for (int i = 0; i < 2000; ++i) {
    size_t off = rng() % 64;  // unaligned starts too
    size_t len = rng() % (buf.size() - off);
    if (i % 4 == 0) len %= 17;  // short tails
    uint32_t seed = static_cast<uint32_t>(rng());
    ASSERT_EQ(extend_hardware(seed, buf.data() + off, len), extend_portable(seed, buf.data() + off, len))
        << "offset " << off << " length " << len;
  }
}

TEST(Crc32c, ExtendEqualsOneShot) {
  std::string s = "The quick brown fox jumps over the lazy dog, again and again and again.";
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    uint32_t a = extend(0, s.data(), cut);
    EXPECT_EQ(extend(a, s.data() + cut, s.size() - cut), value(s));
    EXPECT_EQ(extend_portable(extend_portable(0, s.data(), cut), s.data() + cut, s.size() - cut),
              value(s));
  }
}

TEST(Crc32c, MaskRoundTripsAndChangesTheValue) {
  for (uint32_t v : {0u, 1u, 0xE3069283u, 0xffffffffu, 0x12345678u}) {
    EXPECT_NE(mask(v), v);
    EXPECT_NE(mask(mask(v)), mask(v));
    EXPECT_EQ(unmask(mask(v)), v);
  }
}

}  // namespace
}  // namespace dkv::wal::crc32c
