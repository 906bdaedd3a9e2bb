#include "dkv/status.h"

namespace dkv {

std::string_view code_name(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kNotFound: return "NOT_FOUND";
    case Code::kConflict: return "CONFLICT";
    case Code::kOutOfRange: return "OUT_OF_RANGE";
    case Code::kOverflow: return "OVERFLOW";
    case Code::kLeaseNotFound: return "LEASE_NOT_FOUND";
    case Code::kLocked: return "LOCKED";
    case Code::kFenced: return "FENCED";
    case Code::kCompacted: return "COMPACTED";
    case Code::kLagging: return "LAGGING";
    case Code::kInvalidArgument: return "INVALID_ARGUMENT";
    case Code::kWrongType: return "WRONG_TYPE";
    case Code::kCancelled: return "CANCELLED";
    case Code::kNotLeader: return "NOT_LEADER";
    case Code::kUnavailable: return "UNAVAILABLE";
    case Code::kInternal: return "INTERNAL";
    case Code::kPermissionDenied: return "PERMISSION_DENIED";
  }
  return "UNKNOWN";
}

std::string Status::to_string() const {
  std::string s(code_name(code_));
  if (!message_.empty()) {
    s += ": ";
    s += message_;
  }
  return s;
}

}  // namespace dkv
