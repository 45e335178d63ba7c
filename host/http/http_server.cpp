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
  HandlerFactory(Host& host, Listener listener) : host_(host), listener_(listener) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest& request) override {
    // Webhooks come only through the main door.
    if (request.getURI().rfind("/integration/", 0) == 0 && listener_ == Listener::main)
      return new IngressHandler(host_);
    if (request.getURI().rfind("/api/", 0) == 0) return new EntitiesHandler(host_, listener_);
    return new AdminHandler(host_, listener_);
  }

 private:
  Host& host_;
  const Listener listener_;
};

// Operators' requests are few: a small pool, whatever server.threads says.
constexpr int kAdminThreads = 8;
}  // namespace

HttpServer::HttpServer(Host& host, Listener listener) {
  const auto& cfg = host.config().server;
  const bool admin = listener == Listener::admin;
  const int threads = admin ? kAdminThreads : cfg.threads;
  Poco::Net::SocketAddress address =
      admin ? Poco::Net::SocketAddress(host.config().admin_host(),
                                       static_cast<Poco::UInt16>(host.config().admin_port()))
            : Poco::Net::SocketAddress(cfg.host, static_cast<Poco::UInt16>(cfg.port));
  Poco::Net::ServerSocket socket;
  // An IPv6 address serves IPv4 clients too (dual stack): "[::]:9901" means every address.
  if (address.family() == Poco::Net::SocketAddress::IPv6)
    socket.bind6(address, true, false, false);
  else
    socket.bind(address, true, false);
  socket.listen(cfg.max_queued_connections);
  Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams();
  params->setMaxThreads(threads);
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
  pool_ = std::make_unique<Poco::ThreadPool>(admin ? "admin-http" : "http", 1, threads, 60);
  server_ = std::make_unique<Poco::Net::TCPServer>(
      new HttpConnectionFactory(new HandlerFactory(host, listener), params, registry_, limits),
      *pool_, socket, params);
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
