#include "http/http_server.hpp"

#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>

#include "app/host.hpp"
#include "http/admin_handler.hpp"
#include "http/entities_handler.hpp"
#include "http/ingress_handler.hpp"

namespace oceand {

namespace {
class HandlerFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit HandlerFactory(Host& host) : host_(host) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest& request) override {
    if (request.getURI().rfind("/integration/", 0) == 0) return new IngressHandler(host_);
    if (request.getURI().rfind("/api/", 0) == 0) return new EntitiesHandler(host_);
    return new AdminHandler(host_);
  }

 private:
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
