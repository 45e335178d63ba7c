#pragma once

#include <chrono>
#include <memory>

#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Net/TCPServerConnectionFactory.h>

#include "http/connection_registry.hpp"
#include "http/inbound_request.hpp"

namespace oceand {

struct ConnectionLimits {
  size_t max_head_bytes = 64 * 1024;
  // From the first byte of a request to the end of its body, however it trickles in.
  std::chrono::milliseconds request_deadline{60'000};
  size_t max_body_bytes = 1024 * 1024;  // a body left unread up to this size is dropped, not fatal
};

// One client connection, served on its own thread: requests are read, handed to the handler the
// factory picks, and answered in order until the client closes, the keep-alive wait ends, a
// request cannot be framed, or the server stops.
class HttpConnection : public Poco::Net::TCPServerConnection {
 public:
  HttpConnection(const Poco::Net::StreamSocket& socket,
                 Poco::Net::HTTPRequestHandlerFactory& handlers,
                 Poco::Net::HTTPServerParams::Ptr params,
                 std::shared_ptr<ConnectionRegistry> registry, ConnectionLimits limits);
  void run() override;

 private:
  bool serve_one(class SocketReader& reader, const ConnectionInfo& info);

  Poco::Net::HTTPRequestHandlerFactory& handlers_;
  Poco::Net::HTTPServerParams::Ptr params_;
  std::shared_ptr<ConnectionRegistry> registry_;
  ConnectionLimits limits_;
};

class HttpConnectionFactory : public Poco::Net::TCPServerConnectionFactory {
 public:
  HttpConnectionFactory(Poco::Net::HTTPRequestHandlerFactory::Ptr handlers,
                        Poco::Net::HTTPServerParams::Ptr params,
                        std::shared_ptr<ConnectionRegistry> registry, ConnectionLimits limits)
      : handlers_(std::move(handlers)),
        params_(params),
        registry_(std::move(registry)),
        limits_(limits) {}
  Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override {
    return new HttpConnection(socket, *handlers_, params_, registry_, limits_);
  }

 private:
  Poco::Net::HTTPRequestHandlerFactory::Ptr handlers_;
  Poco::Net::HTTPServerParams::Ptr params_;
  // Shared: a server stopped while a handler is stuck leaves its pool behind, and the registry
  // must outlive that connection.
  std::shared_ptr<ConnectionRegistry> registry_;
  ConnectionLimits limits_;
};

}  // namespace oceand
