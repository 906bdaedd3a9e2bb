// Integration test harness: real dkv-server and redis-server processes on loopback, ports chosen
// at run time, and a blocking RESP connection to talk to them. Every process started here is
// stopped by its destructor (SIGKILL if it has not been stopped already), so a failing test
// leaves nothing running.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "resp/parser.h"
#include "resp/value.h"

namespace dkv::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A child process whose stdout and stderr go to a pipe the harness reads line by line.
class ChildProcess {
 public:
  explicit ChildProcess(std::vector<std::string> argv);
  ~ChildProcess();  // SIGKILL and reap, if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  int pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  // Reads output until a line containing `needle`; returns that line, or "" if the process
  // exited or `timeout_ms` passed first. Every line read is kept in output().
  std::string wait_for_line(const std::string& needle, int timeout_ms);
  const std::string& output() const { return output_; }
  void signal(int sig);
  // Waits for the process to exit; returns its wait status (as waitpid gives it) or -1 on
  // timeout (the process is then still running).
  int wait_exit(int timeout_ms);

 private:
  int pid_ = -1;
  int out_fd_ = -1;
  std::string output_;
  std::string pending_;  // a partial last line
};

// One dkv-server node with its own data directory, on ports the kernel picks.
class DkvServerProcess {
 public:
  // `data_dir` empty: a TempDir owned by this object. Extra flags are appended.
  explicit DkvServerProcess(std::string data_dir = "", std::vector<std::string> extra_flags = {});
  ~DkvServerProcess();

  // Starts the process and waits for its "ready" line; fails the test (ADD_FAILURE) and returns
  // false if it does not come within 20 s.
  bool start();
  // SIGTERM and wait: returns the exit status (0 expected).
  int stop();
  // SIGKILL: a crash at an arbitrary point.
  void kill9();
  int port() const { return port_; }
  int admin_port() const { return admin_port_; }
  const std::string& data_dir() const { return data_dir_; }
  ChildProcess* process() { return process_.get(); }

 private:
  std::unique_ptr<TempDir> owned_dir_;
  std::string data_dir_;
  std::vector<std::string> extra_flags_;
  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
  int admin_port_ = 0;
};

// A cluster of dkv-server members bootstrapped together on loopback. Each member has its own
// data directory and fixed ports (client, Raft, admin), so a member restarted after kill -9
// comes back at the same addresses. Members are numbered from 1, as their node ids; `spares`
// more slots (ids size+1 ...) are kept for replace(), started only then.
class DkvCluster {
 public:
  explicit DkvCluster(int size = 3, std::vector<std::string> extra_flags = {}, int spares = 0);
  ~DkvCluster();
  DkvCluster(const DkvCluster&) = delete;
  DkvCluster& operator=(const DkvCluster&) = delete;

  // Starts every member and waits for each one's "ready" line (on new ports if one cannot bind
  // the port picked for it); ADD_FAILURE and false on failure.
  bool start();
  // Every slot, spares included (a spare not started yet is not running()).
  int size() const { return static_cast<int>(members_.size()); }
  int port(int id) const { return members_[id - 1]->client_port; }
  ChildProcess* process(int id) { return members_[id - 1]->process.get(); }
  bool running(int id) const;

