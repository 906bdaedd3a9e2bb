// What every sample shares: the --endpoints flag (embedded by default), the connection, plain
// narration, and the checks that make a sample exit non-zero when its invariant breaks.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dkv/client.h"
#include "dkv/status.h"

namespace dkv::samples {

class Sample {
 public:
  // Parses `--endpoints host:port,...` (a server or cluster; without it an in-process
  // embedded:// store) and `--help`, connects, and prints what the sample shows. Exits 2 on a
  // bad flag and 1 when the store cannot be reached.
  Sample(int argc, char** argv, std::string_view name, std::string_view what);

  Client& store() { return *client_; }
  // Client `i` of a group of concurrent workers: against a server, a connection of its own
  // (opened on first use, kept until exit); embedded, the one store they share.
  Client& worker(int i);
  bool remote() const { return !endpoints_.empty(); }
  // A key prefix unique to this run, so runs against one server do not meet.
  const std::string& prefix() const { return prefix_; }
  // The random part of the prefix, for names outside the key space (entities, elections).
  const std::string& run_id() const { return run_id_; }

  // Narration, one line, printf-style.
  void say(const char* format, ...) __attribute__((format(printf, 2, 3)));
  // An invariant: "ok" or "BROKEN" with `what`; a broken one makes the exit status 1.
  bool check(bool ok, const std::string& what);
  // The summary line; the process exit status.
  int finish();

 private:
  std::string name_;
  std::string endpoints_;
  std::string run_id_;
  std::string prefix_;
  std::unique_ptr<Client> client_;
  std::vector<std::unique_ptr<Client>> workers_;
  int broken_ = 0;
};

// The value of `r`, or the sample stops (exit 1) saying what failed and why.
template <typename T>
T must(Result<T> r, std::string_view what) {
  if (!r.ok()) {
    std::printf("FAILED: %.*s: %s\n", static_cast<int>(what.size()), what.data(), r.status().to_string().c_str());
    std::fflush(stdout);
    std::exit(1);
  }
  return std::move(r).value();
}

}  // namespace dkv::samples
