// Fuzzes src/resp: RequestParser (the server's side) and ReplyParser (the client's), on the
// same bytes.
//
// Asserts, for each parser:
//  - resumability: the input parsed whole, in random chunks (split points from a hash of the
//    input) and one byte at a time gives the same requests/values and the same error, if any;
//    every call consumes no more than it was given, a complete message consumes something, and
//    an error sticks (the next call says kError and consumes nothing);
//  - no allocation larger than 256 KiB + 4 x the input inside parse(): a declared length or
//    count is never allocated before its bytes arrive;
//  - round trips: a parsed request written back with append_request, and a parsed reply written
//    back with resp::Writer (RESP3), parse again to the same thing.
// Nothing may crash (ASan, UBSan).
//
// Seeds: requests of every command (array and inline forms, pipelined scripts), replies of every
// RESP2/RESP3 type. DKV_FUZZ_WRITE_CORPUS=<dir> writes them (tests/fuzz/make_corpus.sh).
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "resp/parser.h"
#include "resp/value.h"
#include "resp/writer.h"

namespace dkv::fuzz {
namespace {

using resp::ReplyParser;
using resp::RequestParser;
using resp::Type;
using resp::Value;

size_t allocation_bound(size_t input) { return (256u << 10) + 4 * input; }

bool same_value(const Value& a, const Value& b) {
  if (a.type != b.type || a.str != b.str || a.integer != b.integer) return false;
  if (a.type == Type::kDouble) {
    if (std::isnan(a.number) != std::isnan(b.number)) return false;
    if (!std::isnan(a.number) && std::memcmp(&a.number, &b.number, sizeof(double)) != 0) return false;
  }
  if (a.elements.size() != b.elements.size()) return false;
  for (size_t i = 0; i < a.elements.size(); ++i) {
    if (!same_value(a.elements[i], b.elements[i])) return false;
  }
  return true;
}

// What a parser made of a whole stream: its messages, then its error (empty: none, it waits for
// more).
template <typename Message>
struct Outcome {
  std::vector<Message> messages;
  std::string error;
};

// Feeds `data` in pieces ending at `cuts` (ascending, the last one data.size()) the way a
// connection does: a buffer that grows by each piece and loses from its front what each call
// consumed.
template <typename Parser, typename Message, typename Complete>
Outcome<Message> run(std::string_view data, const std::vector<size_t>& cuts, Complete complete) {
  Parser parser;
  Outcome<Message> out;
  std::string buffer;
  size_t fed = 0;
  for (size_t cut : cuts) {
    buffer.append(data.substr(fed, cut - fed));
    fed = cut;
    for (;;) {
      Message m{};
      size_t consumed = SIZE_MAX;
      typename Parser::Status s;
      {
        AllocationBound bound(allocation_bound(data.size()));
        s = parser.parse(buffer, &m, &consumed);
      }
      FUZZ_CHECK(consumed <= buffer.size(), "consumed %zu of %zu bytes", consumed, buffer.size());
      buffer.erase(0, consumed);
      if (s == complete) {
        FUZZ_CHECK(consumed > 0, "a complete message consumed nothing");
        out.messages.push_back(std::move(m));
        continue;
      }
      if (s == Parser::Status::kNeedMore) break;
      FUZZ_CHECK(!parser.error().empty(), "kError without a message");
      out.error = parser.error();
      Message again{};
      size_t consumed_again = SIZE_MAX;
      FUZZ_CHECK(parser.parse(buffer, &again, &consumed_again) == Parser::Status::kError && consumed_again == 0,
                 "an error did not stick");
      return out;
    }
  }
  return out;
}

// Split points: whole, one byte at a time, and random pieces from a hash of the input.
std::vector<std::vector<size_t>> splits(std::string_view data) {
  std::vector<std::vector<size_t>> out;
  out.push_back({data.size()});
  std::vector<size_t> bytewise;
  for (size_t i = 1; i <= data.size(); ++i) bytewise.push_back(i);
  if (data.empty()) bytewise.push_back(0);
  out.push_back(std::move(bytewise));
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : data) h = (h ^ c) * 1099511628211ull;
  std::vector<size_t> random;
  for (size_t at = 0; at < data.size();) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 29;
    const size_t step = 1 + (h % 8 == 0 ? h % 4096 : h % 24);
    at = std::min(data.size(), at + step);
    random.push_back(at);
  }
  if (random.empty()) random.push_back(0);
  out.push_back(std::move(random));
  return out;
}

void write_value(const Value& v, resp::Writer& w) {
  switch (v.type) {
    case Type::kSimpleString: return w.simple(v.str);
    case Type::kError: return w.error("", v.str);
    case Type::kInteger: return w.integer(v.integer);
    case Type::kBulkString: return w.bulk(v.str);
    case Type::kNull: return w.null();
    case Type::kDouble: return w.number(v.number);
    case Type::kBoolean: return w.boolean(v.integer != 0);
    case Type::kVerbatim: return w.verbatim("txt", v.str);
    case Type::kBigNumber: return w.big_number(v.str);
    case Type::kArray: w.array(v.elements.size()); break;
    case Type::kSet: w.set(v.elements.size()); break;
    case Type::kPush: w.push(v.elements.size()); break;
    case Type::kMap: w.map(v.elements.size() / 2); break;
  }
  for (const Value& e : v.elements) write_value(e, w);
}

// What writing v back should parse as: the writer turns CR and LF of line-typed strings into
// spaces (a parsed line may hold a lone LF).
Value expected_after_rewrite(Value v) {
  if (v.type == Type::kSimpleString || v.type == Type::kError || v.type == Type::kBigNumber) {
    for (char& c : v.str) {
      if (c == '\r' || c == '\n') c = ' ';
    }
  }
  for (Value& e : v.elements) e = expected_after_rewrite(std::move(e));
  return v;
}

