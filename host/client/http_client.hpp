#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace oceand {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpResult {
  int status = 0;  // 0: no response (see error)
  std::string body;
  HeaderList headers;  // names lower-cased
  std::string error;
  bool timed_out = false;

  bool transport_failed() const { return status == 0; }
  // What the host treats as a transient failure of a third party: 429, 5xx or no answer in time.
  bool retryable() const { return status == 0 || status == 429 || status >= 500; }
  std::string header(const std::string& lower_name) const;
};

// Content-Length, Transfer-Encoding and Connection: the client states a request's framing and its
// connection itself, so a caller's own are left out (they could only contradict them).
bool is_framing_header(std::string_view name);

// A name without line breaks or colons, and a value without line breaks: what can be written into
// a request head without starting another field.
bool is_valid_request_header(std::string_view name, std::string_view value);

// Blocking HTTP/1.1 client with keep-alive connections reused per thread and origin: plain HTTP on
// our own connection (client/client_connection.hpp), HTTPS through Poco's session with TLS (system
// CAs).
class HttpClient {
 public:
  static HttpResult request(const std::string& method, const std::string& url,
                            const HeaderList& headers, const std::string& body,
                            std::chrono::milliseconds timeout);
};

}  // namespace oceand
