#pragma once

#include <Poco/Net/HTTPRequestHandler.h>

namespace oceand {

class Host;

// /health, /ready, /metrics and /admin/*. Admin endpoints answer only on loopback when admin.token
// is empty, and only with "Authorization: Bearer <token>" otherwise.
class AdminHandler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit AdminHandler(Host& host) : host_(host) {}
  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override;

  // The admin rule, shared by every endpoint that shows or changes more than health.
  static bool authorized(const Host& host, Poco::Net::HTTPServerRequest& request);

 private:
  void plugins(Poco::Net::HTTPServerResponse& response);
  void dead_letters(Poco::Net::HTTPServerResponse& response);
  void replay(const std::string& id, Poco::Net::HTTPServerResponse& response);
  void reload(Poco::Net::HTTPServerResponse& response);

  Host& host_;
};

}  // namespace oceand
