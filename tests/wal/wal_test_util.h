// Helpers shared by the WAL tests: a temporary directory, entries, raw file surgery.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "raft/types.h"
#include "wal/record.h"
#include "wal/segment.h"

namespace dkv::wal::testing {

// A fresh directory under /tmp (mkdtemp), removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/dkv-wal-test-XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline raft::Entry entry(uint64_t term, uint64_t index, std::string data = "") {
  if (data.empty()) data = "entry-" + std::to_string(index) + "-term-" + std::to_string(term);
  return raft::Entry{term, index, raft::EntryType::kNormal, std::move(data)};
}

// Entries [from, to] of `term`.
inline std::vector<raft::Entry> entries(uint64_t from, uint64_t to, uint64_t term) {
  std::vector<raft::Entry> out;
  for (uint64_t i = from; i <= to; ++i) out.push_back(entry(term, i));
  return out;
}

inline std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file_bytes(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  ASSERT_TRUE(out.good()) << path;
}

// Overwrites bytes at `offset` without changing the file's size.
inline void patch_file(const std::string& path, uint64_t offset, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)),
            static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

inline void flip_byte(const std::string& path, uint64_t offset) {
  std::string b = read_file_bytes(path).substr(offset, 1);
  ASSERT_EQ(b.size(), 1u);
  b[0] = static_cast<char>(b[0] ^ 0x5a);
  patch_file(path, offset, b);
}

inline void truncate_to(const std::string& path, uint64_t size) {
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(size)), 0) << path;
}

inline uint64_t file_size(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return static_cast<uint64_t>(st.st_size);
}

inline std::string segment_path(const std::string& dir, const SegmentId& id) {
  return dir + "/" + segment_file_name(id);
}

// Where each record in a segment file starts, and where the data ends (last element).
inline std::vector<size_t> record_offsets(const std::string& path) {
  std::string buf = read_file_bytes(path);
  std::vector<size_t> out;
  size_t pos = kSegmentHeaderBytes;
  RecordView rec;
  while (parse_record(buf, pos, &rec) == ParseResult::kRecord) {
    out.push_back(pos);
    pos += kRecordHeaderBytes + rec.payload.size();
  }
  out.push_back(pos);
  return out;
}

inline std::vector<std::string> dir_names(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace dkv::wal::testing
