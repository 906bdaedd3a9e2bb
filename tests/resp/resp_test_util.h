// Helpers shared by the RESP tests: feeding parsers the way a connection does, random values and
// requests, writing a Value with the Writer, and comparing Values.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "resp/parser.h"
#include "resp/value.h"
#include "resp/writer.h"

namespace dkv::resp::testing {

// How many bytes arrive next; called until everything has arrived.
using Chunker = std::function<size_t()>;

inline Chunker whole() {
  return [] { return std::string::npos; };
}
inline Chunker bytewise() {
  return [] { return size_t{1}; };
}
inline Chunker random_chunks(uint64_t seed, size_t max) {
  auto rng = std::make_shared<std::mt19937_64>(seed);
  return [rng, max] { return std::uniform_int_distribution<size_t>(1, max)(*rng); };
}

struct FedRequests {
  std::vector<std::vector<std::string>> requests;
  std::string error;     // empty unless the parser failed
  size_t leftover = 0;   // bytes still in the buffer at the end
  size_t max_buffer = 0; // the largest the connection's buffer got
};

// Plays a connection: appends each chunk to its buffer, parses until the parser needs more,
// dropping *consumed bytes from the front after every call, as the contract asks.
inline FedRequests feed_requests(std::string_view data, const Chunker& chunk, Limits limits = {}) {
  FedRequests out;
  RequestParser parser(limits);
  std::string buf;
  size_t pos = 0;
  for (;;) {
    size_t n = std::min(chunk(), data.size() - pos);
    buf.append(data.substr(pos, n));
    pos += n;
    out.max_buffer = std::max(out.max_buffer, buf.size());
    for (;;) {
      std::vector<std::string> args;
      size_t consumed = 0;
      auto status = parser.parse(buf, &args, &consumed);
      EXPECT_LE(consumed, buf.size());
      buf.erase(0, consumed);
      if (status == RequestParser::Status::kRequest) {
        out.requests.push_back(std::move(args));
        continue;
      }
      if (status == RequestParser::Status::kError) {
        out.error = parser.error();
        out.leftover = buf.size();
        return out;
      }
      break;
    }
    if (pos == data.size()) break;
  }
  out.leftover = buf.size();
  return out;
}

struct FedReplies {
  std::vector<Value> values;
  std::string error;
  size_t leftover = 0;
};

inline FedReplies feed_replies(std::string_view data, const Chunker& chunk, Limits limits = {}) {
  FedReplies out;
  ReplyParser parser(limits);
  std::string buf;
  size_t pos = 0;
  for (;;) {
    size_t n = std::min(chunk(), data.size() - pos);
    buf.append(data.substr(pos, n));
    pos += n;
    for (;;) {
      Value v;
      size_t consumed = 0;
      auto status = parser.parse(buf, &v, &consumed);
      EXPECT_LE(consumed, buf.size());
      buf.erase(0, consumed);
      if (status == ReplyParser::Status::kValue) {
        out.values.push_back(std::move(v));
        continue;
      }
      if (status == ReplyParser::Status::kError) {
        out.error = parser.error();
        out.leftover = buf.size();
        return out;
      }
      break;
    }
    if (pos == data.size()) break;
  }
  out.leftover = buf.size();
  return out;
}

// One reply from bytes that hold exactly one; fails the test otherwise.
inline Value parse_one(std::string_view data) {
  FedReplies fed = feed_replies(data, whole());
  EXPECT_EQ(fed.error, "");
  EXPECT_EQ(fed.values.size(), 1u);
  EXPECT_EQ(fed.leftover, 0u);
  return fed.values.empty() ? Value{} : std::move(fed.values[0]);
}

// The parser's error for bytes that hold a protocol error, fed whole.
inline std::string reply_error(std::string_view data, Limits limits = {}) {
  return feed_replies(data, whole(), limits).error;
}
inline std::string request_error(std::string_view data, Limits limits = {}) {
  return feed_requests(data, whole(), limits).error;
}

inline ::testing::AssertionResult same(const Value& a, const Value& b) {
  auto differ = [&](const char* what) {
    return ::testing::AssertionFailure()
           << what << " differ:\n" << a.debug_string() << "\nvs\n" << b.debug_string();
  };
  if (a.type != b.type) return differ("types");
  if (a.str != b.str) return differ("strings");
  if ((a.type == Type::kInteger || a.type == Type::kBoolean) && a.integer != b.integer) {
    return differ("integers");
  }
  if (a.type == Type::kDouble && !(a.number == b.number || (std::isnan(a.number) &&
                                                            std::isnan(b.number)))) {
    return differ("doubles");
  }
  if (a.elements.size() != b.elements.size()) return differ("element counts");
  for (size_t i = 0; i < a.elements.size(); ++i) {
    auto r = same(a.elements[i], b.elements[i]);
    if (!r) return r;
  }
  return ::testing::AssertionSuccess();
}

// Writes v with the Writer, element by element.
inline void write_value(Writer& w, const Value& v) {
  switch (v.type) {
    case Type::kSimpleString: w.simple(v.str); break;
    case Type::kError: {
      size_t space = v.str.find(' ');
      if (space == std::string::npos) {
        w.error(v.str, "");
      } else {
        w.error(std::string_view(v.str).substr(0, space), std::string_view(v.str).substr(space + 1));
      }
      break;
    }
    case Type::kInteger: w.integer(v.integer); break;
    case Type::kBulkString: w.bulk(v.str); break;
    case Type::kNull: w.null(); break;
    case Type::kDouble: w.number(v.number); break;
    case Type::kBoolean: w.boolean(v.integer != 0); break;
    case Type::kVerbatim: w.verbatim("txt", v.str); break;
    case Type::kBigNumber: w.big_number(v.str); break;
    case Type::kArray: w.array(v.elements.size()); break;
    case Type::kMap: w.map(v.elements.size() / 2); break;
    case Type::kSet: w.set(v.elements.size()); break;
    case Type::kPush: w.push(v.elements.size()); break;
  }
  for (const Value& e : v.elements) write_value(w, e);
}

// Redis's RESP2 rendering of a double, independently of writer.cc: printf("%.17g").
inline std::string redis_double(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", d);
  return buf;
}

// What a RESP2 client reads back for v.
inline Value degrade(const Value& v) {
  Value out;
  switch (v.type) {
    case Type::kMap:
    case Type::kSet:
    case Type::kPush:
      out.type = Type::kArray;
      break;
    case Type::kBoolean:
      out.type = Type::kInteger;
      out.integer = v.integer;
      return out;
    case Type::kDouble:
      out.type = Type::kBulkString;
      out.str = redis_double(v.number);
      return out;
    case Type::kVerbatim:
    case Type::kBigNumber:
      out.type = Type::kBulkString;
      out.str = v.str;
      return out;
    default:
      out = v;
      out.elements.clear();
      break;
  }
  for (const Value& e : v.elements) out.elements.push_back(degrade(e));
  return out;
}

inline std::string random_bytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) {
    // Protocol bytes often, to catch any parser that looks inside a bulk.
    switch (rng() % 8) {
      case 0: c = '\r'; break;
      case 1: c = '\n'; break;
      case 2: c = static_cast<char>("*$+-:_%~>,#=(!|"[rng() % 15]); break;
      default: c = static_cast<char>(rng()); break;
    }
  }
  return s;
}

