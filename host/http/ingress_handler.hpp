#pragma once

#include <Poco/Net/HTTPRequestHandler.h>

namespace oceand {

class Host;

// POST /integration/<identifier>/<path> (and the /integration/<path> alias): checks and stores the
// event, then answers. Nothing is routed, authenticated or fetched here. Also serves plugins'
// direct routes, synchronously.
class IngressHandler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit IngressHandler(Host& host) : host_(host) {}
  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override;

 private:
  Host& host_;
};

}  // namespace oceand
