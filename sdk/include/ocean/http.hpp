// oceand C++ SDK — HTTP through the host: TLS with the system CAs, timeouts, and the host's
// classification of 429/5xx/timeouts as retryable (docs/plugin-authoring.md, "HTTP calls").
#pragma once

#include <cctype>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ocean/host.hpp"

namespace ocean {

// ----------------------------------------------------------------------------------------------
// HTTP through the host (TLS, timeouts, retry classification)
// ----------------------------------------------------------------------------------------------

namespace http {

struct Header {
  std::string name;
  std::string value;
};

struct Response {
  int status = 0;  // 0: no response arrived, see error
  std::string body;
  std::vector<Header> headers;  // names lower-cased
  std::string error;

  bool ok() const { return status >= 200 && status < 300; }
  std::optional<std::string> header(std::string_view name) const {
    for (const auto& h : headers) {
      if (h.name.size() != name.size()) continue;
      bool same = true;
      for (size_t i = 0; i < name.size() && same; ++i)
        same = std::tolower(static_cast<unsigned char>(h.name[i])) ==
               std::tolower(static_cast<unsigned char>(name[i]));
      if (same) return h.value;
    }
    return std::nullopt;
  }
};

// How a call is made beyond its method, URL, headers and body.
struct Options {
  std::chrono::milliseconds timeout{0};  // 0: the host's default (10 s)
  // The rate-limit budget the call spends (ocean_http_request.rate_limit_key): calls with the same
  // key share what the API's X-RateLimit-* and Retry-After answers said, across every worker.
  std::string_view rate_limit_key;
};

inline Response request(std::string_view method, std::string_view url,
                        const std::vector<Header>& headers, std::string_view body,
                        const Options& options) {
  Response out;
  if (!detail::g_api) {
    out.error = "oceand host not available";
    return out;
  }
  std::vector<ocean_header> raw;
  raw.reserve(headers.size());
  for (const auto& h : headers) raw.push_back({detail::view(h.name), detail::view(h.value)});
  ocean_http_request req{};
  req.struct_size = sizeof req;
  req.method = detail::view(method);
  req.url = detail::view(url);
  req.headers = raw.data();
  req.header_count = raw.size();
  req.body = detail::view(body);
  req.timeout_ms = static_cast<uint32_t>(options.timeout.count());
  req.rate_limit_key = detail::view(options.rate_limit_key);
  ocean_http_response resp{};
  resp.struct_size = sizeof resp;
  detail::g_api->http_request(detail::g_api->host, &req, &resp);
  out.status = resp.status;
  out.body.assign(detail::view(resp.body));
  out.error.assign(detail::view(resp.error));
  for (size_t i = 0; i < resp.header_count; ++i)
    out.headers.push_back({std::string(detail::view(resp.headers[i].name)),
                           std::string(detail::view(resp.headers[i].value))});
  if (resp.handle) detail::g_api->http_response_free(detail::g_api->host, resp.handle);
  return out;
}

inline Response request(std::string_view method, std::string_view url,
                        const std::vector<Header>& headers = {}, std::string_view body = {},
                        std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
  return request(method, url, headers, body, Options{timeout, {}});
}

inline Response get(std::string_view url, const std::vector<Header>& headers = {}) {
  return request("GET", url, headers);
}

}  // namespace http

}  // namespace ocean
