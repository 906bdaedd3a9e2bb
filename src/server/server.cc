#include "server/server.h"

#include <malloc.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "server/admin_http.h"
#include "server/connection.h"

namespace dkv::server {

namespace {

Result<asio::ip::tcp::endpoint> resolve(asio::io_context& io, const std::string& host, uint16_t port) {
  asio::error_code ec;
  asio::ip::tcp::resolver resolver(io);
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) {
    return Status(Code::kInvalidArgument, "cannot resolve " + host + ": " + ec.message());
  }
  return results.begin()->endpoint();
}

Status bind(asio::ip::tcp::acceptor& acceptor, const asio::ip::tcp::endpoint& ep, const std::string& what) {
  asio::error_code ec;
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status(Code::kInvalidArgument, "cannot listen for " + what + " on " + ep.address().to_string() +
                                              ":" + std::to_string(ep.port()) + ": " + ec.message());
  }
  return Status();
}

// Resident memory of this process, from /proc (what the kernel charges us).
int64_t resident_bytes() {
  std::ifstream in("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

// Bytes malloc has handed out (INFO used_memory); the resident size under another allocator (a
// sanitizer's), which glibc's count does not see.
int64_t used_memory_bytes() {
  struct mallinfo2 mi = mallinfo2();
  const int64_t used = static_cast<int64_t>(mi.uordblks + mi.hblkhd);
  return used > 0 ? used : resident_bytes();
}

}  // namespace

Server::Server(asio::io_context& io, Options options)
    : io_(io), options_(std::move(options)), acceptor_(io), accept_retry_(io), ops_timer_(io) {}

Server::~Server() {
  auto connections = connections_;
  for (auto& [ptr, c] : connections) c->close();
  connections_.clear();
}

Result<std::unique_ptr<Server>> Server::open(asio::io_context& io, Options options) {
  std::unique_ptr<Server> s(new Server(io, std::move(options)));
  if (std::string missing = s->options_.tls.check(); !missing.empty()) {
    return Status(Code::kInvalidArgument, missing);
  }
  if (s->options_.tls.clients) {
    auto tls = make_client_port_context(s->options_.tls);
    if (!tls.ok()) return tls.status();
    s->client_tls_ = std::move(tls).value();
  }
  s->options_.replica.peer_tls = s->options_.tls;
  // Client and admin ports first: a busy port is found before the data directory is touched.
  auto ep = resolve(io, s->options_.host, s->options_.port);
  if (!ep.ok()) return ep.status();
  Status bound = bind(s->acceptor_, *ep, "clients");
  if (!bound.ok()) return bound;
  s->admin_ = std::make_unique<AdminHttp>(io, *s);
  auto admin_ep = resolve(io, s->options_.admin_host, s->options_.admin_port);
  if (!admin_ep.ok()) return admin_ep.status();
  Status admin = s->admin_->listen(*admin_ep);
  if (!admin.ok()) return admin;
  std::string& advertised = s->options_.replica.client_address;
  advertised = s->options_.advertise_client;
  const std::string& host = s->options_.host;
  if (advertised.empty() && host != "0.0.0.0" && host != "::" && host != "[::]") {
    advertised = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(s->port());
  }
  auto replica = Replica::open(io, s->options_.replica);
  if (!replica.ok()) return replica.status();
  s->replica_ = std::move(replica).value();
  s->warn_if_open();
  return s;
}

// Reachable from other hosts while anyone may connect without a password: said loudly, once, at
// start-up (the safe default is the loopback address).
void Server::warn_if_open() const {
  if (acceptor_.local_endpoint().address().is_loopback()) return;
  const core::AclUser* d = replica_->machine().acl_user("default");
  if (!d->enabled || !d->nopass) return;
  std::fprintf(stderr,
               "dkv-server: WARNING: listening on %s for clients from other hosts, and the default user "
               "needs no password: ANYONE WHO CAN REACH THIS PORT CAN READ AND CHANGE EVERYTHING. Set a "
               "password (ACL SETUSER default on >PASSWORD, or users of your own and ACL SETUSER default "
               "off), or listen on 127.0.0.1.\n",
               options_.host.c_str());
}

uint16_t Server::port() const { return acceptor_.local_endpoint().port(); }
uint16_t Server::admin_port() const { return admin_->port(); }

void Server::start() {
  started_ = std::chrono::steady_clock::now();
  std::random_device rd;
  for (int i = 0; i < 40; ++i) run_id_ += "0123456789abcdef"[rd() % 16];
  sample_ops();
  replica_->on_acl_settled([this] {
    auto connections = connections_;
    for (auto& [ptr, c] : connections) c->resume();
  });
  replica_->start();
  admin_->start();
  accept();
}

void Server::accept() {
  acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (stopping_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of file descriptors (or the like): the connection stays in the backlog, so retrying
      // at once would spin. Try again shortly.
      accept_retry_.expires_after(std::chrono::milliseconds(100));
      accept_retry_.async_wait([this](const asio::error_code& e) {
        if (!e && !stopping_) accept();
      });
      return;
    }
    ++metrics_.connections_received;
    if (connections_.size() >= options_.limits.max_clients) {
      // Redis's words; a best-effort write on a fresh socket, which has room for it.
      ++metrics_.rejected_connections;
      // (Over TLS the words would not be read: the connection is just closed.)
      static constexpr std::string_view kRefusal = "-ERR max number of clients reached\r\n";
      asio::error_code ignored;
      if (!client_tls_) socket.write_some(asio::buffer(kRefusal), ignored);
      socket.close(ignored);
    } else {
      auto c = std::make_shared<Connection>(*this, std::move(socket), client_tls_.get());
      connections_[c.get()] = c;
      c->start();
    }
    accept();
  });
}

