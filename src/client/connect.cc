#include "dkv/connect.h"

#include "client/endpoint.h"
#include "client/remote.h"
#include "dkv/embedded.h"

namespace dkv {

namespace {

// "cacert=FILE&cert=FILE&key=FILE" of a dkvs:// URL into `tls`.
Status parse_tls_query(std::string_view query, client::TlsOptions* tls) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    const std::string value(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (name == "cacert") {
      tls->ca_file = value;
    } else if (name == "cert") {
      tls->cert_file = value;
    } else if (name == "key") {
      tls->key_file = value;
    } else {
      return Status(Code::kInvalidArgument, "unknown URL parameter '" + std::string(name) +
                                                "': dkvs:// takes cacert=FILE, cert=FILE and key=FILE");
    }
  }
  return Status();
}

}  // namespace

Result<std::unique_ptr<Client>> connect(std::string_view url) {
  constexpr std::string_view kRemote = "dkv://";
  constexpr std::string_view kRemoteTls = "dkvs://";
  constexpr std::string_view kEmbedded = "embedded://";
  if (url.starts_with(kRemote) || url.starts_with(kRemoteTls)) {
    const bool tls = url.starts_with(kRemoteTls);
    std::string_view rest = url.substr(tls ? kRemoteTls.size() : kRemote.size());
    Remote::Options options;
    // The query starts after the user info (a password may hold '?').
    const size_t at = rest.rfind('@');
    if (const size_t question = rest.find('?', at == std::string_view::npos ? 0 : at);
        question != std::string_view::npos) {
      if (!tls) {
        return Status(Code::kInvalidArgument, "URL parameters ('" + std::string(rest.substr(question)) +
                                                  "') are for TLS: use dkvs://");
      }
      if (Status s = parse_tls_query(rest.substr(question + 1), &options.tls); !s.ok()) return s;
      rest = rest.substr(0, question);
    }
    options.tls.enabled = tls;
    // [user[:password]@] as in redis:// URLs; ":password@" is the default user's.
    if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
      std::string_view userinfo = rest.substr(0, at);
      rest = rest.substr(at + 1);
      const size_t colon = userinfo.find(':');
      std::string_view user = userinfo.substr(0, colon);
      if (!user.empty()) options.user = std::string(user);
      if (colon != std::string_view::npos) options.password = std::string(userinfo.substr(colon + 1));
    }
    Result<std::vector<client::Endpoint>> endpoints = client::parse_endpoints(rest);
    if (!endpoints.ok()) return endpoints.status();
    auto remote = std::make_unique<Remote>(std::move(endpoints).value(), options);
    if (Status s = remote->ping(); !s.ok()) return s;
    return std::unique_ptr<Client>(std::move(remote));
  }
  if (url.starts_with(kEmbedded)) {
    if (url.size() == kEmbedded.size()) return std::unique_ptr<Client>(std::make_unique<Embedded>());
    std::string_view path = url.substr(kEmbedded.size());  // "/path" of embedded:///path
    if (!path.starts_with('/')) {
      return Status(Code::kInvalidArgument, "embedded URL '" + std::string(url) +
                                                "' needs an absolute path: embedded:///path");
    }
    auto store = Embedded::open(std::string(path));
    if (!store.ok()) return store.status();
    return std::unique_ptr<Client>(std::move(store).value());
  }
  return Status(Code::kInvalidArgument, "unknown URL '" + std::string(url) +
                                            "': use dkv://[user:password@]host:port[,host:port...], dkvs://... (TLS) or embedded://");
}

}  // namespace dkv
