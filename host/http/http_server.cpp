#include "http/http_server.hpp"

#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <memory>

#include "app/host.hpp"
#include "core/log.hpp"
#include "http/admin_handler.hpp"
#include "http/entities_handler.hpp"
#include "http/http_connection.hpp"
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
  Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams();
  params->setMaxThreads(cfg.threads);
  params->setMaxQueued(cfg.max_queued_connections);
  params->setKeepAlive(true);
  params->setKeepAliveTimeout(Poco::Timespan(15, 0));
  params->setTimeout(Poco::Timespan(30, 0));
  // An idle dispatcher thread notices a stop only when its wait ends.
  params->setThreadIdleTime(Poco::Timespan(1, 0));
  ConnectionLimits limits;
  limits.max_body_bytes = cfg.max_body_bytes;
  // A pool of our own: Poco's default pool stops at 16 threads, and every kept-alive connection
  // holds one.
  pool_ = std::make_unique<Poco::ThreadPool>("http", 1, cfg.threads, 60);
  server_ = std::make_unique<Poco::Net::TCPServer>(
      new HttpConnectionFactory(new HandlerFactory(host), params, registry_, limits), *pool_,
      socket, params);
}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::start() {
  server_->start();
}

void HttpServer::stop() {
  if (stopped_ || !server_) return;
  stopped_ = true;
  server_->stop();
  if (registry_->close_all(std::chrono::seconds(2))) {
    pool_->joinAll();
    return;
  }
  // A handler that does not return (a plugin's direct route stuck in a call) keeps its thread;
  // the pool is left behind rather than destroyed under it.
  LOG_WARN("http") << "connections still running after the shutdown grace; leaving their threads";
  (void)pool_.release();
  (void)server_.release();
}

uint16_t HttpServer::port() const {
  return server_ ? server_->port() : 0;
}

}  // namespace oceand
