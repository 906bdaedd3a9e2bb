#include "wal/snapshot_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <vector>

#include "raft/codec.h"
#include "wal/crc32c.h"
#include "wal/posix_file.h"

namespace dkv::wal {

namespace {

constexpr char kMagic[8] = {'D', 'K', 'V', 'S', 'N', 'A', 'P', '\n'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 24;
constexpr size_t kTrailerBytes = 4;
constexpr std::string_view kSuffix = ".snap";
constexpr std::string_view kTmpSuffix = ".snap.tmp";

void put_fixed(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t get_fixed(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

struct Name {
  uint64_t term = 0;
  uint64_t index = 0;
  std::string file;
};

std::optional<Name> parse_name(const std::string& file) {
  if (file.size() != 16 + 1 + 16 + kSuffix.size() || !ends_with(file, kSuffix)) return std::nullopt;
  Name n;
  n.file = file;
  for (size_t i = 0; i < 33; ++i) {
    char c = file[i];
    if (i == 16) {
      if (c != '-') return std::nullopt;
      continue;
    }
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return std::nullopt;
    uint64_t& v = i < 16 ? n.term : n.index;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return n;
}

// Snapshot files in `dir`, newest (highest index, then term) first.
Result<std::vector<Name>> list_snapshots(const std::string& dir, std::vector<std::string>* tmps) {
  auto names = list_dir(dir);
  if (!names.ok()) return names.status();
  std::vector<Name> out;
  for (const std::string& f : *names) {
    if (auto n = parse_name(f)) out.push_back(std::move(*n));
    else if (tmps != nullptr && ends_with(f, kTmpSuffix)) tmps->push_back(f);
  }
  std::sort(out.begin(), out.end(), [](const Name& a, const Name& b) {
    return a.index != b.index ? a.index > b.index : a.term > b.term;
  });
  return out;
}

}  // namespace

std::string snapshot_file_name(uint64_t term, uint64_t index) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64 "-%016" PRIx64 ".snap", term, index);
  return buf;
}

namespace {

// Writes and syncs the whole snapshot file at `tmp`.
Status write_snapshot_file(const std::string& tmp, const std::string& head,
                           const raft::SnapshotData& data) {
  constexpr uint64_t kChunkBytes = 4 << 20;
  auto f = open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC);
  if (!f.ok()) return f.status();
  Status s;
  if (!(s = write_at(f->get(), tmp, 0, head)).ok()) return s;
  uint32_t crc = crc32c::value(head);
  std::string chunk;
  for (uint64_t done = 0; done < data.size();) {
    chunk.clear();
    uint64_t len = std::min(kChunkBytes, data.size() - done);
    if (!(s = data.read(done, len, &chunk)).ok()) return s;
    crc = crc32c::extend(crc, chunk.data(), chunk.size());
    if (!(s = write_at(f->get(), tmp, head.size() + done, chunk)).ok()) return s;
    done += len;
  }
  std::string trailer;
  put_fixed(&trailer, crc32c::mask(crc), 4);
  if (!(s = write_at(f->get(), tmp, head.size() + data.size(), trailer)).ok()) return s;
  return sync_file(f->get(), tmp);
}

}  // namespace

Status save_snapshot(const std::string& dir, const raft::SnapshotMeta& meta,
                     const raft::SnapshotData& data) {
  std::string meta_bytes = raft::encode_snapshot_meta(meta);
  std::string head;
  head.append(kMagic, sizeof(kMagic));
  put_fixed(&head, kVersion, 4);
  put_fixed(&head, meta_bytes.size(), 4);
  put_fixed(&head, data.size(), 8);
  head += meta_bytes;

  Status s = create_dir(dir);
  if (!s.ok()) return s;
  std::string path = join_path(dir, snapshot_file_name(meta.term, meta.index));
  std::string tmp = path + ".tmp";
  s = write_snapshot_file(tmp, head, data);
  if (!s.ok()) {
    // On a full disk the partial file would hold the space the next attempt needs.
    (void)remove_file(tmp);
    return s;
  }
  if (!(s = rename_file(tmp, path)).ok()) return s;
  return sync_dir(dir);
}

namespace {

Result<SnapshotFile> read_checked(const std::string& path, bool check_name) {
  auto content = read_file(path);
  if (!content.ok()) return content.status();
  std::string& c = content.value();
  if (c.size() < kHeaderBytes + kTrailerBytes) return corruption(path, "too short");
  if (std::memcmp(c.data(), kMagic, sizeof(kMagic)) != 0) return corruption(path, "bad magic");
  if (get_fixed(c.data() + 8, 4) != kVersion) return corruption(path, "unknown format version");
  uint64_t meta_len = get_fixed(c.data() + 12, 4);
  uint64_t data_len = get_fixed(c.data() + 16, 8);
  uint64_t body = c.size() - kHeaderBytes - kTrailerBytes;
  if (meta_len > body || data_len != body - meta_len) {
    return corruption(path, "lengths do not match the file size");
  }
  size_t crc_at = c.size() - kTrailerBytes;
  uint32_t stored = crc32c::unmask(static_cast<uint32_t>(get_fixed(c.data() + crc_at, 4)));
  if (stored != crc32c::extend(0, c.data(), crc_at)) return corruption(path, "checksum mismatch");
  auto meta = raft::decode_snapshot_meta(std::string_view(c).substr(kHeaderBytes, meta_len));
  if (!meta) return corruption(path, "metadata does not decode");
  std::string base = path.substr(path.find_last_of('/') + 1);
  if (check_name && base != snapshot_file_name(meta->term, meta->index)) {
    return corruption(path, "metadata does not match the file name");
  }
  SnapshotFile out;
  out.meta = std::move(*meta);
  // Reuse the buffer: drop the trailer, then the header and meta in front of the data.
  c.resize(crc_at);
  c.erase(0, kHeaderBytes + meta_len);
  out.data = std::move(c);
  out.path = path;
  return out;
}

}  // namespace

Result<SnapshotFile> read_snapshot(const std::string& path) { return read_checked(path, true); }

Result<SnapshotFile> read_backup(const std::string& path) { return read_checked(path, false); }

namespace {
class FileSnapshotData final : public raft::SnapshotData {
 public:
  FileSnapshotData(FileHandle file, std::string path, uint64_t data_offset, uint64_t size)
      : file_(std::move(file)), path_(std::move(path)), data_offset_(data_offset), size_(size) {}
  uint64_t size() const override { return size_; }
  Status read(uint64_t offset, uint64_t len, std::string* out) const override {
    return read_at(file_.get(), path_, data_offset_ + offset, len, out);
  }

