// dkv::connect: a Client from a URL.
//
//   dkv://host:port[,host:port...]  a server or cluster over RESP3 (dkv::Remote): checks that an
//                                   endpoint answers, UNAVAILABLE otherwise
//   dkv://user:password@host:port,...  the same, authenticating as `user` (":password@": the
//                                   default user), as in redis:// URLs (no %-escapes)
//   dkvs://...[?cacert=FILE&cert=FILE&key=FILE]  the same over TLS (dkv-server --tls-clients):
//                                   the server's certificate is checked against the CA in
//                                   cacert (else the system's) and must name the host;
//                                   cert/key: a client certificate (--tls-auth-clients)
//   embedded://                     an in-memory store in this process (dkv::Embedded)
//   embedded:///path                a durable embedded store in directory /path
//                                   (dkv::Embedded::open: write-ahead log + snapshots)
#pragma once

#include <memory>
#include <string_view>

#include "dkv/client.h"

namespace dkv {

Result<std::unique_ptr<Client>> connect(std::string_view url);

}  // namespace dkv
