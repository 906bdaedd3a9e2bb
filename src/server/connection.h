// Connection: one RESP client. Parses pipelined requests, runs each through the command table,
// and writes replies strictly in request order although they complete out of order (a write
// waits for Raft; a read for its linearizable point; an immediate reply for nothing).
//
// Ordering and read-your-writes: each request takes a slot in a queue. A read is evaluated only
// when its slot reaches the head, i.e. after every earlier request of this connection has its
// reply (so a pipelined GET after SET sees the SET), and only after its read barrier completed
// (so it sees everything acknowledged to anyone before it arrived).
//
// Back-pressure: a connection stops reading while it has too many replies pending or too many
// bytes waiting to be sent, so one client can neither queue unbounded work nor unbounded output.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <asio.hpp>

#include "core/watch_hub.h"
#include "resp/parser.h"
#include "server/command.h"
#include "server/session.h"
#include "server/stream.h"

namespace dkv::server {

class Server;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Watch events a client may leave unsent per watch before the watch is cut off (LAGGING).
  static constexpr size_t kMaxUnsentEvents = core::WatchHub::Options{}.max_pending;

  // `tls` null: plain RESP; otherwise the connection starts with the TLS handshake.
  Connection(Server& server, asio::ip::tcp::socket socket, asio::ssl::context* tls);
  ~Connection();

  void start();
  // Closes the socket now; replies not yet written are dropped.
  void close();
  // Reads requests again if reading paused for a reason that has passed (Replica::acl_settled).
  void resume() { read_more(); }
  // Stops reading new requests; closes once every pending reply has been written.
  void finish();

  const Session& session() const { return session_; }

 private:
  struct Slot {
    std::string reply;
    bool ready = false;
    // A read: evaluated when the slot reaches the head and its barrier has completed.
    std::function<void(std::string& reply)> read;
    bool read_ready = false;
    const CommandSpec* spec = nullptr;  // null for an unknown command
    bool counted = false;               // a client command (not a parser error): in metrics
    std::chrono::steady_clock::time_point started;
  };
  using SlotPtr = std::shared_ptr<Slot>;

  void await_tls_hello();
  void read_more();
  void arm_read_wait();
  void output_overflow();
  bool permitted(const CommandSpec& spec, const Args& args, resp::Writer& out);
  bool within_limits(const core::CommandBody& body, const SlotPtr& slot, int protocol);
  void receive();
  void on_received(size_t n);
  bool back_pressured() const;
  void process();
  void dispatch(Args args);
  void execute(const CommandSpec& spec, Args args, const SlotPtr& slot);
  void run_prepared(Prepared p, const SlotPtr& slot, int protocol);
  void start_read(const SlotPtr& slot, std::function<void(std::string&)> evaluate);
  void complete(const SlotPtr& slot);
  void complete_applied(const SlotPtr& slot);
  void flush();
  void start_write();

  // Commands that act on the connection itself.
  void session_command(const CommandSpec& spec, const Args& args, const SlotPtr& slot);
  void hello(const Args& args, const SlotPtr& slot);
  void client(const Args& args, resp::Writer& out);
  void exec(const SlotPtr& slot);
  void watch_keys(const Args& args, const SlotPtr& slot);
  void kv_watch(const Args& args, const SlotPtr& slot);
  void kv_unwatch(const Args& args, resp::Writer& out);
  // What a KV.WATCH's delivery sink keeps between deliveries.
  struct WatchState {
    bool prev_value = false;  // PREVKV
    int64_t unsynced = -1;    // SNAPSHOT: the revision of the watch-synced marker still owed
    bool delivered = false;   // after the first delivery (which is not limited)
  };
  void on_watch_delivery(core::WatchHub::Delivery& d, WatchState& state);
  void drop_watches();
  void cancel_watches();
  void reset_transaction();

  Server& server_;
  Stream stream_;
  Session session_;
  resp::RequestParser parser_;
  std::string in_;
  size_t in_start_ = 0;  // bytes of in_ already consumed
  std::deque<SlotPtr> slots_;
  std::string out_;      // replies ready to send
  std::string sending_;  // the buffer of the write in flight
  // Watch events per watch id in out_ and in sending_ (for kMaxUnsentEvents).
  std::map<int64_t, size_t> out_events_;
  std::map<int64_t, size_t> sending_events_;
  bool writing_ = false;
  bool flush_posted_ = false;  // complete_applied() scheduled a flush
  bool reading_ = false;      // start() is done (over TLS: the handshake): requests may be read
  bool read_armed_ = false;   // an async_wait for readability (TLS: a read) is pending
  bool read_paused_ = false;  // reading stopped (back-pressure): read_more() must receive
  bool processing_ = false;
  bool finishing_ = false;  // QUIT, a protocol error or shutdown: no more requests
  bool closed_ = false;
  std::array<char, 64 * 1024> read_buf_;
};

}  // namespace dkv::server
