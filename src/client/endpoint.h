// Endpoint: one server's client address, and the parsing of "host:port[,host:port...]" lists.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dkv/status.h"

namespace dkv::client {

struct Endpoint {
  std::string host;
  uint16_t port = 0;

  std::string to_string() const { return host + ":" + std::to_string(port); }
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// "host:port" (the port 1-65535). INVALID_ARGUMENT naming the text otherwise.
Result<Endpoint> parse_endpoint(std::string_view text);
// "host:port,host:port,...": at least one endpoint.
Result<std::vector<Endpoint>> parse_endpoints(std::string_view text);

}  // namespace dkv::client
