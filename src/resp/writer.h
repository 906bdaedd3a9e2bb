// resp::Writer: appends replies to an output buffer in the connection's protocol version.
//
// One call per RESP element; aggregates are written as a header followed by their elements.
// RESP3 types degrade to their RESP2 forms as Redis does: map -> flat array of 2n elements,
// set -> array, push -> array, null -> "$-1" (null_array() -> "*-1"), boolean -> integer 1/0,
// double -> bulk string, verbatim -> bulk string, big number -> bulk string.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dkv::resp {

class Writer {
 public:
  // `protocol` is 2 or 3.
  Writer(std::string* out, int protocol) : out_(out), protocol_(protocol) {}

  int protocol() const { return protocol_; }

  void simple(std::string_view s);                       // +OK (s must not contain \r or \n)
  void ok() { simple("OK"); }
  // -CODE message. `code` is e.g. "ERR", "WRONGTYPE", "CONFLICT"; \r and \n in the message
  // are replaced with spaces.
  void error(std::string_view code, std::string_view message);
  void integer(int64_t n);
  void bulk(std::string_view s);
  void null();        // RESP3 "_", RESP2 "$-1"
  void null_array();  // RESP3 "_", RESP2 "*-1" (EXEC aborted, BLPOP timeout, ...)
  void array(size_t n);
  void map(size_t n);  // n key/value pairs follow
  void set(size_t n);
  void push(size_t n);
  void boolean(bool b);
  void number(double d);  // RESP3 ",3.14" ("inf", "-inf", "nan"); RESP2 bulk string
  void verbatim(std::string_view format, std::string_view text);  // format: "txt" or "mkd"
  void big_number(std::string_view digits);  // RESP3 "(12345678901234567890"; RESP2 bulk string

  // Raw bytes, already encoded.
  void raw(std::string_view bytes) { out_->append(bytes); }

 private:
  void header(char type, int64_t n);

  std::string* out_;
  int protocol_;
};

// Encodes a request the way clients send one: an array of bulk strings.
void append_request(std::string* out, const std::vector<std::string_view>& args);

}  // namespace dkv::resp
