#include "http/event_server.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/PollSet.h>
#include <Poco/Net/StreamSocketImpl.h>

#include "core/log.hpp"
#include "core/thread_name.hpp"

namespace oceand {

namespace {

using Clock = std::chrono::steady_clock;
using Poco::Net::PollSet;

// How often a loop looks at its connections' deadlines: timeouts are whole seconds, so a
// quarter of a second late is close enough, and 10,000 connections cost 40,000 comparisons a
// second.
constexpr auto kSweepEvery = std::chrono::milliseconds(250);
// Connections accepted per wake-up of the listener, so that a connect storm cannot starve the
// loop's own connections.
constexpr int kAcceptBurst = 64;

class IoLoop;

// The threads that run handlers, started as they are needed up to `max`: one per request being
// handled, never one per connection.
class HandlerPool {
 public:
  using Work = std::function<void(ServerConnection*, IoLoop*)>;
  HandlerPool(std::string name, int max, Work work)
      : name_(std::move(name)), max_(max), work_(std::move(work)) {}

  // `loop`: the one to give the connection back to.
  void submit(ServerConnection* connection, IoLoop* loop) {
    std::lock_guard lock(mutex_);
    queue_.emplace_back(connection, loop);
    if (idle_ == 0 && static_cast<int>(threads_.size()) < max_) {
      ++alive_;
      threads_.emplace_back([this] { run(); });
    } else {
      wake_.notify_one();
    }
  }

  // True when every thread ended within `grace`; the others are left running (detached).
  bool stop(std::chrono::milliseconds grace) {
    std::unique_lock lock(mutex_);
    stopping_ = true;
    wake_.notify_all();
    bool all = ended_.wait_for(lock, grace, [&] { return alive_ == 0; });
    std::vector<std::thread> threads = std::move(threads_);
    lock.unlock();
    for (auto& t : threads) {
      if (all)
        t.join();
      else
        t.detach();
    }
    return all;
  }

 private:
  void run() {
    name_this_thread(name_.c_str());
    std::unique_lock lock(mutex_);
    for (;;) {
      ++idle_;
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      --idle_;
      if (queue_.empty()) break;  // stopping, nothing left
      auto [connection, loop] = queue_.front();
      queue_.pop_front();
      lock.unlock();
      work_(connection, loop);
      lock.lock();
    }
    --alive_;
    ended_.notify_all();
  }

  std::string name_;
  int max_;
  Work work_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable ended_;
  std::deque<std::pair<ServerConnection*, IoLoop*>> queue_;
  std::vector<std::thread> threads_;
  int idle_ = 0;
  int alive_ = 0;
  bool stopping_ = false;
};

}  // namespace

struct EventServer::Impl {
  Impl(std::string name, Poco::Net::ServerSocket socket,
       Poco::Net::HTTPRequestHandlerFactory::Ptr handlers, ServerLimits limits, InLoop in_loop);

  void serve_on_handler_thread(ServerConnection* connection, IoLoop* loop);

  std::string name;
  Poco::Net::ServerSocket listener;
  Poco::Net::SocketAddress address;
  Poco::Net::HTTPRequestHandlerFactory::Ptr handlers;
  ServerLimits limits;
  InLoop in_loop;
  Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams();
  std::atomic<size_t> open{0};
  std::atomic<size_t> refusing{0};  // over the cap, being answered 503 and closed
  std::atomic<bool> closing{false};
  // Requests being handled or waiting for a deferred answer: what a stop waits for.
  std::atomic<long> busy{0};
  std::atomic<unsigned> round_robin{0};
  std::unique_ptr<HandlerPool> pool;
  std::vector<std::unique_ptr<IoLoop>> loops;
};

namespace {

// One I/O thread: a PollSet over its connections (and, for the first loop, the listener), with
// a socket pair to be woken by other threads (new connections, answers ready).
class IoLoop {
 public:
  IoLoop(EventServer::Impl& server, int index) : server_(server), index_(index) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0)
      throw std::runtime_error("cannot create the I/O loop's wake-up pair");
    wake_read_ = Poco::Net::StreamSocket(new Poco::Net::StreamSocketImpl(pair[0]));
    wake_write_ = pair[1];
    poll_.add(wake_read_, PollSet::POLL_READ);
    if (index_ == 0) {
      server_.listener.setBlocking(false);
      poll_.add(server_.listener, PollSet::POLL_READ);
    }
  }
  ~IoLoop() {
    if (wake_write_ >= 0) ::close(wake_write_);
  }

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  void stop() {
    stop_ = true;
    wake();
  }

