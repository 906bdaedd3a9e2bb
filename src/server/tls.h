// TLS settings of a dkv-server (the --tls-* flags) and the OpenSSL contexts made from them
// (asio::ssl). One certificate and key serve every role of the node. The CA file is trusted for
// clients' certificates and, unless a peer CA file is given, for members' certificates on the
// Raft port. With client certificates in use, give members a CA of their own
// (--tls-peer-ca-cert-file): otherwise any client certificate would be a member's too.
//
//   client port  (--tls-clients)       TLS on --listen; client certificates as --tls-auth-clients
//                                      says (no: none asked; optional: checked if sent; yes:
//                                      required).
//   Raft port    (--tls-peers)         mutual TLS both ways: each side presents its certificate
//                                      and requires the other's, signed by the peer CA. The
//                                      connecting side also checks that the certificate names
//                                      the address it dialled (SAN IP or DNS).
//   join request (with --tls-clients)  a joining node talks TLS to the members' client ports,
//                                      checking their certificates against the CA (not the peer
//                                      CA: those are client ports) and presenting its own.
//
// TLS 1.2 is the oldest version accepted. Certificates are read at start-up only.
#pragma once

#include <memory>
#include <string>

#include <asio/ssl/context.hpp>

#include "dkv/status.h"

namespace dkv::server {

struct TlsOptions {
  enum class ClientAuth { kNo, kOptional, kYes };

  std::string cert_file;  // this node's certificate (chain), PEM
  std::string key_file;   // its private key, PEM, not encrypted
  std::string ca_file;    // CA certificates (PEM) trusted for client (and peer) certificates
  std::string peer_ca_file;  // CA certificates (PEM) trusted on the Raft port; "": ca_file
  bool clients = false;   // the client port speaks TLS
  ClientAuth auth_clients = ClientAuth::kNo;
  bool peers = false;     // the Raft port speaks mutual TLS

  // What the combination lacks, naming the flag ("" when complete): TLS anywhere needs the
  // certificate and key; --tls-peers needs a CA file, client authentication the CA file; files
  // without a use are refused too, so a misspelt intent does not pass for TLS.
  std::string check() const;
  // The start-up warning for a setting that works but is unsafe ("" if none): client
  // certificates and members trusted from the same CA.
  std::string warning() const;
};

// The accepting side of the client port.
Result<std::shared_ptr<asio::ssl::context>> make_client_port_context(const TlsOptions& tls);
// The Raft port, accepting (`accepting`) or connecting: trusts the peer CA.
Result<std::shared_ptr<asio::ssl::context>> make_peer_context(const TlsOptions& tls, bool accepting);
// A joining node's connections to the members' client ports: trusts the CA, presents this
// node's certificate.
Result<std::shared_ptr<asio::ssl::context>> make_join_context(const TlsOptions& tls);

}  // namespace dkv::server
