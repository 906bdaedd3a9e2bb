// CRC32C (Castagnoli, polynomial 0x1EDC6F41 reflected as 0x82F63B78), the checksum of WAL records
// and snapshot files. Uses the SSE4.2 crc32 instruction when the CPU has it (chosen once, at run
// time) and a table-driven software version otherwise; both give identical results.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace dkv::wal::crc32c {

// The CRC of `data` appended to data whose CRC was `crc` (0 for the empty string).
uint32_t extend(uint32_t crc, const char* data, size_t n);
inline uint32_t value(std::string_view data) { return extend(0, data.data(), data.size()); }

// A checksum stored next to the bytes it covers is itself covered by later checksums (a record
// header's CRC covers the payload's CRC); CRCs of strings that contain CRCs are weak, so stored
// values are masked (rotated and offset), as LevelDB does.
inline uint32_t mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
inline uint32_t unmask(uint32_t masked) {
  uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

// The two implementations, exposed so tests can check they agree.
uint32_t extend_portable(uint32_t crc, const char* data, size_t n);
bool hardware_available();
uint32_t extend_hardware(uint32_t crc, const char* data, size_t n);  // requires hardware_available()

}  // namespace dkv::wal::crc32c
