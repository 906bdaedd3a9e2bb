#include "sample.h"

#include <cstdarg>
#include <random>

#include "dkv/connect.h"

namespace dkv::samples {

Sample::Sample(int argc, char** argv, std::string_view name, std::string_view what) : name_(name) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--endpoints" && i + 1 < argc) {
      endpoints_ = argv[++i];
    } else if (arg.rfind("--endpoints=", 0) == 0) {
      endpoints_ = arg.substr(12);
    } else if (arg == "--help" || arg == "-h") {
      std::printf("sample-%s: %.*s\n\nusage: sample-%s [--endpoints host:port,...]\n"
                  "  without --endpoints it runs against an in-process (embedded) store\n",
                  name_.c_str(), static_cast<int>(what.size()), what.data(), name_.c_str());
      std::exit(0);
    } else {
      std::fprintf(stderr, "sample-%s: unknown argument '%s' (try --help)\n", name_.c_str(), arg.c_str());
      std::exit(2);
    }
  }
  std::random_device rd;
  run_id_ = std::to_string(rd() % 1000000);
  prefix_ = "sample/" + name_ + "/" + run_id_ + "/";
  const std::string url = endpoints_.empty() ? "embedded://" : "dkv://" + endpoints_;
  client_ = must(dkv::connect(url), "connecting to " + url);
  std::printf("sample-%s: %.*s\n", name_.c_str(), static_cast<int>(what.size()), what.data());
  std::printf("store: %s; keys under %s\n", endpoints_.empty() ? "embedded (in this process)" : url.c_str(),
              prefix_.c_str());
}

Client& Sample::worker(int i) {
  if (endpoints_.empty()) return *client_;
  while (static_cast<int>(workers_.size()) <= i) workers_.push_back(must(dkv::connect("dkv://" + endpoints_), "connecting a worker"));
  return *workers_[i];
}

void Sample::say(const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::vprintf(format, args);
  va_end(args);
  std::printf("\n");
  std::fflush(stdout);
}

bool Sample::check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "BROKEN", what.c_str());
  std::fflush(stdout);
  if (!ok) ++broken_;
  return ok;
}

int Sample::finish() {
  if (broken_ == 0) {
    std::printf("sample-%s: every check held\n", name_.c_str());
    return 0;
  }
  std::printf("sample-%s: %d check(s) BROKEN\n", name_.c_str(), broken_);
  return 1;
}

}  // namespace dkv::samples
