#include "wal/wal.h"

#include <fcntl.h>

#include <algorithm>
#include <string_view>
#include <thread>
#include <utility>

#include "raft/codec.h"
#include "wal/record.h"

namespace dkv::wal {

using raft::Entry;
using raft::HardState;
using raft::SnapshotMeta;

namespace {

constexpr std::string_view kTmpSuffix = ".tmp";
// The next segment, allocated ahead (removed at open with the other .wal.tmp files).
constexpr std::string_view kSpareName = "spare.wal.tmp";

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

void append_payload(RecordType type, std::string* scratch, std::string* out) {
  append_record(type, *scratch, out);
  scratch->clear();
}

}  // namespace

Wal::Wal(std::string dir, WalOptions options)
    : dir_(std::move(dir)), options_(std::move(options)), spare_path_(join_path(dir_, kSpareName)) {}

Wal::~Wal() = default;

std::string Wal::path_of(const SegmentId& id) const {
  return join_path(dir_, segment_file_name(id));
}

Result<std::unique_ptr<Wal>> Wal::open(std::string dir, WalOptions options) {
  if (options.segment_bytes < kSegmentHeaderBytes) {
    return Status(Code::kInvalidArgument, "wal: segment_bytes is smaller than a segment header");
  }
  std::unique_ptr<Wal> wal(new Wal(std::move(dir), std::move(options)));
  Status s = wal->recover();
  if (!s.ok()) return s;
  return wal;
}

Status Wal::recover() {
  Status s = create_dir(dir_);
  if (!s.ok()) return s;
  auto names = list_dir(dir_);
  if (!names.ok()) return names.status();

  // Segment files being created when a crash came; they were never part of the log.
  bool removed = false;
  for (const std::string& name : *names) {
    if (ends_with(name, std::string(".wal") + std::string(kTmpSuffix))) {
      s = remove_file(join_path(dir_, name));
      if (!s.ok()) return s;
      removed = true;
    }
    if (auto id = parse_segment_file_name(name)) segments_.push_back(*id);
  }
  if (removed && !(s = sync_dir(dir_)).ok()) return s;
  std::sort(segments_.begin(), segments_.end(),
            [](const SegmentId& a, const SegmentId& b) { return a.seq < b.seq; });

  if (segments_.empty()) {
    last_index_ = 0;
    return create_segment(SegmentId{1, 1});  // and the spare
  }
  for (size_t i = 1; i < segments_.size(); ++i) {
    if (segments_[i].seq != segments_[i - 1].seq + 1) {
      return corruption(path_of(segments_[i]), "segment " + std::to_string(segments_[i - 1].seq + 1) +
                                                   " before it is missing");
    }
  }

  Replayer replayer;
  uint64_t end = 0;
  bool tail_zero = true;
  for (size_t i = 0; i < segments_.size(); ++i) {
    s = replay_segment(segments_[i], i + 1 == segments_.size(), &replayer, &end, &tail_zero);
    if (!s.ok()) return s;
  }
  auto recovered = std::move(replayer).finish();
  if (!recovered.ok()) return corruption(dir_, recovered.status().message());
  recovered_ = std::move(recovered).value();

  hard_state_ = recovered_.hard_state;
  snapshot_ = recovered_.snapshot;
  uint64_t snap_index = snapshot_ ? snapshot_->index : 0;
  last_index_ = recovered_.entries.empty() ? snap_index : recovered_.entries.back().index;
  synced_marker_index_ = snap_index;  // open_current syncs the last segment
  s = open_current(end, tail_zero);
  if (s.ok()) (void)prepare_spare();  // failing sets low_space()
  return s;
}

// Replays one segment into `replayer`. For the last segment, `*end` is where valid data ends
// (appends continue there) and `*tail_zero` whether only zeros follow; a torn tail is left for
// open_current to cut off.
Status Wal::replay_segment(const SegmentId& id, bool last, Replayer* replayer, uint64_t* end,
                           bool* tail_zero) {
  std::string path = path_of(id);
  auto file = MappedFile::open(path);
  if (!file.ok()) return file.status();
  std::string_view buf = file->view();
  auto header = parse_segment_header(buf);
  if (!header) return corruption(path, "bad segment header");
  if (!(*header == id)) return corruption(path, "the header does not match the file name");

  size_t pos = kSegmentHeaderBytes;
  ParseResult r;
  RecordView rec;
  while ((r = parse_record(buf, pos, &rec)) == ParseResult::kRecord) {
    Status s = replayer->apply(rec.type, rec.payload);
    if (!s.ok()) return corruption_at(path, pos, s.message());
    pos += kRecordHeaderBytes + rec.payload.size();
  }
  // Data ends here. Whatever stopped the scan, a valid record later means data we may have
  // acknowledged is unreadable: never cut that off silently.
  if (pos < buf.size()) {
    if (auto later = find_valid_record(buf, pos + 1)) {
      return corruption_at(path, pos, (r == ParseResult::kBad ? "bad record" : "zeros") +
                                          std::string(" followed by a valid record at offset ") +
                                          std::to_string(*later));
    }
  }
  // Every segment but the last was synced whole before the next was created.
  if (r == ParseResult::kBad && !last) {
    return corruption_at(path, pos, "bad record in a segment that is not the last");
  }
  *end = pos;
  *tail_zero = all_zero(buf.substr(pos));  // record.h
  return Status();
}

// Opens the last segment for appending at `end`. A torn tail after it is cut off; preallocating
// again then gives zeros from `end` on, so the next open sees a clean end of data.
Status Wal::open_current(uint64_t end, bool tail_zero) {
  path_ = path_of(segments_.back());
  auto f = open_file(path_, O_RDWR);
  if (!f.ok()) return f.status();
  file_ = std::move(f).value();

  Status s;
  if (!tail_zero && !(s = truncate_file(file_.get(), path_, end)).ok()) return s;
  if (!(s = preallocate(file_.get(), path_, options_.segment_bytes)).ok()) return s;
  if (!(s = sync_data(file_.get(), path_)).ok()) return s;
  syncs_.fetch_add(1, std::memory_order_relaxed);
  offset_ = end;
  data_start_ = kSegmentHeaderBytes;
  return Status();
}

Status Wal::fault(std::string_view op, const std::string& path) {
  if (!options_.inject_error) return Status();
  int err = options_.inject_error(op);
  return err == 0 ? Status() : io_error(op, path, err);
}

Status Wal::fail(Status s) {
  if (failed_.ok()) failed_ = s;
  return s;
}

// Creates segment `id` holding the header and copies of the latest snapshot marker and hard
// state, so it can be replayed without the segments before it. It is written under a temporary
// name and synced before it gets its real name: a segment file never has a torn header. The
// spare, if there is one, becomes the segment; then the next spare is allocated.
Status Wal::create_segment(const SegmentId& id) {
  std::string path = path_of(id);
  std::string tmp = path + std::string(kTmpSuffix);
  std::string content;
  append_segment_header(id, &content);
  std::string scratch;
  if (snapshot_) {
    raft::encode_snapshot_meta(*snapshot_, &scratch);
    append_payload(RecordType::kSnapshot, &scratch, &content);
  }
  if (hard_state_) {
    raft::encode_hard_state(*hard_state_, &scratch);
    append_payload(RecordType::kHardState, &scratch, &content);
  }

  Status s;
  if (has_spare_) {
    has_spare_ = false;
    s = rename_file(spare_path_, tmp);
  } else {
    s = fault("create", tmp);
  }
  if (s.ok()) s = create_segment_file(tmp, content);
  if (!s.ok()) {
    // On a full disk the partial file would hold space the next attempt needs.
    (void)remove_file(tmp);
    return s;
  }
  if (!(s = rename_file(tmp, path)).ok()) return s;
  if (!(s = sync_dir(dir_)).ok()) return s;

  segments_.push_back(id);
  path_ = std::move(path);
  offset_ = data_start_ = content.size();
  dirty_ = false;
  (void)prepare_spare();  // failing sets low_space()
  return Status();
}

// Writes `content` at the start of `tmp` (created if missing; a spare keeps its allocation),
// allocates the rest of the segment, syncs, and makes it the current file.
Status Wal::create_segment_file(const std::string& tmp, const std::string& content) {
  auto f = open_file(tmp, O_RDWR | O_CREAT);
  if (!f.ok()) return f.status();
  Status s = write_at(f->get(), tmp, 0, content);
  if (s.ok()) s = preallocate(f->get(), tmp, std::max<uint64_t>(options_.segment_bytes, content.size()));
  if (s.ok()) s = sync_data(f->get(), tmp);
  if (!s.ok()) return s;
  syncs_.fetch_add(1, std::memory_order_relaxed);
  file_ = std::move(f).value();
  return Status();
}

Status Wal::prepare_spare() {
  if (has_spare_) return Status();
  Status s = fault("spare", spare_path_);
  if (s.ok()) {
    auto f = open_file(spare_path_, O_RDWR | O_CREAT | O_TRUNC);
    s = f.ok() ? preallocate(f->get(), spare_path_, options_.segment_bytes) : f.status();
  }
  if (!s.ok()) {
    (void)remove_file(spare_path_);
    low_space_.store(true, std::memory_order_relaxed);
    return s;
  }
  has_spare_ = true;
  low_space_.store(false, std::memory_order_relaxed);
  return Status();
}

// Finishes the current segment — trimmed to its data and synced, so that only the last segment
// can ever have a torn tail — and starts the next, waiting for space if the disk is full.
Status Wal::roll() {
  Status s = truncate_file(file_.get(), path_, offset_);
  if (s.ok()) s = fault("fdatasync", path_);
  if (s.ok()) s = sync_data(file_.get(), path_);
  if (!s.ok()) return fail(s);
  syncs_.fetch_add(1, std::memory_order_relaxed);
  marker_synced();
  const SegmentId next{segments_.back().seq + 1, last_index_ + 1};
  s = retry_while_full([&] { return create_segment(next); });
  return s.ok() ? s : fail(s);
}

Status Wal::retry_while_full(const std::function<Status()>& attempt) {
  for (;;) {
    Status s = attempt();
    if (s.ok() || !is_no_space(s) || cancel_waits_.load(std::memory_order_relaxed)) return s;
    low_space_.store(true, std::memory_order_relaxed);
    // Sleeps in short steps so that cancel_waits() is heard soon.
    const auto until = std::chrono::steady_clock::now() + options_.space_retry;
    while (std::chrono::steady_clock::now() < until && !cancel_waits_.load(std::memory_order_relaxed)) {
      std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(options_.space_retry,
                                                                      std::chrono::milliseconds(20)));
    }
  }
}

