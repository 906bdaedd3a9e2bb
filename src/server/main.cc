// dkv-server: one DKV node. With no arguments, a single-node store in ./dkv-data serving RESP on
// 127.0.0.1:7070 (Raft 7071, admin HTTP 7072).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>
#include <asio.hpp>

#include "server/join.h"
#include "server/server.h"
#include "server/wal_storage.h"

namespace {

using dkv::Result;
using dkv::Status;

// "HOST:PORT" (also "[v6]:PORT").
Result<std::pair<std::string, uint16_t>> parse_address(const std::string& flag, const std::string& text) {
  const size_t colon = text.rfind(':');
  auto bad = [&] {
    return Status(dkv::Code::kInvalidArgument, flag + " needs HOST:PORT with a port 0-65535, got '" + text + "'");
  };
  if (colon == std::string::npos || colon == 0) return bad();
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return bad();
  const unsigned long p = std::stoul(port);
  if (p > 65535) return bad();
  return std::make_pair(host, static_cast<uint16_t>(p));
}

// "1=host:port,2=host:port"
Result<std::vector<dkv::server::Peer>> parse_bootstrap(const std::string& text) {
  std::vector<dkv::server::Peer> peers;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(start, end - start);
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || item.substr(0, eq).find_first_not_of("0123456789") != std::string::npos) {
      return Status(dkv::Code::kInvalidArgument, "--bootstrap needs ID=HOST:RAFTPORT,..., got '" + item + "'");
    }
    auto addr = parse_address("--bootstrap", item.substr(eq + 1));
    if (!addr.ok()) return addr.status();
    peers.push_back(dkv::server::Peer{std::stoull(item.substr(0, eq)), addr->first, addr->second});
    start = end + 1;
  }
  return peers;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dkv-server: one DKV node (RESP2/RESP3 on the client port, Raft between members)"};
  std::string data_dir = "./dkv-data";
  std::string listen = "127.0.0.1:7070";
  std::string raft_listen = "127.0.0.1:7071";
  std::string admin_listen = "127.0.0.1:7072";
  uint64_t node_id = 1;
  std::string bootstrap;
  std::string join;
  uint64_t snapshot_entries = 100000;
  int64_t history_revisions = 10000;
  uint64_t wal_segment_mib = 64;
  app.add_option("--data-dir", data_dir, "Data directory (created if missing)")->capture_default_str();
  app.add_option("--listen", listen, "Client (RESP) address HOST:PORT")->capture_default_str();
  app.add_option("--raft-listen", raft_listen, "Raft peer address HOST:PORT")->capture_default_str();
  app.add_option("--admin-listen", admin_listen, "Admin HTTP address HOST:PORT (/metrics, /health)")
      ->capture_default_str();
  app.add_option("--node-id", node_id, "This node's id (>= 1)")->capture_default_str()->check(CLI::Range(uint64_t{1}, UINT64_MAX));
  app.add_option("--bootstrap", bootstrap, "Members of a new cluster: ID=HOST:RAFTPORT,... (this node included)");
  app.add_option("--join", join,
                 "Join a running cluster: members' client addresses HOST:PORT,... (asks the leader to "
                 "add this node as a learner; promote it with dkv member promote)");
  std::string join_user = "default";
  std::string join_password;
  if (const char* p = std::getenv("DKV_JOIN_PASSWORD"); p != nullptr) join_password = p;
  app.add_option("--join-user", join_user, "With --join: the user to ask as, when the members require passwords")
      ->capture_default_str();
  app.add_option("--join-password", join_password,
                 "With --join: that user's password (default $DKV_JOIN_PASSWORD; it needs MEMBER.ADD and MEMBER.LIST)");
  app.add_option("--snapshot-entries", snapshot_entries, "Take a snapshot every N applied log entries")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, UINT64_MAX));
  app.add_option("--wal-segment-mib", wal_segment_mib,
                 "Size of each write-ahead log segment file, allocated ahead (the next one too, so "
                 "that a full disk is seen while the current segment still has room)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{4096}));
  app.add_option("--history-revisions", history_revisions,
                 "History kept for reads at older revisions (REV) and watches resuming from one "
                 "(FROM; at most this many events, and 64 MiB); 0 keeps all MVCC history")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  std::string advertise_client;
  app.add_option("--advertise-client", advertise_client,
                 "HOST:PORT clients should use to reach this node, listed by MEMBER.LIST so that clients "
                 "discover every member (default: the --listen address, none if it is a wildcard)");
  std::string restore;
  app.add_option("--restore", restore,
                 "Start a new single-node cluster, in a new --data-dir, from FILE (written by dkv backup); "
                 "grow it afterwards with dkv member add. Once, then start without it");
  bool fault_injection = false;
  app.add_flag("--fault-injection", fault_injection,
               "For fault tests: the admin port's POST /debug/network?block=ID,...&loss=PCT&delay=MS "
               "simulates partitions, message loss and delay between this node and its peers");
  // Limits (docs/protocol.md section 6): bound into the options directly, defaults from Limits.
  dkv::server::Limits limits;
  app.add_option("--max-key-bytes", limits.write.max_key_bytes,
                 "Largest key, lock or election name, entity, content type, label name or value")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 30))->group("Limits");
  app.add_option("--max-value-bytes", limits.write.max_value_bytes, "Largest value (also an APPEND suffix, an election value)")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1} << 30))->group("Limits");
  app.add_option("--max-labels", limits.write.max_labels, "Labels on one key")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1} << 20))->group("Limits");
  app.add_option("--max-txn-ops", limits.write.max_txn_ops,
                 "Operations in one atomic write: TXN.COMMIT reads + writes, MULTI commands, keys of MSET / KV.MPUT / DEL / KV.MDEL")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 24))->group("Limits");
  app.add_option("--max-request-bytes", limits.max_request_bytes,
                 "Largest request (its arguments summed); a larger one is a protocol error and closes the connection")
      ->capture_default_str()->check(CLI::Range(size_t{1} << 10, size_t{1} << 30))->group("Limits");
  app.add_option("--max-pipeline", limits.max_pipeline,
                 "Requests a connection may have waiting for replies; beyond it the server stops reading from it")
      ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{1} << 20))->group("Limits");
  app.add_option("--max-output-bytes", limits.max_output_bytes,
                 "Unsent replies and watch events per connection: past half the server stops reading from it, "
                 "past all of it (a client that does not read) it is closed")
      ->capture_default_str()->check(CLI::Range(size_t{1} << 10, size_t{1} << 40))->group("Limits");
  app.add_option("--max-clients", limits.max_clients, "Client connections at once; more are refused (ERR max number of clients reached)")
      ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{1} << 24))->group("Limits");
  app.add_option("--max-watches", limits.max_watches, "KV.WATCH subscriptions per connection")
      ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{1} << 24))->group("Limits");
  app.add_option("--max-query-results", limits.max_query_results, "Items in one QUERY or KV.RANGE reply (page with LIMIT)")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 30))->group("Limits");
  // TLS (server/tls.h; docs/protocol.md 2.7).
  dkv::server::TlsOptions tls;
  std::string auth_clients = "no";
  app.add_flag("--tls-clients", tls.clients, "The client port speaks TLS (needs --tls-cert-file and --tls-key-file)")
      ->group("TLS");
  app.add_flag("--tls-peers", tls.peers,
               "Members talk mutual TLS on the Raft port: each presents its certificate and requires the "
               "other's, signed by --tls-ca-cert-file")
      ->group("TLS");
  app.add_option("--tls-cert-file", tls.cert_file, "This node's certificate (chain), PEM")->group("TLS");
  app.add_option("--tls-key-file", tls.key_file, "This node's private key, PEM (not encrypted)")->group("TLS");
  app.add_option("--tls-ca-cert-file", tls.ca_file,
                 "CA certificates (PEM) trusted for peers' and clients' certificates")
      ->group("TLS");
  app.add_option("--tls-peer-ca-cert-file", tls.peer_ca_file,
                 "CA certificates (PEM) trusted for members' certificates on the Raft port (default: "
                 "--tls-ca-cert-file); needed to keep client certificates off the Raft port")
      ->group("TLS");
  app.add_option("--tls-auth-clients", auth_clients,
                 "Client certificates on the client port: no (not asked for), optional (checked when sent), "
                 "yes (required)")
      ->capture_default_str()
      ->check(CLI::IsMember({"no", "optional", "yes"}))
      ->group("TLS");
  CLI11_PARSE(app, argc, argv);
  tls.auth_clients = auth_clients == "yes"        ? dkv::server::TlsOptions::ClientAuth::kYes
                     : auth_clients == "optional" ? dkv::server::TlsOptions::ClientAuth::kOptional
                                                  : dkv::server::TlsOptions::ClientAuth::kNo;

  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "dkv-server: %s\n", message.c_str());
    return 1;
  };
  dkv::server::Server::Options options;
  auto client = parse_address("--listen", listen);
  if (!client.ok()) return fail(client.status().message());
  auto raft = parse_address("--raft-listen", raft_listen);
  if (!raft.ok()) return fail(raft.status().message());
  auto admin = parse_address("--admin-listen", admin_listen);
  if (!admin.ok()) return fail(admin.status().message());
  std::vector<std::pair<std::string, uint16_t>> join_members;
  if (!join.empty()) {
    if (!bootstrap.empty()) return fail("--join and --bootstrap exclude each other");
    size_t start = 0;
    while (start <= join.size()) {
      size_t end = join.find(',', start);
      if (end == std::string::npos) end = join.size();
      auto member = parse_address("--join", join.substr(start, end - start));
      if (!member.ok()) return fail(member.status().message());
      join_members.push_back(*member);
      start = end + 1;
    }
    options.replica.join = true;
  }
  options.host = client->first;
  options.port = client->second;
  options.admin_host = admin->first;
  options.admin_port = admin->second;
  options.fault_injection = fault_injection;
  {
    // Room for --max-clients connections besides the WAL, snapshots, peers and the admin port,
    // as Redis does for maxclients: raise the soft descriptor limit, or lower max-clients to it.
    constexpr rlim_t kReserved = 128;
    const rlim_t wanted = static_cast<rlim_t>(limits.max_clients) + kReserved;
    struct rlimit rl {};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < wanted) {
      rl.rlim_cur = std::min(wanted, rl.rlim_max);
      ::setrlimit(RLIMIT_NOFILE, &rl);
      ::getrlimit(RLIMIT_NOFILE, &rl);
      if (rl.rlim_cur < wanted) {
        const size_t fit = rl.rlim_cur > kReserved * 2 ? static_cast<size_t>(rl.rlim_cur - kReserved) : 1;
        std::fprintf(stderr, "dkv-server: the open file limit is %llu: --max-clients lowered from %zu to %zu\n",
                     static_cast<unsigned long long>(rl.rlim_cur), limits.max_clients, fit);
        limits.max_clients = fit;
      }
    }
  }
  options.limits = limits;
  options.tls = tls;
  if (std::string missing = tls.check(); !missing.empty()) return fail(missing);
  if (std::string warning = tls.warning(); !warning.empty()) std::fprintf(stderr, "dkv-server: %s\n", warning.c_str());
  // A joining node asks members on their client ports: over TLS when those speak it.
  std::shared_ptr<asio::ssl::context> join_tls;
  if (!join.empty() && tls.clients) {
    if (tls.ca_file.empty()) {
      return fail("--join with --tls-clients needs --tls-ca-cert-file (to check the members' certificates)");
    }
    auto context = dkv::server::make_join_context(tls);
    if (!context.ok()) return fail(context.status().message());
    join_tls = std::move(context).value();
  }
  if (!advertise_client.empty()) {
    auto advertised = parse_address("--advertise-client", advertise_client);
    if (!advertised.ok()) return fail(advertised.status().message());
    options.advertise_client = advertise_client;
  }
  options.replica.node_id = node_id;
  options.replica.data_dir = data_dir;
  options.replica.raft_host = raft->first;
  options.replica.raft_port = raft->second;
  options.replica.snapshot_entries = snapshot_entries;
  options.replica.wal_segment_bytes = wal_segment_mib << 20;
  options.replica.history_revisions = history_revisions;
  options.replica.watch.history_events =
      history_revisions > 0 ? static_cast<size_t>(history_revisions) : SIZE_MAX;
  if (!bootstrap.empty()) {
    auto peers = parse_bootstrap(bootstrap);
    if (!peers.ok()) return fail(peers.status().message());
    bool self = false;
    for (const auto& p : *peers) self = self || p.id == node_id;
    if (!self) return fail("--bootstrap must list this node (--node-id " + std::to_string(node_id) + ")");
    options.replica.bootstrap = std::move(peers).value();
  }

  if (!restore.empty()) {
    if (!bootstrap.empty() || !join.empty()) {
      return fail("--restore starts a single-node cluster: no --bootstrap or --join (add members afterwards)");
    }
    dkv::raft::ConfState conf;
    conf.voters = {node_id};
    Status restored = dkv::server::WalStorage::restore(data_dir, restore, conf);
    if (!restored.ok()) {
      return fail("cannot restore " + restore + " into " + data_dir + ": " + restored.message() +
                  (restored.message().find("already holds a log") != std::string::npos
                       ? " (it was restored already? start without --restore)"
                       : ""));
    }
    std::fprintf(stderr, "dkv-server: restored %s into %s\n", restore.c_str(), data_dir.c_str());
  }

  asio::io_context io(1);
  auto server = dkv::server::Server::open(io, options);
  if (!server.ok()) return fail(server.status().message());
  dkv::server::Server& s = **server;
  s.start();

  bool stopped = false;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& ec, int) {
    if (ec) return;
    std::fprintf(stderr, "dkv-server: shutting down\n");
    s.shut_down([&] {
      stopped = true;
      io.stop();
    });
  });
  std::signal(SIGPIPE, SIG_IGN);
  // A failed replica (e.g. the WAL refused a write) can acknowledge nothing more: every write and
  // read would wait forever. Fail-stop instead, so the failure is seen (exit status 1, message).
  asio::steady_timer failure_check(io);
  std::function<void()> check_failure = [&] {
    failure_check.expires_after(std::chrono::milliseconds(100));
    failure_check.async_wait([&](const asio::error_code& ec) {
      if (ec || stopped) return;
      if (!s.replica().failure().ok()) {
        io.stop();
        return;
      }
      check_failure();
    });
  };
  check_failure();
  // A new node asks to be added until a member's leader does; one restarted with the same
  // flags (its data directory holds Raft state) does not ask.
  if (!join_members.empty() && !s.replica().recovered_state()) {
    dkv::server::Replica* replica = &s.replica();
    std::make_shared<dkv::server::JoinRequest>(io, join_members, node_id, replica->raft_address(),
                                               [replica](auto addresses) { replica->learn_addresses(addresses); },
                                               join_tls, join_user, join_password)
        ->start();
  }
  std::printf("dkv-server: node %llu ready: clients %s:%u%s, raft %s:%u%s, admin %s:%u, data %s\n",
              static_cast<unsigned long long>(node_id), options.host.c_str(), s.port(), tls.clients ? " (TLS)" : "",
              options.replica.raft_host.c_str(), s.replica().raft_port(), tls.peers ? " (TLS)" : "",
              options.admin_host.c_str(), s.admin_port(), data_dir.c_str());
  std::fflush(stdout);
  io.run();
  if (!s.replica().failure().ok()) {
    return fail("stopped after a failure: " + s.replica().failure().to_string());
  }
  (void)stopped;
  return 0;
}
