#include "resp/value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace dkv::resp {

namespace {

// Keys of a map (or of a RESP2 flat key/value array) are strings of one of these types.
bool is_string_type(Type t) {
  return t == Type::kSimpleString || t == Type::kBulkString || t == Type::kVerbatim;
}

// Quoted with C escapes, as redis-cli (sdscatrepr) shows binary-safe strings.
void append_repr(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '\\': out->append("\\\\"); break;
      case '"': out->append("\\\""); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\a': out->append("\\a"); break;
      case '\b': out->append("\\b"); break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out->push_back(c);
        } else {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned char>(c));
          out->append(buf);
        }
    }
  }
  out->push_back('"');
}

// Shortest round-trip form: for people, unlike the wire format (writer.cc), which is Redis's.
void append_double(std::string* out, double d) {
  if (std::isnan(d)) {
    out->append("nan");
  } else if (std::isinf(d)) {
    out->append(d > 0 ? "inf" : "-inf");
  } else {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof(buf), d);
    out->append(buf, r.ptr);
  }
}

// redis-cli's cliFormatReplyTTY: every element ends with '\n'; nested aggregates continue on the
// line of their index and indent their later lines by `prefix`.
void format(const Value& v, const std::string& prefix, std::string* out) {
  switch (v.type) {
    case Type::kSimpleString:
      out->append(v.str);
      break;
    case Type::kError:
      out->append("(error) ").append(v.str);
      break;
    case Type::kInteger:
      out->append("(integer) ").append(std::to_string(v.integer));
      break;
    case Type::kBulkString:
      append_repr(out, v.str);
      break;
    case Type::kNull:
      out->append("(nil)");
      break;
    case Type::kDouble:
      out->append("(double) ");
      append_double(out, v.number);
      break;
    case Type::kBoolean:
      out->append(v.integer ? "(true)" : "(false)");
      break;
    case Type::kVerbatim:
      out->append(v.str);
      break;
    case Type::kBigNumber:
      out->append("(big number) ").append(v.str);
      break;
    case Type::kArray:
    case Type::kMap:
    case Type::kSet:
    case Type::kPush: {
      if (v.elements.empty()) {
        out->append(v.type == Type::kArray ? "(empty array)"
                    : v.type == Type::kMap ? "(empty hash)"
                    : v.type == Type::kSet ? "(empty set)"
                                           : "(empty push)");
        break;
      }
      const bool map = v.type == Type::kMap;
      const char sep = map ? '#' : v.type == Type::kSet ? '~' : ')';
      const size_t count = map ? v.elements.size() / 2 : v.elements.size();
      const size_t width = std::to_string(count).size();
      const std::string inner = prefix + std::string(width + 2, ' ');
      size_t index = 0;
      for (size_t i = 0; i < v.elements.size(); ++i) {
        std::string label = std::to_string(++index);
        if (i != 0) out->append(prefix);
        out->append(width - label.size(), ' ').append(label);
        out->push_back(sep);
        out->push_back(' ');
        format(v.elements[i], inner, out);
        if (map && i + 1 < v.elements.size()) {
          out->pop_back();  // the key's '\n': the value goes on the same line
          out->append(" => ");
          format(v.elements[++i], inner, out);
        }
      }
      return;  // each element already ended its line
    }
  }
  out->push_back('\n');
}

}  // namespace

std::string_view Value::error_code() const {
  std::string_view s = str;
  return s.substr(0, s.find(' '));
}

std::string_view Value::error_message() const {
  std::string_view s = str;
  size_t space = s.find(' ');
  return space == std::string_view::npos ? std::string_view() : s.substr(space + 1);
}

const Value* Value::find(std::string_view key) const {
  if (type != Type::kMap && type != Type::kArray) return nullptr;
  for (size_t i = 0; i + 1 < elements.size(); i += 2) {
    const Value& k = elements[i];
    if (is_string_type(k.type) && k.str == key) return &elements[i + 1];
  }
  return nullptr;
}

std::string Value::debug_string() const {
  std::string out;
  format(*this, "", &out);
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace dkv::resp
