#include "dkv/client.h"

namespace dkv {

Transaction Client::begin_transaction() { return Transaction(*this); }

TxnWrite* Transaction::buffered(std::string_view key) {
  for (TxnWrite& w : writes_) {
    if (w.key == key) return &w;
  }
  return nullptr;
}

Result<KeyValue> Transaction::get(std::string_view key) {
  if (const TxnWrite* w = buffered(key)) {
    if (w->kind == TxnWrite::Kind::kDelete) {
      return Status(Code::kNotFound, "key '" + std::string(key) + "' is deleted in this transaction");
    }
    KeyValue kv;
    kv.key = w->key;
    kv.value = w->value;
    kv.lease = w->put.lease;
    kv.entity = w->put.entity;
    kv.content_type = w->put.content_type;
    kv.labels = w->put.labels;
    return kv;
  }
  Result<KeyValue> result = client_->get(key);
  if (!result.ok() && result.code() != Code::kNotFound) return result;
  // The first read fixes the version the commit checks.
  reads_.try_emplace(std::string(key), result.ok() ? result->version : 0);
  return result;
}

void Transaction::put(std::string_view key, std::string_view value, const PutOptions& options) {
  TxnWrite write = TxnWrite::make_put(std::string(key), std::string(value), options);
  if (TxnWrite* w = buffered(key)) {
    *w = std::move(write);
  } else {
    writes_.push_back(std::move(write));
  }
}

void Transaction::del(std::string_view key) {
  TxnWrite write = TxnWrite::make_delete(std::string(key));
  if (TxnWrite* w = buffered(key)) {
    *w = std::move(write);
  } else {
    writes_.push_back(std::move(write));
  }
}

void Transaction::require(TxnCondition condition) { conditions_.push_back(std::move(condition)); }

Result<TxnResult> Transaction::commit() {
  TxnRequest request;
  for (const auto& [key, version] : reads_) request.reads.push_back(TxnRead{key, version});
  request.conditions = conditions_;
  request.writes = writes_;
  Result<TxnResult> result = client_->commit(request);
  rollback();
  return result;
}

void Transaction::rollback() {
  reads_.clear();
  writes_.clear();
  conditions_.clear();
}

}  // namespace dkv
