#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>

#include "gtest/gtest.h"

#ifndef DKV_SERVER_PATH
#error "DKV_SERVER_PATH must name the dkv-server binary"
#endif

namespace dkv::testing {

namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/dkv-it-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << tmpl << " failed";
  }
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

ChildProcess::ChildProcess(std::vector<std::string> argv) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe failed";
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    // If the test process dies without its destructors (a crash, SIGKILL, SIGPIPE), its servers
    // die with it rather than linger.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::fprintf(stderr, "exec %s failed\n", args[0]);
    _exit(127);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    ADD_FAILURE() << "fork failed";
    return;
  }
  pid_ = pid;
  out_fd_ = fds[0];
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (out_fd_ >= 0) close(out_fd_);
}

std::string ChildProcess::wait_for_line(const std::string& needle, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    size_t nl;
    while ((nl = pending_.find('\n')) != std::string::npos) {
      std::string line = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      output_ += line + "\n";
      if (line.find(needle) != std::string::npos) return line;
    }
    if (out_fd_ < 0) return "";
    pollfd p{out_fd_, POLLIN, 0};
    int n = poll(&p, 1, remaining_ms(deadline));
    if (n <= 0) return "";
    char buf[4096];
    ssize_t got = read(out_fd_, buf, sizeof buf);
    if (got <= 0) {
      close(out_fd_);
      out_fd_ = -1;
      output_ += pending_;
      pending_.clear();
      return "";
    }
    pending_.append(buf, static_cast<size_t>(got));
  }
}

void ChildProcess::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

int ChildProcess::wait_exit(int timeout_ms) {
  if (pid_ <= 0) return -1;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    // Drain output so the child never blocks on a full pipe while exiting.
    if (out_fd_ >= 0) {
      pollfd p{out_fd_, POLLIN, 0};
      if (poll(&p, 1, 0) > 0) {
        char buf[4096];
        ssize_t got = read(out_fd_, buf, sizeof buf);
        if (got > 0) {
          pending_.append(buf, static_cast<size_t>(got));
        } else {
          close(out_fd_);
          out_fd_ = -1;
        }
      }
    }
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      output_ += pending_;
      pending_.clear();
      return status;
    }
    if (remaining_ms(deadline) == 0) return -1;
    // The child's exit closes the pipe: wait on that rather than spinning.
    if (out_fd_ >= 0) {
      pollfd p{out_fd_, POLLIN, 0};
      poll(&p, 1, std::min(remaining_ms(deadline), 50));
    } else {
      usleep(2000);  // output closed early; the exit itself follows shortly
    }
  }
}

DkvServerProcess::DkvServerProcess(std::string data_dir, std::vector<std::string> extra_flags)
    : extra_flags_(std::move(extra_flags)) {
  if (data_dir.empty()) {
    owned_dir_ = std::make_unique<TempDir>();
    data_dir_ = owned_dir_->path() + "/data";
  } else {
    data_dir_ = std::move(data_dir);
  }
}

DkvServerProcess::~DkvServerProcess() {
  if (process_ && process_->running()) stop();
}

