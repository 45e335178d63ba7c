// The GitHub plugin's pieces shared between its processors and its webhook registration.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../common/rest_support.hpp"

namespace github {

inline constexpr std::string_view kDefaultApiUrl = "https://api.github.com";
inline constexpr std::string_view kUserAgent = "oceand-github-plugin/1.1";

// The webhook events the processors handle, i.e. what on_start subscribes a hook to (Ocean's
// list). A repository hook (a personal account's) cannot carry the organization-level ones.
const std::vector<std::string>& webhook_events();
bool organization_only_event(std::string_view event);
std::string lower(std::string s);

// Who a call is made as: `Authorization` and the rate-limit budget it spends.
struct Grant {
  std::string authorization;  // "Bearer ..." or empty (no credentials: public data only)
  std::string budget;         // ocean_http_request.rate_limit_key
};

// An installation of the integration's GitHub App (config app_id + app_private_key).
struct Installation {
  unsigned long long id = 0;
  std::string account;  // the organization's or user's login
  bool user = false;    // installed on a personal account
};

// The integration's credentials: a personal or fine-grained token (config `token`, which wins, as
// in Ocean), or a GitHub App whose installation tokens are made from an RS256 JWT and refreshed
// five minutes before they expire. Thread-safe; tokens are cached per installation for the life
// of the library.
class Credentials {
 public:
  Credentials(std::string_view integration, std::string base);

  bool configured() const { return !token_.empty() || app(); }
  bool app() const { return !app_id_.empty() && !private_key_.empty(); }
  // The grant for calls about `owner`'s repositories (an App: that account's installation).
  Grant for_owner(std::string_view owner) const;
  // The App's installations (for hook registration), or empty for a token.
  std::vector<Installation> installations() const;
  // The App itself (the JWT), for /app endpoints.
  Grant as_app() const;

  // "app_private_key is not a PEM private key" and the like, for validate_config; "" when usable.
  static std::string problem(std::string_view integration);

 private:
  std::string integration_, base_, token_, app_id_, private_key_;
};

// GitHub's REST API at config `api_url` (GitHub Enterprise Server: https://host/api/v3), as the
// integration's credentials for `owner`'s resources.
class Api {
 public:
  explicit Api(std::string_view integration, std::string owner = {});
  // As `grant`, against `base` (hook registration and the App's own calls).
  Api(std::string base, Grant grant);

  const std::string& base() const { return base_; }
  bool has_credentials() const { return !grant_.authorization.empty(); }
  // The same credentials against GitHub's search API, which counts them in a budget of its own
  // (30 calls a minute, beside the core API's 5,000 an hour).
  Api for_search() const {
    return Api(base_, Grant{grant_.authorization, "search/" + grant_.budget});
  }

  // `path` is relative to the API's base, or an absolute URL (a Link header's next page).
  ocean::http::Response call(std::string_view method, const std::string& path,
                             std::string_view body = {}) const;

  // GET of one object for a live event; see ocean_plugins::interpret for what each answer means.
  // `gone`: the statuses meaning the object no longer exists here.
  ocean_plugins::Fetched fetch(const std::string& path,
                               std::initializer_list<int> gone = {404, 410}) const;
  // Every item of a paged list (per_page=100, Link rel="next" followed; at most `max_pages`),
  // as one JSON array; `member` names the list inside an object answer (installations, repos).
  rapidjson::Document list(const std::string& path, const char* member = nullptr,
                           int max_pages = 50) const;

  // A 403 is a rate limit (primary: X-RateLimit-Remaining 0; secondary: Retry-After), anything
  // else is a permission problem that retrying will not fix.
  static std::optional<double> rate_limit_wait(const ocean::http::Response& r);

 private:
  std::string base_;
  Grant grant_;
};

// The URL of the next page in a Link header, or "".
std::string next_link(const ocean::http::Response& r);

// Registers or updates the integration's webhooks at GitHub (on_start).
bool ensure_webhook(const ocean::InstanceInfo& info);

void warn_if_no_secret(std::string_view integration);

// A GitOps file's content as Ocean parses it: JSON for `.json`, YAML for `.yaml` / `.yml`; nullopt
// for other files and for what does not parse (the content stays text).
std::optional<rapidjson::Document> parse_file_content(std::string_view path,
                                                      const std::string& text);

}  // namespace github
