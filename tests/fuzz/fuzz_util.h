// What the fuzz targets of tests/fuzz share: a CHECK that stops the run with a message (an abort
// libFuzzer reports as a crash and saves the input of), a bound on single allocations while
// decoding, the seed-writing mode, and example requests of every command for the seed corpora.
//
// Seed mode: with DKV_FUZZ_WRITE_CORPUS=<dir> in the environment a target writes its seed inputs
// into <dir> and exits instead of fuzzing (tests/fuzz/make_corpus.sh runs every target so).
#pragma once

#include <sanitizer/allocator_interface.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#define FUZZ_CHECK(cond, ...)                                                  \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", __FILE__,       \
                   __LINE__, #cond);                                           \
      std::fprintf(stderr, "  " __VA_ARGS__);                                  \
      std::fprintf(stderr, "\n");                                              \
      std::abort();                                                            \
    }                                                                          \
  } while (0)

namespace dkv::fuzz {

// --- a bound on single allocations -------------------------------------------------------------
//
// A decoder must not allocate what a length or count in its input merely declares: while an
// AllocationBound is alive on this thread, any single allocation above `max_bytes` aborts with
// the size (ASan's malloc hook sees every malloc and operator new).

inline thread_local size_t t_max_alloc = 0;  // 0: no bound

inline void malloc_hook(const volatile void*, size_t size) {
  if (t_max_alloc != 0 && size > t_max_alloc) {
    const size_t bound = t_max_alloc;
    t_max_alloc = 0;  // printing may allocate
    std::fprintf(stderr, "FUZZ: an allocation of %zu bytes while decoding exceeds the bound of %zu bytes "
                 "(a length or count taken from the input before its bytes arrived?)\n", size, bound);
    std::abort();
  }
}

inline void free_hook(const volatile void*) {}

inline void install_allocation_hook() {
  static const bool installed = [] {
    // Both hooks are required: with a null one the sanitizer installs nothing (and returns 0).
    if (__sanitizer_install_malloc_and_free_hooks(malloc_hook, free_hook) == 0) {
      std::fprintf(stderr, "FUZZ: cannot install the allocation hook\n");
      std::abort();
    }
    return true;
  }();
  (void)installed;
}

class AllocationBound {
 public:
  explicit AllocationBound(size_t max_bytes) : saved_(t_max_alloc) { t_max_alloc = max_bytes; }
  ~AllocationBound() { t_max_alloc = saved_; }
  AllocationBound(const AllocationBound&) = delete;
  AllocationBound& operator=(const AllocationBound&) = delete;

 private:
  size_t saved_;
};

// --- seed mode ---------------------------------------------------------------------------------

// If DKV_FUZZ_WRITE_CORPUS is set: calls write(dir) and exits. `write` stores seeds with
// write_seed().
inline void maybe_write_corpus(const std::function<void(const std::string& dir)>& write) {
  const char* dir = std::getenv("DKV_FUZZ_WRITE_CORPUS");
  if (dir == nullptr || *dir == '\0') return;
  std::filesystem::create_directories(dir);
  write(dir);
  std::exit(0);
}

inline void write_seed(const std::string& dir, const std::string& name, std::string_view bytes) {
  std::ofstream out(std::filesystem::path(dir) / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write seed %s/%s\n", dir.c_str(), name.c_str());
    std::exit(1);
  }
}

// A file name from a command's first words: "kv.put" -> "kv_put".
inline std::string seed_name(std::string_view prefix, size_t index, std::string_view word) {
  std::string name(prefix);
  name += '-';
  char number[16];
  std::snprintf(number, sizeof(number), "%03zu", index);
  name += number;
  name += '-';
  for (char c : word) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      name += c;
    } else if (c >= 'A' && c <= 'Z') {
      name += static_cast<char>(c - 'A' + 'a');
    } else {
      name += '_';
    }
  }
  return name;
}

// --- example requests --------------------------------------------------------------------------
//
// Requests as clients send them, at least one per command of the server's table (and the
// options each parses), grouped in short scripts so that reads and later writes find state.
// Used for the RESP and command-argument seeds.
using Request = std::vector<std::string>;
using Script = std::vector<Request>;