Status Wal::append(const std::string& records) {
  if (offset_ > data_start_ && offset_ + records.size() > options_.segment_bytes) {
    Status s = roll();
    if (!s.ok()) return s;
  }
  Status s = fault("write", path_);
  if (s.ok()) s = write_at(file_.get(), path_, offset_, records);
  if (!s.ok()) return fail(s);
  offset_ += records.size();
  dirty_ = true;
  return Status();
}

Status Wal::save(const std::optional<HardState>& hard_state, const std::vector<Entry>& entries) {
  if (!failed_.ok()) return failed_;
  if (!entries.empty()) {
    uint64_t first = entries.front().index;
    uint64_t floor = snapshot_ ? snapshot_->index : 0;
    if (first > last_index_ + 1 || first <= floor) {
      return Status(Code::kInvalidArgument,
                    "wal: entry " + std::to_string(first) + " cannot follow the log (last index " +
                        std::to_string(last_index_) + ", snapshot " + std::to_string(floor) + ")");
    }
    for (size_t i = 1; i < entries.size(); ++i) {
      if (entries[i].index != first + i) {
        return Status(Code::kInvalidArgument, "wal: entries to save are not contiguous");
      }
    }
  }
  buf_.clear();
  std::string scratch;
  for (const Entry& e : entries) {
    raft::encode_entry(e, &scratch);
    if (scratch.size() > kMaxRecordPayloadBytes) {
      return Status(Code::kInvalidArgument, "wal: entry " + std::to_string(e.index) + " is too large");
    }
    append_payload(RecordType::kEntry, &scratch, &buf_);
  }
  if (hard_state) {
    raft::encode_hard_state(*hard_state, &scratch);
    append_payload(RecordType::kHardState, &scratch, &buf_);
  }
  if (buf_.empty()) return Status();
  Status s = append(buf_);
  if (!s.ok()) return s;
  if (!entries.empty()) last_index_ = entries.back().index;
  if (hard_state) hard_state_ = *hard_state;
  return Status();
}

