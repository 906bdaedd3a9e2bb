#include "resp/writer.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace dkv::resp {

namespace {

constexpr size_t kMaxIntChars = 20;  // "-9223372036854775808"

// Writes n in decimal ending at `end`; returns where it starts. By hand: replies carry an
// integer or a length header per element, and snprintf would dominate small replies.
char* format_int(int64_t n, char* end) {
  uint64_t u = n < 0 ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
  char* p = end;
  do {
    *--p = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (n < 0) *--p = '-';
  return p;
}

// `type`, the decimal n, CRLF: every header and integer reply.
void append_line(std::string* out, char type, int64_t n) {
  char buf[kMaxIntChars + 3];
  char* end = buf + sizeof(buf);
  end[-2] = '\r';
  end[-1] = '\n';
  char* p = format_int(n, end - 2);
  *--p = type;
  out->append(p, end);
}

// Like Redis 7's addReplyDouble: "%.17g" (to_chars with a precision is printf in the C locale,
// without the locale), infinities spelled out, and one spelling of NaN whatever its sign bit.
std::string_view format_double(double d, char (&buf)[64]) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  auto r = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::general, 17);
  return std::string_view(buf, static_cast<size_t>(r.ptr - buf));
}

// Appends s with every CR and LF replaced by a space: a line-typed element cannot contain them,
// and passing them through would let a message forge further replies.
void append_single_line(std::string* out, std::string_view s) {
  size_t start = out->size();
  out->append(s);
  for (size_t i = start; i < out->size(); ++i) {
    char& c = (*out)[i];
    if (c == '\r' || c == '\n') c = ' ';
  }
}

}  // namespace

void Writer::header(char type, int64_t n) { append_line(out_, type, n); }

void Writer::simple(std::string_view s) {
  out_->push_back('+');
  append_single_line(out_, s);
  out_->append("\r\n", 2);
}

void Writer::error(std::string_view code, std::string_view message) {
  out_->push_back('-');
  append_single_line(out_, code);
  if (!message.empty()) {
    if (!code.empty()) out_->push_back(' ');
    append_single_line(out_, message);
  }
  out_->append("\r\n", 2);
}

void Writer::integer(int64_t n) { header(':', n); }

void Writer::bulk(std::string_view s) {
  header('$', static_cast<int64_t>(s.size()));
  out_->append(s);
  out_->append("\r\n", 2);
}

void Writer::null() {
  if (protocol_ >= 3) {
    out_->append("_\r\n", 3);
  } else {
    out_->append("$-1\r\n", 5);
  }
}

void Writer::null_array() {
  if (protocol_ >= 3) {
    out_->append("_\r\n", 3);
  } else {
    out_->append("*-1\r\n", 5);
  }
}

void Writer::array(size_t n) { header('*', static_cast<int64_t>(n)); }

void Writer::map(size_t n) {
  if (protocol_ >= 3) {
    header('%', static_cast<int64_t>(n));
  } else {
    header('*', static_cast<int64_t>(2 * n));
  }
}

void Writer::set(size_t n) { header(protocol_ >= 3 ? '~' : '*', static_cast<int64_t>(n)); }

void Writer::push(size_t n) { header(protocol_ >= 3 ? '>' : '*', static_cast<int64_t>(n)); }

void Writer::boolean(bool b) {
  if (protocol_ >= 3) {
    out_->append(b ? "#t\r\n" : "#f\r\n", 4);
  } else {
    out_->append(b ? ":1\r\n" : ":0\r\n", 4);
  }
}

void Writer::number(double d) {
  char buf[64];
  std::string_view s = format_double(d, buf);
  if (protocol_ >= 3) {
    out_->push_back(',');
    out_->append(s);
    out_->append("\r\n", 2);
  } else {
    bulk(s);
  }
}

void Writer::verbatim(std::string_view format, std::string_view text) {
  if (protocol_ < 3) {
    bulk(text);
    return;
  }
  // The format is exactly three bytes on the wire; anything else would make the reply unparsable.
  if (format.size() != 3) format = "txt";
  header('=', static_cast<int64_t>(text.size() + 4));
  out_->append(format);
  out_->push_back(':');
  out_->append(text);
  out_->append("\r\n", 2);
}

void Writer::big_number(std::string_view digits) {
  if (protocol_ < 3) {
    bulk(digits);
    return;
  }
  out_->push_back('(');
  append_single_line(out_, digits);
  out_->append("\r\n", 2);
}

void append_request(std::string* out, const std::vector<std::string_view>& args) {
  size_t size = kMaxIntChars + 3;
  for (std::string_view a : args) size += a.size() + kMaxIntChars + 5;
  out->reserve(out->size() + size);
  append_line(out, '*', static_cast<int64_t>(args.size()));
  for (std::string_view a : args) {
    append_line(out, '$', static_cast<int64_t>(a.size()));
    out->append(a);
    out->append("\r\n", 2);
  }
}

}  // namespace dkv::resp