  // Any thread: a connection accepted for this loop.
  void adopt(Poco::Net::StreamSocket socket, Poco::Net::SocketAddress client, bool over_cap) {
    {
      std::lock_guard lock(inbox_mutex_);
      if (!exited_) {
        adopted_.push_back({std::move(socket), std::move(client), over_cap});
        if (woken_) return;
        woken_ = true;
      } else {
        return;  // the socket closes as it goes out of scope
      }
    }
    wake();
  }

  // A handler thread: the connection's answer is ready.
  void resume(ServerConnection* connection) {
    {
      std::lock_guard lock(inbox_mutex_);
      if (exited_) {
        delete connection;  // the loop is gone: nobody will write the answer
        return;
      }
      resumed_.push_back(connection);
      if (woken_) return;
      woken_ = true;
    }
    wake();
  }

 private:
  struct Adopted {
    Poco::Net::StreamSocket socket;
    Poco::Net::SocketAddress client;
    bool over_cap;
  };

  void wake() {
    char byte = 1;
    // A full pair means a wake-up is pending already.
    (void)!::send(wake_write_, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  }

  void run() {
    name_this_thread((server_.name + "-io").c_str());
    Clock::time_point next_sweep = Clock::now() + kSweepEvery;
    Clock::time_point stop_deadline{};
    bool stopping = false;
    for (;;) {
      PollSet::SocketModeMap ready;
      try {
        ready = poll_.poll(
            Poco::Timespan(0, static_cast<long>(std::chrono::microseconds(kSweepEvery).count())));
      } catch (const Poco::Exception& e) {
        OCEAND_LOG_ERROR_LIMITED("http", "poll failed") << "poll failed: " << e.displayText();
      }
      Clock::time_point now = Clock::now();
      for (auto& [socket, mode] : ready) {
        if (socket == wake_read_) {
          drain_wake();
          continue;
        }
        if (index_ == 0 && !stopping && socket == server_.listener) {
          accept_some(now);
          continue;
        }
        auto it = connections_.find(socket.impl());
        if (it == connections_.end()) continue;
        ServerConnection* c = it->second.get();
        if (mode & PollSet::POLL_ERROR && !(mode & PollSet::POLL_READ)) c->on_error();
        if (mode & PollSet::POLL_READ) c->on_readable(now);
        if (mode & PollSet::POLL_WRITE) c->on_writable(now);
        settle(c, now);
      }
      take_inbox(now);
      if (now >= next_sweep) {
        next_sweep = now + kSweepEvery;
        sweep(now);
      }
      if (stop_ && !stopping) {
        stopping = true;
        stop_deadline = now + server_.limits.shutdown_grace;
        if (index_ == 0) {
          try {
            poll_.remove(server_.listener);
            server_.listener.close();
          } catch (const Poco::Exception&) {
          }
        }
        for (auto& [impl, c] : snapshot()) {
          c->close_for_stop();
          settle(c, now);
        }
      }
      if (stopping && (connections_.empty() || now >= stop_deadline)) break;
    }
    exit();
  }

  std::vector<std::pair<Poco::Net::SocketImpl*, ServerConnection*>> snapshot() {
    std::vector<std::pair<Poco::Net::SocketImpl*, ServerConnection*>> all;
    all.reserve(connections_.size());
    for (auto& [impl, c] : connections_) all.emplace_back(impl, c.get());
    return all;
  }

  // Closes what this loop owns. Connections a handler thread holds are let go: resume() deletes
  // them once their handler returns.
  void exit() {
    std::vector<ServerConnection*> late;
    {
      std::lock_guard lock(inbox_mutex_);
      exited_ = true;
      late = std::move(resumed_);
      adopted_.clear();
    }
    for (ServerConnection* c : late) delete c;
    for (auto& [impl, c] : connections_) {
      if (c->state() == ServerConnection::State::handling) {
        (void)c.release();
        continue;
      }
      unwatch(c.get());
    }
    connections_.clear();
  }

  void drain_wake() {
    char bytes[256];
    while (::recv(wake_read_.impl()->sockfd(), bytes, sizeof bytes, MSG_DONTWAIT) > 0) {
    }
  }

  void accept_some(Clock::time_point now) {
    const int listen_fd = server_.listener.impl()->sockfd();
    for (int i = 0; i < kAcceptBurst; ++i) {
      sockaddr_storage address{};
      socklen_t length = sizeof address;
      int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&address), &length,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE) {
          OCEAND_LOG_WARN_LIMITED("http", "accept: out of files")
              << "cannot accept a connection: the open-files limit is reached";
        }
        return;  // EAGAIN: none left
      }
      Poco::Net::StreamSocket socket(new Poco::Net::StreamSocketImpl(fd));
      Poco::Net::SocketAddress client(reinterpret_cast<sockaddr*>(&address), length);
      bool over_cap = false;
      if (server_.open.fetch_add(1, std::memory_order_relaxed) >= server_.limits.max_connections) {
        server_.open.fetch_sub(1, std::memory_order_relaxed);
        over_cap = true;
        OCEAND_LOG_WARN_LIMITED("http", "connection cap")
            << "refused a connection from " << client.host().toString()
            << ": server.max_connections (" << server_.limits.max_connections << ") are open";
        // Answering the excess costs a file each for up to the linger time: bounded too.
        if (server_.refusing.load() >= std::max<size_t>(64, server_.limits.max_connections / 8))
          continue;  // closed as `socket` goes: the client sees a reset
      }
      IoLoop& loop = over_cap ? *this : pick_loop();
      if (&loop == this)
        add_connection(std::move(socket), std::move(client), over_cap, now);
      else
        loop.adopt(std::move(socket), std::move(client), over_cap);
    }
  }

  IoLoop& pick_loop();

  void add_connection(Poco::Net::StreamSocket socket, Poco::Net::SocketAddress client,
                      bool over_cap, Clock::time_point now) {
    std::unique_ptr<ServerConnection> c;
    try {
      socket.setNoDelay(true);
      ConnectionInfo info{std::move(client), socket.address(), server_.params};
      if (over_cap) server_.refusing.fetch_add(1, std::memory_order_relaxed);
      c = std::make_unique<ServerConnection>(socket, std::move(info), server_.limits.connection,
                                             now, over_cap ? &server_.refusing : &server_.open);
    } catch (const Poco::Exception&) {
      if (!over_cap) server_.open.fetch_sub(1, std::memory_order_relaxed);
      return;  // reset before it could be looked at
    }
    ServerConnection* raw = c.get();
    raw->set_give_back([this, raw] {
      // Copied out first: once resumed, the loop may close the connection, and this function
      // (which the connection holds) goes with it.
      IoLoop* loop = this;
      std::atomic<long>& busy = server_.busy;
      loop->resume(raw);
      --busy;  // last: once none is busy, the server may be freed
    });
    connections_.emplace(raw->socket().impl(), std::move(c));
    if (over_cap) raw->refuse_over_capacity(now);
    settle(raw, now);
  }

  void take_inbox(Clock::time_point now) {
    std::vector<Adopted> adopted;
    std::vector<ServerConnection*> resumed;
    {
      std::lock_guard lock(inbox_mutex_);
      woken_ = false;
      adopted.swap(adopted_);
      resumed.swap(resumed_);
    }
    for (auto& a : adopted)
      add_connection(std::move(a.socket), std::move(a.client), a.over_cap, now);
    for (ServerConnection* c : resumed) {
      c->resume(now);
      settle(c, now);
    }
  }

  void sweep(Clock::time_point now) {
    for (auto& [impl, c] : snapshot()) {
      c->on_timer(now);
      settle(c, now);
    }
  }

  void unwatch(ServerConnection* c) {
    if (c->registered == 0) return;
    try {
      poll_.remove(c->socket());
    } catch (const Poco::Exception&) {
    }
    c->registered = 0;
  }

  // Brings the PollSet in line with what the connection waits for, hands a whole request to its
  // handler, and forgets a closed connection.
  void settle(ServerConnection* c, Clock::time_point now) {
    for (;;) {
      switch (c->state()) {
        case ServerConnection::State::closed:
          unwatch(c);
          connections_.erase(c->socket().impl());
          return;
        case ServerConnection::State::ready:
          if (server_.in_loop && c->request() && server_.in_loop(*c->request())) {
            c->mark_handling();
            ++server_.busy;
            if (!c->serve(*server_.handlers, server_.closing.load())) {
              unwatch(c);  // answered later (a group commit), through give_back
              return;
            }
            --server_.busy;
            c->resume(now);
            continue;  // written, or waiting to be; perhaps a pipelined request is ready
          }
          unwatch(c);
          c->mark_handling();
          ++server_.busy;
          server_.pool->submit(c, this);
          return;
        case ServerConnection::State::handling:
          return;
        default: {
          const int mode = c->wanted_mode();
          if (mode == c->registered) return;
          try {
            if (c->registered == 0)
              poll_.add(c->socket(), mode);
            else
              poll_.update(c->socket(), mode);
            c->registered = mode;
          } catch (const Poco::Exception&) {
            c->on_error();
            continue;
          }
          return;
        }
      }
    }
  }

  EventServer::Impl& server_;
  const int index_;
  Poco::Net::PollSet poll_;
  Poco::Net::StreamSocket wake_read_;
  int wake_write_ = -1;
  std::unordered_map<Poco::Net::SocketImpl*, std::unique_ptr<ServerConnection>> connections_;
  std::mutex inbox_mutex_;
  std::vector<Adopted> adopted_;
  std::vector<ServerConnection*> resumed_;
  bool woken_ = false;
  bool exited_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

