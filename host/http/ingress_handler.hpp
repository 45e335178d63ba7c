#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <Poco/Net/HTTPRequestHandler.h>

#include "core/event.hpp"

namespace oceand {

struct IngressDeps;
class PluginLibrary;

// POST /integration/<identifier>/<path> (and the /integration/<path> alias): checks and stores the
// event, then answers. Nothing is routed, authenticated or fetched here. Also serves plugins'
// direct routes, synchronously.
class IngressHandler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit IngressHandler(const IngressDeps& host) : host_(host) {}
  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override;

 private:
  using Reject = std::function<void(int status, std::string_view message, const char* reason)>;
  void refuse_unrouted(const Poco::Net::HTTPServerRequest& request,
                       Poco::Net::HTTPServerResponse& response, const std::string& path, int status,
                       std::string_view message, const char* reason);
  [[nodiscard]] bool admissible(const std::string& method, Poco::Net::HTTPServerResponse& response,
                                const Reject& reject);
  [[nodiscard]] bool read_payload(Poco::Net::HTTPServerRequest& request,
                                  Poco::Net::HTTPServerResponse& response, Event& event,
                                  const Reject& reject);
  static void stamp(Event& event, const Poco::Net::HTTPServerRequest& request,
                    const PluginLibrary* plugin);
  void store(EventPtr event, Poco::Net::HTTPServerResponse& response);

  const IngressDeps& host_;
};

}  // namespace oceand
