#include "dkv/types.h"

#include <utility>

namespace dkv {

std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    auto last = static_cast<unsigned char>(prefix.back());
    if (last != 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;  // every byte was 0xff (or the prefix was empty): no upper bound
}

KeyRange KeyRange::prefix(std::string prefix) {
  KeyRange r;
  r.end = prefix_end(prefix);
  r.start = std::move(prefix);
  return r;
}

TxnWrite TxnWrite::make_put(std::string key, std::string value, PutOptions options) {
  TxnWrite w;
  w.kind = Kind::kPut;
  w.key = std::move(key);
  w.value = std::move(value);
  w.put = std::move(options);
  return w;
}

TxnWrite TxnWrite::make_delete(std::string key, DeleteOptions options) {
  TxnWrite w;
  w.kind = Kind::kDelete;
  w.key = std::move(key);
  w.del = std::move(options);
  return w;
}

}  // namespace dkv
