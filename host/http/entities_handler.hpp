#pragma once

#include <string>
#include <vector>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/URI.h>

#include "http/admin_access.hpp"

namespace oceand {

struct EntitiesDeps;
class EntityStore;

// The embedded catalog, read as Port's API shows it: GET
// /api/entities?blueprint=<bp>[&limit=&offset=] and GET /api/entities/<blueprint>/<identifier>.
// Same access rule as /admin (AdminAccess).
class EntitiesHandler : public Poco::Net::HTTPRequestHandler {
 public:
  EntitiesHandler(const EntitiesDeps& host, Listener listener);
  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override;

 private:
  void list(EntityStore& store, const Poco::URI& uri, Poco::Net::HTTPServerResponse& response);
  [[nodiscard]] static bool path_segments(const std::string& target,
                                          std::vector<std::string>& segments);

  const EntitiesDeps& host_;
  AdminAccess access_;
};

}  // namespace oceand
