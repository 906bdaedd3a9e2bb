#include "dkv/connect.h"

#include "client/endpoint.h"
#include "client/remote.h"
#include "dkv/embedded.h"

namespace dkv {

Result<std::unique_ptr<Client>> connect(std::string_view url) {
  constexpr std::string_view kRemote = "dkv://";
  constexpr std::string_view kEmbedded = "embedded://";
  if (url.starts_with(kRemote)) {
    std::string_view rest = url.substr(kRemote.size());
    Remote::Options options;
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
                                            "': use dkv://[user:password@]host:port[,host:port...] or embedded://");
}

}  // namespace dkv