IoLoop& IoLoop::pick_loop() {
  auto& loops = server_.loops;
  return *loops[server_.round_robin.fetch_add(1, std::memory_order_relaxed) % loops.size()];
}

}  // namespace

EventServer::Impl::Impl(std::string name_, Poco::Net::ServerSocket socket,
                        Poco::Net::HTTPRequestHandlerFactory::Ptr handlers_, ServerLimits limits_,
                        InLoop in_loop_)
    : name(std::move(name_)),
      listener(std::move(socket)),
      address(listener.address()),
      handlers(std::move(handlers_)),
      limits(limits_),
      in_loop(std::move(in_loop_)) {
  params->setKeepAlive(true);
  pool = std::make_unique<HandlerPool>(
      name, std::max(1, limits.handler_threads),
      [this](ServerConnection* c, IoLoop* loop) { serve_on_handler_thread(c, loop); });
  const int io = std::max(1, limits.io_threads);
  for (int i = 0; i < io; ++i) loops.push_back(std::make_unique<IoLoop>(*this, i));
}

void EventServer::Impl::serve_on_handler_thread(ServerConnection* connection, IoLoop* loop) {
  if (!connection->serve(*handlers, closing.load())) return;  // answered later, via give_back
  // Most answers leave whole right here, without waking the loop to write them.
  (void)connection->flush();
  loop->resume(connection);
  --busy;
}

