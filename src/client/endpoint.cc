#include "client/endpoint.h"

#include <charconv>

namespace dkv::client {

Result<Endpoint> parse_endpoint(std::string_view text) {
  auto bad = [&] {
    return Status(Code::kInvalidArgument,
                  "an endpoint is HOST:PORT with a port 1-65535, got '" + std::string(text) + "'");
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return bad();
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return bad();
  }
  std::string_view host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);  // IPv6
  return Endpoint{std::string(host), static_cast<uint16_t>(port)};
}

Result<std::vector<Endpoint>> parse_endpoints(std::string_view text) {
  std::vector<Endpoint> endpoints;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    Result<Endpoint> e = parse_endpoint(text.substr(start, comma - start));
    if (!e.ok()) return e.status();
    endpoints.push_back(std::move(e).value());
    start = comma + 1;
  }
  return endpoints;
}

}  // namespace dkv::client
