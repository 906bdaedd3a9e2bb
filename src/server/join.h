// Joining a running cluster (dkv-server --join): a new node asks a member, over the client
// protocol, to add it (MEMBER.ADD <id> <raft address>), trying each given member in turn until
// one (the leader) accepts, and again every second while none does. With the same request it
// asks for MEMBER.LIST: the new node has no --bootstrap list, and must know the members' Raft
// addresses to answer the leader at all. A node that is already a member stops asking. Given a
// TLS context (the members' client ports speak TLS), each request goes over TLS, checking that
// the member's certificate names the address asked. Given a password, each request starts with
// AUTH (the members require one: protocol.md 2.6), as a user allowed MEMBER.ADD and MEMBER.LIST.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <asio.hpp>

#include "resp/parser.h"
#include "server/stream.h"

namespace dkv::server {

class JoinRequest : public std::enable_shared_from_this<JoinRequest> {
 public:
  using Addresses = std::map<uint64_t, std::string>;
  // `members`: client addresses (host, port) of running members. `learned` receives the
  // members' Raft addresses once a member has added this node.
  JoinRequest(asio::io_context& io, std::vector<std::pair<std::string, uint16_t>> members,
              uint64_t node_id, std::string raft_address, std::function<void(Addresses)> learned,
              std::shared_ptr<asio::ssl::context> tls = nullptr, std::string user = "default",
              std::string password = "");
  void start();

 private:
  void try_member(size_t i);
  void read_replies(size_t i);
  void finish(size_t i);

  asio::io_context& io_;
  std::vector<std::pair<std::string, uint16_t>> members_;
  std::function<void(Addresses)> learned_;
  std::string request_;
  size_t replies_expected_ = 2;  // 3 with AUTH first
  asio::steady_timer retry_;
  asio::steady_timer deadline_;  // for one member's answer: past it, the next member is asked
  std::shared_ptr<asio::ssl::context> tls_;
  std::string last_failure_;  // the TLS failure logged last
  std::unique_ptr<Stream> stream_;
  std::string buffer_;
  char chunk_[4096];
  resp::ReplyParser parser_;
  std::vector<resp::Value> replies_;
};

}  // namespace dkv::server