EventServer::EventServer(std::string name, Poco::Net::ServerSocket socket,
                         Poco::Net::HTTPRequestHandlerFactory::Ptr handlers, ServerLimits limits,
                         InLoop in_loop)
    : impl_(std::make_unique<Impl>(std::move(name), std::move(socket), std::move(handlers), limits,
                                   std::move(in_loop))),
      port_(impl_->address.port()) {}

EventServer::~EventServer() {
  stop();
}

void EventServer::start() {
  for (auto& loop : impl_->loops) loop->start();
}

void EventServer::stop() {
  if (!impl_) return;
  impl_->closing = true;
  for (auto& loop : impl_->loops) loop->stop();
  for (auto& loop : impl_->loops) loop->join();
  // Deferred answers (a group commit in flight) come back through the loops' state: wait for
  // them, within the grace, before any of it goes.
  const auto deadline = Clock::now() + impl_->limits.shutdown_grace;
  while (impl_->busy.load() > 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (impl_->busy.load() == 0 && impl_->pool->stop(impl_->limits.shutdown_grace)) {
    impl_.reset();
    return;
  }
  OCEAND_LOG_WARN("http")
      << "handlers still running after the shutdown grace; leaving their threads";
  (void)impl_.release();
}

size_t EventServer::open_connections() const {
  return impl_ ? impl_->open.load() : 0;
}

}  // namespace oceand