inline std::vector<Script> example_scripts() {
  return {
      {{"PING"}, {"PING", "hello"}, {"ECHO", "x"}, {"SELECT", "0"}, {"DBSIZE"}},
      {{"HELLO", "3"}, {"SET", "k", "v"}, {"GET", "k"}, {"KV.GET", "k"}, {"HELLO", "2"}, {"GET", "k"}},
      {{"SET", "k", "v", "EX", "10"}, {"SET", "k", "w", "PX", "100", "NX"}, {"SET", "k", "w", "XX", "GET"},
       {"SET", "k", "v", "KEEPTTL"}, {"SET", "k", "v", "EXAT", "1800000000"}, {"SET", "k", "v", "PXAT", "1800000000000"},
       {"TTL", "k"}, {"PTTL", "k"}, {"PERSIST", "k"}},
      {{"SETNX", "a", "1"}, {"SETEX", "b", "10", "2"}, {"PSETEX", "c", "1000", "3"}, {"MGET", "a", "b", "c", "d"},
       {"EXISTS", "a", "b", "x"}, {"STRLEN", "a"}, {"TYPE", "a"}, {"GETDEL", "a"}, {"DEL", "b", "c"}, {"UNLINK", "x"}},
      {{"MSET", "a", "1", "b", "2"}, {"INCR", "a"}, {"DECR", "a"}, {"INCRBY", "b", "5"}, {"DECRBY", "b", "-7"},
       {"APPEND", "b", "xyz"}, {"INCR", "b"}},
      {{"SET", "k", "v"}, {"EXPIRE", "k", "10", "NX"}, {"PEXPIRE", "k", "5000", "GT"}, {"EXPIREAT", "k", "1800000000", "LT"},
       {"PEXPIREAT", "k", "1800000000000", "XX"}, {"EXPIRE", "k", "-1"}, {"EXISTS", "k"}},
      {{"MSET", "user:1", "a", "user:2", "b", "job:1", "c"}, {"KEYS", "user:*"}, {"KEYS", "[a-z]*:?"},
       {"SCAN", "0", "MATCH", "u*", "COUNT", "1"}, {"SCAN", "1", "TYPE", "string"}},
      {{"INFO"}, {"INFO", "server", "clients"}, {"INFO", "keyspace"}, {"COMMAND"}, {"COMMAND", "COUNT"},
       {"COMMAND", "INFO", "get", "kv.put"}, {"COMMAND", "DOCS", "set"}, {"CONFIG", "GET", "maxmemory"},
       {"CONFIG", "SET", "save", ""}, {"CONFIG", "RESETSTAT"}},
      {{"READONLY"}, {"READWRITE"}, {"AUTH", "pw"}, {"AUTH", "user", "pw"}, {"FLUSHALL"}, {"FLUSHDB", "ASYNC"}},
      {{"CLIENT", "SETNAME", "me"}, {"CLIENT", "GETNAME"}, {"CLIENT", "ID"}, {"CLIENT", "INFO"}, {"QUIT"}},
      {{"MULTI"}, {"SET", "k", "1"}, {"INCR", "k"}, {"GET", "k"}, {"EXEC"}, {"WATCH", "k"}, {"UNWATCH"}, {"DISCARD"}},
      {{"KV.PUT", "config/db", "postgres://x", "TTL", "60000", "ENTITY", "config", "CONTENTTYPE", "text/plain",
        "LABELS", "2", "env", "prod", "tier", "1"},
       {"KV.PUT", "config/db", "y", "IFMATCH", "1"}, {"KV.PUT", "config/new", "z", "IFABSENT"},
       {"KV.GET", "config/db"}, {"KV.GET", "config/db", "REV", "1"}, {"KV.DEL", "config/db", "IFMATCH", "2"},
       {"KV.GET", "config/db"}},
      {{"KV.MPUT", "2", "a", "1", "b", "2"}, {"KV.MGET", "a", "b", "c"}, {"KV.MDEL", "a", "a"},
       {"KV.RANGE", "", ""}, {"KV.RANGE", "a", "z", "LIMIT", "1", "KEYSONLY"}, {"KV.RANGE", "PREFIX", "b", "COUNT"},
       {"KV.RANGE", "a", "", "REV", "1"}, {"KV.COUNT"}, {"KV.COUNT", "PREFIX", "b"}, {"KV.CLEAR", "PREFIX", "b"},
       {"KV.CLEAR"}},
      {{"KV.WATCH", "KEY", "k"}, {"KV.WATCH", "PREFIX", "p/", "FROM", "1", "SNAPSHOT", "PREVKV"},
       {"KV.WATCH", "LOCK", "l"}, {"KV.WATCH", "ELECTION", "e"}, {"KV.UNWATCH", "1"}},
      {{"CTR.ADD", "hits", "5"}, {"CTR.ADD", "hits", "-2", "MIN", "0", "MAX", "10"}, {"CTR.ADD", "win", "1", "TTL", "1000"},
       {"CTR.GET", "hits"}, {"CTR.SET", "hits", "42", "TTL", "5000"}, {"CTR.GET", "win"}},
      {{"LEASE.GRANT", "10000"}, {"KV.PUT", "svc/a", "up", "LEASE", "1"}, {"LEASE.KEEPALIVE", "1"},
       {"LEASE.TTL", "1"}, {"LEASE.TTL", "1", "KEYS"}, {"LEASE.LIST"}, {"LEASE.REVOKE", "1"}, {"KV.GET", "svc/a"}},
      {{"LEASE.GRANT", "10000"}, {"LOCK.ACQUIRE", "jobs", "1"}, {"LOCK.OWNER", "jobs"},
       {"KV.PUT", "jobs/state", "running", "FENCE", "jobs", "1"}, {"KV.DEL", "jobs/state", "FENCE", "jobs", "1"},
       {"LOCK.ACQUIRE", "jobs", "2", "WAIT", "100"}, {"LOCK.RELEASE", "jobs", "1"}},
      {{"LEASE.GRANT", "10000"}, {"LEASE.GRANT", "20000"}, {"ELECT.CAMPAIGN", "boss", "1", "alice"},
       {"ELECT.CAMPAIGN", "boss", "2", "bob", "WAIT", "50"}, {"ELECT.CAMPAIGN", "boss", "2", "bob"},
       {"ELECT.LEADER", "boss"}, {"ELECT.PROCLAIM", "boss", "1", "alice2"}, {"ELECT.RESIGN", "boss", "1"},
       {"ELECT.LEADER", "boss"}},
      {{"SET", "a", "1"},
       {"TXN.COMMIT", "READS", "2", "a", "1", "b", "0", "WRITES", "3", "PUT", "b", "2", "TTL", "1000", "PUT", "c",
        "3", "IFABSENT", "LABELS", "1", "x", "y", "DEL", "a", "IFMATCH", "1"},
       {"TXN.COMMIT", "WRITES", "1", "DEL", "zz", "FENCE", "l", "5"}, {"TXN.COMMIT"}},
      {{"KV.PUT", "u/1", "a", "ENTITY", "user", "LABELS", "2", "age", "31", "city", "oslo"},
       {"KV.PUT", "u/2", "b", "ENTITY", "user", "LABELS", "2", "age", "25", "city", "rome"},
       {"QUERY", "user", "WHERE", "age", "GT", "20", "WHERE", "city", "IN", "2", "oslo", "rome", "ORDERBY", "age",
        "DESC", "LIMIT", "1"},
       {"QUERY", "user", "WHERE", "age", "BETWEEN", "20", "30", "SELECT", "1", "city"},
       {"QUERY", "user", "WHERE", "city", "PREFIX", "o", "KEYSONLY"}, {"QUERY", "user", "COUNT"},
       {"QUERY", "user", "ORDERBY", "age", "ASC", "LIMIT", "1", "CURSOR", ""}},
      {{"SET", "a", "1"}, {"SET", "a", "2"}, {"COMPACT", "1"}, {"KV.GET", "a", "REV", "1"}, {"SNAPSHOT"}, {"BACKUP"}},
      {{"SESSION.REQ", "77", "1", "1", "SET", "k", "v"}, {"SESSION.REQ", "77", "1", "1", "SET", "k", "v"},
       {"SESSION.REQ", "77", "2", "2", "KV.PUT", "k", "w"}, {"SESSION.REQ", "77", "3", "3", "GET", "k"}},
      {{"ACL", "SETUSER", "alice", "on", ">pw", "~user/*", "%R~config/*", "+@read", "+kv.put", "-@admin", "&*"},
       {"ACL", "GETUSER", "alice"}, {"ACL", "LIST"}, {"ACL", "USERS"}, {"ACL", "WHOAMI"}, {"ACL", "CAT"},
       {"ACL", "CAT", "dkv"}, {"ACL", "GENPASS", "64"}, {"ACL", "LOG"}, {"AUTH", "alice", "pw"},
       {"HELLO", "3", "AUTH", "alice", "pw", "SETNAME", "c1"}, {"ACL", "SETUSER", "alice", "reset", "nopass", "allkeys",
       "allcommands"}, {"ACL", "DELUSER", "alice", "bob"}},
      {{"MEMBER.LIST"}, {"MEMBER.ADD", "2", "127.0.0.1:7102"}, {"MEMBER.PROMOTE", "2"}, {"MEMBER.TRANSFER", "2"},
       {"MEMBER.REMOVE", "2"}},
  };
}

}  // namespace dkv::fuzz
