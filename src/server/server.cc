#include "server/server.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

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

}  // namespace

Server::Server(asio::io_context& io, Options options)
    : io_(io), options_(std::move(options)), acceptor_(io) {}

Server::~Server() {
  auto connections = connections_;
  for (auto& [ptr, c] : connections) c->close();
  connections_.clear();
}

Result<std::unique_ptr<Server>> Server::open(asio::io_context& io, Options options) {
  std::unique_ptr<Server> s(new Server(io, std::move(options)));
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
  auto replica = Replica::open(io, s->options_.replica);
  if (!replica.ok()) return replica.status();
  s->replica_ = std::move(replica).value();
  return s;
}

uint16_t Server::port() const { return acceptor_.local_endpoint().port(); }
uint16_t Server::admin_port() const { return admin_->port(); }

void Server::start() {
  started_ms_ = replica_->now_ms();
  replica_->start();
  admin_->start();
  accept();
}

void Server::accept() {
  acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (stopping_) return;
    if (!ec) {
      ++metrics_.connections_received;
      auto c = std::make_shared<Connection>(*this, std::move(socket));
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
  const int64_t now = replica_->now_ms();
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
    line("redis_version", "7.0.15");
    line("dkv_version", "0.1.0");
    line("redis_mode", "standalone");
    line("os", "Linux");
    line("arch_bits", 64);
    line("multiplexing_api", "epoll");
    line("process_id", static_cast<int64_t>(getpid()));
    line("tcp_port", static_cast<int64_t>(port()));
    line("uptime_in_seconds", (now - started_ms_) / 1000);
    line("uptime_in_days", (now - started_ms_) / 86400000);
  }
  if (want("clients")) {
    section("Clients");
    line("connected_clients", static_cast<int64_t>(connections_.size()));
    line("watchers", static_cast<int64_t>(replica_->watchers()));
  }
  if (want("memory")) {
    section("Memory");
    struct mallinfo2 mi = mallinfo2();
    line("used_memory", static_cast<int64_t>(mi.uordblks + mi.hblkhd));
    line("used_memory_rss", resident_bytes());
  }
  if (want("persistence")) {
    section("Persistence");
    line("loading", 0);
    line("aof_enabled", 1);
    line("wal_syncs", static_cast<int64_t>(raft.wal_syncs));
    line("snapshot_index", static_cast<int64_t>(raft.snapshot_index));
  }
  if (want("stats")) {
    section("Stats");
    line("total_connections_received", static_cast<int64_t>(metrics_.connections_received));
    line("total_commands_processed", static_cast<int64_t>(metrics_.total_calls()));
    line("total_net_input_bytes", static_cast<int64_t>(metrics_.net_input_bytes));
    line("total_net_output_bytes", static_cast<int64_t>(metrics_.net_output_bytes));
  }
  if (want("replication")) {
    section("Replication");
    line("role", raft.role == "leader" ? "master" : "slave");
    line("connected_slaves", 0);
  }
  if (want("cluster")) {
    section("Cluster");
    line("cluster_enabled", 0);
    line("node_id", static_cast<int64_t>(raft.node_id));
    line("role", raft.role);
    line("leader_id", static_cast<int64_t>(raft.leader_id));
    line("term", static_cast<int64_t>(raft.term));
    line("commit_index", static_cast<int64_t>(raft.commit_index));
    line("applied_index", static_cast<int64_t>(raft.applied_index));
    line("snapshot_index", static_cast<int64_t>(raft.snapshot_index));
    line("voters", static_cast<int64_t>(raft.voters));
    line("learners", static_cast<int64_t>(raft.learners));
    line("revision", stats.revision);
    line("compacted_revision", stats.compacted_revision);
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
      line("db0", "keys=" + std::to_string(stats.keys) + ",expires=0,avg_ttl=0");
    }
  }
  return s;
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
  metric("dkv_command_errors_total", "counter", "Commands that replied with an error, by command.");
  for (const auto& [name, c] : metrics_.commands()) {
    value("dkv_command_errors_total", "{cmd=\"" + std::string(name) + "\"}", static_cast<double>(c.errors));
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
  metric("dkv_memory_bytes", "gauge", "Resident memory of the server process.");
  value("dkv_memory_bytes", "", static_cast<double>(resident_bytes()));
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
  value("dkv_watchers", "", static_cast<double>(replica_->watchers()));
  metric("dkv_wal_syncs_total", "counter", "fdatasync calls of the write-ahead log.");
  value("dkv_wal_syncs_total", "", static_cast<double>(raft.wal_syncs));
  return s;
}

}  // namespace dkv::server
