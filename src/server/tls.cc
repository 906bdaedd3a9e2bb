#include "server/tls.h"

#include <openssl/ssl.h>

namespace dkv::server {

namespace {

Status tls_error(const std::string& what, const std::string& file, const asio::error_code& ec) {
  return Status(Code::kInvalidArgument, "cannot use " + what + " '" + file + "': " + ec.message());
}

// A context with this node's certificate and key and, when given, the CA file `ca` (named by
// `ca_flag` in errors); TLS 1.2 at least.
Result<std::shared_ptr<asio::ssl::context>> base_context(const TlsOptions& tls, asio::ssl::context::method method,
                                                         const std::string& ca, const char* ca_flag) {
  auto ctx = std::make_shared<asio::ssl::context>(method);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  // No TLS 1.2 renegotiation (a client could make the server redo handshakes at will).
  SSL_CTX_set_options(ctx->native_handle(), SSL_OP_NO_RENEGOTIATION);
  asio::error_code ec;
  ctx->use_certificate_chain_file(tls.cert_file, ec);
  if (ec) return tls_error("the certificate (--tls-cert-file)", tls.cert_file, ec);
  ctx->use_private_key_file(tls.key_file, asio::ssl::context::pem, ec);
  const bool mismatch = ec && ec.message().find("mismatch") != std::string::npos;
  if (ec && !mismatch) return tls_error("the private key (--tls-key-file)", tls.key_file, ec);
  if (mismatch || SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return Status(Code::kInvalidArgument, "the private key '" + tls.key_file + "' (--tls-key-file) does not belong to the certificate '" +
                                              tls.cert_file + "' (--tls-cert-file)");
  }
  if (!ca.empty()) {
    ctx->load_verify_file(ca, ec);
    if (ec) return tls_error(std::string("the CA certificates (") + ca_flag + ")", ca, ec);
  }
  // Sessions resumed on a server that checks client certificates need a context id.
  static constexpr unsigned char kSessionContext[] = "dkv";
  SSL_CTX_set_session_id_context(ctx->native_handle(), kSessionContext, sizeof kSessionContext - 1);
  return ctx;
}

}  // namespace

std::string TlsOptions::check() const {
  const bool any = clients || peers;
  if (!any && (!cert_file.empty() || !key_file.empty() || !ca_file.empty() || !peer_ca_file.empty())) {
    return "--tls-cert-file, --tls-key-file and the CA files need --tls-clients or --tls-peers (which connections to secure)";
  }
  if (!peers && !peer_ca_file.empty()) return "--tls-peer-ca-cert-file needs --tls-peers";
  if (!any && auth_clients != ClientAuth::kNo) return "--tls-auth-clients needs --tls-clients";
  if (!any) return "";
  if (cert_file.empty() || key_file.empty()) {
    return std::string(clients ? "--tls-clients" : "--tls-peers") + " needs --tls-cert-file and --tls-key-file";
  }
  if (peers && ca_file.empty() && peer_ca_file.empty()) {
    return "--tls-peers needs --tls-ca-cert-file or --tls-peer-ca-cert-file (the CA that signs the members' certificates)";
  }
  if (clients && auth_clients != ClientAuth::kNo && ca_file.empty()) {
    return "--tls-auth-clients needs --tls-ca-cert-file (the CA that signs the clients' certificates)";
  }
  if (!clients && auth_clients != ClientAuth::kNo) return "--tls-auth-clients needs --tls-clients";
  return "";
}

std::string TlsOptions::warning() const {
  if (!peers || !clients || auth_clients == ClientAuth::kNo || !peer_ca_file.empty()) return "";
  return "WARNING: --tls-peers and --tls-auth-clients trust the same CA (--tls-ca-cert-file): ANY CLIENT "
         "CERTIFICATE IT SIGNED CAN ALSO TALK RAFT AS A MEMBER. Give the members' certificates a CA of their own "
         "and name it with --tls-peer-ca-cert-file.";
}

Result<std::shared_ptr<asio::ssl::context>> make_client_port_context(const TlsOptions& tls) {
  auto ctx = base_context(tls, asio::ssl::context::tls_server, tls.ca_file, "--tls-ca-cert-file");
  if (!ctx.ok()) return ctx;
  switch (tls.auth_clients) {
    case TlsOptions::ClientAuth::kNo:
      (*ctx)->set_verify_mode(asio::ssl::verify_none);
      break;
    case TlsOptions::ClientAuth::kOptional:
      (*ctx)->set_verify_mode(asio::ssl::verify_peer);
      break;
    case TlsOptions::ClientAuth::kYes:
      (*ctx)->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
      break;
  }
  return ctx;
}

Result<std::shared_ptr<asio::ssl::context>> make_peer_context(const TlsOptions& tls, bool accepting) {
  const bool own = !tls.peer_ca_file.empty();
  auto ctx = base_context(tls, accepting ? asio::ssl::context::tls_server : asio::ssl::context::tls_client,
                          own ? tls.peer_ca_file : tls.ca_file, own ? "--tls-peer-ca-cert-file" : "--tls-ca-cert-file");
  if (!ctx.ok()) return ctx;
  (*ctx)->set_verify_mode(accepting ? asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert
                                    : asio::ssl::verify_peer);
  return ctx;
}

Result<std::shared_ptr<asio::ssl::context>> make_join_context(const TlsOptions& tls) {
  auto ctx = base_context(tls, asio::ssl::context::tls_client, tls.ca_file, "--tls-ca-cert-file");
  if (!ctx.ok()) return ctx;
  (*ctx)->set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}

}  // namespace dkv::server
