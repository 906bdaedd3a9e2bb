// Incremental RESP parsers. Both are resumable: feed whatever bytes arrived, they consume what
// forms complete messages and keep their place, so total work is linear in the bytes received.
// Neither allocates a declared length or element count before the bytes that fill it arrive
// (a "$2000000000" header costs nothing until the data comes), and both enforce limits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/value.h"

namespace dkv::resp {

struct Limits {
  size_t max_bulk_bytes = 512u << 20;  // one bulk string
  size_t max_request_bytes = 512u << 20;  // all the bulk strings of one request (requests only)
  size_t max_elements = 1u << 20;      // elements of one array / map / set / push
  size_t max_inline_bytes = 64u << 10; // one inline command line, or one +/-/: line
  size_t max_depth = 32;               // nesting of aggregates (replies only)
};

// Server side: a request is an array of bulk strings (what every client sends), or an inline
// command ("PING\r\n", words split on spaces, quotes as redis-cli and Redis understand them).
class RequestParser {
 public:
  enum class Status { kNeedMore, kRequest, kError };

  explicit RequestParser(Limits limits = {});

  // Parses the next request from the front of `input`. On kRequest, `*args` holds its arguments
  // (copied out: they stay valid after `input` changes) and `*consumed` the bytes it used, which
  // the caller drops from the front of its buffer before calling again. On kNeedMore, *consumed
  // bytes (possibly 0) were absorbed into the parser's state and must be dropped too; call again
  // with more data. On kError, error() says what was wrong in Redis words
  // ("Protocol error: invalid bulk length"); the connection should reply with it and close.
  // An error sticks: later calls return kError until reset().
  Status parse(std::string_view input, std::vector<std::string>* args, size_t* consumed);

  const std::string& error() const { return error_; }
  void reset();

 private:
  Limits limits_;
  std::string error_;
  Status fail(std::string message);

  // Resumable state: the array being read and how far it got.
  int64_t expected_args_ = -1;  // -1: at the start of a request
  // -1: expecting a "$<len>" header next. >= 0: the header was read, partial_.back() holds the
  // payload so far, and this many payload bytes (then CRLF) are still to come.
  int64_t bulk_len_ = -1;
  std::vector<std::string> partial_;  // the arguments read so far
  uint64_t request_bytes_ = 0;        // their declared lengths, summed
  // Bytes at the front of the input already searched for the end of an unfinished line, so a
  // line arriving a byte at a time is not rescanned from its start on every call.
  size_t scanned_ = 0;
};

// Client side: replies (and RESP3 pushes) of any type.
class ReplyParser {
 public:
  enum class Status { kNeedMore, kValue, kError };

  explicit ReplyParser(Limits limits = {});

  // Same contract as RequestParser::parse, producing one Value.
  Status parse(std::string_view input, Value* value, size_t* consumed);

  const std::string& error() const { return error_; }
  void reset();

 private:
  struct Frame {
    Value value;
    int64_t remaining = 0;   // elements still to read into value.elements
    bool attribute = false;  // a "|" attribute: dropped when complete, the next value is kept
  };
  Status fail(std::string message);
  // Hands a complete value to the innermost open aggregate, closing those it completes. True when
  // it completed the top-level reply, which is then in *out.
  bool complete(Value v, Value* out);

  Limits limits_;
  std::string error_;
  std::vector<Frame> stack_;  // open aggregates, outermost first
  int64_t bulk_len_ = -1;     // >= 0: waiting for that many bytes of a bulk/verbatim/blob error
  Type bulk_type_ = Type::kBulkString;
  std::string bulk_;          // the payload of that bulk so far (copied as it arrives)
  size_t scanned_ = 0;        // as in RequestParser
};

}  // namespace dkv::resp
