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

namespace {

// The host part of a Host header or an origin's authority ("[::1]:9901" -> "::1").
std::string host_part(std::string authority) {
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    return close == std::string::npos ? authority : authority.substr(1, close - 1);
  }
  size_t colon = authority.find(':');
  if (colon != std::string::npos && authority.find(':', colon + 1) == std::string::npos)
    authority.resize(colon);
  return authority;
}

}  // namespace

// A name a browser on this machine uses for the admin listener: a loopback address, localhost, or
// the address admin.listen names. Anything else in Host came from a name that resolved here —
// DNS rebinding, a page of another site reaching for 127.0.0.1 through its own name.
bool AdminAccess::local_name(const std::string& authority) const {
  const std::string host = Poco::toLower(host_part(authority));
  if (host.empty() || host == "localhost") return true;
  Poco::Net::IPAddress address;
  if (Poco::Net::IPAddress::tryParse(host, address) && is_loopback(address)) return true;
  return !admin_listen_.empty() && host == Poco::toLower(host_part(admin_listen_));
}

// Loopback peers are admitted without a token, so a browser on this machine is one: a request
// must name the listener as the machine does (Host), and a state-changing one must not come from
// another site's page (Origin, Sec-Fetch-Site).
bool AdminAccess::local_request(const Poco::Net::HTTPServerRequest& request) const {
  if (!local_name(request.getHost())) return false;
  const std::string& method = request.getMethod();
  if (method == "GET" || method == "HEAD" || method == "OPTIONS") return true;
  const std::string site = request.get("Sec-Fetch-Site", "");
  if (!site.empty() && site != "same-origin" && site != "none") return false;
  std::string origin = request.get("Origin", "");
  if (origin.empty()) return true;
  const size_t scheme = origin.find("://");
  if (origin == "null" || scheme == std::string::npos) return false;
  return local_name(origin.substr(scheme + 3));
}

bool AdminAccess::admit(const Poco::Net::HTTPServerRequest& request,
                        Poco::Net::HTTPServerResponse& response) const {
  if (listener_ == Listener::admin && is_loopback(request.clientAddress().host())) {
    if (local_request(request)) return true;
    send_error(response, 403,
               "refused: the request names another host, or comes from another site's page");
    return false;
  }
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
