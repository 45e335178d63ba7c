#include "http/admin_access.hpp"

#include <openssl/crypto.h>

#include <Poco/String.h>

#include "http/responses.hpp"

namespace oceand {

bool is_loopback(const Poco::Net::IPAddress& address) {
  if (address.isLoopback()) return true;
  if (address.family() != Poco::Net::IPAddress::IPv6 || !address.isIPv4Mapped()) return false;
  // ::ffff:a.b.c.d: the last four bytes are the IPv4 address.
  const auto* bytes = static_cast<const unsigned char*>(address.addr());
  return bytes[12] == 127;
}

bool bearer_matches(const std::string& authorization, const std::string& token) {
  if (token.empty()) return false;
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size() ||
      Poco::icompare(authorization.substr(0, kScheme.size()), std::string(kScheme)) != 0 ||
      authorization[kScheme.size()] != ' ')
    return false;
  size_t start = authorization.find_first_not_of(' ', kScheme.size());
  if (start == std::string::npos) return false;
  std::string given = authorization.substr(start);
  while (!given.empty() && (given.back() == ' ' || given.back() == '\t')) given.pop_back();
  return given.size() == token.size() &&
         CRYPTO_memcmp(given.data(), token.data(), token.size()) == 0;
}

bool AdminAccess::admit(const Poco::Net::HTTPServerRequest& request,
                        Poco::Net::HTTPServerResponse& response) const {
  if (listener_ == Listener::admin && is_loopback(request.clientAddress().host())) return true;
  if (token_.empty()) {
    send_error(
        response, 403,
        listener_ == Listener::main
            ? "admin endpoints are served on the admin listener (admin.listen" +
                  (admin_listen_.empty() ? std::string(", which is off") : " " + admin_listen_) +
                  "), or here with admin.token set"
            : std::string("the admin listener answers other hosts only with admin.token set"));
    return false;
  }
  if (bearer_matches(request.get("Authorization", ""), token_)) return true;
  response.set("WWW-Authenticate", "Bearer realm=\"oceand\"");
  send_error(response, 401, "admin endpoints need Authorization: Bearer <admin.token>");
  return false;
}

}  // namespace oceand
