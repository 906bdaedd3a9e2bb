#include "server/glob.h"

namespace dkv::server {

namespace {

// Matches one [...] class at pattern[p] (just after '['); advances p past the closing ']'.
bool match_class(std::string_view pattern, size_t& p, char c) {
  bool negate = false;
  if (p < pattern.size() && pattern[p] == '^') {
    negate = true;
    ++p;
  }
  bool matched = false;
  while (p < pattern.size() && pattern[p] != ']') {
    if (pattern[p] == '\\' && p + 1 < pattern.size()) {
      ++p;
      if (pattern[p] == c) matched = true;
      ++p;
    } else if (p + 2 < pattern.size() && pattern[p + 1] == '-' && pattern[p + 2] != ']') {
      char lo = pattern[p], hi = pattern[p + 2];
      if (lo > hi) std::swap(lo, hi);
      if (c >= lo && c <= hi) matched = true;
      p += 3;
    } else {
      if (pattern[p] == c) matched = true;
      ++p;
    }
  }
  if (p < pattern.size()) ++p;  // the ']' (an unterminated class ends the pattern, as in Redis)
  return negate ? !matched : matched;
}

}  // namespace

// Iterative matching with one backtracking point for the last '*': linear in practice and never
// exponential, unlike a naive recursion on patterns like "a*a*a*a*b".
bool glob_match(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0;
  size_t star_p = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size()) {
      char pc = pattern[p];
      if (pc == '*') {
        while (p < pattern.size() && pattern[p] == '*') ++p;
        if (p == pattern.size()) return true;
        star_p = p;
        star_t = t;
        continue;
      }
      if (pc == '?') {
        ++p;
        ++t;
        continue;
      }
      if (pc == '[') {
        size_t q = p + 1;
        if (match_class(pattern, q, text[t])) {
          p = q;
          ++t;
          continue;
        }
      } else {
        if (pc == '\\' && p + 1 < pattern.size()) ++p, pc = pattern[p];
        if (pc == text[t]) {
          ++p;
          ++t;
          continue;
        }
      }
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p;
    t = ++star_t;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::string glob_literal_prefix(std::string_view pattern) {
  std::string prefix;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '*' || c == '?' || c == '[') break;
    if (c == '\\') {
      if (i + 1 == pattern.size()) break;
      c = pattern[++i];
    }
    prefix.push_back(c);
  }
  return prefix;
}

}  // namespace dkv::server
