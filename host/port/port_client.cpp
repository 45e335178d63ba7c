#include "port/port_client.hpp"

#include <Poco/DateTimeParser.h>
#include <Poco/Timestamp.h>
#include <Poco/URI.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/json_text.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/text.hpp"
#include "core/thread_name.hpp"

namespace oceand {

namespace {

std::string trim_slash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

double parse_retry_after(const std::string& value) {
  if (value.empty()) return 0;
  char* end = nullptr;
  double seconds = std::strtod(value.c_str(), &end);
  if (end != value.c_str() && *end == '\0') {
    // x-ratelimit-reset may be a Unix time rather than a delay: as Ocean reads it, a number above
    // 10000 is a moment.
    if (seconds > 10000)
      seconds -= static_cast<double>(Poco::Timestamp().epochMicroseconds()) / 1e6;
    return std::clamp(seconds, 0.0, 3600.0);
  }
  try {
    int tz = 0;
    Poco::DateTime when = Poco::DateTimeParser::parse(value, tz);
    double delta = static_cast<double>(when.timestamp().epochMicroseconds() -
                                       Poco::Timestamp().epochMicroseconds()) /
                   1e6;
    return std::clamp(delta, 0.0, 3600.0);
  } catch (const std::exception&) {
    return 0;
  }
}

std::string encode_path_segment(const std::string& segment) {
  // Every reserved character too: only letters, digits and -._~ stay as they are.
  std::string out;
  Poco::URI::encode(segment, "!#$&'()*+,/:;=?@[]", out);
  return out;
}

PortClient::PortClient(PortSettings settings, Metrics& metrics)
    : settings_(std::move(settings)), metrics_(metrics) {
  settings_.base_url = trim_slash(settings_.base_url);
}

HttpResult PortClient::call(const std::string& method, const std::string& path_and_query,
                            const std::string& body, const std::string& token, const char* endpoint,
                            const std::string& user_agent) {
  HeaderList headers{{"Content-Type", "application/json"},
                     {"Accept", "application/json"},
                     {"User-Agent", user_agent.empty() ? "oceand/" OCEAND_VERSION : user_agent}};
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  // The token call is short (and a stuck one would hold up shutdown through the token watch).
  const auto timeout = std::strcmp(endpoint, "auth") == 0
                           ? std::min(settings_.timeout, std::chrono::milliseconds(10000))
                           : settings_.timeout;
  HttpResult result =
      HttpClient::request(method, settings_.base_url + path_and_query, headers, body, timeout);
  std::string status = result.status ? std::to_string(result.status)
                                     : (result.timed_out ? "timeout" : "no_response");
  metrics_.add("oceand_port_requests_total", {{"endpoint", endpoint}, {"status", status}});
  return result;
}

std::string PortClient::token(const std::string& rejected, HttpResult& failure) {
  std::lock_guard lock(token_mutex_);
  auto now = std::chrono::steady_clock::now();
  // Another thread may have refreshed it already after the same 401.
  if (!token_.empty() && token_ != rejected && now < token_expiry_) return token_;
  std::string body = "{\"clientId\":" + json_string(settings_.client_id) +
                     ",\"clientSecret\":" + json_string(settings_.client_secret) + "}";
  HttpResult result = call("POST", "/v1/auth/access_token", body, "", "auth", {});
  if (result.status != 200) {
    set_token_problem("Port's token endpoint " + settings_.base_url + "/v1/auth/access_token " +
                      (result.status
                           ? "answered HTTP " + std::to_string(result.status)
                           : "could not be reached: " +
                                 (result.error.empty() ? std::string("no answer") : result.error)));
    failure = std::move(result);
    if (failure.status == 401 || failure.status == 403 || failure.status == 422) {
      OCEAND_LOG_ERROR("port") << "Port refused the client credentials (HTTP " << failure.status
                               << "): check port.client_id and port.client_secret";
    }
    return {};
  }
  rapidjson::Document doc;
  doc.Parse(result.body.data(), result.body.size());
  auto access = doc.IsObject() ? doc.FindMember("accessToken") : rapidjson::Value::MemberIterator();
  if (!doc.IsObject() || access == doc.MemberEnd() || !access->value.IsString()) {
    failure = std::move(result);
    failure.status = 502;  // an answer we cannot use is a fault on Port's side: worth a retry
    failure.error = "Port's access_token answer has no accessToken";
    set_token_problem(failure.error);
    return {};
  }
  double expires_in = 3600;
  auto exp = doc.FindMember("expiresIn");
  if (exp != doc.MemberEnd() && exp->value.IsNumber()) expires_in = exp->value.GetDouble();
  double margin = std::min(60.0, expires_in / 10);
  token_ = access->value.GetString();
  token_expiry_ = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(std::max(0.0, expires_in - margin)));
  OCEAND_LOG_DEBUG("port") << "access token fetched, valid for " << expires_in << " s";
  set_token_problem({});
  return token_;
}

void PortClient::set_token_problem(std::string problem) {
  std::lock_guard lock(problem_mutex_);
  token_problem_ = std::move(problem);
}

std::string PortClient::token_problem() const {
  std::lock_guard lock(problem_mutex_);
  return token_problem_;
}

bool PortClient::ensure_token() {
  HttpResult failure;
  return !token("", failure).empty();
}

PortTokenWatch::PortTokenWatch(PortClient& client) : client_(client), thread_([this] { run(); }) {}

PortTokenWatch::~PortTokenWatch() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void PortTokenWatch::run() {
  name_this_thread("port-token");
  constexpr std::chrono::seconds kMost{30};
  std::chrono::seconds retry{1};
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    const bool held = client_.ensure_token();
    lock.lock();
    std::chrono::seconds delay = held ? kMost : retry;
    retry = held ? std::chrono::seconds(1) : std::min(retry * 2, kMost);
    wake_.wait_for(lock, delay, [&] { return stopping_; });
  }
}

