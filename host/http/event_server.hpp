#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/ServerSocket.h>

#include "http/server_connection.hpp"

namespace oceand {

struct ServerLimits {
  ConnectionLimits connection;
  // Open connections at most; a client past the cap gets a 503 and Retry-After at once.
  size_t max_connections = 16384;
  int io_threads = 1;        // I/O loops, each with its own PollSet
  int handler_threads = 64;  // threads that run handlers (started as they are needed)
  // How long a stop lets answers being prepared or written finish.
  std::chrono::milliseconds shutdown_grace{2'000};
};

// An HTTP/1.1 server whose connections never hold a thread: I/O loops on Poco's PollSet (epoll)
// read each request whole, hand it to a handler thread (or answer it in the loop when
// `in_loop` says it is cheap and cannot block, so that probes are answered even when every
// handler thread is busy), and write the answer as fast as the client takes it. Idle and slow
// clients cost a few hundred bytes each, not a thread.
class EventServer {
 public:
  using InLoop = std::function<bool(const InboundRequest&)>;

  // `socket`: bound and listening. `name` names the threads ("http", "admin-http").
  EventServer(std::string name, Poco::Net::ServerSocket socket,
              Poco::Net::HTTPRequestHandlerFactory::Ptr handlers, ServerLimits limits,
              InLoop in_loop = {});
  ~EventServer();
  EventServer(const EventServer&) = delete;
  EventServer& operator=(const EventServer&) = delete;

  void start();
  // Stops accepting, closes idle and half-read connections, lets answers being prepared or
  // written finish within the grace, and waits for the handler threads. A handler that does not
  // return (a plugin's direct route stuck in a call) keeps its thread: the server's state is left
  // behind for it rather than destroyed under it.
  void stop();
  uint16_t port() const { return port_; }
  // Connections open now (not counting refused ones being closed).
  size_t open_connections() const;

  struct Impl;  // the loops, the handler threads and what they share

 private:
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace oceand
