#include "wal/posix_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace dkv::wal {

Status io_error(std::string_view op, const std::string& path, int err) {
  std::string msg = "wal: ";
  msg.append(op);
  msg += " ";
  msg += path;
  msg += ": ";
  msg += std::strerror(err);
  const bool no_space = err == ENOSPC || err == EDQUOT;
  return Status(no_space ? Code::kUnavailable : Code::kInternal, std::move(msg));
}

bool is_no_space(const Status& s) { return s.code() == Code::kUnavailable; }

Status corruption(const std::string& path, std::string_view what) {
  std::string msg = "wal: corrupt file ";
  msg += path;
  msg += ": ";
  msg.append(what);
  return Status(Code::kInternal, std::move(msg));
}

Status corruption_at(const std::string& path, uint64_t offset, std::string_view what) {
  std::string msg = "wal: corrupt file ";
  msg += path;
  msg += " at offset ";
  msg += std::to_string(offset);
  msg += ": ";
  msg.append(what);
  return Status(Code::kInternal, std::move(msg));
}

void FileHandle::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<MappedFile> MappedFile::open(const std::string& path) {
  auto f = open_file(path, O_RDONLY);
  if (!f.ok()) return f.status();
  struct stat st;
  if (::fstat(f->get(), &st) != 0) return io_error("stat", path, errno);
  MappedFile m;
  if (st.st_size == 0) return m;
  void* p = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, f->get(), 0);
  if (p == MAP_FAILED) return io_error("mmap", path, errno);
  m.data_ = p;
  m.size_ = static_cast<size_t>(st.st_size);
  return m;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) ::munmap(data_, size_);
    data_ = o.data_;
    size_ = o.size_;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

std::string join_path(const std::string& dir, std::string_view name) {
  std::string p = dir;
  if (!p.empty() && p.back() != '/') p += '/';
  p.append(name);
  return p;
}

Result<FileHandle> open_file(const std::string& path, int flags, int mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return io_error("open", path, errno);
  return FileHandle(fd);
}

Status write_at(int fd, const std::string& path, uint64_t offset, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("write", path, errno);
    }
    if (n == 0) return io_error("write", path, EIO);
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return Status();
}

Status read_at(int fd, const std::string& path, uint64_t offset, uint64_t len, std::string* out) {
  size_t start = out->size();
  out->resize(start + len);
  size_t pos = 0;
  while (pos < len) {
    ssize_t n = ::pread(fd, out->data() + start + pos, len - pos, static_cast<off_t>(offset + pos));
    if (n < 0) {
      if (errno == EINTR) continue;
      out->resize(start);
      return io_error("read", path, errno);
    }
    if (n == 0) {
      out->resize(start);
      return io_error("read", path, EIO);  // shorter than it was when we wrote it
    }
    pos += static_cast<size_t>(n);
  }
  return Status();
}

Result<std::string> read_file(const std::string& path) {
  auto f = open_file(path, O_RDONLY);
  if (!f.ok()) return f.status();
  struct stat st;
  if (::fstat(f->get(), &st) != 0) return io_error("stat", path, errno);
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t pos = 0;
  while (pos < data.size()) {
    ssize_t n = ::pread(f->get(), data.data() + pos, data.size() - pos, static_cast<off_t>(pos));
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("read", path, errno);
    }
    if (n == 0) break;  // shrank under us: what we have is the file
    pos += static_cast<size_t>(n);
  }
  data.resize(pos);
  return data;
}

Status sync_data(int fd, const std::string& path) {
  if (::fdatasync(fd) != 0) return io_error("fdatasync", path, errno);
  return Status();
}

Status sync_file(int fd, const std::string& path) {
  if (::fsync(fd) != 0) return io_error("fsync", path, errno);
  return Status();
}

Status sync_dir(const std::string& dir) {
  auto f = open_file(dir, O_RDONLY | O_DIRECTORY);
  if (!f.ok()) return f.status();
  return sync_file(f->get(), dir);
}

Status preallocate(int fd, const std::string& path, uint64_t size) {
  if (size == 0) return Status();
  // posix_fallocate returns the error instead of setting errno.
  int err = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
  if (err != 0) return io_error("fallocate", path, err);
  return Status();
}

Status truncate_file(int fd, const std::string& path, uint64_t size) {
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return io_error("truncate", path, errno);
  return Status();
}

Status rename_file(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return io_error("rename", from + " to " + to, errno);
  return Status();
}

Status remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return io_error("remove", path, errno);
  return Status();
}

Status create_dir(const std::string& dir) {
  // Each prefix ending before a '/', then the whole path.
  // A new directory's name is durable only once its parent is synced.
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i < dir.size() && dir[i] != '/') continue;
    std::string prefix = dir.substr(0, i);
    if (::mkdir(prefix.c_str(), 0755) == 0) {
      size_t slash = prefix.find_last_of('/');
      std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : prefix.substr(0, slash);
      Status s = sync_dir(parent);
      if (!s.ok()) return s;
    } else if (errno != EEXIST) {
      return io_error("mkdir", prefix, errno);
    }
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return io_error("stat", dir, errno);
  if (!S_ISDIR(st.st_mode)) return io_error("mkdir", dir, ENOTDIR);
  return Status();
}

Result<std::vector<std::string>> list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return io_error("opendir", dir, errno);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name(e->d_name);
    if (name != "." && name != "..") names.emplace_back(name);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return io_error("readdir", dir, err);
  return names;
}

}  // namespace dkv::wal