inline std::string random_word(std::mt19937_64& rng, size_t min_len, size_t max_len) {
  static constexpr std::string_view kChars =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:/";
  size_t n = std::uniform_int_distribution<size_t>(min_len, max_len)(rng);
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(kChars[rng() % kChars.size()]);
  return s;
}

inline size_t random_length(std::mt19937_64& rng) {
  switch (rng() % 10) {
    case 0: return 0;
    case 1: return 1000 + rng() % 4000;
    default: return rng() % 40;
  }
}

inline Value random_value(std::mt19937_64& rng, int depth = 0) {
  Value v;
  int kinds = depth < 4 ? 13 : 9;
  switch (rng() % kinds) {
    case 0:
      v.type = Type::kSimpleString;
      v.str = random_word(rng, 0, 20);
      break;
    case 1:
      v.type = Type::kError;
      v.str = "ERR" + std::string(rng() % 2 ? " " + random_word(rng, 1, 30) : "");
      break;
    case 2: {
      v.type = Type::kInteger;
      static constexpr int64_t kEdges[] = {0, -1, 1, INT64_MIN, INT64_MAX, 10, -10};
      v.integer = rng() % 3 == 0 ? kEdges[rng() % 7] : static_cast<int64_t>(rng()) >> (rng() % 64);
      break;
    }
    case 3:
      v.type = Type::kBulkString;
      v.str = random_bytes(rng, random_length(rng));
      break;
    case 4:
      v.type = Type::kNull;
      break;
    case 5: {
      v.type = Type::kDouble;
      static constexpr double kEdges[] = {0.0, 1.5, -0.1, 1e300, -1e-300, 3.141592653589793,
                                          INFINITY, -INFINITY, NAN};
      v.number = rng() % 2 ? kEdges[rng() % 9]
                           : std::uniform_real_distribution<double>(-1e6, 1e6)(rng);
      break;
    }
    case 6:
      v.type = Type::kBoolean;
      v.integer = static_cast<int64_t>(rng() % 2);
      break;
    case 7:
      v.type = Type::kVerbatim;
      v.str = random_bytes(rng, random_length(rng));
      break;
    case 8:
      v.type = Type::kBigNumber;
      v.str = (rng() % 2 ? "-" : "") + std::to_string(rng() % 9 + 1) + std::to_string(rng());
      break;
    default: {
      static constexpr Type kAggregates[] = {Type::kArray, Type::kMap, Type::kSet, Type::kPush};
      v.type = kAggregates[rng() % 4];
      size_t n = rng() % 5;
      if (v.type == Type::kMap) n *= 2;
      for (size_t i = 0; i < n; ++i) v.elements.push_back(random_value(rng, depth + 1));
      break;
    }
  }
  return v;
}

}  // namespace dkv::resp::testing
