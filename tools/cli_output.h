// Output for the dkv CLI: JSON values for --json (one document per result, one line per watch
// event) and plain aligned tables for people.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dkv/types.h"

namespace dkv::cli {

// A JSON document built by appending; keys and strings are escaped (bytes outside ASCII are
// passed through, so UTF-8 stays UTF-8).
class Json {
 public:
  Json& begin_object();
  Json& end_object();
  Json& begin_array();
  Json& end_array();
  Json& key(std::string_view name);
  Json& string(std::string_view s);
  Json& number(int64_t n);
  Json& boolean(bool b);
  Json& null();
  // A whole KeyValue as an object with the field names of dkv/types.h.
  Json& key_value(const KeyValue& kv);
  const std::string& text() const { return out_; }

 private:
  void separate();
  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written in it yet
  bool after_key_ = false;
};

// Rows under a header, columns padded to their widest cell.
std::string table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows);

// The fields of one key, one "name: value" per line.
std::string describe(const KeyValue& kv);

const char* event_type_name(EventType type);

}  // namespace dkv::cli
