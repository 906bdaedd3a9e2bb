// WatchStream: every watch of one Remote client, multiplexed on one dedicated RESP3 connection
// (pooled connections stay free of pushes).
//
// A reader thread owns the connection: it reads replies and pushes, and when the connection
// breaks it reconnects with the pool's backoff and re-subscribes every watch where it left off.
// Resuming uses KV.WATCH ... FROM r where r is the revision of the last event delivered, and
// skips the events of r already delivered: a connection can break in the middle of one
// revision's events, so FROM r+1 could lose the rest of that revision. A watch that has seen
// nothing resumes from the revision current when it was created (+1), so "only new events"
// still misses nothing. A SNAPSHOT watch cut off before its snapshot completed starts over
// (its snapshot events are delivered again). If the server no longer holds the history to
// resume from, the watch ends with COMPACTED (re-read, then watch again with SNAPSHOT). A
// CANCELLED watch-end (the server shutting down) is treated as a broken connection: resumed.
//
// Handlers run on a delivery thread, in revision order, never on the reader thread, so a handler
// may call back into the client (even watch() and unwatch()). A watch whose handler falls more
// than `max_pending` events behind is ended with LAGGING (as the server and Embedded do), its
// undelivered events of the last revision dropped so that the "resume from revision R" in the
// message misses nothing and repeats nothing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "client/connection_pool.h"
#include "client/resp_socket.h"
#include "dkv/client.h"

namespace dkv::client {

class WatchStream {
 public:
  // `current_revision` reads the store's revision (for watches of only new events).
  WatchStream(ConnectionPool* pool, std::function<Result<int64_t>()> current_revision,
              int64_t request_timeout_ms, size_t max_pending);
  // Ends every remaining watch with CANCELLED (its on_end runs on the destroying thread).
  ~WatchStream();
  WatchStream(const WatchStream&) = delete;
  WatchStream& operator=(const WatchStream&) = delete;

  // Subscribes and waits for the server's answer: the watch id, or the error the server gave
  // (COMPACTED, INVALID_ARGUMENT ...), or UNAVAILABLE if no connection answered in time.
  Result<int64_t> watch(const WatchRequest& request, WatchEventHandler on_event,
                        WatchEndHandler on_end);
  // After it returns, no handler of the watch runs (unless called from that handler).
  void unwatch(int64_t watch_id);

  // Breaks the current connection (tests; also after a CANCELLED watch-end): the reader
  // reconnects and resumes every watch.
  void drop_connection();
  // Events and end notices queued for the delivery thread (monitoring, tests).
  size_t backlog();

 private:
  struct Handlers {
    WatchEventHandler on_event;
    WatchEndHandler on_end;
  };
  struct Watch {
    int64_t id = 0;
    WatchRequest request;
    std::shared_ptr<const Handlers> handlers;
    bool ended = false;  // the server ended it; on_end is queued
    int64_t server_id = 0;  // 0: not subscribed on the current connection
    bool subscribing = false;
    // Where to resume: FROM resume_from, dropping the first `seen_at_resume` events of that
    // revision. resume_from 0: re-issue the original request (snapshot not complete yet).
    int64_t resume_from = 0;
    int64_t seen_at_resume = 0;
    int64_t to_drop = 0;      // events of resume_from still to drop on this subscription
    bool in_snapshot = false;  // receiving snapshot events (until watch-synced)
    size_t pending = 0;        // events queued for delivery, not yet handled
    std::shared_ptr<std::promise<Status>> subscribed;  // the first subscription's answer
  };
  // What a reply on the connection answers, in send order.
  struct Pending {
    enum class Kind { kSubscribe, kUnwatch } kind;
    int64_t local_id = 0;
  };
  struct Delivery {
    int64_t local_id = 0;
    std::optional<Event> event;  // else the end, with `end`
    Status end;
  };

  void reader_loop();
  void on_connected();                        // mu_ held
  void subscribe(Watch& w);                   // mu_ held, socket_ set
  void on_reply(const resp::Value& reply);    // mu_ held
  void on_push(const resp::Value& push);      // mu_ held
  void end_watch(Watch& w, Status status);    // mu_ held: queue on_end, forget the watch
  void end_lagging(Watch& w, int64_t revision);  // mu_ held: cut off before `revision`
  void delivery_loop();
  void disconnect();                          // mu_ held

  ConnectionPool* pool_;
  std::function<Result<int64_t>()> current_revision_;
  const int64_t request_timeout_ms_;
  const size_t max_pending_;

  std::mutex mu_;
  std::condition_variable queued_;     // deliveries_ grew, or stopping
  std::condition_variable delivered_;  // a handler finished
  std::atomic<bool> stopping_ = false;
  std::shared_ptr<RespSocket> socket_;  // the reader's connection, once HELLO succeeded
  std::deque<Pending> pending_;
  std::map<int64_t, Watch> watches_;            // by local id
  std::map<int64_t, int64_t> by_server_id_;     // server id -> local id
  int64_t next_id_ = 1;
  std::deque<Delivery> deliveries_;
  int64_t delivering_ = 0;  // the local id whose handler runs now
  std::thread::id delivery_thread_id_;
  std::thread reader_;
  std::thread delivery_;
};

}  // namespace dkv::client
