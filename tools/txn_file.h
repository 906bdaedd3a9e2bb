// The dkv CLI's transaction file: a text format, one operation per line (docs/cli.md).
//
//   # a comment; blank lines are ignored
//   read KEY VERSION          the key must still be at VERSION (0 = absent)
//   put KEY VALUE [ttl MS] [lease ID] [ifabsent] [ifmatch V] [fence NAME TOKEN]
//                 [entity NAME] [contenttype TYPE] [label NAME VALUE]...
//   del KEY [ifmatch V] [fence NAME TOKEN]
//
// Words are separated by spaces or tabs; a word may be "double quoted" (then \" \\ \n \t are
// escapes). Keywords are case-insensitive.
#pragma once

#include <string_view>

#include "dkv/status.h"
#include "dkv/types.h"

namespace dkv::cli {

// INVALID_ARGUMENT naming the line on any error.
Result<TxnRequest> parse_txn_file(std::string_view text);

}  // namespace dkv::cli
