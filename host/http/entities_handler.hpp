#pragma once

#include <Poco/Net/HTTPRequestHandler.h>

namespace oceand {

class Host;

// The embedded catalog, read as Port's API shows it: GET
// /api/entities?blueprint=<bp>[&limit=&offset=] and GET /api/entities/<blueprint>/<identifier>.
// Same access rule as /admin.
class EntitiesHandler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit EntitiesHandler(Host& host) : host_(host) {}
  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override;

 private:
  Host& host_;
};

}  // namespace oceand
