#include "wal/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace dkv::wal::crc32c {

namespace {

constexpr uint32_t kPolynomial = 0x82F63B78u;  // Castagnoli, reflected

// table[k][b]: the CRC contribution of byte b followed by k zero bytes, so the portable loop can
// consume eight bytes per step ("slicing by 8") instead of one.
using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int i = 0; i < 8; ++i) c = (c >> 1) ^ ((c & 1) ? kPolynomial : 0);
    t[0][b] = c;
  }
  for (int k = 1; k < 8; ++k) {
    for (uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
  }
  return t;
}

constexpr Tables kTables = make_tables();

uint64_t load_le64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);  // x86 and every other target we build for is little-endian
  return v;
}

using ExtendFn = uint32_t (*)(uint32_t, const char*, size_t);

ExtendFn choose() { return hardware_available() ? extend_hardware : extend_portable; }

}  // namespace

uint32_t extend_portable(uint32_t crc, const char* data, size_t n) {
  uint32_t c = ~crc;
  const char* p = data;
  auto byte = [&](uint8_t b) { c = (c >> 8) ^ kTables[0][(c ^ b) & 0xff]; };
  while (n >= 8) {
    uint64_t v = load_le64(p) ^ c;
    c = kTables[7][v & 0xff] ^ kTables[6][(v >> 8) & 0xff] ^ kTables[5][(v >> 16) & 0xff] ^
        kTables[4][(v >> 24) & 0xff] ^ kTables[3][(v >> 32) & 0xff] ^
        kTables[2][(v >> 40) & 0xff] ^ kTables[1][(v >> 48) & 0xff] ^ kTables[0][v >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) byte(static_cast<uint8_t>(*p++));
  return ~c;
}

#if defined(__x86_64__)

bool hardware_available() { return __builtin_cpu_supports("sse4.2"); }

__attribute__((target("sse4.2"))) uint32_t extend_hardware(uint32_t crc, const char* data,
                                                             size_t n) {
  uint64_t c = ~crc;
  const char* p = data;
  while (n >= 8) {
    c = _mm_crc32_u64(c, load_le64(p));
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<uint32_t>(c);
  while (n-- > 0) c32 = _mm_crc32_u8(c32, static_cast<uint8_t>(*p++));
  return ~c32;
}

#else

bool hardware_available() { return false; }
uint32_t extend_hardware(uint32_t crc, const char* data, size_t n) {
  return extend_portable(crc, data, n);
}

#endif

uint32_t extend(uint32_t crc, const char* data, size_t n) {
  static const ExtendFn fn = choose();
  return fn(crc, data, n);
}

}  // namespace dkv::wal::crc32c