void check_requests(std::string_view data) {
  using Out = Outcome<std::vector<std::string>>;
  std::optional<Out> first;
  for (const auto& cuts : splits(data)) {
    Out o = run<RequestParser, std::vector<std::string>>(data, cuts, RequestParser::Status::kRequest);
    if (!first) {
      first = std::move(o);
      continue;
    }
    FUZZ_CHECK(o.messages == first->messages && o.error == first->error,
               "requests differ between a whole parse (%zu requests, error '%s') and %zu pieces (%zu requests, "
               "error '%s')", first->messages.size(), first->error.c_str(), cuts.size(), o.messages.size(),
               o.error.c_str());
  }
  for (const auto& args : first->messages) {
    FUZZ_CHECK(!args.empty(), "a request without arguments");
    std::string encoded;
    std::vector<std::string_view> views(args.begin(), args.end());
    resp::append_request(&encoded, views);
    RequestParser again;
    std::vector<std::string> parsed;
    size_t consumed = 0;
    FUZZ_CHECK(again.parse(encoded, &parsed, &consumed) == RequestParser::Status::kRequest &&
                   consumed == encoded.size() && parsed == args,
               "a request written back by append_request does not parse to itself");
  }
}

void check_replies(std::string_view data) {
  using Out = Outcome<Value>;
  std::optional<Out> first;
  for (const auto& cuts : splits(data)) {
    Out o = run<ReplyParser, Value>(data, cuts, ReplyParser::Status::kValue);
    if (!first) {
      first = std::move(o);
      continue;
    }
    bool same = o.messages.size() == first->messages.size() && o.error == first->error;
    for (size_t i = 0; same && i < o.messages.size(); ++i) same = same_value(o.messages[i], first->messages[i]);
    FUZZ_CHECK(same, "replies differ between a whole parse (%zu values, error '%s') and %zu pieces (%zu values, "
               "error '%s')", first->messages.size(), first->error.c_str(), cuts.size(), o.messages.size(),
               o.error.c_str());
  }
  for (const Value& v : first->messages) {
    std::string encoded;
    resp::Writer w(&encoded, 3);
    write_value(v, w);
    ReplyParser again;
    Value parsed;
    size_t consumed = 0;
    const auto s = again.parse(encoded, &parsed, &consumed);
    FUZZ_CHECK(s == ReplyParser::Status::kValue && consumed == encoded.size() &&
                   same_value(parsed, expected_after_rewrite(v)),
               "a reply written back (RESP3) does not parse to itself: %s -> %s (%s)", v.debug_string().c_str(),
               encoded.c_str(), again.error().c_str());
  }
}

std::string encode(const Request& r) {
  std::string out;
  std::vector<std::string_view> views(r.begin(), r.end());
  resp::append_request(&out, views);
  return out;
}

void write_corpus(const std::string& dir) {
  size_t n = 0;
  for (const Script& script : example_scripts()) {
    std::string pipeline;
    for (const Request& r : script) {
      write_seed(dir, seed_name("req", n++, r[0]), encode(r));
      pipeline += encode(r);
    }
    write_seed(dir, seed_name("pipeline", n++, script[0][0]), pipeline);
  }
  // Inline commands, as redis-cli and telnet users send them.
  const char* inline_requests[] = {
      "PING\r\n", "SET k \"a b\\x41\\n\" 'it''s'\r\nGET k\n", "\r\n\r\nECHO \"unbalanced\r\n",
      "KV.PUT key value TTL 1000 LABELS 1 a b\r\n", "*0\r\n*-1\r\nPING\r\n"};
  for (const char* r : inline_requests) write_seed(dir, seed_name("inline", n++, "inline"), r);
  // Malformed or limit-testing frames.
  const char* frames[] = {"*1\r\n$2000000000\r\n", "*99999999\r\n$1\r\na\r\n", "*2\r\n$-1\r\n",
                          "*1\r\n$3\r\nPINGx\r\n", "*1x\r\n", "$5\r\nhello\r\n"};
  for (const char* f : frames) write_seed(dir, seed_name("frame", n++, "frame"), f);
  // Replies of every type, RESP3 and RESP2.
  for (int protocol : {2, 3}) {
    std::string out;
    resp::Writer w(&out, protocol);
    w.map(3);
    w.bulk("version");
    w.integer(-42);
    w.bulk("more");
    w.boolean(true);
    w.bulk("items");
    w.array(6);
    w.null();
    w.null_array();
    w.number(3.25);
    w.number(-INFINITY);
    w.verbatim("txt", "some text");
    w.big_number("-12345678901234567890");
    w.set(2);
    w.simple("OK");
    w.error("ERR", "unknown command");
    w.push(3);
    w.bulk("kv.watch");
    w.integer(7);
    w.array(0);
    write_seed(dir, seed_name("reply", n++, protocol == 3 ? "resp3" : "resp2"), out);
  }
  const char* replies[] = {"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n", "!21\r\nSYNTAX invalid syntax\r\n",
                           ",+1e10\r\n,nan\r\n(+99\r\n", "=8\r\nmkd:text\r\n", "*3\r\n*1\r\n*0\r\n_\r\n#f\r\n"};
  for (const char* r : replies) write_seed(dir, seed_name("reply", n++, "raw"), r);
}

}  // namespace
}  // namespace dkv::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dkv::fuzz::maybe_write_corpus(dkv::fuzz::write_corpus);
  dkv::fuzz::install_allocation_hook();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  dkv::fuzz::check_requests(input);
  dkv::fuzz::check_replies(input);
  return 0;
}