void Server::forget(Connection* connection) {
  auto it = connections_.find(connection);
  if (it == connections_.end()) return;
  // Keep it alive until the current handler returns.
  std::shared_ptr<Connection> keep = std::move(it->second);
  connections_.erase(it);
  asio::post(io_, [keep] {});
}

void Server::shut_down(std::function<void()> done) {
  if (stopping_) return;
  stopping_ = true;
  ops_timer_.cancel();
  asio::error_code ec;
  acceptor_.close(ec);
  // Connections stop taking requests; what they already sent finishes and is answered.
  auto connections = connections_;
  for (auto& [ptr, c] : connections) c->finish();
  replica_->shut_down(options_.shutdown_timeout, [this, done = std::move(done)] {
    // Replies of the last writes are queued now; give the sockets one turn to send them.
    asio::post(io_, [this, done] {
      auto remaining = connections_;
      for (auto& [ptr, c] : remaining) c->close();
      admin_->close();
      done();
    });
  });
}

// As Redis: instantaneous_ops_per_sec averages the rate over the last 16 samples, 100 ms apart.
void Server::sample_ops() {
  ops_samples_[ops_sample_next_++ % ops_samples_.size()] = metrics_.total_calls();
  ops_timer_.expires_after(std::chrono::milliseconds(100));
  ops_timer_.async_wait([this](const asio::error_code& ec) {
    if (!ec && !stopping_) sample_ops();
  });
}

int64_t Server::ops_per_sec() const {
  const size_t n = std::min<size_t>(ops_sample_next_, ops_samples_.size());
  if (n < 2) return 0;
  const uint64_t newest = ops_samples_[(ops_sample_next_ - 1) % ops_samples_.size()];
  const uint64_t oldest = ops_samples_[(ops_sample_next_ - n) % ops_samples_.size()];
  return static_cast<int64_t>((newest - oldest) * 10 / (n - 1));
}

uint64_t Server::save_cursor(std::string last_key) {
  uint64_t id = next_cursor_++;
  cursors_.emplace(id, std::move(last_key));
  while (cursors_.size() > options_.max_scan_cursors) cursors_.erase(cursors_.begin());
  return id;
}

std::optional<std::string> Server::find_cursor(uint64_t cursor) const {
  auto it = cursors_.find(cursor);
  if (it == cursors_.end()) return std::nullopt;
  return it->second;
}

