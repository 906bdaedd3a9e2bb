#include "server/admin_http.h"

#include <cstdio>
#include <string>

#include "server/server.h"

namespace dkv::server {

class AdminHttp::Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(AdminHttp& owner, asio::ip::tcp::socket socket) : owner_(owner), socket_(std::move(socket)) {}

  void start() { read(); }
  void close() {
    asio::error_code ec;
    socket_.close(ec);
  }

 private:
  static constexpr size_t kMaxRequestBytes = 16 * 1024;

  void read() {
    socket_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](const asio::error_code& ec, size_t n) {
      if (ec) return self->done();
      self->request_.append(self->buf_.data(), n);
      if (self->request_.find("\r\n\r\n") != std::string::npos) return self->respond();
      if (self->request_.size() > kMaxRequestBytes) return self->reply(431, "text/plain", "request too large\n");
      self->read();
    });
  }

  void respond() {
    const size_t line_end = request_.find("\r\n");
    const std::string line = request_.substr(0, line_end);
    const size_t sp1 = line.find(' ');
    const size_t sp2 = line.find(' ', sp1 + 1);
    if (sp1 == std::string::npos || sp2 == std::string::npos) return reply(400, "text/plain", "bad request\n");
    const std::string method = line.substr(0, sp1);
    std::string path = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const size_t question = path.find('?');
    const std::string query = question == std::string::npos ? "" : path.substr(question + 1);
    path = path.substr(0, question);
    Server& server = owner_.server_;
    if (path == "/debug/network") return network(method, query);
    if (method != "GET" && method != "HEAD") return reply(405, "text/plain", "only GET\n");
    if (path == "/metrics") return reply(200, "text/plain; version=0.0.4; charset=utf-8", server.prometheus());
    if (path == "/health") {
      const char* type = "text/plain; charset=utf-8";
      std::string reason;
      if (!server.replica().failure().ok()) {
        reason = "failed: " + server.replica().failure().to_string();
      } else if (server.replica().stopping()) {
        reason = "shutting down";
      } else if (server.replica().raft_info().leader_id == 0) {
        reason = "no leader";
      }
      if (!reason.empty()) return reply(503, type, "unavailable: " + reason + "\n");
      return reply(200, type, "ok\n");
    }
    reply(404, "text/plain", "not found: try /metrics or /health\n");
  }

  // GET shows the simulated network faults; POST replaces them with the query's (none given:
  // a good network again).
  void network(const std::string& method, const std::string& query) {
    const char* type = "text/plain; charset=utf-8";
    Server& server = owner_.server_;
    if (!server.options().fault_injection) {
      return reply(403, type, "fault injection is off: start dkv-server with --fault-injection\n");
    }
    RaftTransport& transport = server.replica().transport();
    if (method == "GET") return reply(200, type, transport.faults().to_string() + "\n");
    if (method != "POST") return reply(405, type, "only GET or POST\n");
    RaftTransport::Faults faults;
    auto number = [](const std::string& text, int max, int* out) {
      if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos) return false;
      *out = std::stoi(text);
      return *out <= max;
    };
    size_t start = 0;
    while (start < query.size()) {
      size_t end = query.find('&', start);
      if (end == std::string::npos) end = query.size();
      const std::string item = query.substr(start, end - start);
      start = end + 1;
      const size_t eq = item.find('=');
      const std::string name = item.substr(0, eq);
      const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
      if (name == "block") {
        size_t from = 0;
        while (from < value.size()) {
          size_t comma = value.find(',', from);
          if (comma == std::string::npos) comma = value.size();
          int id = 0;
          if (!number(value.substr(from, comma - from), 1'000'000'000, &id) || id == 0) {
            return reply(400, type, "block needs node ids ID,ID,..., got '" + value + "'\n");
          }
          faults.blocked.insert(static_cast<raft::NodeId>(id));
          from = comma + 1;
        }
      } else if (name == "loss") {
        if (!number(value, 100, &faults.loss_percent)) return reply(400, type, "loss needs a percentage 0-100\n");
      } else if (name == "delay") {
        if (!number(value, 60'000, &faults.delay_ms)) return reply(400, type, "delay needs milliseconds 0-60000\n");
      } else if (!name.empty()) {
        return reply(400, type, "unknown parameter '" + name + "': block, loss or delay\n");
      }
    }
    transport.set_faults(faults);
    std::fprintf(stderr, "dkv-server: simulated network faults: %s\n", faults.to_string().c_str());
    reply(200, type, faults.to_string() + "\n");
  }

  void reply(int code, const char* type, const std::string& body) {
    const char* reason = code == 200   ? "OK"
                         : code == 400 ? "Bad Request"
                         : code == 403 ? "Forbidden"
                         : code == 404 ? "Not Found"
                         : code == 405 ? "Method Not Allowed"
                         : code == 503 ? "Service Unavailable"
                                       : "Error";
    response_ = "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + type +
                "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    if (request_.rfind("HEAD ", 0) != 0) response_ += body;
    asio::async_write(socket_, asio::buffer(response_),
                      [self = shared_from_this()](const asio::error_code&, size_t) { self->done(); });
  }

  void done() {
    close();
    owner_.open_.erase(this);
  }

  AdminHttp& owner_;
  asio::ip::tcp::socket socket_;
  std::array<char, 4096> buf_;
  std::string request_;
  std::string response_;
};

AdminHttp::AdminHttp(asio::io_context& io, Server& server) : io_(io), server_(server), acceptor_(io) {}

AdminHttp::~AdminHttp() { close(); }

Status AdminHttp::listen(const asio::ip::tcp::endpoint& ep) {
  asio::error_code ec;
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status(Code::kInvalidArgument, "cannot listen for admin HTTP on " + ep.address().to_string() + ":" +
                                              std::to_string(ep.port()) + ": " + ec.message());
  }
  return Status();
}

uint16_t AdminHttp::port() const { return acceptor_.local_endpoint().port(); }

void AdminHttp::start() { accept(); }

void AdminHttp::accept() {
  acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (closed_) return;
    if (!ec) {
      auto e = std::make_shared<Exchange>(*this, std::move(socket));
      open_[e.get()] = e;
      e->start();
    }
    accept();
  });
}

void AdminHttp::close() {
  if (closed_) return;
  closed_ = true;
  asio::error_code ec;
  acceptor_.close(ec);
  auto open = std::move(open_);
  open_.clear();
  for (auto& [ptr, e] : open) e->close();
}

}  // namespace dkv::server