  void kill9(int id);
  // Starts a killed member again on its data directory and ports.
  bool restart(int id);
  // Replaces member `id` with the next spare, a new node with a new id (ids are never reused):
  // SIGKILLs `id` for good, starts the spare with --join (the running members' client
  // addresses) and returns its id once it has joined, as a learner; 0 if no spare is left or
  // it failed (ADD_FAILURE). The caller removes `id` from the membership first (MEMBER.REMOVE)
  // and promotes the new node after.
  int replace(int id);
  // SIGSTOP, returning once the process is stopped; resume() sends SIGCONT.
  bool pause(int id);
  void resume(int id);
  // The id of a member that says it leads (INFO) and answers a read, polling up to
  // timeout_ms; 0 if none. `except` is not asked (a paused member would not answer).
  int await_leader(int except = 0, int timeout_ms = 30'000);

  int admin_port(int id) const { return members_[id - 1]->admin_port; }
  // Simulated network faults (members started with --fault-injection; admin POST
  // /debug/network): `query` as "block=2,3&loss=10&delay=20", "" for a good network. A restarted
  // member starts healed. False (and ADD_FAILURE) if the member does not answer 200.
  bool set_network(int id, const std::string& query);
  // Cuts the cluster into `sides` (member ids; members on no side are cut off from everyone):
  // each running member blocks every member not on its side. heal() undoes every fault.
  bool partition(const std::vector<std::vector<int>>& sides);
  bool heal();

 private:
  struct Member {
    TempDir dir;
    int client_port = 0;
    int raft_port = 0;
    int admin_port = 0;
    std::string join;  // a member that joined is restarted with --join (ignored once it has state)
    std::unique_ptr<ChildProcess> process;
  };
  // With Member::join (client addresses), --join instead of --bootstrap.
  bool start_member(int id, std::string* failure);

  std::vector<std::string> extra_flags_;
  std::vector<std::unique_ptr<Member>> members_;
  int bootstrapped_ = 0;  // members 1..bootstrapped_ start together; the rest are spares
  int next_spare_ = 0;
  std::string bootstrap_;
};

// A redis-server without persistence (or with appendfsync always), for side-by-side checks.
class RedisServerProcess {
 public:
  explicit RedisServerProcess(std::vector<std::string> extra_flags = {});
  ~RedisServerProcess();
  bool start();
  int port() const { return port_; }

 private:
  TempDir dir_;
  std::vector<std::string> extra_flags_;
  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
};

// A port that was free a moment ago (for servers that cannot bind port 0 and report it).
int free_port();

// A blocking RESP client connection: send a command, read its reply. Pushes (RESP3 '>') that
// arrive before a reply are queued in pushes() rather than returned as the reply.
class RespConnection {
 public:
  // A refused connection fails the test unless `refusal_expected` (a member that may be down):
  // connected() tells.
  explicit RespConnection(int port, bool refusal_expected = false);
  ~RespConnection();
  RespConnection(const RespConnection&) = delete;
  RespConnection& operator=(const RespConnection&) = delete;

  // False once the connection was refused or the peer closed it.
  bool connected() const { return fd_ >= 0; }
  // Sends the command and reads its reply (a null Value with str "<closed>" after timeout_ms).
  resp::Value command(const std::vector<std::string>& args, int timeout_ms = 10'000);
  // Sends raw bytes (inline commands, pipelines, malformed input).
  void send_raw(const std::string& bytes);
  // Reads the next value of any kind, push or not; a null Value with str "<closed>" if the
  // connection closed or `timeout_ms` passed.
  resp::Value read_value(int timeout_ms = 10'000);
  // The next push: from the queue, or read from the socket.
  resp::Value next_push(int timeout_ms = 10'000);
  std::vector<resp::Value>& pushes() { return pushes_; }
  // Raw bytes until the peer closes the connection or timeout_ms passes.
  std::string read_all(int timeout_ms);
  // True when the server closed the connection (reads 0 bytes) within timeout_ms.
  bool closed_by_peer(int timeout_ms);

 private:
  int fd_ = -1;
  std::string buf_;
  resp::ReplyParser parser_;
  std::vector<resp::Value> pushes_;
};

// Sends `request` (e.g. "GET /health HTTP/1.1\r\n\r\n") to 127.0.0.1:port and returns everything
// the server sends until it closes the connection ("" on failure).
std::string http_exchange(int port, const std::string& request);

// Runs a shell command; returns its stdout (stderr goes to the test log) and sets *status.
std::string run_shell(const std::string& command, int* status = nullptr);
// Runs a Python script with Debian's /usr/bin/python3 (which has python3-redis; the python3
// first on PATH may not); returns stdout and stderr together.
std::string run_debian_python(const std::string& script, int* status = nullptr);

}  // namespace dkv::testing