 private:
  FileHandle file_;
  std::string path_;
  uint64_t data_offset_;
  uint64_t size_;
};
}  // namespace

Result<raft::SnapshotDataPtr> open_snapshot_data(const std::string& path) {
  auto f = open_file(path, O_RDONLY);
  if (!f.ok()) return f.status();
  std::string head;
  Status s = read_at(f->get(), path, 0, kHeaderBytes, &head);
  if (!s.ok()) return s;
  if (std::memcmp(head.data(), kMagic, sizeof(kMagic)) != 0) return corruption(path, "bad magic");
  if (get_fixed(head.data() + 8, 4) != kVersion) return corruption(path, "unknown format version");
  uint64_t meta_len = get_fixed(head.data() + 12, 4);
  uint64_t data_len = get_fixed(head.data() + 16, 8);
  struct stat st;
  if (::fstat(f->get(), &st) != 0) return io_error("stat", path, errno);
  if (static_cast<uint64_t>(st.st_size) != kHeaderBytes + meta_len + data_len + kTrailerBytes) {
    return corruption(path, "lengths do not match the file size");
  }
  return raft::SnapshotDataPtr(std::make_shared<const FileSnapshotData>(
      std::move(f).value(), path, kHeaderBytes + meta_len, data_len));
}

Result<std::optional<SnapshotFile>> load_latest_snapshot(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<SnapshotFile>();  // never created: no snapshot
    return io_error("stat", dir, errno);
  }
  auto names = list_snapshots(dir, nullptr);
  if (!names.ok()) return names.status();
  if (names->empty()) return std::optional<SnapshotFile>();
  auto snap = read_snapshot(join_path(dir, names->front().file));
  if (!snap.ok()) return snap.status();
  return std::optional<SnapshotFile>(std::move(snap).value());
}

Status purge_snapshots(const std::string& dir, size_t keep) {
  if (keep == 0) return Status(Code::kInvalidArgument, "wal: purge_snapshots must keep at least one");
  std::vector<std::string> tmps;
  auto names = list_snapshots(dir, &tmps);
  if (!names.ok()) return names.status();
  std::vector<std::string> doomed = std::move(tmps);
  for (size_t i = keep; i < names->size(); ++i) doomed.push_back((*names)[i].file);
  if (doomed.empty()) return Status();
  for (const std::string& f : doomed) {
    Status s = remove_file(join_path(dir, f));
    if (!s.ok()) return s;
  }
  return sync_dir(dir);
}

}  // namespace dkv::wal
