#include "resp/parser.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstring>
#include <system_error>
#include <utility>

namespace dkv::resp {

namespace {

// Reserving for a declared element count is capped twice: by this, and by what the bytes already
// present could hold, so "*1000000000" on its own costs nothing. The vector grows as usual after.
constexpr size_t kMaxReserve = 1024;

// Parses all of [p, p + n) as Redis's string2ll does: an optional '-', then digits without a
// leading zero ("0" alone is fine); nothing else, and it must fit in an int64.
bool parse_int(const char* p, size_t n, int64_t* out) {
  if (n == 1 && p[0] == '0') {
    *out = 0;
    return true;
  }
  bool negative = false;
  if (n != 0 && p[0] == '-') {
    negative = true;
    ++p;
    --n;
  }
  if (n == 0 || n > 20 || p[0] < '1' || p[0] > '9') return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    unsigned d = static_cast<unsigned>(static_cast<unsigned char>(p[i])) - '0';
    if (d > 9 || v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (v > static_cast<uint64_t>(INT64_MAX) + (negative ? 1 : 0)) return false;
  *out = negative ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
  return true;
}

// Reply integers and lengths: as parse_int, plus the leading '+' the RESP3 spec allows.
bool parse_reply_int(std::string_view s, int64_t* out) {
  if (!s.empty() && s[0] == '+') {
    s.remove_prefix(1);
    if (!s.empty() && s[0] == '-') return false;
  }
  return parse_int(s.data(), s.size(), out);
}

// ",<double>": from_chars takes "inf", "-inf", "nan" and exponents, but not the spec's '+'.
bool parse_double(std::string_view s, double* out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty() || s[0] == '+') return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool valid_big_number(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

enum class Line { kOk, kNeedMore, kTooLong, kBadEnd };

// Finds the "\r\n" ending the line whose content starts at p and may be up to `max` bytes. On
// kOk, *cr points at its '\r'. *scanned says how much of the content was already searched by
// earlier calls (the caller keeps the unfinished line at the front of its buffer) and is updated
// on kNeedMore, so a line arriving a byte at a time costs linear work.
Line find_crlf(const char* p, const char* end, size_t max, size_t* scanned, const char** cr) {
  const size_t avail = static_cast<size_t>(end - p);
  const size_t limit = std::min(avail, max + 1);  // a '\r' further on makes the line too long
  const size_t from = std::min(*scanned, limit);
  const void* found = from < limit ? std::memchr(p + from, '\r', limit - from) : nullptr;
  if (found == nullptr) {
    if (avail > max) return Line::kTooLong;
    *scanned = avail;
    return Line::kNeedMore;
  }
  const char* q = static_cast<const char*>(found);
  if (q + 1 == end) {
    *scanned = static_cast<size_t>(q - p);  // find this '\r' again next time
    return Line::kNeedMore;
  }
  if (q[1] != '\n') return Line::kBadEnd;
  *cr = q;
  return Line::kOk;
}

// An inline command line ends at '\n', with or without a '\r' before it (as in Redis). On kOk,
// *lf points at the '\n'. `max` and *scanned as for find_crlf; max counts the content only.
Line find_lf(const char* p, const char* end, size_t max, size_t* scanned, const char** lf) {
  const size_t avail = static_cast<size_t>(end - p);
  const size_t limit = std::min(avail, max + 2);  // content, '\r', '\n'
  const size_t from = std::min(*scanned, limit);
  const void* found = from < limit ? std::memchr(p + from, '\n', limit - from) : nullptr;
  if (found == nullptr) {
    if (avail >= max + 2) return Line::kTooLong;
    *scanned = avail;
    return Line::kNeedMore;
  }
  const char* q = static_cast<const char*>(found);
  size_t content = static_cast<size_t>(q - p);
  if (content > 0 && q[-1] == '\r') --content;
  if (content > max) return Line::kTooLong;
  *lf = q;
  return Line::kOk;
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// isspace() in the C locale, which is what sdssplitargs skips between arguments.
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Redis's sdssplitargs over [p, end): arguments separated by whitespace; "double quotes" with
// \n \r \t \b \a \xHH and \<any> escapes; 'single quotes' with only \'. A closing quote must be
// followed by whitespace or the end. False on unbalanced quotes. One difference: sdssplitargs
// stops at a NUL byte (it works on C strings); here a NUL is an ordinary byte.
bool split_inline(const char* p, const char* end, std::vector<std::string>* out) {
  for (;;) {
    while (p < end && is_space(*p)) ++p;
    if (p == end) return true;
    std::string& arg = out->emplace_back();
    bool in_double = false;
    bool in_single = false;
    for (bool done = false; !done;) {
      if (in_double) {
        if (p == end) return false;
        if (*p == '\\' && end - p >= 4 && p[1] == 'x' && is_hex(p[2]) && is_hex(p[3])) {
          arg.push_back(static_cast<char>(hex_value(p[2]) * 16 + hex_value(p[3])));
          p += 4;
        } else if (*p == '\\' && end - p >= 2) {
          char c = p[1];
          switch (c) {
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'b': c = '\b'; break;
            case 'a': c = '\a'; break;
            default: break;
          }
          arg.push_back(c);
          p += 2;
        } else if (*p == '"') {
          if (end - p >= 2 && !is_space(p[1])) return false;
          done = true;
          ++p;
        } else {
          arg.push_back(*p++);
        }
      } else if (in_single) {
        if (p == end) return false;
        if (*p == '\\' && end - p >= 2 && p[1] == '\'') {
          arg.push_back('\'');
          p += 2;
        } else if (*p == '\'') {
          if (end - p >= 2 && !is_space(p[1])) return false;
          done = true;
          ++p;
        } else {
          arg.push_back(*p++);
        }
      } else if (p == end) {
        done = true;
      } else {
        switch (*p) {
          case ' ':
          case '\n':
          case '\r':
          case '\t':
            done = true;
            break;
          case '"':
            in_double = true;
            break;
          case '\'':
            in_single = true;
            break;
          default:
            arg.push_back(*p);
            break;
        }
        ++p;
      }
    }
  }
}

std::string limit_error(const char* what, const char* limit, size_t value) {
  return std::string("Protocol error: ") + what + " (exceeds " + limit + " " +
         std::to_string(value) + ")";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// RequestParser

RequestParser::RequestParser(Limits limits) : limits_(limits) {}

void RequestParser::reset() {
  error_.clear();
  expected_args_ = -1;
  bulk_len_ = -1;
  partial_.clear();
  scanned_ = 0;
}

RequestParser::Status RequestParser::fail(std::string message) {
  error_ = std::move(message);
  return Status::kError;
}

RequestParser::Status RequestParser::parse(std::string_view input, std::vector<std::string>* args,
                                           size_t* consumed) {
  *consumed = 0;
  if (!error_.empty()) return Status::kError;
  const char* const begin = input.data();
  const char* const end = begin + input.size();
  const char* p = begin;
  // Everything before p is in the parser's state by now, whatever the outcome.
  auto done = [&](Status s) {
    *consumed = static_cast<size_t>(p - begin);
    return s;
  };
  auto emit = [&]() {
    args->swap(partial_);  // the caller's old vector comes back for reuse: no allocation
    partial_.clear();
    expected_args_ = -1;
    return done(Status::kRequest);
  };

  for (;;) {
    if (expected_args_ < 0) {  // at the start of a request
      if (p == end) return done(Status::kNeedMore);
      if (*p != '*') {
        const char* lf = nullptr;
        switch (find_lf(p, end, limits_.max_inline_bytes, &scanned_, &lf)) {
          case Line::kOk: break;
          case Line::kNeedMore: return done(Status::kNeedMore);
          default: return done(fail("Protocol error: too big inline request"));
        }
        const char* content_end = (lf > p && lf[-1] == '\r') ? lf - 1 : lf;
        scanned_ = 0;
        partial_.clear();
        if (!split_inline(p, content_end, &partial_)) {
          return done(fail("Protocol error: unbalanced quotes in request"));
        }
        p = lf + 1;
        if (partial_.empty()) continue;  // an empty line: Redis ignores it
        return emit();
      }

      const char* cr = nullptr;
      Line line = find_crlf(p + 1, end, limits_.max_inline_bytes, &scanned_, &cr);
      if (line == Line::kNeedMore) return done(Status::kNeedMore);
      if (line == Line::kTooLong) return done(fail("Protocol error: too big mbulk count string"));
      int64_t n = 0;
      if (line == Line::kBadEnd || !parse_int(p + 1, static_cast<size_t>(cr - p - 1), &n) ||
          n > INT_MAX) {
        return done(fail("Protocol error: invalid multibulk length"));
      }
      if (n > 0 && static_cast<uint64_t>(n) > limits_.max_elements) {
        return done(fail(
            limit_error("invalid multibulk length", "max_elements", limits_.max_elements)));
      }
      scanned_ = 0;
      p = cr + 2;
      if (n <= 0) continue;  // "*0", "*-1": Redis ignores them and reads on
      expected_args_ = n;
      request_bytes_ = 0;
      partial_.clear();
      // Every argument takes at least 6 bytes ("$0\r\n\r\n").
      partial_.reserve(std::min({static_cast<size_t>(n), kMaxReserve,
                                 static_cast<size_t>(end - p) / 6 + 1}));
    }

    if (bulk_len_ < 0) {  // expecting "$<len>\r\n"
      if (p == end) return done(Status::kNeedMore);
      if (*p != '$') {
        std::string message = "Protocol error: expected '$', got '";
        message.push_back(*p);
        message.push_back('\'');
        return done(fail(std::move(message)));
      }
      const char* cr = nullptr;
      Line line = find_crlf(p + 1, end, limits_.max_inline_bytes, &scanned_, &cr);
      if (line == Line::kNeedMore) return done(Status::kNeedMore);
      if (line == Line::kTooLong) return done(fail("Protocol error: too big bulk count string"));
      int64_t len = 0;
      if (line == Line::kBadEnd || !parse_int(p + 1, static_cast<size_t>(cr - p - 1), &len) ||
          len < 0) {
        return done(fail("Protocol error: invalid bulk length"));
      }
      if (static_cast<uint64_t>(len) > limits_.max_bulk_bytes) {
        return done(
            fail(limit_error("invalid bulk length", "max_bulk_bytes", limits_.max_bulk_bytes)));
      }
      request_bytes_ += static_cast<uint64_t>(len);
      if (request_bytes_ > limits_.max_request_bytes) {
        return done(fail(limit_error("request too large", "max_request_bytes", limits_.max_request_bytes)));
      }
      scanned_ = 0;
      p = cr + 2;
      // Copy what is here, no more: the string grows only with bytes actually received.
      size_t take = std::min(static_cast<size_t>(len), static_cast<size_t>(end - p));
      partial_.emplace_back(p, take);
      p += take;
      bulk_len_ = len - static_cast<int64_t>(take);
    } else if (bulk_len_ > 0) {  // the rest of a bulk that arrived in pieces
      size_t take = std::min(static_cast<size_t>(bulk_len_), static_cast<size_t>(end - p));
      partial_.back().append(p, take);
      p += take;
      bulk_len_ -= static_cast<int64_t>(take);
    }
    if (bulk_len_ > 0) return done(Status::kNeedMore);

    // The payload is complete; exactly "\r\n" must follow it.
    if (end - p < 2) {
      if (p < end && *p != '\r') break;
      return done(Status::kNeedMore);
    }
    if (p[0] != '\r' || p[1] != '\n') break;
    p += 2;
    bulk_len_ = -1;
    if (static_cast<int64_t>(partial_.size()) == expected_args_) return emit();
  }
  return done(fail("Protocol error: bulk string not terminated by CRLF"));
}

// ---------------------------------------------------------------------------------------------
// ReplyParser

ReplyParser::ReplyParser(Limits limits) : limits_(limits) {}

void ReplyParser::reset() {
  error_.clear();
  stack_.clear();
  bulk_len_ = -1;
  bulk_type_ = Type::kBulkString;
  bulk_ = std::string();
  scanned_ = 0;
}

ReplyParser::Status ReplyParser::fail(std::string message) {
  error_ = std::move(message);
  return Status::kError;
}

bool ReplyParser::complete(Value v, Value* out) {
  for (;;) {
    if (stack_.empty()) {
      *out = std::move(v);
      return true;
    }
    Frame& top = stack_.back();
    top.value.elements.push_back(std::move(v));
    if (--top.remaining > 0) return false;
    const bool attribute = top.attribute;
    v = std::move(top.value);
    stack_.pop_back();
    if (attribute) return false;  // metadata about the next value, which is what we return
  }
}

ReplyParser::Status ReplyParser::parse(std::string_view input, Value* value, size_t* consumed) {
  *consumed = 0;
  if (!error_.empty()) return Status::kError;
  const char* const begin = input.data();
  const char* const end = begin + input.size();
  const char* p = begin;
  auto done = [&](Status s) {
    *consumed = static_cast<size_t>(p - begin);
    return s;
  };

  for (;;) {
    Value v;
    if (bulk_len_ >= 0) {  // the payload of a '$', '!' or '=', copied as it arrives
      size_t take = std::min(static_cast<size_t>(bulk_len_), static_cast<size_t>(end - p));
      bulk_.append(p, take);
      p += take;
      bulk_len_ -= static_cast<int64_t>(take);
      if (bulk_len_ > 0 || end - p < 2) {
        if (bulk_len_ == 0 && p < end && *p != '\r') {
          return done(fail("Protocol error: bulk string not terminated by CRLF"));
        }
        return done(Status::kNeedMore);
      }
      if (p[0] != '\r' || p[1] != '\n') {
        return done(fail("Protocol error: bulk string not terminated by CRLF"));
      }
      p += 2;
      bulk_len_ = -1;
      v.type = bulk_type_;
      if (bulk_type_ == Type::kVerbatim) {
        if (bulk_.size() < 4 || bulk_[3] != ':') {
          return done(fail("Protocol error: invalid verbatim string"));
        }
        bulk_.erase(0, 4);  // "txt:"
      }
      v.str = std::move(bulk_);
      bulk_.clear();
      if (complete(std::move(v), value)) return done(Status::kValue);
      continue;
    }

    if (p == end) return done(Status::kNeedMore);
    const char type = *p;
    switch (type) {
      case '+': case '-': case ':': case '$': case '*': case '_': case '%': case '~': case '>':
      case ',': case '#': case '=': case '(': case '!': case '|':
        break;
      default: {
        std::string message = "Protocol error, got '";
        message.push_back(type);
        message += "' as reply type byte";
        return done(fail(std::move(message)));
      }
    }
    const char* cr = nullptr;
    switch (find_crlf(p + 1, end, limits_.max_inline_bytes, &scanned_, &cr)) {
      case Line::kOk: break;
      case Line::kNeedMore: return done(Status::kNeedMore);
      case Line::kTooLong:
        return done(fail(limit_error("line too long", "max_inline_bytes",
                                     limits_.max_inline_bytes)));
      case Line::kBadEnd: return done(fail("Protocol error: line not terminated by CRLF"));
    }
    const std::string_view line(p + 1, static_cast<size_t>(cr - p - 1));
    scanned_ = 0;
    p = cr + 2;

    switch (type) {
      case '+':
        v.type = Type::kSimpleString;
        v.str.assign(line);
        break;
      case '-':
        v.type = Type::kError;
        v.str.assign(line);
        break;
      case ':':
        if (!parse_reply_int(line, &v.integer)) {
          return done(fail("Protocol error: invalid integer"));
        }
        v.type = Type::kInteger;
        break;
      case '_':
        if (!line.empty()) return done(fail("Protocol error: invalid null"));
        v.type = Type::kNull;
        break;
      case ',':
        if (!parse_double(line, &v.number)) return done(fail("Protocol error: invalid double"));
        v.type = Type::kDouble;
        break;
      case '#':
        if (line != "t" && line != "f") return done(fail("Protocol error: invalid boolean"));
        v.type = Type::kBoolean;
        v.integer = line == "t" ? 1 : 0;
        break;
      case '(':
        if (!valid_big_number(line)) return done(fail("Protocol error: invalid big number"));
        v.type = Type::kBigNumber;
        v.str.assign(line);
        break;
      case '$':
      case '!':
      case '=': {
        int64_t len = 0;
        if (!parse_reply_int(line, &len) || len < -1 || (len == -1 && type != '$')) {
          return done(fail("Protocol error: invalid bulk length"));
        }
        if (len == -1) {  // RESP2 null bulk string
          v.type = Type::kNull;
          break;
        }
        if (static_cast<uint64_t>(len) > limits_.max_bulk_bytes) {
          return done(
              fail(limit_error("invalid bulk length", "max_bulk_bytes", limits_.max_bulk_bytes)));
        }
        if (type == '=' && len < 4) return done(fail("Protocol error: invalid verbatim string"));
        bulk_len_ = len;
        bulk_type_ = type == '$' ? Type::kBulkString : type == '!' ? Type::kError : Type::kVerbatim;
        bulk_.clear();
        continue;  // the payload, at the top of the loop
      }
      default: {  // '*', '%', '~', '>', '|'
        int64_t n = 0;
        if (!parse_reply_int(line, &n) || n < -1 || (n == -1 && type != '*')) {
          return done(fail("Protocol error: invalid multibulk length"));
        }
        if (n == -1) {  // RESP2 null array
          v.type = Type::kNull;
          break;
        }
        const bool pairs = type == '%' || type == '|';
        const uint64_t count = static_cast<uint64_t>(n) * (pairs ? 2 : 1);
        if (static_cast<uint64_t>(n) > limits_.max_elements || count > limits_.max_elements) {
          return done(fail(
              limit_error("invalid multibulk length", "max_elements", limits_.max_elements)));
        }
        if (stack_.size() >= limits_.max_depth) {
          return done(fail(limit_error("nesting too deep", "max_depth", limits_.max_depth)));
        }
        const Type t = type == '*' ? Type::kArray
                       : type == '~' ? Type::kSet
                       : type == '>' ? Type::kPush
                                     : Type::kMap;
        if (count == 0) {
          if (type == '|') continue;  // an empty attribute: nothing to drop
          v.type = t;
          break;
        }
        Frame& frame = stack_.emplace_back();
        frame.value.type = t;
        frame.remaining = static_cast<int64_t>(count);
        frame.attribute = type == '|';
        // Every element takes at least 3 bytes ("_\r\n").
        frame.value.elements.reserve(std::min<size_t>(
            {static_cast<size_t>(count), kMaxReserve, static_cast<size_t>(end - p) / 3 + 1}));
        continue;
      }
    }
    if (complete(std::move(v), value)) return done(Status::kValue);
  }
}

}  // namespace dkv::resp
