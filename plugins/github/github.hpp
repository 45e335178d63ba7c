// The GitHub plugin's pieces shared between its processors and its webhook registration.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../common/rest_support.hpp"

namespace github {

inline constexpr std::string_view kDefaultApiUrl = "https://api.github.com";
inline constexpr std::string_view kUserAgent = "oceand-github-plugin/1.0";

// The webhook events the processors handle, i.e. what on_start subscribes the hook to.
inline const std::vector<std::string>& webhook_events() {
  static const std::vector<std::string> events = {"repository", "push",    "pull_request",
                                                  "issues",     "release", "workflow_run"};
  return events;
}

// GitHub's REST API at config `api_url`, authenticated with config `token` when set.
class Api {
 public:
  explicit Api(std::string_view integration)
      : base_(ocean_plugins::without_trailing_slash(
            ocean_plugins::config_value(integration, "api_url")
                .value_or(std::string(kDefaultApiUrl)))),
        token_(ocean_plugins::config_value(integration, "token").value_or("")) {}

  const std::string& base() const { return base_; }
  bool has_token() const { return !token_.empty(); }

  ocean::http::Response call(std::string_view method, const std::string& path,
                             std::string_view body = {}) const {
    std::vector<ocean::http::Header> headers = {{"Accept", "application/vnd.github+json"},
                                                {"User-Agent", std::string(kUserAgent)},
                                                {"X-GitHub-Api-Version", "2022-11-28"}};
    if (!token_.empty()) headers.push_back({"Authorization", "Bearer " + token_});
    if (!body.empty()) headers.push_back({"Content-Type", "application/json"});
    return ocean::http::request(method, base_ + path, headers, body);
  }

  // GET of one object for a live event; see ocean_plugins::interpret for what each answer means.
  // `gone`: the statuses meaning the object no longer exists here.
  ocean_plugins::Fetched fetch(const std::string& path,
                               std::initializer_list<int> gone = {404, 410}) const {
    return ocean_plugins::interpret(call("GET", path), "GitHub GET " + path, gone,
                                    &rate_limit_wait);
  }

  // A 403 is a rate limit (primary: X-RateLimit-Remaining 0; secondary: Retry-After), anything
  // else is a permission problem that retrying will not fix.
  static std::optional<double> rate_limit_wait(const ocean::http::Response& r) {
    if (r.status != 403 && r.status != 429) return std::nullopt;
    if (auto after = ocean_plugins::retry_after_seconds(r)) return after;
    if (r.header("x-ratelimit-remaining") == std::optional<std::string>("0"))
      return ocean_plugins::seconds_until_epoch_header(r, "x-ratelimit-reset").value_or(60);
    return std::nullopt;
  }

 private:
  std::string base_;
  std::string token_;
};

// Registers or updates the integration's webhook at GitHub (on_start).
bool ensure_webhook(const ocean::InstanceInfo& info);

void warn_if_no_secret(std::string_view integration);

}  // namespace github
