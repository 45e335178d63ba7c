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

 private:
  bool authorized(Poco::Net::HTTPServerRequest& request) const;
  void plugins(Poco::Net::HTTPServerResponse& response);
  void dead_letters(Poco::Net::HTTPServerResponse& response);
  void replay(const std::string& id, Poco::Net::HTTPServerResponse& response);
  void reload(Poco::Net::HTTPServerResponse& response);

  Host& host_;
};

}  // namespace oceand
