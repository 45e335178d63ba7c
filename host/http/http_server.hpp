#pragma once

#include <cstdint>
#include <memory>

#include <Poco/Net/TCPServer.h>
#include <Poco/ThreadPool.h>

#include "http/connection_registry.hpp"

namespace oceand {

class Host;

// Which door a request came through. The main listener faces the internet (webhooks); the admin
// listener (admin.listen, loopback by default) serves what only operators may see or change.
enum class Listener { main, admin };

// A listener: Poco's TCPServer accepts and hands each connection to an HttpConnection on a pool
// of threads (server.threads for the main one); a factory picks each request's handler by path.
class HttpServer {
 public:
  HttpServer(Host& host, Listener listener);
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