Status Wal::save_snapshot_marker(const SnapshotMeta& meta, SnapshotKind kind) {
  if (!failed_.ok()) return failed_;
  if (snapshot_ && meta.index < snapshot_->index) {
    return Status(Code::kInvalidArgument, "wal: snapshot marker " + std::to_string(meta.index) +
                                              " is below the latest, " +
                                              std::to_string(snapshot_->index));
  }
  std::string scratch;
  raft::encode_snapshot_meta(meta, &scratch);
  buf_.clear();
  append_payload(kind == SnapshotKind::kInstalled ? RecordType::kSnapshotInstalled
                                                  : RecordType::kSnapshot,
                 &scratch, &buf_);
  Status s = append(buf_);
  if (!s.ok()) return s;
  last_index_ = kind == SnapshotKind::kInstalled ? meta.index : std::max(last_index_, meta.index);
  snapshot_ = meta;
  return Status();
}

Status Wal::sync() {
  if (!failed_.ok()) return failed_;
  if (!dirty_) return Status();
  Status s = fault("fdatasync", path_);
  if (s.ok()) s = sync_data(file_.get(), path_);
  if (!s.ok()) return fail(s);
  syncs_.fetch_add(1, std::memory_order_relaxed);
  dirty_ = false;
  marker_synced();
  return Status();
}

