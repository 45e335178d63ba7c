#pragma once

#include <string>

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/IPAddress.h>

#include "http/http_server.hpp"

namespace oceand {

// Who may reach /admin/* and /api/entities. On the main listener (the internet's door, often behind
// a same-host reverse proxy, so a peer's address proves nothing) only "Authorization: Bearer
// <admin.token>" opens them, and nothing does when no token is set. On the admin listener
// (admin.listen) a loopback peer needs nothing — as long as it names this machine in Host and, for
// a change, no other site's page sent it (a browser is a loopback peer too) — and any other peer
// needs the token.
class AdminAccess {
 public:
  AdminAccess(std::string token, Listener listener, std::string admin_listen)
      : token_(std::move(token)), listener_(listener), admin_listen_(std::move(admin_listen)) {}

  // True when the request may go on; otherwise the refusal (401 with WWW-Authenticate, or 403)
  // has been sent.
  bool admit(const Poco::Net::HTTPServerRequest& request,
             Poco::Net::HTTPServerResponse& response) const;

 private:
  bool local_name(const std::string& authority) const;
  bool local_request(const Poco::Net::HTTPServerRequest& request) const;

  std::string token_;
  Listener listener_;
  std::string admin_listen_;
};

// 127.0.0.0/8 and ::1, and IPv4 loopback clients of a dual-stack listener (::ffff:127.x.y.z).
bool is_loopback(const Poco::Net::IPAddress& address);

// "Bearer <token>", the scheme in any case (RFC 9110 section 11.1), compared in constant time.
bool bearer_matches(const std::string& authorization, const std::string& token);

}  // namespace oceand
