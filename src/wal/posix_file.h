// Thin POSIX file helpers for the WAL and snapshot files. Every failure is a Status that names
// the operation, the file and the errno text, e.g. "wal: fdatasync /d/0001.wal: Input/output
// error". There is no I/O error code in dkv::Code yet, so these use kInternal, except a full
// disk (ENOSPC, EDQUOT): kUnavailable, since the same operation may succeed once space is freed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dkv/status.h"

namespace dkv::wal {

Status io_error(std::string_view op, const std::string& path, int err);
// Whether `s` is io_error's report of a full disk.
bool is_no_space(const Status& s);
Status corruption(const std::string& path, std::string_view what);
Status corruption_at(const std::string& path, uint64_t offset, std::string_view what);

// Owns a file descriptor; closes it on destruction.
class FileHandle {
 public:
  FileHandle() = default;
  explicit FileHandle(int fd) : fd_(fd) {}
  ~FileHandle() { reset(); }
  FileHandle(FileHandle&& o) noexcept : fd_(o.release()) {}
  FileHandle& operator=(FileHandle&& o) noexcept {
    if (this != &o) { reset(); fd_ = o.release(); }
    return *this;
  }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { int fd = fd_; fd_ = -1; return fd; }
  void reset();

 private:
  int fd_ = -1;
};

// A whole file mapped read-only, for scanning segments without copying (a preallocated segment
// is mostly zeros). The view is empty for an empty file.
class MappedFile {
 public:
  static Result<MappedFile> open(const std::string& path);
  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr; o.size_ = 0; }
  MappedFile& operator=(MappedFile&& o) noexcept;

  std::string_view view() const { return {static_cast<const char*>(data_), size_}; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

std::string join_path(const std::string& dir, std::string_view name);

Result<FileHandle> open_file(const std::string& path, int flags, int mode = 0644);
// Writes all of `data` at `offset`, retrying short writes and EINTR.
Status write_at(int fd, const std::string& path, uint64_t offset, std::string_view data);
// Appends exactly `len` bytes read at `offset` to *out; a file shorter than that is an error.
Status read_at(int fd, const std::string& path, uint64_t offset, uint64_t len, std::string* out);
// The whole file. Allocates the size fstat reports (real bytes on disk) and no more.
Result<std::string> read_file(const std::string& path);
Status sync_data(int fd, const std::string& path);  // fdatasync
Status sync_file(int fd, const std::string& path);  // fsync
// Makes created, renamed and removed names in `dir` durable.
Status sync_dir(const std::string& dir);
// Allocates [0, size) so later writes there need no allocation; reads there give zeros.
Status preallocate(int fd, const std::string& path, uint64_t size);
Status truncate_file(int fd, const std::string& path, uint64_t size);
Status rename_file(const std::string& from, const std::string& to);
Status remove_file(const std::string& path);
Status create_dir(const std::string& dir);  // and missing parents; OK if it exists
Result<std::vector<std::string>> list_dir(const std::string& dir);  // names, without . and ..

}  // namespace dkv::wal
