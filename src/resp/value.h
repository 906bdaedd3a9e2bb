// resp::Value: one RESP2 or RESP3 reply, as a tree. What clients (our C++ client, tests) parse
// replies into. The server never builds Values: it writes replies straight to bytes (writer.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dkv::resp {

enum class Type : unsigned char {
  kSimpleString,  // +OK
  kError,         // -CODE message        (str holds "CODE message")
  kInteger,       // :42
  kBulkString,    // $3\r\nfoo
  kArray,         // *2 ...
  kNull,          // _ (RESP3), $-1 and *-1 (RESP2)
  kMap,           // %2 ... (elements hold key, value, key, value ...)
  kSet,           // ~2 ...
  kPush,          // >3 ... (out-of-band: watch events)
  kDouble,        // ,3.14
  kBoolean,       // #t
  kVerbatim,      // =15\r\ntxt:Some string (str holds the text after "txt:")
  kBigNumber,     // (12345678901234567890 (str holds the digits)
};

struct Value {
  Type type = Type::kNull;
  std::string str;              // simple/bulk/verbatim strings, errors, big numbers
  int64_t integer = 0;          // integers; booleans as 0/1
  double number = 0;            // doubles
  std::vector<Value> elements;  // arrays, sets, pushes; maps as key, value, key, value ...

  bool is_null() const { return type == Type::kNull; }
  bool is_error() const { return type == Type::kError; }
  // For errors: the code (first word, e.g. "CONFLICT") and the rest.
  std::string_view error_code() const;
  std::string_view error_message() const;
  // For maps (and RESP2 flat key/value arrays): the value under `key`, or null if absent.
  const Value* find(std::string_view key) const;

  // A short human-readable rendering, redis-cli style, for tests and the CLI.
  std::string debug_string() const;
};

}  // namespace dkv::resp
