#include "server/join.h"

#include <cstdio>

namespace dkv::server {

using asio::ip::tcp;

namespace {
std::string bulk(const std::string& s) { return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n"; }
}  // namespace

JoinRequest::JoinRequest(asio::io_context& io, std::vector<std::pair<std::string, uint16_t>> members,
                         uint64_t node_id, std::string raft_address,
                         std::function<void(Addresses)> learned, std::shared_ptr<asio::ssl::context> tls,
                         std::string user, std::string password)
    : io_(io), members_(std::move(members)), learned_(std::move(learned)), retry_(io), deadline_(io), tls_(std::move(tls)) {
  if (!password.empty()) {
    request_ = "*3\r\n" + bulk("AUTH") + bulk(user) + bulk(password);
    replies_expected_ = 3;
  }
  request_ += "*3\r\n" + bulk("MEMBER.ADD") + bulk(std::to_string(node_id)) + bulk(raft_address) +
              "*1\r\n" + bulk("MEMBER.LIST");
}

void JoinRequest::start() { try_member(0); }

void JoinRequest::try_member(size_t i) {
  if (i == members_.size()) {
    retry_.expires_after(std::chrono::seconds(1));
    retry_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (!ec) self->try_member(0);
    });
    return;
  }
  stream_ = std::make_unique<Stream>(tcp::socket(io_), tls_.get());
  // A member that accepts but never answers (a dead host, a stuck handshake) is given up on.
  deadline_.expires_after(std::chrono::seconds(5));
  deadline_.async_wait([self = shared_from_this(), stream = stream_.get()](const asio::error_code& ec) {
    if (!ec && self->stream_.get() == stream) stream->close();  // its handler asks the next member
  });
  buffer_.clear();
  replies_.clear();
  parser_.reset();
  asio::error_code ec;
  auto address = asio::ip::make_address(members_[i].first, ec);
  if (ec) return try_member(i + 1);
  stream_->socket().async_connect(tcp::endpoint(address, members_[i].second), [self = shared_from_this(),
                                                                               i](const asio::error_code& ec) {
    if (ec) return self->try_member(i + 1);
    self->stream_->expect_host(self->members_[i].first);
    self->stream_->async_handshake(Stream::Side::client, [self, i](const asio::error_code& ec) {
      if (ec) {
        if (ec.message() != self->last_failure_) {
          self->last_failure_ = ec.message();
          std::fprintf(stderr, "dkv-server: cannot ask %s:%u to add this node: TLS handshake failed: %s\n",
                       self->members_[i].first.c_str(), self->members_[i].second, ec.message().c_str());
        }
        return self->try_member(i + 1);
      }
      self->stream_->async_write(asio::buffer(self->request_), [self, i](const asio::error_code& ec, size_t) {
        if (ec) return self->try_member(i + 1);
        self->read_replies(i);
      });
    });
  });
}

void JoinRequest::read_replies(size_t i) {
  stream_->async_read_some(asio::buffer(chunk_), [self = shared_from_this(), i](
                                                     const asio::error_code& ec, size_t n) {
    if (ec) return self->try_member(i + 1);
    self->buffer_.append(self->chunk_, n);
    for (;;) {
      resp::Value v;
      size_t consumed = 0;
      auto status = self->parser_.parse(self->buffer_, &v, &consumed);
      self->buffer_.erase(0, consumed);
      if (status == resp::ReplyParser::Status::kError) return self->try_member(i + 1);
      if (status == resp::ReplyParser::Status::kNeedMore) break;
      self->replies_.push_back(std::move(v));
      if (self->replies_.size() == self->replies_expected_) return self->finish(i);
    }
    self->read_replies(i);
  });
}

void JoinRequest::finish(size_t i) {
  deadline_.cancel();
  stream_.reset();
  const std::string where = members_[i].first + ":" + std::to_string(members_[i].second);
  if (replies_expected_ == 3 && replies_[0].is_error()) {
    std::fprintf(stderr, "dkv-server: %s refused the join's login (--join-user / --join-password): %s\n", where.c_str(),
                 replies_[0].str.c_str());
    return try_member(i + 1);
  }
  const resp::Value& added = replies_[replies_expected_ - 2];
  const bool member = added.str == "OK" ||
                      (added.is_error() && added.str.find("already a member") != std::string::npos);
  if (!member) {
    std::fprintf(stderr, "dkv-server: %s did not add this node: %s\n", where.c_str(), added.str.c_str());
    return try_member(i + 1);
  }
  Addresses addresses;
  for (const resp::Value& m : replies_[replies_expected_ - 1].elements) {  // RESP2: flat key/value arrays
    uint64_t id = 0;
    std::string address;
    for (size_t k = 0; k + 1 < m.elements.size(); k += 2) {
      if (m.elements[k].str == "id") id = static_cast<uint64_t>(m.elements[k + 1].integer);
      if (m.elements[k].str == "address") address = m.elements[k + 1].str;
    }
    if (id != 0 && !address.empty()) addresses[id] = address;
  }
  std::fprintf(stderr, "dkv-server: joined the cluster through %s (%zu members known; a learner until promoted)\n",
               where.c_str(), addresses.size());
  learned_(std::move(addresses));
}

}  // namespace dkv::server
