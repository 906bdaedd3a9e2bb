#include "server/connection.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>

#include "server/acl.h"
#include "server/replica.h"
#include "server/server.h"

namespace dkv::server {

namespace {

// Redis 7's words for an unknown command, arguments quoted and cut short.
std::string unknown_command_message(const Args& args) {
  // As Redis 7.0: the arguments share a 128-byte budget; CR and LF become spaces.
  std::string listed;
  for (size_t i = 1; i < args.size() && listed.size() < 128; ++i) {
    listed += "'" + args[i].substr(0, 128 - listed.size()) + "' ";
  }
  std::string m = "unknown command '" + args[0].substr(0, 128) + "', with args beginning with: " + listed;
  std::replace_if(m.begin(), m.end(), [](char ch) { return ch == '\r' || ch == '\n'; }, ' ');
  return m;
}

// What MULTI may queue (docs/protocol.md 2.5): the Redis key and string commands EXEC can run
// as one command. Everything else is refused at once and flags the transaction.
bool queueable_in_multi(const std::string& name) {
  static const std::set<std::string, std::less<>> kQueueable = {
      "get",    "set",    "setnx", "setex",  "psetex", "getdel",  "mget",   "mset",
      "del",    "unlink", "exists", "expire", "pexpire", "ttl",   "pttl",   "persist",
      "incr",   "incrby", "decr",  "decrby", "append", "strlen",  "type",   "keys",
      "dbsize", "flushall", "flushdb", "ping", "echo", "unwatch"};
  return kQueueable.contains(name);
}

bool is_watch_mode_command(std::string_view name) {
  return name == "kv.watch" || name == "kv.unwatch" || name == "ping" || name == "quit";
}

const char* event_word(EventType t) {
  switch (t) {
    case EventType::kPut: return "PUT";
    case EventType::kDelete: return "DELETE";
    case EventType::kExpire: return "EXPIRE";
  }
  return "PUT";
}

}  // namespace

Connection::Connection(Server& server, asio::ip::tcp::socket socket, asio::ssl::context* tls)
    : server_(server),
      stream_(std::move(socket), tls),
      parser_(resp::Limits{.max_request_bytes = server.options().limits.max_request_bytes}) {
  session_.id = server_.next_client_id();
  session_.created_ms = server_.replica().now_ms();
  asio::error_code ec;
  auto ep = stream_.socket().remote_endpoint(ec);
  if (!ec) session_.address = ep.address().to_string() + ":" + std::to_string(ep.port());
  stream_.socket().set_option(asio::ip::tcp::no_delay(true), ec);
}

Connection::~Connection() = default;

void Connection::start() {
  read_paused_ = true;  // nothing armed yet: arm and receive
  asio::error_code ec;
  stream_.socket().non_blocking(true, ec);  // (the TLS layer's own reads are asynchronous anyway)
  if (!stream_.secure()) {
    reading_ = true;
    return read_more();
  }
  await_tls_hello();
}

// A client that forgot TLS (plain RESP starts with a letter or '*'; TLS with a handshake record,
// 0x16) is told so in plain RESP, instead of seeing the connection just close. A client that
// never completes the handshake holds a connection as an idle one does.
void Connection::await_tls_hello() {
  stream_.socket().async_wait(asio::socket_base::wait_read, [self = shared_from_this()](const asio::error_code& ec) {
    if (self->closed_) return;
    if (ec) return self->close();
    unsigned char first = 0;
    asio::error_code peek;
    const size_t n = self->stream_.socket().receive(asio::buffer(&first, 1), asio::socket_base::message_peek, peek);
    if (peek == asio::error::would_block || peek == asio::error::try_again) return self->await_tls_hello();
    if (peek || n == 0) return self->close();
    if (first != 0x16) {
      ++self->server_.metrics().tls_handshake_failures;
      static constexpr std::string_view kPlain =
          "-ERR this port speaks TLS: connect with TLS (redis-cli --tls, dkv --tls)\r\n";
      asio::error_code ignored;
      self->stream_.socket().write_some(asio::buffer(kPlain), ignored);
      return self->close();
    }
    self->stream_.async_handshake(Stream::Side::server, [self](const asio::error_code& ec) {
      if (self->closed_) return;
      if (ec) {
        ++self->server_.metrics().tls_handshake_failures;
        return self->close();
      }
      self->reading_ = true;
      self->read_more();
    });
  });
}

void Connection::close() {
  if (closed_) return;
  closed_ = true;
  drop_watches();
  stream_.close();
  slots_.clear();
  server_.forget(this);  // may destroy this: nothing after it
}

void Connection::finish() {
  cancel_watches();
  finishing_ = true;
  if (slots_.empty() && !writing_ && out_.empty()) close();
}

void Connection::drop_watches() {
  for (int64_t id : session_.watches) server_.replica().unwatch(id);
  session_.watches.clear();
}

// --- input --------------------------------------------------------------------------------------

// Reading waits for readability and then receives, rather than async_read_some: Asio 1.22
// retries a speculative recv before every async_read_some, which on a request/reply connection
// fails with EAGAIN once per request (a third of the syscalls on the GET path). The wait is
// armed before each receive, so data arriving in between still wakes it (epoll is
// edge-triggered in Asio). Over TLS, where bytes on the socket are not requests, each wait is an
// async_read_some (which first returns what OpenSSL has already decrypted).
void Connection::read_more() {
  if (closed_ || finishing_ || !reading_) return;
  if (!read_paused_) return arm_read_wait();  // a wait armed: its handler receives
  if (back_pressured()) return;
  read_paused_ = false;
  // Requests already buffered when reading paused come first; then what arrived meanwhile,
  // which raised no new edge.
  process();
  if (closed_ || finishing_) return;
  if (back_pressured()) {
    read_paused_ = true;
    return;
  }
  arm_read_wait();
  receive();
}

bool Connection::back_pressured() const {
  const Limits& limits = server_.options().limits;
  // Until the ACL users are settled (Replica::acl_settled) no request is read: who may run it
  // is not known yet. Server::start resumes every connection then.
  return slots_.size() >= limits.max_pipeline || out_.size() >= limits.max_output_bytes / 2 ||
         !server_.replica().acl_settled();
}

void Connection::arm_read_wait() {
  if (read_armed_ || closed_ || finishing_ || !reading_) return;
  read_armed_ = true;
  if (stream_.secure()) {
    stream_.async_read_some(asio::buffer(read_buf_), [self = shared_from_this()](const asio::error_code& ec, size_t n) {
      self->read_armed_ = false;
      if (self->closed_) return;
      if (ec) return self->close();  // includes end of stream
      self->on_received(n);
      if (self->closed_ || self->finishing_) return;
      if (self->back_pressured()) {
        self->read_paused_ = true;  // read_more() resumes when replies drain
        return;
      }
      self->arm_read_wait();
    });
    return;
  }
  stream_.socket().async_wait(asio::socket_base::wait_read, [self = shared_from_this()](const asio::error_code& ec) {
    self->read_armed_ = false;
    if (self->closed_) return;
    if (ec) return self->close();
    if (self->finishing_) return;
    if (self->back_pressured()) {
      self->read_paused_ = true;  // read_more() resumes when replies drain
      return;
    }
    self->arm_read_wait();
    self->receive();
  });
}

void Connection::receive() {
  if (stream_.secure()) return;  // the armed read receives
  for (;;) {
    asio::error_code ec;
    const size_t n = stream_.socket().read_some(asio::buffer(read_buf_), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return;
    if (ec) return close();  // includes end of stream
    auto self = shared_from_this();  // process() may close the connection
    on_received(n);
    if (closed_ || finishing_) return;
    if (back_pressured()) {
      read_paused_ = true;
      return;
    }
    if (n < read_buf_.size()) return;  // drained: the armed wait reports what comes next
  }
}

void Connection::on_received(size_t n) {
  server_.metrics().net_input_bytes += n;
  in_.append(read_buf_.data(), n);
  process();
}

void Connection::process() {
  processing_ = true;
  auto self = shared_from_this();  // a command may close the connection
  while (!closed_ && !finishing_ && slots_.size() < server_.options().limits.max_pipeline &&
         server_.replica().acl_settled()) {
    Args args;
    size_t consumed = 0;
    auto status = parser_.parse(std::string_view(in_).substr(in_start_), &args, &consumed);
    in_start_ += consumed;
    if (status == resp::RequestParser::Status::kNeedMore) break;
    if (status == resp::RequestParser::Status::kError) {
      auto slot = std::make_shared<Slot>();
      resp::Writer(&slot->reply, session_.protocol).error("ERR", parser_.error());
      slot->ready = true;
      slots_.push_back(slot);
      finishing_ = true;  // like Redis: reply, then close
      break;
    }
    dispatch(std::move(args));
  }
  // Drop what was consumed; keep the partial request's bytes.
  if (in_start_ == in_.size()) {
    in_.clear();
    in_start_ = 0;
  } else if (in_start_ > 64 * 1024) {
    in_.erase(0, in_start_);
    in_start_ = 0;
  }
  processing_ = false;
  flush();
}

void Connection::dispatch(Args args) {
  auto slot = std::make_shared<Slot>();
  slot->started = std::chrono::steady_clock::now();
  slot->counted = true;
  slots_.push_back(slot);
  resp::Writer out(&slot->reply, session_.protocol);
  const CommandSpec* spec = find_command(args[0]);
  if (spec == nullptr) {
    out.error("ERR", unknown_command_message(args));
    if (session_.in_multi) session_.multi_failed = true;
    return complete(slot);
  }
  slot->spec = spec;
  session_.last_command = spec->name;
  const int n = static_cast<int>(args.size());
  if ((spec->arity > 0 && n != spec->arity) || (spec->arity < 0 && n < -spec->arity)) {
    std::string name = spec->name;
    if (spec->name == "config" || spec->name == "client" || spec->name == "command") {
      if (n > 1) name += "|" + lower(args[1]);
    }
    arity_error(out, name);
    if (session_.in_multi) session_.multi_failed = true;
    return complete(slot);
  }
  if (!permitted(*spec, args, out)) {
    if (session_.in_multi) session_.multi_failed = true;
    return complete(slot);
  }
  if (session_.watch_mode() && !is_watch_mode_command(spec->name)) {
    out.error("ERR", "Can't execute '" + spec->name +
                         "': only KV.WATCH / KV.UNWATCH / PING / QUIT are allowed in this context");
    return complete(slot);
  }
  if (session_.in_multi && spec->name != "exec" && spec->name != "discard" && spec->name != "multi" &&
      spec->name != "watch" && spec->name != "quit") {
    if (!queueable_in_multi(spec->name)) {
      out.error("ERR", "Command not allowed inside a transaction");
      session_.multi_failed = true;
      return complete(slot);
    }
    session_.queued.push_back(std::move(args));
    out.simple("QUEUED");
    return complete(slot);
  }
  execute(*spec, std::move(args), slot);
}

void Connection::execute(const CommandSpec& spec, Args args, const SlotPtr& slot) {
  resp::Writer out(&slot->reply, session_.protocol);
  Context ctx{server_, server_.replica(), session_, out, args};
  Prepared p = spec.handler(ctx);
  if (p.kind == Prepared::Kind::kSession) return session_command(spec, args, slot);
  run_prepared(std::move(p), slot, session_.protocol);
}

// Authentication and ACL (acl.h), before a command runs or is queued: NOAUTH, or NOPERM for a
// command or key outside the user's rules, in Redis's words.
bool Connection::permitted(const CommandSpec& spec, const Args& args, resp::Writer& out) {
  const bool exempt = std::find(spec.flags.begin(), spec.flags.end(), "no_auth") != spec.flags.end();
  if (!session_.auth_decided) {
    // At the first request (the ACL users are settled by then): the default user's, if it needs
    // no password.
    const core::AclUser* d = server_.replica().machine().acl_user("default");
    session_.authenticated = d->enabled && d->nopass;
    session_.auth_decided = true;
  }
  if (!session_.authenticated) {
    if (exempt) return true;
    out.error("NOAUTH", "Authentication required.");
    return false;
  }
  const core::AclUser* user = server_.replica().machine().acl_user(session_.user);
  if (user == nullptr) {  // deleted since it authenticated
    session_.authenticated = false;
    out.error("NOAUTH", "Authentication required: user '" + session_.user + "' no longer exists.");
    return false;
  }
  if (unrestricted(*user)) return true;
  if (!command_allowed(*user, spec, args)) {
    std::string name = spec.name;
    if ((name == "acl" || name == "config" || name == "client") && args.size() > 1) name += "|" + lower(args[1]);
    out.error("NOPERM", "this user has no permissions to run the '" + name + "' command");
    log_acl_refusal(server_, session_, "command", name, session_.user);
    return false;
  }
  std::vector<KeyAccess> keys;
  request_keys(spec, args, &keys);
  if (std::string denied; !keys_allowed(*user, keys, &denied)) {
    out.error("NOPERM", "this user has no permissions to access one of the keys used as arguments");
    log_acl_refusal(server_, session_, "key", denied, session_.user);
    return false;
  }
  return true;
}

// Every client write (a command's, or EXEC's) passes here before it is proposed: one that breaks
// a size limit, or names a key outside its user's patterns, is answered with the error naming it
// and goes no further.
bool Connection::within_limits(const core::CommandBody& body, const SlotPtr& slot, int protocol) {
  Status s = core::check_write_limits(body, server_.options().limits.write);
  if (s.ok()) {
    const core::AclUser* user = server_.replica().machine().acl_user(session_.user);
    if (user == nullptr || unrestricted(*user)) return true;
    std::vector<KeyAccess> keys;
    write_keys(body, &keys);
    std::string denied;
    if (keys_allowed(*user, keys, &denied)) return true;
    resp::Writer(&slot->reply, protocol)
        .error("NOPERM", "this user has no permissions to access one of the keys used as arguments");
    log_acl_refusal(server_, session_, "key", denied, session_.user);
    complete(slot);
    return false;
  }
  resp::Writer(&slot->reply, protocol).error("ERR", s.message());
  complete(slot);
  return false;
}

void Connection::run_prepared(Prepared p, const SlotPtr& slot, int protocol) {
  using Kind = Prepared::Kind;
  std::weak_ptr<Connection> weak = weak_from_this();
  switch (p.kind) {
    case Kind::kImmediate:
    case Kind::kSession:
      return complete(slot);
    case Kind::kWrite: {
      if (!within_limits(p.body, slot, protocol)) return;
      server_.replica().write(
          std::move(p.body),
          [weak, slot, protocol, on_result = std::move(p.on_result)](core::CommandResult result) {
            resp::Writer out(&slot->reply, protocol);
            on_result(result, out);
            if (auto self = weak.lock()) self->complete_applied(slot);
          },
          p.session);
      return;
    }
    case Kind::kKeysRead: {
      Replica* replica = &server_.replica();
      Metrics* metrics = &server_.metrics();
      return start_read(slot, [replica, metrics, protocol, keys = std::move(p.keys),
                               on_values = std::move(p.on_values)](std::string& reply) {
        KeyValues values;
        values.reserve(keys.size());
        const int64_t now = replica->now_ms();
        for (const std::string& k : keys) {
          auto kv = replica->machine().get(k, {}, now);
          if (kv.ok()) {
            ++metrics->keyspace_hits;
            values.emplace_back(std::move(kv).value());
          } else {
            ++metrics->keyspace_misses;
            values.emplace_back(std::nullopt);
          }
        }
        resp::Writer out(&reply, protocol);
        on_values(values, out);
      });
    }
    case Kind::kRead: {
      Replica* replica = &server_.replica();
      return start_read(slot, [replica, protocol, on_read = std::move(p.on_read)](std::string& reply) {
        resp::Writer out(&reply, protocol);
        on_read(replica->machine(), replica->now_ms(), out);
      });
    }
    case Kind::kAsync: {
      p.start(
          [weak, slot, protocol](const std::function<void(resp::Writer&)>& write) {
            resp::Writer out(&slot->reply, protocol);
            write(out);
            if (auto self = weak.lock()) self->complete(slot);
          },
          [weak] {
            auto self = weak.lock();
            return !self || self->closed_;
          });
      return;
    }
  }
}

void Connection::start_read(const SlotPtr& slot, std::function<void(std::string&)> evaluate) {
  slot->read = std::move(evaluate);
  if (session_.stale_reads) {  // READONLY: whatever this node has applied
    slot->read_ready = true;
    return flush();
  }
  std::weak_ptr<Connection> weak = weak_from_this();
  const int protocol = session_.protocol;
  server_.replica().read([weak, slot, protocol](Status s) {
    if (!s.ok()) {
      slot->read = nullptr;
      resp::Writer out(&slot->reply, protocol);
      write_status(out, s);
      slot->ready = true;
    } else {
      slot->read_ready = true;
    }
    if (auto self = weak.lock()) self->flush();
  });
}

void Connection::complete(const SlotPtr& slot) {
  slot->ready = true;
  flush();
}

// Writes complete while the replica applies a batch of entries, many per connection when the
// client pipelines: their replies are flushed once, after the batch, in one send.
void Connection::complete_applied(const SlotPtr& slot) {
  slot->ready = true;
  if (flush_posted_) return;
  flush_posted_ = true;
  asio::post(stream_.socket().get_executor(), [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->flush();
  });
}

// --- output -------------------------------------------------------------------------------------

void Connection::flush() {
  if (closed_) return;
  while (!slots_.empty()) {
    Slot& head = *slots_.front();
    if (!head.ready && head.read && head.read_ready) {
      head.read(head.reply);
      head.read = nullptr;
      head.ready = true;
    }
    if (!head.ready) break;
    if (head.counted) {
      auto usec = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - head.started)
                      .count();
      std::string_view code;
      if (!head.reply.empty() && head.reply[0] == '-') {
        code = std::string_view(head.reply).substr(1);
        code = code.substr(0, code.find_first_of(" \r"));
      }
      server_.metrics().record(head.spec != nullptr ? std::string_view(head.spec->name) : "unknown",
                               static_cast<uint64_t>(usec), code);
    }
    out_.append(head.reply);
    slots_.pop_front();
  }
  if (out_.size() > server_.options().limits.max_output_bytes) return output_overflow();
  if (!processing_) start_write();
}

// A client that does not read what it asked for (replies, or watch events) is cut off rather
// than allowed to hold server memory, as Redis does past client-output-buffer-limit.
void Connection::output_overflow() {
  ++server_.metrics().output_overflows;
  std::fprintf(stderr, "dkv-server: closing client %s: %zu bytes of output unread, over --max-output-bytes %zu\n",
               session_.address.c_str(), out_.size(), server_.options().limits.max_output_bytes);
  close();
}

void Connection::start_write() {
  if (writing_ || closed_) return;
  if (out_.empty()) {
    if (finishing_ && slots_.empty()) close();
    return;
  }
  writing_ = true;
  sending_.clear();
  sending_.swap(out_);
  sending_events_ = std::move(out_events_);
  out_events_.clear();
  server_.metrics().net_output_bytes += sending_.size();
  stream_.async_write(asio::buffer(sending_),
                    [self = shared_from_this()](const asio::error_code& ec, size_t) {
                      self->writing_ = false;
                      self->sending_events_.clear();
                      if (self->closed_) return;
                      if (ec) {
                        self->close();
                        return;
                      }
                      self->start_write();
                      self->read_more();  // output drained: reading may resume
                    });
}

// --- session commands ----------------------------------------------------------------------------

void Connection::session_command(const CommandSpec& spec, const Args& args, const SlotPtr& slot) {
  resp::Writer out(&slot->reply, session_.protocol);
  const std::string& name = spec.name;
  if (name == "hello") {
    hello(args, slot);
  } else if (name == "quit") {
    out.ok();
    finishing_ = true;
  } else if (name == "client") {
    client(args, out);
  } else if (name == "multi") {
    if (session_.in_multi) {
      out.error("ERR", "MULTI calls can not be nested");
    } else {
      session_.in_multi = true;
      session_.multi_failed = false;
      session_.queued.clear();
      out.ok();
    }
  } else if (name == "discard") {
    if (!session_.in_multi) {
      out.error("ERR", "DISCARD without MULTI");
    } else {
      reset_transaction();
      out.ok();
    }
  } else if (name == "exec") {
    return exec(slot);
  } else if (name == "watch") {
    if (session_.in_multi) {
      out.error("ERR", "WATCH inside MULTI is not allowed");
    } else {
      return watch_keys(args, slot);
    }
  } else if (name == "unwatch") {
    session_.watched.clear();
    out.ok();
  } else if (name == "kv.watch") {
    return kv_watch(args, slot);
  } else if (name == "kv.unwatch") {
    kv_unwatch(args, out);
  } else {
    out.error("ERR", "internal error: no session handler for '" + name + "'");
  }
  complete(slot);
}

void Connection::reset_transaction() {
  session_.in_multi = false;
  session_.multi_failed = false;
  session_.queued.clear();
  session_.watched.clear();
}

// HELLO [protover [AUTH username password] [SETNAME clientname]]
void Connection::hello(const Args& args, const SlotPtr& slot) {
  resp::Writer err(&slot->reply, session_.protocol);
  int protocol = session_.protocol;
  size_t i = 1;
  if (args.size() > 1) {
    auto v = parse_int(args[1]);
    if (!v) return err.error("ERR", "Protocol version is not an integer or out of range");
    if (*v != 2 && *v != 3) return err.error("NOPROTO", "unsupported protocol version");
    protocol = static_cast<int>(*v);
    i = 2;
  }
  std::string name = session_.name;
  std::optional<std::pair<std::string, std::string>> auth;
  for (; i < args.size(); ++i) {
    if (iequals(args[i], "auth") && i + 2 < args.size()) {
      auth.emplace(args[i + 1], args[i + 2]);
      i += 2;
    } else if (iequals(args[i], "setname") && i + 1 < args.size()) {
      name = args[++i];
    } else {
      return err.error("ERR", "Syntax error in HELLO option '" + args[i] + "'");
    }
  }
  if (auth) {
    Status s = authenticate(server_.replica().machine(), auth->first, auth->second, &session_);
    if (!s.ok()) {
      log_acl_refusal(server_, session_, "auth", "AUTH", auth->first);
      return err.error("WRONGPASS", s.message());
    }
  } else if (!session_.authenticated) {
    return err.error("NOAUTH",
                     "HELLO must be called with the client already authenticated, otherwise the HELLO "
                     "<proto> AUTH <user> <pass> option can be used to authenticate the client and "
                     "select the RESP protocol version at the same time");
  }
  session_.protocol = protocol;
  session_.name = name;
  // The reply is already in the new protocol, as Redis does.
  resp::Writer out(&slot->reply, protocol);
  out.map(7);
  out.bulk("server");
  out.bulk("dkv");
  out.bulk("version");
  out.bulk("7.0.0");
  out.bulk("proto");
  out.integer(protocol);
  out.bulk("id");
  out.integer(session_.id);
  out.bulk("mode");
  out.bulk("standalone");
  out.bulk("role");
  out.bulk("master");
  out.bulk("modules");
  out.array(0);
}

void Connection::client(const Args& args, resp::Writer& out) {
  const std::string& sub = args[1];
  if (iequals(sub, "id")) {
    out.integer(session_.id);
  } else if (iequals(sub, "getname")) {
    if (session_.name.empty()) {
      out.null();
    } else {
      out.bulk(session_.name);
    }
  } else if (iequals(sub, "setname")) {
    if (args.size() != 3) return (void)arity_error(out, "client|setname");
    for (char c : args[2]) {
      if (c < '!' || c > '~') {
        return out.error("ERR", "Client names cannot contain spaces, newlines or special characters.");
      }
    }
    session_.name = args[2];
    out.ok();
  } else if (iequals(sub, "setinfo")) {
    out.ok();
  } else if (iequals(sub, "info") || iequals(sub, "list")) {
    out.bulk(session_.client_info() + "\n");
  } else {
    out.error("ERR", "unknown subcommand '" + sub + "'. Try CLIENT HELP.");
  }
}

// WATCH key...: remembers each key's mod_revision at a linearizable point.
void Connection::watch_keys(const Args& args, const SlotPtr& slot) {
  Replica* replica = &server_.replica();
  std::vector<std::string> keys(args.begin() + 1, args.end());
  Session* session = &session_;
  const int protocol = session_.protocol;
  start_read(slot, [replica, session, protocol, keys = std::move(keys)](std::string& reply) {
    const int64_t now = replica->now_ms();
    for (const std::string& k : keys) {
      auto kv = replica->machine().get(k, {}, now);
      session->watched.push_back(core::WatchedKey{k, kv.ok() ? kv->mod_revision : 0});
    }
    resp::Writer(&reply, protocol).ok();
  });
}

// EXEC: the queued commands as one MultiCmd — atomic, one revision, conditional on WATCH.
void Connection::exec(const SlotPtr& slot) {
  resp::Writer err(&slot->reply, session_.protocol);
  if (!session_.in_multi) {
    err.error("ERR", "EXEC without MULTI");
    return complete(slot);
  }
  if (session_.multi_failed) {
    reset_transaction();
    err.error("EXECABORT", "Transaction discarded because of previous errors.");
    return complete(slot);
  }
  const int protocol = session_.protocol;
  // Each queued command's reply, in order. Writes and key reads become ops of the MultiCmd and
  // are answered from its results; other reads are answered right after it applies (the
  // callback runs before any later entry applies); immediate replies are known now.
  struct Part {
    std::string reply;
    int op = -1;  // index into the MultiCmd's ops
    std::function<void(core::CommandResult&, resp::Writer&)> on_result;
    std::function<void(const KeyValues&, resp::Writer&)> on_values;
    std::function<void(const core::StateMachine&, int64_t, resp::Writer&)> on_read;
  };
  auto parts = std::make_shared<std::vector<Part>>();
  core::MultiCmd multi;
  multi.watched = std::move(session_.watched);
  for (Args& args : session_.queued) {
    Part part;
    resp::Writer out(&part.reply, protocol);
    const CommandSpec* spec = find_command(args[0]);
    Context ctx{server_, server_.replica(), session_, out, args};
    Prepared p = spec->handler(ctx);
    switch (p.kind) {
      case Prepared::Kind::kImmediate:
        break;
      case Prepared::Kind::kWrite:
        part.op = static_cast<int>(multi.ops.size());
        multi.ops.push_back(core::MultiOp{std::move(p.body)});
        part.on_result = std::move(p.on_result);
        break;
      case Prepared::Kind::kKeysRead:
        part.op = static_cast<int>(multi.ops.size());
        multi.ops.push_back(core::MultiOp{core::ReadCmd{std::move(p.keys)}});
        part.on_values = std::move(p.on_values);
        break;
      case Prepared::Kind::kRead:
        part.on_read = std::move(p.on_read);
        break;
      case Prepared::Kind::kSession:  // UNWATCH, the only one queueable: EXEC ends watches anyway
        out.ok();
        break;
      case Prepared::Kind::kAsync:  // never queued (queueable_in_multi)
        out.error("ERR", "internal error: '" + spec->name + "' queued inside MULTI");
        break;
    }
    parts->push_back(std::move(part));
  }
  reset_transaction();
  core::CommandBody body = std::move(multi);
  if (!within_limits(body, slot, protocol)) return;
  std::weak_ptr<Connection> weak = weak_from_this();
  Replica* replica = &server_.replica();
  replica->write(std::move(body), [weak, slot, parts, protocol, replica](core::CommandResult result) {
    resp::Writer out(&slot->reply, protocol);
    if (result.status.code() == Code::kConflict) {
      out.null_array();  // a watched key changed
    } else if (!result.status.ok()) {
      write_status(out, result.status);
    } else {
      auto& multi = std::get<core::MultiResult>(result.body);
      out.array(parts->size());
      for (Part& part : *parts) {
        resp::Writer w(&part.reply, protocol);
        if (part.on_result) {
          part.on_result(multi.results[part.op], w);
        } else if (part.on_values) {
          core::CommandResult& r = multi.results[part.op];
          if (r.status.ok()) {
            part.on_values(std::get<core::ReadResult>(r.body).values, w);
          } else {
            write_status(w, r.status);
          }
        } else if (part.on_read) {
          part.on_read(replica->machine(), replica->now_ms(), w);
        }
        out.raw(part.reply);
      }
    }
    if (auto self = weak.lock()) self->complete_applied(slot);
  });
}

// KV.WATCH KEY key | PREFIX prefix | LOCK name | ELECTION name [FROM revision] [SNAPSHOT] [PREVKV]
void Connection::kv_watch(const Args& args, const SlotPtr& slot) {
  resp::Writer err(&slot->reply, session_.protocol);
  WatchRequest req;
  size_t i = 1;
  if (iequals(args[i], "key")) {
    req.prefix = false;
  } else if (iequals(args[i], "prefix")) {
    req.prefix = true;
  } else if (iequals(args[i], "lock")) {
    req.space = WatchSpace::kLocks;
  } else if (iequals(args[i], "election")) {
    req.space = WatchSpace::kElections;
  } else {
    syntax_error(err);
    return complete(slot);
  }
  req.key = args[++i];
  if (!req.prefix && req.key.empty()) {
    err.error("ERR", req.space == WatchSpace::kKeys
                         ? "key must not be empty (use PREFIX \"\" to watch every key)"
                         : "lock or election name must not be empty");
    return complete(slot);
  }
  bool from = false;
  for (++i; i < args.size(); ++i) {
    if (iequals(args[i], "from") && !from && i + 1 < args.size()) {
      auto rev = parse_int(args[++i]);
      if (!rev) {
        not_integer(err);
        return complete(slot);
      }
      if (*rev < 0) {
        err.error("ERR", "FROM must not be negative, got " + args[i]);
        return complete(slot);
      }
      req.from_revision = *rev;
      from = true;
    } else if (iequals(args[i], "snapshot") && !req.snapshot) {
      req.snapshot = true;
    } else if (iequals(args[i], "prevkv") && !req.prev_value) {
      req.prev_value = true;
    } else {
      syntax_error(err);
      return complete(slot);
    }
  }
  if (req.snapshot && from) {
    syntax_error(err);
    return complete(slot);
  }
  const size_t max_watches = server_.options().limits.max_watches;
  if (session_.watches.size() + static_cast<size_t>(session_.pending_watches) >= max_watches) {
    err.error("ERR", "this connection has " + std::to_string(max_watches) +
                         " watches, the limit (--max-watches); KV.UNWATCH one or use another connection");
    return complete(slot);
  }
  std::weak_ptr<Connection> weak = weak_from_this();
  Replica* replica = &server_.replica();
  Session* session = &session_;
  ++session_.pending_watches;
  // Undone once the read below has run or been dropped (a failed barrier drops it).
  std::shared_ptr<void> pending(nullptr, [weak](void*) {
    if (auto self = weak.lock()) --self->session_.pending_watches;
  });
  // Any node serves KV.WATCH from its own applied state (protocol.md 1.4): no read barrier (a
  // follower has none to offer), only this connection's order: the watch starts when the
  // request's reply is due, after the replies of the requests before it.
  slot->read_ready = true;
  slot->read = [weak, replica, session, req, pending](std::string& reply) {
    resp::Writer out(&reply, session->protocol);
    // A SNAPSHOT watch owes a watch-synced marker at the snapshot's revision (-1 once sent):
    // after its snapshot events, before its first change, or alone when nothing matched.
    auto state = std::make_shared<WatchState>();
    state->prev_value = req.prev_value;
    state->unsynced = req.snapshot ? replica->machine().revision() : -1;
    auto id = replica->watch(req, [weak, state](core::WatchHub::Delivery& d) {
      auto self = weak.lock();
      if (self && !self->closed_) self->on_watch_delivery(d, *state);
    });
    if (!id.ok()) return write_status(out, id.status());
    session->watches.insert(*id);
    out.integer(*id);
    if (state->unsynced >= 0) {
      // Runs after the delivery of the snapshot events (posted by watch() before this), if any.
      asio::post(replica->io(), [weak, id = *id, state] {
        auto self = weak.lock();
        if (!self || self->closed_ || state->unsynced < 0 || self->session_.watches.count(id) == 0) return;
        core::WatchHub::Delivery none;
        none.watch_id = id;
        self->on_watch_delivery(none, *state);
      });
    }
  };
  flush();
}

// Shutdown: each watch ends with a CANCELLED watch-end (protocol.md 4.2). Every event applied so
// far has been delivered, so the first change not delivered is the next revision.
void Connection::cancel_watches() {
  if (session_.watches.empty()) return;
  const int64_t resume_from = server_.replica().machine().revision() + 1;
  const std::set<int64_t> ids = std::move(session_.watches);
  session_.watches.clear();
  for (int64_t id : ids) {
    server_.replica().unwatch(id);
    core::WatchHub::Delivery end;
    end.watch_id = id;
    end.end = Status(Code::kCancelled, "watch " + std::to_string(id) +
                                           " ended: the server is shutting down; resume from revision " +
                                           std::to_string(resume_from));
    end.resume_from = resume_from;
    WatchState ending;
    on_watch_delivery(end, ending);
  }
}

void Connection::kv_unwatch(const Args& args, resp::Writer& out) {
  auto id = parse_int(args[1]);
  if (!id) return (void)not_integer(out);
  if (session_.watches.erase(*id) == 0) {
    out.integer(0);
    return;
  }
  server_.replica().unwatch(*id);
  out.integer(1);
}

// Pushes (protocol.md 4.2): ["watch", id, revision, PUT|DELETE|EXPIRE, key, value (, prev)] per
// event, ["watch-synced", id, R] after a SNAPSHOT watch's snapshot, and
// ["watch-end", id, "CODE message", resume_from] when the server ends the watch. Out of band:
// they go out between replies.
void Connection::on_watch_delivery(core::WatchHub::Delivery& d, WatchState& state) {
  resp::Writer out(&out_, session_.protocol);
  const bool prev_value = state.prev_value;
  int64_t& unsynced = state.unsynced;
  // A client that does not read its events: once more than the per-watch bound (protocol.md 6)
  // would wait unsent, the watch is cut off with LAGGING from this delivery's first revision
  // (a delivery holds whole revisions). The first delivery (snapshot, history FROM a revision)
  // is not limited, as in the hub.
  const bool first = !state.delivered;
  state.delivered = true;
  if (d.end.ok() && !d.events.empty() && !first) {
    const size_t unsent = out_events_[d.watch_id] + sending_events_[d.watch_id];
    if (unsent + d.events.size() > kMaxUnsentEvents) {
      const int64_t resume_from = d.events.front()->revision;
      server_.replica().unwatch(d.watch_id);
      d.events.clear();
      d.resume_from = resume_from;
      d.end = Status(Code::kLagging, "watch " + std::to_string(d.watch_id) + " fell more than " +
                                         std::to_string(kMaxUnsentEvents) + " events behind; resume from revision " +
                                         std::to_string(resume_from));
    }
  }
  if (d.end.ok()) out_events_[d.watch_id] += d.events.size();
  auto write_synced = [&] {
    out.push(3);
    out.bulk("watch-synced");
    out.integer(d.watch_id);
    out.integer(unsynced);
    unsynced = -1;
  };
  for (const core::EventPtr& e : d.events) {
    if (unsynced >= 0 && !e->snapshot) write_synced();
    out.push(prev_value ? 7 : 6);
    out.bulk("watch");
    out.integer(d.watch_id);
    out.integer(e->revision);
    out.bulk(event_word(e->type));
    out.bulk(e->kv.key);
    out.bulk(e->type == EventType::kPut ? std::string_view(e->kv.value) : std::string_view());
    if (prev_value) {
      // Snapshot events and lock / election events carry no previous value.
      if (e->prev && !e->snapshot && e->space == WatchSpace::kKeys) {
        out.bulk(e->prev->value);
      } else {
        out.null();
      }
    }
  }
  // Every snapshot event is in the watch's first delivery.
  if (unsynced >= 0 && d.end.ok()) write_synced();
  if (!d.end.ok()) {
    session_.watches.erase(d.watch_id);
    out.push(4);
    out.bulk("watch-end");
    out.integer(d.watch_id);
    std::string word(d.end.code() == Code::kLagging ? "LAGGING" : "CANCELLED");
    out.bulk(word + " " + d.end.message());
    out.integer(d.resume_from);
  }
  if (out_.size() > server_.options().limits.max_output_bytes) return output_overflow();
  if (!processing_) start_write();
}
}  // namespace dkv::server
