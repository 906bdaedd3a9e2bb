// Redis glob patterns (KEYS, SCAN MATCH): * ? [abc] [^abc] [a-z] and \ escapes.
#pragma once

#include <string>
#include <string_view>

namespace dkv::server {

bool glob_match(std::string_view pattern, std::string_view text);
// The literal bytes every match must start with ("user:*" -> "user:"), to narrow a key scan.
std::string glob_literal_prefix(std::string_view pattern);

}  // namespace dkv::server
