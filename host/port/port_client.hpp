#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "client/http_client.hpp"

namespace oceand {

class Metrics;

class PortError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PortSettings {
  std::string base_url = "https://api.getport.io";
  std::string client_id;
  std::string client_secret;
  std::chrono::milliseconds timeout{30000};
};

// Port's REST API with client-credentials authentication: the access token is fetched once,
// shared by every thread, kept until shortly before it expires, and fetched again once when Port
// answers 401.
class PortClient {
 public:
  PortClient(PortSettings settings, Metrics& metrics);

  // `path_and_query` starts with /v1/. `endpoint` names the call in metrics. `user_agent`: the
  // integration's (ocean_user_agent), by which Port attributes what is written to it; empty:
  // oceand's own. Safe from any thread.
  HttpResult send(const std::string& method, const std::string& path_and_query,
                  const std::string& body, const char* endpoint,
                  const std::string& user_agent = {});

  // The integration's port-app-config as Port stores it (GET /v1/integration/{identifier}), as
  // JSON text. Throws PortError.
  std::string integration_config(const std::string& identifier);

  const PortSettings& settings() const { return settings_; }

  // Why the last attempt to get an access token failed ("" once one succeeded): /ready shows it,
  // since without a token nothing reaches the catalog.
  std::string token_problem() const;
  // Gets a token now unless a valid one is held; true when one is held afterwards.
  bool ensure_token();

 private:
  // A valid token; "" with `failure` set when Port would not give one.
  std::string token(const std::string& rejected, HttpResult& failure);
  HttpResult call(const std::string& method, const std::string& path_and_query,
                  const std::string& body, const std::string& token, const char* endpoint,
                  const std::string& user_agent);

  PortSettings settings_;
  Metrics& metrics_;
  std::mutex token_mutex_;
  std::string token_;
  std::chrono::steady_clock::time_point token_expiry_{};
  mutable std::mutex problem_mutex_;
  std::string token_problem_ = "no access token fetched from Port yet";
  void set_token_problem(std::string problem);
};

// Keeps PortClient::token_problem() current while nothing else asks for a token: tries at once,
// then again after 1, 2, 4 ... 30 s while it fails, and every 30 s while it holds (a held token is
// not fetched again before it expires, so that costs nothing).
class PortTokenWatch {
 public:
  explicit PortTokenWatch(PortClient& client);
  ~PortTokenWatch();  // stops and joins
  PortTokenWatch(const PortTokenWatch&) = delete;
  PortTokenWatch& operator=(const PortTokenWatch&) = delete;

 private:
  void run();
  PortClient& client_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

// Ocean's User-Agent for an integration's writes,
// "port-ocean/<type>/<version>/<identifier>/exporter": Port derives the entities' $datasource from
// it, which is how it knows whose entities they are.
std::string ocean_user_agent(const std::string& type, const std::string& version,
                             const std::string& identifier);

// Seconds from a Retry-After or x-ratelimit-reset header (delta-seconds, a Unix time above 10000,
// or an HTTP date); 0 when absent or unreadable.
double parse_retry_after(const std::string& value);

// Percent-encodes one path segment.
std::string encode_path_segment(const std::string& segment);

}  // namespace oceand
