#include "cli_output.h"

#include <algorithm>
#include <cstdio>

namespace dkv::cli {

void Json::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
}

Json& Json::begin_object() {
  separate();
  out_ += '{';
  first_.push_back(true);
  return *this;
}

Json& Json::end_object() {
  out_ += '}';
  first_.pop_back();
  return *this;
}

Json& Json::begin_array() {
  separate();
  out_ += '[';
  first_.push_back(true);
  return *this;
}

Json& Json::end_array() {
  out_ += ']';
  first_.pop_back();
  return *this;
}

Json& Json::key(std::string_view name) {
  string(name);
  out_ += ':';
  after_key_ = true;
  return *this;
}

Json& Json::string(std::string_view s) {
  separate();
  out_ += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out_ += "\\\""; break;
      case '\\': out_ += "\\\\"; break;
      case '\n': out_ += "\\n"; break;
      case '\r': out_ += "\\r"; break;
      case '\t': out_ += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out_ += buf;
        } else {
          out_ += static_cast<char>(c);
        }
    }
  }
  out_ += '"';
  return *this;
}

Json& Json::number(int64_t n) {
  separate();
  out_ += std::to_string(n);
  return *this;
}

Json& Json::boolean(bool b) {
  separate();
  out_ += b ? "true" : "false";
  return *this;
}

Json& Json::null() {
  separate();
  out_ += "null";
  return *this;
}

Json& Json::key_value(const KeyValue& kv) {
  begin_object();
  key("key").string(kv.key);
  key("value").string(kv.value);
  key("version").number(kv.version);
  key("create_revision").number(kv.create_revision);
  key("mod_revision").number(kv.mod_revision);
  key("created_at_ms").number(kv.created_at_ms);
  key("updated_at_ms").number(kv.updated_at_ms);
  key("expires_at_ms").number(kv.expires_at_ms);
  key("ttl_ms").number(kv.ttl_ms);
  key("lease").number(kv.lease);
  key("entity").string(kv.entity);
  key("content_type").string(kv.content_type);
  key("labels").begin_object();
  for (const auto& [name, value] : kv.labels) key(name).string(value);
  end_object();
  return end_object();
}

std::string table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t c = 0; c < cells.size() && c < width.size(); ++c) {
      text += cells[c];
      if (c + 1 < cells.size()) text += std::string(width[c] - cells[c].size() + 2, ' ');
    }
    out += text + "\n";
  };
  line(header);
  for (const auto& row : rows) line(row);
  return out;
}

std::string describe(const KeyValue& kv) {
  std::string labels;
  for (const auto& [name, value] : kv.labels) {
    if (!labels.empty()) labels += ",";
    labels += name + "=" + value;
  }
  std::vector<std::vector<std::string>> rows = {
      {"key", kv.key},
      {"value", kv.value},
      {"version", std::to_string(kv.version)},
      {"create_revision", std::to_string(kv.create_revision)},
      {"mod_revision", std::to_string(kv.mod_revision)},
      {"created_at_ms", std::to_string(kv.created_at_ms)},
      {"updated_at_ms", std::to_string(kv.updated_at_ms)},
      {"expires_at_ms", std::to_string(kv.expires_at_ms)},
      {"ttl_ms", std::to_string(kv.ttl_ms)},
      {"lease", std::to_string(kv.lease)},
      {"entity", kv.entity},
      {"content_type", kv.content_type},
      {"labels", labels},
  };
  std::string out;
  for (const auto& row : rows) out += row[0] + ": " + row[1] + "\n";
  return out;
}

const char* event_type_name(EventType type) {
  switch (type) {
    case EventType::kPut: return "PUT";
    case EventType::kDelete: return "DELETE";
    case EventType::kExpire: return "EXPIRE";
  }
  return "PUT";
}

}  // namespace dkv::cli
