#pragma once

#include <cstdint>
#include <memory>

#include "http/event_server.hpp"

namespace oceand {

struct HttpDeps;

// Which door a request came through. The main listener faces the internet (webhooks); the admin
// listener (admin.listen, loopback by default) serves what only operators may see or change.
enum class Listener { main, admin };

// A listener: an EventServer on the configured address, whose handler factory picks each
// request's handler by path. /health and /ready are answered in the I/O loop itself, so probes
// get their answer even when every handler thread is busy.
class HttpServer {
 public:
  // `deps` must outlive the server (the host keeps them).
  HttpServer(const HttpDeps& deps, Listener listener);
  ~HttpServer();
  void start();
  // Stops accepting, ends idle connections, lets answers being written finish, and waits for
  // the handler threads.
  void stop();
  uint16_t port() const;

 private:
  std::unique_ptr<EventServer> server_;
};

// The connections a server may hold: the configured cap, lowered to what the process's
// open-files limit leaves room for (`reserve` files for everything else). Logs when lowered.
size_t connection_cap(size_t configured, size_t reserve, const char* what);

}  // namespace oceand
