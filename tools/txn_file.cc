#include "txn_file.h"

#include <charconv>
#include <string>
#include <vector>

namespace dkv::cli {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Splits a line into words; false on an unterminated quote.
bool split(std::string_view line, std::vector<std::string>* words) {
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    if (i >= line.size() || line[i] == '#') break;
    std::string word;
    if (line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        char c = line[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i < line.size()) {
          char e = line[i++];
          word += e == 'n' ? '\n' : e == 't' ? '\t' : e;
        } else {
          word += c;
        }
      }
      if (!closed) return false;
    } else {
      while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') {
        word += line[i++];
      }
    }
    words->push_back(std::move(word));
  }
  return true;
}

std::optional<int64_t> parse_int(std::string_view text) {
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

}  // namespace

Result<TxnRequest> parse_txn_file(std::string_view text) {
  TxnRequest txn;
  size_t line_no = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    auto bad = [&](const std::string& why) {
      return Status(Code::kInvalidArgument, "transaction file line " + std::to_string(line_no) +
                                                ": " + why);
    };
    std::vector<std::string> w;
    if (!split(line, &w)) return bad("unterminated quote");
    if (w.empty()) continue;
    size_t i = 1;
    auto need = [&](size_t n) { return i + n <= w.size(); };
    auto number = [&](std::optional<int64_t>* out) {
      *out = parse_int(w[i++]);
      return out->has_value();
    };
    std::optional<int64_t> n;
    if (iequals(w[0], "read")) {
      if (w.size() != 3) return bad("read takes KEY VERSION");
      i = 2;
      if (!number(&n)) return bad("VERSION must be an integer, got '" + w[2] + "'");
      txn.reads.push_back(TxnRead{w[1], *n});
    } else if (iequals(w[0], "put")) {
      if (w.size() < 3) return bad("put takes KEY VALUE [options]");
      PutOptions o;
      for (i = 3; i < w.size();) {
        const std::string& opt = w[i++];
        if (iequals(opt, "ttl") && need(1)) {
          if (!number(&n)) return bad("ttl needs an integer");
          o.ttl_ms = *n;
        } else if (iequals(opt, "lease") && need(1)) {
          if (!number(&n)) return bad("lease needs an integer");
          o.lease = *n;
        } else if (iequals(opt, "ifabsent")) {
          o.if_absent = true;
        } else if (iequals(opt, "ifmatch") && need(1)) {
          if (!number(&n)) return bad("ifmatch needs an integer");
          o.if_match = *n;
        } else if (iequals(opt, "fence") && need(2)) {
          std::string name = w[i++];
          if (!number(&n)) return bad("fence needs NAME TOKEN");
          o.fence = Fence{std::move(name), *n};
        } else if (iequals(opt, "entity") && need(1)) {
          o.entity = w[i++];
        } else if (iequals(opt, "contenttype") && need(1)) {
          o.content_type = w[i++];
        } else if (iequals(opt, "label") && need(2)) {
          o.labels[w[i]] = w[i + 1];
          i += 2;
        } else {
          return bad("unknown or incomplete put option '" + opt + "'");
        }
      }
      txn.writes.push_back(TxnWrite::make_put(w[1], w[2], std::move(o)));
    } else if (iequals(w[0], "del")) {
      if (w.size() < 2) return bad("del takes KEY [options]");
      DeleteOptions o;
      for (i = 2; i < w.size();) {
        const std::string& opt = w[i++];
        if (iequals(opt, "ifmatch") && need(1)) {
          if (!number(&n)) return bad("ifmatch needs an integer");
          o.if_match = *n;
        } else if (iequals(opt, "fence") && need(2)) {
          std::string name = w[i++];
          if (!number(&n)) return bad("fence needs NAME TOKEN");
          o.fence = Fence{std::move(name), *n};
        } else {
          return bad("unknown or incomplete del option '" + opt + "'");
        }
      }
      txn.writes.push_back(TxnWrite::make_delete(w[1], std::move(o)));
    } else {
      return bad("unknown operation '" + w[0] + "' (read, put or del)");
    }
  }
  return txn;
}

}  // namespace dkv::cli
