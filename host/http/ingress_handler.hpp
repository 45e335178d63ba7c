#pragma once

#include <Poco/Net/HTTPRequestHandler.h>

namespace oceand {

struct IngressDeps;

// POST /integration/<identifier>/<path> (and the /integration/<path> alias): checks and stores the
// event, then answers. Nothing is routed, authenticated or fetched here. Also serves plugins'
// direct routes, synchronously.
class IngressHandler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit IngressHandler(const IngressDeps& host) : host_(host) {}
  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override;

 private:
  const IngressDeps& host_;
};

}  // namespace oceand
