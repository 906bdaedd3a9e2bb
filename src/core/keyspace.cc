#include "core/keyspace.h"

#include <algorithm>

namespace dkv::core {
namespace {

void free_record(Record* r) { RecordDeleter()(r); }

bool in_range(std::string_view key, const KeyRange& range) {
  return key >= range.start && (range.end.empty() || key < range.end);
}

}  // namespace

Keyspace::~Keyspace() { clear(); }

void Keyspace::release_superseded() {
  for (Record* r : superseded_) free_record(r);
  superseded_.clear();
}

void Keyspace::clear() {
  release_superseded();
  for (const Entry& e : live_) free_record(e.record);
  live_.clear();
  for (auto& [key, versions] : history_) {
    for (const Version& v : versions) {
      if (v.record != nullptr) free_record(v.record);
    }
  }
  history_.clear();
  history_versions_ = 0;
}

const Record* Keyspace::find(std::string_view key) const {
  auto it = live_.find(key);
  return it == live_.end() ? nullptr : it->record;
}

void Keyspace::push_history(std::string_view key, Version v) {
  auto it = history_.find(key);
  if (it == history_.end()) it = history_.emplace(std::string(key), std::vector<Version>()).first;
  it->second.push_back(v);
  ++history_versions_;
}

const Record* Keyspace::install(RecordPtr record) {
  auto [it, inserted] = live_.insert(Entry{record.get()});
  Record* fresh = record.release();
  if (inserted) return nullptr;
  Record* old = it->record;
  it->record = fresh;
  if (old->mod_revision() == fresh->mod_revision()) {
    superseded_.push_back(old);  // never visible: its revision ends with `fresh`
  } else {
    push_history(fresh->key(), Version{old->mod_revision(), old});
  }
  return old;
}

const Record* Keyspace::remove(std::string_view key, int64_t revision) {
  auto it = live_.find(key);
  if (it == live_.end()) return nullptr;
  Record* old = it->record;
  live_.erase(it);
  if (old->mod_revision() != revision) {
    push_history(old->key(), Version{old->mod_revision(), old});
  } else {
    superseded_.push_back(old);  // made and removed in this revision: never visible
    // A deletion earlier in this revision (delete, re-create, delete) already marks it.
    auto h = history_.find(old->key());
    if (h != history_.end() && !h->second.empty() && h->second.back().revision == revision &&
        h->second.back().record == nullptr) {
      return old;
    }
  }
  // Kept even when no earlier version exists: it records that the key changed at `revision`.
  push_history(old->key(), Version{revision, nullptr});
  return old;
}

const Record* Keyspace::visible_at(const std::vector<Version>& versions, int64_t revision,
                                   bool* found) {
  // The last version that became current at or before `revision`.
  auto it = std::upper_bound(versions.begin(), versions.end(), revision,
                             [](int64_t rev, const Version& v) { return rev < v.revision; });
  if (it == versions.begin()) {
    *found = false;
    return nullptr;
  }
  *found = true;
  return std::prev(it)->record;
}

const Record* Keyspace::find_at(std::string_view key, int64_t revision) const {
  const Record* latest = find(key);
  if (latest != nullptr && latest->mod_revision() <= revision) return latest;
  auto it = history_.find(key);
  if (it == history_.end()) return nullptr;
  bool found;
  return visible_at(it->second, revision, &found);
}

void Keyspace::scan(const KeyRange& range, const std::function<bool(const Record&)>& fn) const {
  for (auto it = live_.lower_bound(std::string_view(range.start)); it != live_.end(); ++it) {
    if (!range.end.empty() && it->record->key() >= range.end) break;
    if (!fn(*it->record)) return;
  }
}

void Keyspace::scan_at(const KeyRange& range, int64_t revision,
                       const std::function<bool(const Record&)>& fn) const {
  // Merge the live keys with the keys that have history, both in key order.
  auto live = live_.lower_bound(std::string_view(range.start));
  auto hist = history_.lower_bound(range.start);
  auto live_ok = [&] { return live != live_.end() && in_range(live->record->key(), range); };
  auto hist_ok = [&] { return hist != history_.end() && in_range(hist->first, range); };
  while (live_ok() || hist_ok()) {
    std::string_view key;
    if (live_ok() && (!hist_ok() || live->record->key() <= hist->first)) {
      key = live->record->key();
    } else {
      key = hist->first;
    }
    const Record* visible = nullptr;
    const bool has_live = live_ok() && live->record->key() == key;
    const bool has_hist = hist_ok() && hist->first == key;
    if (has_live && live->record->mod_revision() <= revision) {
      visible = live->record;
    } else if (has_hist) {
      bool found;
      visible = visible_at(hist->second, revision, &found);
    }
    if (has_live) ++live;
    if (has_hist) ++hist;
    if (visible != nullptr && !fn(*visible)) return;
  }
}

void Keyspace::compact(int64_t revision) {
  for (auto it = history_.begin(); it != history_.end();) {
    std::vector<Version>& versions = it->second;
    const Record* latest = find(it->first);
    // Index of the version a read at `revision` sees; everything before it is unreachable.
    auto visible = std::upper_bound(versions.begin(), versions.end(), revision,
                                    [](int64_t rev, const Version& v) { return rev < v.revision; });
    size_t keep_from = visible == versions.begin() ? 0 : static_cast<size_t>(visible - versions.begin()) - 1;
    // That version is unreachable too when the latest version already covers `revision`, or
    // when it is a deletion (no earlier version remains for it to hide).
    if (visible != versions.begin()) {
      const Version& v = versions[keep_from];
      if ((latest != nullptr && latest->mod_revision() <= revision) || v.record == nullptr) {
        ++keep_from;
      }
    }
    for (size_t i = 0; i < keep_from; ++i) {
      if (versions[i].record != nullptr) free_record(versions[i].record);
    }
    history_versions_ -= keep_from;
    versions.erase(versions.begin(), versions.begin() + static_cast<ptrdiff_t>(keep_from));
    if (versions.empty()) {
      it = history_.erase(it);
    } else {
      ++it;
    }
  }
}

void Keyspace::restore_version(std::string_view key, int64_t revision, RecordPtr record) {
  push_history(key, Version{revision, record.release()});
}

}  // namespace dkv::core
