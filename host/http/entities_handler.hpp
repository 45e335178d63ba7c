#pragma once

#include <Poco/Net/HTTPRequestHandler.h>

#include "http/admin_access.hpp"

namespace oceand {

struct EntitiesDeps;

// The embedded catalog, read as Port's API shows it: GET
// /api/entities?blueprint=<bp>[&limit=&offset=] and GET /api/entities/<blueprint>/<identifier>.
// Same access rule as /admin (AdminAccess).
class EntitiesHandler : public Poco::Net::HTTPRequestHandler {
 public:
  EntitiesHandler(const EntitiesDeps& host, Listener listener);
  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override;

 private:
  const EntitiesDeps& host_;
  AdminAccess access_;
};

}  // namespace oceand
