#pragma once

#include <memory>

#include <Poco/Net/HTTPServer.h>

namespace oceand {

class Host;

// The listener: Poco's HTTPServer with a factory that picks a handler by path.
class HttpServer {
 public:
  explicit HttpServer(Host& host);
  ~HttpServer();
  void start();
  void stop();
  uint16_t port() const;

 private:
  std::unique_ptr<Poco::Net::HTTPServer> server_;
};

}  // namespace oceand
