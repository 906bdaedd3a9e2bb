// Client-side TLS (OpenSSL): what a caller asks for, and the context made from it once per
// client and shared by its connections (RespSocket).
//
// The server's certificate is always checked against the CA (ca_file, else the system's CA
// store), and by default it must also name the host connected to (a DNS name or an IP address in
// its subjectAltName). cert_file and key_file are this client's certificate, for servers that
// ask for one (dkv-server --tls-auth-clients). TLS 1.2 is the oldest version used.
#pragma once

#include <memory>
#include <string>

#include "dkv/status.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace dkv::client {

struct TlsOptions {
  bool enabled = false;
  std::string ca_file;    // PEM; "": the system's default CAs
  std::string cert_file;  // PEM; with key_file, or neither
  std::string key_file;
  bool verify_host = true;
};

class TlsContext {
 public:
  // INVALID_ARGUMENT naming the file when one cannot be used.
  static Result<std::shared_ptr<TlsContext>> create(const TlsOptions& options);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  ssl_ctx_st* native() const { return ctx_; }
  bool verify_host() const { return verify_host_; }

 private:
  TlsContext(ssl_ctx_st* ctx, bool verify_host) : ctx_(ctx), verify_host_(verify_host) {}
  ssl_ctx_st* ctx_;
  bool verify_host_;
};

// OpenSSL's queued error messages (oldest first, "; "-separated), clearing the queue; `fallback`
// when it is empty.
std::string openssl_errors(const std::string& fallback);

}  // namespace dkv::client