std::string Server::info(const std::vector<std::string>& asked) const {
  auto want = [&](std::string_view section) {
    if (asked.empty()) return true;
    for (const std::string& a : asked) {
      if (iequals(a, section) || iequals(a, "all") || iequals(a, "everything") ||
          (iequals(a, "default") && section != "commandstats")) {
        return true;
      }
    }
    return false;
  };
  const core::StateMachine& m = replica_->machine();
  const StoreStats stats = m.stats();
  const Replica::RaftInfo raft = replica_->raft_info();
  std::string s;
  auto line = [&](std::string_view k, const auto& v) {
    s += k;
    s += ':';
    if constexpr (std::is_convertible_v<decltype(v), std::string_view>) {
      s += v;
    } else {
      s += std::to_string(v);
    }
    s += "\r\n";
  };
  auto section = [&](std::string_view name) {
    if (!s.empty()) s += "\r\n";
    s += "# ";
    s += name;
    s += "\r\n";
  };
  if (want("server")) {
    section("Server");
    line("redis_version", "7.0.0");
    line("redis_mode", "standalone");
    line("dkv_version", "0.1.0");
    struct utsname u {};
    uname(&u);
    line("os", std::string(u.sysname) + " " + u.release + " " + u.machine);
    line("arch_bits", 64);
    line("process_id", static_cast<int64_t>(getpid()));
    line("run_id", run_id_);
    line("tcp_port", static_cast<int64_t>(port()));
    line("server_time_usec", std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
    const int64_t up = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::steady_clock::now() - started_)
                           .count();
    line("uptime_in_seconds", up);
    line("uptime_in_days", up / 86400);
  }
  if (want("clients")) {
    section("Clients");
    int64_t watching = 0;
    for (const auto& [ptr, c] : connections_) watching += c->session().watches.empty() ? 0 : 1;
    line("connected_clients", static_cast<int64_t>(connections_.size()));
    line("blocked_clients", replica_->blocked_clients());
    line("watching_clients", watching);
    line("watches", kv_watches());
  }
  if (want("memory")) {
    section("Memory");
    const int64_t used = used_memory_bytes();
    line("used_memory", used);
    char human[32];
    std::snprintf(human, sizeof human, "%.2fM", static_cast<double>(used) / (1024.0 * 1024.0));
    line("used_memory_human", std::string_view(human));
    line("used_memory_rss", resident_bytes());
    line("maxmemory", 0);
    line("maxmemory_policy", "noeviction");
  }
  if (want("persistence")) {
    section("Persistence");
    line("loading", 0);  // the WAL is replayed before the client port accepts anyone
    line("rdb_bgsave_in_progress", 0);
    line("aof_enabled", 0);
    line("aof_rewrite_in_progress", 0);
    line("snapshot_index", static_cast<int64_t>(raft.snapshot_index));
    line("disk_full", raft.disk_full ? 1 : 0);  // writes refused until space is freed
  }
  if (want("stats")) {
    section("Stats");
    line("total_connections_received", static_cast<int64_t>(metrics_.connections_received));
    line("total_commands_processed", static_cast<int64_t>(metrics_.total_calls()));
    line("instantaneous_ops_per_sec", ops_per_sec());
    line("rejected_connections", static_cast<int64_t>(metrics_.rejected_connections));
    line("client_output_buffer_limit_disconnections", static_cast<int64_t>(metrics_.output_overflows));
    line("tls_handshake_failures", static_cast<int64_t>(metrics_.tls_handshake_failures));
    line("expired_keys", replica_->expired_keys());
    line("evicted_keys", 0);
    line("keyspace_hits", static_cast<int64_t>(metrics_.keyspace_hits));
    line("keyspace_misses", static_cast<int64_t>(metrics_.keyspace_misses));
  }
  if (want("replication")) {
    section("Replication");
    line("role", "master");  // for Redis tools; the Raft role is in # Cluster
    line("connected_slaves", 0);
    line("master_replid", run_id_);
    line("master_repl_offset", 0);
  }
  if (want("cluster")) {
    section("Cluster");
    auto ids = [](const std::vector<raft::NodeId>& v) {
      std::string out;
      for (raft::NodeId id : v) out += (out.empty() ? "" : ",") + std::to_string(id);
      return out;
    };
    line("cluster_enabled", 0);
    line("node_id", static_cast<int64_t>(raft.node_id));
    line("role", raft.role);
    line("leader_id", static_cast<int64_t>(raft.leader_id));
    line("term", static_cast<int64_t>(raft.term));
    line("commit_index", static_cast<int64_t>(raft.commit_index));
    line("applied_index", static_cast<int64_t>(raft.applied_index));
    line("revision", stats.revision);
    line("compacted_revision", stats.compacted_revision);
    line("members", ids(raft.voters));
    line("learners", ids(raft.learners));
  }
  if (want("commandstats")) {
    section("Commandstats");
    for (const auto& [name, c] : metrics_.commands()) {
      std::string key = "cmdstat_" + std::string(name);
      char buf[160];
      std::snprintf(buf, sizeof(buf), "calls=%llu,usec=%llu,usec_per_call=%.2f,rejected_calls=0,failed_calls=%llu",
                    static_cast<unsigned long long>(c.calls), static_cast<unsigned long long>(c.total_usec),
                    c.calls ? static_cast<double>(c.total_usec) / static_cast<double>(c.calls) : 0.0,
                    static_cast<unsigned long long>(c.errors));
      line(key, std::string_view(buf));
    }
  }
  if (want("keyspace")) {
    section("Keyspace");
    if (stats.keys > 0) {
      line("db0", "keys=" + std::to_string(stats.keys) +
                      ",expires=" + std::to_string(m.keys_with_ttl()) + ",avg_ttl=0");
    }
  }
  return s;
}

