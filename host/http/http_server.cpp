#include "http/http_server.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <memory>
#include <thread>

#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>

#include "config/host_config.hpp"
#include "core/log.hpp"
#include "http/admin_handler.hpp"
#include "http/entities_handler.hpp"
#include "http/http_deps.hpp"
#include "http/ingress_handler.hpp"
#include "plugins/generation.hpp"
#include "plugins/plugin_manager.hpp"

namespace oceand {

namespace {

class HandlerFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  HandlerFactory(const HttpDeps& host, Listener listener) : host_(host), listener_(listener) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest& request) override {
    // Webhooks come only through the main door.
    if (request.getURI().rfind("/integration/", 0) == 0 && listener_ == Listener::main)
      return new IngressHandler(host_.ingress);
    if (request.getURI().rfind("/api/", 0) == 0)
      return new EntitiesHandler(host_.entities, listener_);
    return new AdminHandler(host_.admin, listener_);
  }

 private:
  const HttpDeps& host_;
  const Listener listener_;
};

// Probes: cheap, never blocking, and what an orchestrator restarts us over when unanswered.
bool is_probe(const InboundRequest& request) {
  const std::string& method = request.getMethod();
  if (method != "GET" && method != "HEAD") return false;
  std::string_view uri = request.getURI();
  uri = uri.substr(0, uri.find('?'));
  return uri == "/health" || uri == "/ready";
}

// The path under /integration/ without trailing slashes, as the routes name it; empty for other
// paths.
std::string integration_path(std::string_view uri) {
  constexpr std::string_view kPrefix = "/integration/";
  if (uri.rfind(kPrefix, 0) != 0) return {};
  std::string_view path = uri.substr(0, uri.find('?'));
  std::string rest(path.substr(kPrefix.size()));
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  return rest;
}

// What the I/O loop answers itself: probes, and webhooks (the body check and a queue push, which
// never waits: a durable push is answered when its group commit lands). Direct routes run plugin
// code and admin requests may take long: handler threads.
bool runs_in_loop(const IngressDeps& host, const InboundRequest& request) {
  if (is_probe(request)) return true;
  if (request.getMethod() != "POST") return false;
  std::string rest = integration_path(request.getURI());
  if (rest.empty()) return false;
  auto generation = host.plugins().current();
  return generation && !generation->resolve_direct("POST", rest) &&
         (generation->resolve_webhook(rest) || generation->shared_path(rest));
}

// A webhook to a path no integration serves is refused whatever its body: its client, if it waits
// for 100 Continue, is not asked to send it.
bool has_route(const IngressDeps& host, const InboundRequest& head) {
  if (head.getURI().rfind("/integration/", 0) != 0) return true;
  std::string rest = integration_path(head.getURI());
  auto generation = host.plugins().current();
  return generation && !rest.empty() &&
         (generation->resolve_webhook(rest) || generation->shared_path(rest) ||
          generation->resolve_direct(head.getMethod(), rest));
}

// Operators' requests are few: a small pool and cap, whatever the main listener's say.
constexpr int kAdminThreads = 8;
constexpr size_t kAdminConnections = 1024;
// Files kept free for everything that is not a connection: queue and catalog files, plugins,
// outbound connections to Port and third parties, logs.
constexpr size_t kReservedFiles = 512;

int default_io_threads() {
  // A loop per core (up to 8): each reads, frames and answers webhooks on its own.
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  return static_cast<int>(std::clamp(cores, 1u, 8u));
}

}  // namespace

size_t connection_cap(size_t configured, size_t reserve, const char* what) {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur == RLIM_INFINITY) return configured;
  const size_t room = files.rlim_cur > reserve ? files.rlim_cur - reserve : 1;
  if (configured <= room) return configured;
  OCEAND_LOG_WARN("http") << what << " lowered to " << room
                          << ": the open-files limit (ulimit -n) is " << files.rlim_cur
                          << "; raise it (systemd: LimitNOFILE) to hold " << configured;
  return room;
}

HttpServer::HttpServer(const HttpDeps& deps, Listener listener) {
  const IngressDeps& host = deps.ingress;
  const auto& cfg = host.config().server;
  const bool admin = listener == Listener::admin;
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

  ServerLimits limits;
  limits.connection.request.max_body_bytes = cfg.max_body_bytes;
  limits.connection.idle_timeout = std::chrono::seconds(cfg.idle_timeout_seconds);
  limits.connection.request_timeout = std::chrono::seconds(cfg.request_timeout_seconds);
  if (!admin)
    limits.connection.wants_body = [&host](const InboundRequest& head) {
      return has_route(host, head);
    };
  if (admin) {
    limits.handler_threads = kAdminThreads;
    limits.io_threads = 1;
    limits.max_connections = kAdminConnections;
  } else {
    limits.handler_threads = cfg.threads;
    limits.io_threads = cfg.io_threads > 0 ? cfg.io_threads : default_io_threads();
    limits.max_connections =
        connection_cap(static_cast<size_t>(cfg.max_connections), kReservedFiles + kAdminConnections,
                       "server.max_connections");
  }
  server_ = std::make_unique<EventServer>(
      admin ? "admin-http" : "http", std::move(socket), new HandlerFactory(deps, listener), limits,
      [&host, admin](const InboundRequest& request) {
        return admin ? is_probe(request) : runs_in_loop(host, request);
      });
}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::start() {
  server_->start();
}

void HttpServer::stop() {
  if (server_) server_->stop();
}

uint16_t HttpServer::port() const {
  return server_ ? server_->port() : 0;
}

}  // namespace oceand