HttpResult PortClient::send(const std::string& method, const std::string& path_and_query,
                            const std::string& body, const char* endpoint,
                            const std::string& user_agent) {
  HttpResult failure;
  std::string t = token("", failure);
  if (t.empty()) return failure;
  HttpResult result = call(method, path_and_query, body, t, endpoint, user_agent);
  if (result.status != 401) return result;
  OCEAND_LOG_INFO("port") << "Port answered 401: fetching a new access token and trying once more";
  t = token(t, failure);
  if (t.empty()) return failure;
  return call(method, path_and_query, body, t, endpoint, user_agent);
}

std::string ocean_user_agent(const std::string& type, const std::string& version,
                             const std::string& identifier) {
  return "port-ocean/" + lower(type) + "/" + version + "/" + identifier + "/exporter";
}

std::string PortClient::integration_config(const std::string& identifier) {
  HttpResult result =
      send("GET", "/v1/integration/" + encode_path_segment(identifier), "", "integration");
  if (result.status != 200)
    throw PortError("GET /v1/integration/" + identifier + " failed: " +
                    (result.status ? "HTTP " + std::to_string(result.status) + " " + result.body
                                   : result.error));
  rapidjson::Document doc;
  doc.Parse(result.body.data(), result.body.size());
  if (doc.HasParseError() || !doc.IsObject())
    throw PortError("GET /v1/integration/" + identifier + ": the answer is not a JSON object");
  auto integration = doc.FindMember("integration");
  const rapidjson::Value* config = nullptr;
  if (integration != doc.MemberEnd() && integration->value.IsObject()) {
    auto c = integration->value.FindMember("config");
    if (c != integration->value.MemberEnd() && c->value.IsObject()) config = &c->value;
  }
  if (!config)
    throw PortError("GET /v1/integration/" + identifier +
                    ": the answer has no integration.config (is a mapping set in Port?)");
  return json_text(*config);
}

}  // namespace oceand