// KV.WATCH subscriptions only: the replica's watchers also count those that LOCK.ACQUIRE and
// ELECT.CAMPAIGN WAIT use internally.
int64_t Server::kv_watches() const {
  int64_t n = 0;
  for (const auto& [ptr, c] : connections_) n += static_cast<int64_t>(c->session().watches.size());
  return n;
}

std::string Server::prometheus() const {
  const StoreStats stats = replica_->machine().stats();
  const Replica::RaftInfo raft = replica_->raft_info();
  std::string s;
  auto metric = [&](std::string_view name, std::string_view type, std::string_view help) {
    s += "# HELP ";
    s += name;
    s += ' ';
    s += help;
    s += "\n# TYPE ";
    s += name;
    s += ' ';
    s += type;
    s += '\n';
  };
  auto value = [&](std::string_view name, std::string_view labels, double v) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), " %.17g\n", v);
    s += name;
    s += labels;
    s += buf;
  };
  metric("dkv_commands_total", "counter", "Commands processed, by command.");
  for (const auto& [name, c] : metrics_.commands()) {
    value("dkv_commands_total", "{cmd=\"" + std::string(name) + "\"}", static_cast<double>(c.calls));
  }
  metric("dkv_command_errors_total", "counter", "Error replies, by command and error code.");
  for (const auto& [name, c] : metrics_.commands()) {
    for (const auto& [code, n] : c.errors_by_code) {
      value("dkv_command_errors_total", "{cmd=\"" + std::string(name) + "\",code=\"" + code + "\"}",
            static_cast<double>(n));
    }
  }
  metric("dkv_command_duration_seconds", "histogram", "Time from a request's arrival to its reply, by command.");
  for (const auto& [name, c] : metrics_.commands()) {
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= Metrics::kBounds.size(); ++b) {
      cumulative += c.buckets[b];
      char le[32];
      if (b < Metrics::kBounds.size()) {
        std::snprintf(le, sizeof(le), "%g", Metrics::kBounds[b]);
      } else {
        std::snprintf(le, sizeof(le), "+Inf");
      }
      value("dkv_command_duration_seconds_bucket", "{cmd=\"" + std::string(name) + "\",le=\"" + le + "\"}",
            static_cast<double>(cumulative));
    }
    value("dkv_command_duration_seconds_sum", "{cmd=\"" + std::string(name) + "\"}",
          static_cast<double>(c.total_usec) / 1e6);
    value("dkv_command_duration_seconds_count", "{cmd=\"" + std::string(name) + "\"}", static_cast<double>(c.calls));
  }
  metric("dkv_keys", "gauge", "Live keys.");
  value("dkv_keys", "", static_cast<double>(stats.keys));
  metric("dkv_memory_bytes", "gauge", "Bytes allocated by the process (INFO used_memory).");
  value("dkv_memory_bytes", "", static_cast<double>(used_memory_bytes()));
  metric("dkv_revision", "gauge", "The store's current revision.");
  value("dkv_revision", "", static_cast<double>(stats.revision));
  metric("dkv_raft_term", "gauge", "Raft term.");
  value("dkv_raft_term", "", static_cast<double>(raft.term));
  metric("dkv_raft_commit_index", "gauge", "Raft commit index.");
  value("dkv_raft_commit_index", "", static_cast<double>(raft.commit_index));
  metric("dkv_raft_applied_index", "gauge", "Raft applied index.");
  value("dkv_raft_applied_index", "", static_cast<double>(raft.applied_index));
  metric("dkv_raft_role", "gauge", "1 for this member's current Raft role.");
  for (const char* role : {"leader", "follower", "candidate", "learner"}) {
    value("dkv_raft_role", std::string("{role=\"") + role + "\"}", raft.role == role ? 1 : 0);
  }
  metric("dkv_connected_clients", "gauge", "Open client connections.");
  value("dkv_connected_clients", "", static_cast<double>(connections_.size()));
  metric("dkv_watchers", "gauge", "Live watches.");
  value("dkv_watchers", "", static_cast<double>(kv_watches()));
  metric("dkv_wal_syncs_total", "counter", "fdatasync calls of the write-ahead log.");
  value("dkv_wal_syncs_total", "", static_cast<double>(raft.wal_syncs));
  metric("dkv_disk_full", "gauge", "1 while the data directory's disk is full and writes are refused.");
  value("dkv_disk_full", "", raft.disk_full ? 1 : 0);
  return s;
}

}  // namespace dkv::server
