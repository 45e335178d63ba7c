#include "http/http_server.hpp"

#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <algorithm>
#include <memory>

#include "app/host.hpp"
#include "http/admin_handler.hpp"
#include "http/entities_handler.hpp"
#include "http/ingress_handler.hpp"

namespace oceand {

namespace {

// Runs a handler, then makes sure the connection can carry the next request: a body the handler
// did not read (a 404, a 405, a refusal before reading) would otherwise be parsed as the start of
// the next request on the kept-alive connection. Small leftovers are read and dropped; a large one
// closes the connection instead of being read.
class ConnectionKeeper : public Poco::Net::HTTPRequestHandler {
 public:
  ConnectionKeeper(Poco::Net::HTTPRequestHandler* inner, size_t max_body_bytes)
      : inner_(inner), max_body_bytes_(max_body_bytes) {}
  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override {
    inner_->handleRequest(request, response);
    if (!response.getKeepAlive()) return;
    if (!request.hasContentLength() && !request.getChunkedTransferEncoding()) return;
    std::istream& in = request.stream();
    char scratch[4096];
    std::streamsize left = static_cast<std::streamsize>(max_body_bytes_);
    while (left > 0) {
      in.read(scratch, std::min<std::streamsize>(sizeof scratch, left));
      std::streamsize got = in.gcount();
      if (got <= 0) break;
      left -= got;
    }
    if (left == 0 && in.peek() != std::char_traits<char>::eof()) response.setKeepAlive(false);
  }

 private:
  std::unique_ptr<Poco::Net::HTTPRequestHandler> inner_;
  size_t max_body_bytes_;
};

class HandlerFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit HandlerFactory(Host& host) : host_(host) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest& request) override {
    if (request.getURI().rfind("/integration/", 0) == 0)
      return new ConnectionKeeper(new IngressHandler(host_), limit());
    if (request.getURI().rfind("/api/", 0) == 0)
      return new ConnectionKeeper(new EntitiesHandler(host_), limit());
    return new ConnectionKeeper(new AdminHandler(host_), limit());
  }

 private:
  size_t limit() const { return host_.config().server.max_body_bytes; }
  Host& host_;
};
}  // namespace

HttpServer::HttpServer(Host& host) {
  const auto& cfg = host.config().server;
  Poco::Net::ServerSocket socket;
  socket.bind(Poco::Net::SocketAddress(cfg.host, static_cast<Poco::UInt16>(cfg.port)), true, false);
  socket.listen(cfg.max_queued_connections);
  auto* params = new Poco::Net::HTTPServerParams();
  params->setMaxThreads(cfg.threads);
  params->setMaxQueued(cfg.max_queued_connections);
  params->setKeepAlive(true);
  params->setMaxKeepAliveRequests(0);
  params->setKeepAliveTimeout(Poco::Timespan(15, 0));
  params->setTimeout(Poco::Timespan(30, 0));
  server_ = std::make_unique<Poco::Net::HTTPServer>(new HandlerFactory(host), socket, params);
}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::start() {
  server_->start();
}

void HttpServer::stop() {
  if (server_) server_->stopAll(true);
}

uint16_t HttpServer::port() const {
  return server_->port();
}

}  // namespace oceand
