#pragma once

#include <string>

#include <Poco/Net/HTTPRequestHandler.h>

#include "http/admin_access.hpp"

namespace oceand {

struct AdminDeps;

// /health, /ready, /metrics (on both listeners) and /admin/* (as AdminAccess allows).
class AdminHandler : public Poco::Net::HTTPRequestHandler {
 public:
  AdminHandler(const AdminDeps& host, Listener listener);
  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override;

 private:
  [[nodiscard]] bool probe(const std::string& path, const std::string& method,
                           Poco::Net::HTTPServerResponse& response);
  void dry_run(const std::string& id, Poco::Net::HTTPServerRequest& request,
               Poco::Net::HTTPServerResponse& response);
  void plugins(Poco::Net::HTTPServerResponse& response);
  void reload(Poco::Net::HTTPServerResponse& response);

  const AdminDeps& host_;
  Listener listener_;
  AdminAccess access_;
};

}  // namespace oceand