bool DkvServerProcess::start() {
  std::vector<std::string> argv = {DKV_SERVER_PATH,          "--data-dir",     data_dir_,
                                   "--listen",               "127.0.0.1:0",    "--raft-listen",
                                   "127.0.0.1:0",            "--admin-listen", "127.0.0.1:0"};
  argv.insert(argv.end(), extra_flags_.begin(), extra_flags_.end());
  process_ = std::make_unique<ChildProcess>(argv);
  std::string line = process_->wait_for_line(" ready: ", 20'000);
  if (line.empty()) {
    ADD_FAILURE() << "dkv-server did not become ready; output:\n" << process_->output();
    return false;
  }
  std::smatch m;
  static const std::regex kClients("clients [^ ,]+:([0-9]+)");
  static const std::regex kAdmin("admin [^ ,]+:([0-9]+)");
  if (std::regex_search(line, m, kClients)) port_ = std::stoi(m[1]);
  if (std::regex_search(line, m, kAdmin)) admin_port_ = std::stoi(m[1]);
  if (port_ == 0) ADD_FAILURE() << "no client port in: " << line;
  return port_ != 0;
}

int DkvServerProcess::stop() {
  if (!process_ || !process_->running()) return -1;
  process_->signal(SIGTERM);
  int status = process_->wait_exit(30'000);
  if (status == -1) {
    ADD_FAILURE() << "dkv-server did not exit within 30 s of SIGTERM";
    process_->signal(SIGKILL);
    status = process_->wait_exit(10'000);
  }
  return status;
}

void DkvServerProcess::kill9() {
  if (!process_ || !process_->running()) return;
  process_->signal(SIGKILL);
  process_->wait_exit(10'000);
}

DkvCluster::DkvCluster(int size, std::vector<std::string> extra_flags, int spares)
    : extra_flags_(std::move(extra_flags)), bootstrapped_(size), next_spare_(size + 1) {
  for (int i = 0; i < size + spares; ++i) members_.push_back(std::make_unique<Member>());
}

DkvCluster::~DkvCluster() {
  for (auto& m : members_) {
    if (m->process && m->process->running()) m->process->signal(SIGCONT);  // a paused one too
  }
}

bool DkvCluster::running(int id) const {
  const auto& p = members_[id - 1]->process;
  return p && p->running();
}

bool DkvCluster::start_member(int id, std::string* failure) {
  Member& m = *members_[id - 1];
  const std::string& join = m.join;
  std::vector<std::string> argv = {
      DKV_SERVER_PATH, "--data-dir", m.dir.path() + "/data", "--node-id", std::to_string(id),
      join.empty() ? "--bootstrap" : "--join", join.empty() ? bootstrap_ : join, "--listen", "127.0.0.1:" + std::to_string(m.client_port),
      "--raft-listen", "127.0.0.1:" + std::to_string(m.raft_port),
      "--admin-listen", "127.0.0.1:" + std::to_string(m.admin_port)};
  argv.insert(argv.end(), extra_flags_.begin(), extra_flags_.end());
  m.process = std::make_unique<ChildProcess>(argv);
  if (!m.process->wait_for_line(" ready: ", 20'000).empty()) return true;
  *failure = "member " + std::to_string(id) + " did not start:\n" + m.process->output();
  return false;
}

bool DkvCluster::start() {
  // A port free_port() found free can be taken before the member binds it (by an outgoing
  // connection's ephemeral port): start the whole cluster again on new ports then.
  std::string failure;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    bootstrap_.clear();
    for (size_t i = 0; i < members_.size(); ++i) {
      Member& m = *members_[i];
      m.process.reset();
      m.client_port = free_port();
      m.raft_port = free_port();
      m.admin_port = free_port();
      if (static_cast<int>(i) >= bootstrapped_) continue;
      if (!bootstrap_.empty()) bootstrap_ += ",";
      bootstrap_ += std::to_string(i + 1) + "=127.0.0.1:" + std::to_string(m.raft_port);
    }
    bool ok = true;
    for (int id = 1; ok && id <= bootstrapped_; ++id) ok = start_member(id, &failure);
    if (ok) return true;
    if (failure.find("cannot listen") == std::string::npos) break;
  }
  ADD_FAILURE() << failure;
  return false;
}

void DkvCluster::kill9(int id) {
  ChildProcess* p = process(id);
  if (p == nullptr || !p->running()) return;
  p->signal(SIGKILL);
  p->wait_exit(10'000);
}

bool DkvCluster::restart(int id) {
  kill9(id);
  std::string failure;
  if (start_member(id, &failure)) return true;
  ADD_FAILURE() << failure;
  return false;
}

int DkvCluster::replace(int id) {
  if (next_spare_ > size()) return 0;
  const int fresh = next_spare_++;
  kill9(id);
  std::string join;
  for (int other = 1; other <= size(); ++other) {
    if (other == id || !running(other)) continue;
    join += (join.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(port(other));
  }
  std::string failure;
  members_[fresh - 1]->join = join;
  if (!start_member(fresh, &failure)) {
    ADD_FAILURE() << failure;
    return 0;
  }
  if (!process(fresh)->wait_for_line("joined the cluster", 20'000).empty()) return fresh;
  ADD_FAILURE() << "member " << fresh << " did not join:\n" << process(fresh)->output();
  return 0;
}

bool DkvCluster::pause(int id) {
  ChildProcess* p = process(id);
  p->signal(SIGSTOP);
  const std::string stat_path = "/proc/" + std::to_string(p->pid()) + "/stat";
  for (int i = 0; i < 1000; ++i) {
    std::ifstream in(stat_path);
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');
    if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'T') return true;
    usleep(10'000);
  }
  return false;
}

void DkvCluster::resume(int id) { process(id)->signal(SIGCONT); }

bool DkvCluster::set_network(int id, const std::string& query) {
  const std::string response = http_exchange(
      admin_port(id), "POST /debug/network?" + query + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  if (response.rfind("HTTP/1.1 200", 0) == 0) return true;
  ADD_FAILURE() << "member " << id << " refused network faults '" << query << "': " << response;
  return false;
}

bool DkvCluster::partition(const std::vector<std::vector<int>>& sides) {
  bool ok = true;
  for (int id = 1; id <= size(); ++id) {
    if (!running(id)) continue;
    std::vector<int> mine;
    for (const auto& side : sides) {
      if (std::find(side.begin(), side.end(), id) != side.end()) mine = side;
    }
    std::string blocked;
    for (int other = 1; other <= size(); ++other) {
      if (other == id || std::find(mine.begin(), mine.end(), other) != mine.end()) continue;
      blocked += (blocked.empty() ? "" : ",") + std::to_string(other);
    }
    ok = set_network(id, "block=" + blocked) && ok;
  }
  return ok;
}

bool DkvCluster::heal() {
  bool ok = true;
  for (int id = 1; id <= size(); ++id) {
    if (running(id)) ok = set_network(id, "") && ok;
  }
  return ok;
}

int DkvCluster::await_leader(int except, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    for (int id = 1; id <= size(); ++id) {
      if (id == except || !running(id)) continue;
      RespConnection c(port(id), true);
      resp::Value info = c.command({"INFO", "cluster"}, 2'000);
      if (info.str.find("role:leader") != std::string::npos &&
          c.command({"DBSIZE"}, 2'000).type == resp::Type::kInteger) {
        return id;
      }
    }
    usleep(20'000);
  }
  return 0;
}

RedisServerProcess::RedisServerProcess(std::vector<std::string> extra_flags)
    : extra_flags_(std::move(extra_flags)) {}

RedisServerProcess::~RedisServerProcess() = default;

bool RedisServerProcess::start() {
  // redis-server cannot listen on port 0 and say which port it got: pick one, retry if taken.
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    std::vector<std::string> argv = {"redis-server", "--port", std::to_string(port_),
                                     "--bind",       "127.0.0.1", "--save", "",
                                     "--appendonly", "no",        "--dir", dir_.path(),
                                     "--daemonize",  "no"};
    argv.insert(argv.end(), extra_flags_.begin(), extra_flags_.end());
    process_ = std::make_unique<ChildProcess>(argv);
    if (!process_->wait_for_line("Ready to accept connections", 20'000).empty()) return true;
  }
  ADD_FAILURE() << "redis-server did not start; output:\n" << process_->output();
  return false;
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

RespConnection::RespConnection(int port, bool refusal_expected) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (!refusal_expected) ADD_FAILURE() << "connect to port " << port << " failed";
    close(fd_);
    fd_ = -1;
    return;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

RespConnection::~RespConnection() {
  if (fd_ >= 0) close(fd_);
}

void RespConnection::send_raw(const std::string& bytes) {
  size_t sent = 0;
  while (fd_ >= 0 && sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

resp::Value RespConnection::command(const std::vector<std::string>& args, int timeout_ms) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  send_raw(out);
  for (;;) {
    resp::Value v = read_value(timeout_ms);
    if (v.type == resp::Type::kPush) {
      pushes_.push_back(std::move(v));
      continue;
    }
    return v;
  }
}

resp::Value RespConnection::read_value(int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  resp::Value closed;
  closed.str = "<closed>";
  for (;;) {
    if (!buf_.empty()) {
      resp::Value v;
      size_t consumed = 0;
      auto status = parser_.parse(buf_, &v, &consumed);
      buf_.erase(0, consumed);
      if (status == resp::ReplyParser::Status::kValue) return v;
      if (status == resp::ReplyParser::Status::kError) {
        ADD_FAILURE() << "bad reply: " << parser_.error();
        return closed;
      }
    }
    if (fd_ < 0) return closed;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, remaining_ms(deadline)) <= 0) return closed;
    char buf[65536];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {  // closed by the peer: connected() says so from now on
      ::close(fd_);
      fd_ = -1;
      return closed;
    }
    buf_.append(buf, static_cast<size_t>(n));
  }
}

resp::Value RespConnection::next_push(int timeout_ms) {
  if (!pushes_.empty()) {
    resp::Value v = std::move(pushes_.front());
    pushes_.erase(pushes_.begin());
    return v;
  }
  return read_value(timeout_ms);
}

std::string RespConnection::read_all(int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string out = std::move(buf_);
  buf_.clear();
  while (fd_ >= 0) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, remaining_ms(deadline)) <= 0) break;
    char buf[65536];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

bool RespConnection::closed_by_peer(int timeout_ms) {
  if (fd_ < 0) return true;
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return false;
  char c;
  return recv(fd_, &c, 1, MSG_PEEK) == 0;
}

std::string http_exchange(int port, const std::string& request) {
  RespConnection c(port);  // only its socket: a plain TCP connection
  if (!c.connected()) return "";
  c.send_raw(request);
  return c.read_all(10'000);
}

std::string run_shell(const std::string& command, int* status) {
  std::string out;
  FILE* f = popen(command.c_str(), "r");
  if (f == nullptr) {
    if (status != nullptr) *status = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int rc = pclose(f);
  if (status != nullptr) *status = rc;
  return out;
}

std::string run_debian_python(const std::string& script, int* status) {
  return run_shell("/usr/bin/python3 -c \"$(cat <<'EOF'\n" + script + "EOF\n)\" 2>&1", status);
}

}  // namespace dkv::testing
