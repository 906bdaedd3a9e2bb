#include "client/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace dkv::client {

std::string openssl_errors(const std::string& fallback) {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? fallback : out;
}

Result<std::shared_ptr<TlsContext>> TlsContext::create(const TlsOptions& options) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return Status(Code::kInternal, "cannot create a TLS context: " + openssl_errors("unknown error"));
  std::shared_ptr<TlsContext> context(new TlsContext(ctx, options.verify_host));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // dkv-server closes without a TLS close_notify (every reply carries its own length): that is
  // the end of the connection, not an error.
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  auto bad = [](const std::string& what, const std::string& file) {
    return Status(Code::kInvalidArgument, "cannot use " + what + " '" + file + "': " + openssl_errors("unreadable"));
  };
  if (options.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return Status(Code::kInvalidArgument, "cannot load the system's CA certificates: " + openssl_errors("unknown error"));
    }
  } else if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1) {
    return bad("the CA certificates", options.ca_file);
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return Status(Code::kInvalidArgument, "a client certificate needs both its certificate and its key file");
  }
  if (!options.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) != 1) {
      return bad("the client certificate", options.cert_file);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return bad("the client key", options.key_file);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      return Status(Code::kInvalidArgument, "the key '" + options.key_file + "' does not belong to the certificate '" +
                                                options.cert_file + "'");
    }
  }
  return context;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

}  // namespace dkv::client
