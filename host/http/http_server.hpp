#pragma once

#include <cstdint>
#include <memory>

#include <Poco/Net/TCPServer.h>
#include <Poco/ThreadPool.h>

#include "http/connection_registry.hpp"

namespace oceand {

class Host;

// The listener: Poco's TCPServer accepts and hands each connection to an HttpConnection on a
// pool of server.threads threads; a factory picks each request's handler by path.
class HttpServer {
 public:
  explicit HttpServer(Host& host);
  ~HttpServer();
  void start();
  // Stops accepting, ends idle connections, lets answers being written finish, and waits for
  // the connection threads.
  void stop();
  uint16_t port() const;

 private:
  std::unique_ptr<Poco::ThreadPool> pool_;
  std::shared_ptr<ConnectionRegistry> registry_ = std::make_shared<ConnectionRegistry>();
  std::unique_ptr<Poco::Net::TCPServer> server_;
  bool stopped_ = false;
};

}  // namespace oceand