// Everything written so far is durable, the latest marker included: a release that waited for
// it can run. Its failure does not touch the log's durability, so it is only retried later.
void Wal::marker_synced() {
  if (snapshot_) synced_marker_index_ = snapshot_->index;
  if (pending_release_ != 0 && pending_release_ <= synced_marker_index_) {
    if (remove_segments_before(pending_release_).ok()) pending_release_ = 0;
  }
}

Status Wal::release_to(uint64_t index) {
  if (!failed_.ok()) return failed_;
  uint64_t marker = snapshot_ ? snapshot_->index : 0;
  if (index > marker) {
    return Status(Code::kInvalidArgument, "wal: release_to " + std::to_string(index) +
                                              " is above the latest snapshot marker, " +
                                              std::to_string(marker));
  }
  if (index > synced_marker_index_) {
    pending_release_ = std::max(pending_release_, index);
    return Status();
  }
  return remove_segments_before(index);
}

Status Wal::remove_segments_before(uint64_t index) {
  // The last segment whose first index is <= index + 1; everything before it goes.
  size_t keep_from = 0;
  for (size_t i = 0; i < segments_.size(); ++i) {
    if (segments_[i].first_index <= index + 1) keep_from = i;
  }
  // Oldest first, each removal made durable before the next, so a crash leaves the segments
  // without a gap in their sequence numbers.
  size_t removed = 0;
  Status s;
  for (; removed < keep_from; ++removed) {
    s = remove_file(path_of(segments_[removed]));
    if (s.ok()) s = sync_dir(dir_);
    if (!s.ok()) break;
  }
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<ptrdiff_t>(removed));
  return s;
}

}  // namespace dkv::wal
