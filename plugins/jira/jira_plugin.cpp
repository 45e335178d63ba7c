// The Jira integration: live events for issues and projects, with Ocean's Jira integration as the
// reference for what each event means.
//
// Jira names the event in the body (`webhookEvent`), not in a header. Each processor re-fetches the
// object from the REST API v3 and reports deletions with the payload's own object.
#include <algorithm>
#include <set>

#include "../common/rest_support.hpp"

namespace jira {
namespace {

using ocean_plugins::config_value;
using ocean_plugins::find;
using ocean_plugins::get_string;
using ocean_plugins::path_segment;

constexpr std::string_view kUserAgent = "oceand-jira-plugin/1.0";

const std::set<std::string>& issue_events() {
  static const std::set<std::string> e = {"jira:issue_created", "jira:issue_updated",
                                          "jira:issue_deleted"};
  return e;
}
const std::set<std::string>& project_events() {
  static const std::set<std::string> e = {"project_created", "project_updated", "project_deleted",
                                          "project_soft_deleted"};
  return e;
}

std::string webhook_event(const rapidjson::Value& payload) {
  return get_string(payload, {"webhookEvent"}).value_or("");
}

// Issue and project keys go into URL paths; they are short and never contain '/' in Jira, so
// anything else is a malformed payload rather than something to encode and send.
bool plausible_key(const std::optional<std::string>& key) {
  return key && !key->empty() && key->size() <= 255 &&
         std::none_of(key->begin(), key->end(), [](char c) {
           return c == '/' || c == '?' || c == '#' || static_cast<unsigned char>(c) < 0x21;
         });
}

// Jira's REST API at config `api_url`, with basic auth from config `email` and `api_token`, or an
// OAuth 2.0 access token (`access_token`, sent as Bearer).
class Api {
 public:
  explicit Api(std::string_view integration)
      : base_(ocean_plugins::without_trailing_slash(
            config_value(integration, "api_url").value_or(""))) {
    auto email = config_value(integration, "email");
    auto token = config_value(integration, "api_token");
    if (email && token) auth_ = "Basic " + ocean::base64_encode(*email + ":" + *token);
    if (auto bearer = config_value(integration, "access_token")) auth_ = "Bearer " + *bearer;
  }

  bool configured() const { return !base_.empty(); }
  bool has_credentials() const { return !auth_.empty(); }

  ocean::http::Response call(std::string_view method, const std::string& path,
                             std::string_view body = {}) const {
    std::vector<ocean::http::Header> headers = {{"Accept", "application/json"},
                                                {"User-Agent", std::string(kUserAgent)}};
    if (!auth_.empty()) headers.push_back({"Authorization", auth_});
    if (!body.empty()) headers.push_back({"Content-Type", "application/json"});
    return ocean::http::request(method, base_ + path, headers, body);
  }

  ocean_plugins::Fetched fetch(const std::string& path) const {
    if (base_.empty()) throw std::runtime_error("Jira: config api_url is not set");
    return ocean_plugins::interpret(call("GET", path), "Jira GET " + path, {404},
                                    [](const ocean::http::Response& r) -> std::optional<double> {
                                      if (r.status == 429 || r.status == 503)
                                        return ocean_plugins::retry_after_seconds(r);
                                      return std::nullopt;
                                    });
  }

 private:
  std::string base_;
  std::string auth_;
};

void warn_if_no_secret(std::string_view integration) {
  ocean_plugins::warn_once("no-secret", integration,
                           "integration '" + std::string(integration) +
                               "': no webhook_secret configured, so every Jira delivery is "
                               "accepted without checking X-Hub-Signature");
}

class JiraProcessor : public ocean::WebhookProcessor {
 public:
  bool authenticate(const rapidjson::Value&, const ocean::Headers& headers,
                    std::string_view raw_body) override {
    auto secret = config_value(event().integration(), "webhook_secret");
    if (!secret) {
      warn_if_no_secret(event().integration());
      return true;
    }
    if (ocean_plugins::verify_sha256_header(*secret, raw_body, headers.get("x-hub-signature")))
      return true;
    count_event("jira_signature_rejected");
    ocean::log_warning(std::string(headers.get("x-hub-signature") ? "wrong" : "missing") +
                       " X-Hub-Signature on delivery '" + std::string(event().delivery_id()) +
                       "' for integration '" + std::string(event().integration()) + "'");
    return false;
  }

  // The issue or project key: events about one issue (or project) run in order.
  std::string group_key(const ocean::WebhookEvent& event) override {
    const auto& payload = event.payload();
    std::string name = webhook_event(payload);
    std::optional<std::string> key;
    if (issue_events().count(name)) key = get_string(payload, {"issue", "key"});
    if (project_events().count(name)) key = get_string(payload, {"project", "key"});
    return plausible_key(key) ? *key : std::string();
  }

 protected:
  Api api() const { return Api(event().integration()); }

  // Shared by both kinds: deletions use the payload's object; everything else is fetched, and a
  // 404 turns into a deletion of the payload's object.
  ocean::WebhookEventRawResults sync(const rapidjson::Value& object, bool deleted,
                                     const std::string& path) {
    ocean::WebhookEventRawResults out;
    if (deleted) {
      out.add_deleted(object);
      return out;
    }
    if (cancelled()) throw std::runtime_error("cancelled before calling Jira");
    auto fresh = api().fetch(path);
    if (fresh.gone)
      out.add_deleted(object);
    else
      out.add_updated_text(std::move(fresh.text));
    return out;
  }
};

class IssueProcessor : public JiraProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent& event) override {
    return issue_events().count(webhook_event(event.payload())) > 0;
  }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"issue"};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    return plausible_key(get_string(payload, {"issue", "key"}));
  }
  // The resource's selector scopes it as Ocean's does: with `jql`, the issue is searched for with
  // `(<jql>) AND key = <key>` and, when it no longer matches, deleted; `fields` and `expand` go
  // with the request either way.
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig& resource) override {
    count_event("jira_events_handled");
    std::string key = *get_string(payload, {"issue", "key"});
    if (webhook_event(payload) == "jira:issue_deleted") return sync(payload["issue"], true, "");
    const rapidjson::Value& config = resource.config();
    std::string options;
    for (const char* name : {"fields", "expand"})
      if (auto value = get_string(config, {"selector", name}); value && !value->empty())
        options += std::string("&") + name + "=" + path_segment(*value);
    auto jql = get_string(config, {"selector", "jql"});
    if (!jql || jql->empty())
      return sync(payload["issue"], false,
                  "/rest/api/3/issue/" + path_segment(key) +
                      (options.empty() ? "" : "?" + options.substr(1)));
    if (cancelled()) throw std::runtime_error("cancelled before calling Jira");
    auto found = api().fetch(
        "/rest/api/3/search/jql?jql=" + path_segment("(" + *jql + ") AND key = " + key) +
        "&maxResults=1" + options);
    ocean::WebhookEventRawResults out;
    const rapidjson::Value* issues = found.gone ? nullptr : find(found.object, {"issues"});
    if (issues && !issues->IsArray())
      throw std::runtime_error("Jira search answered without an issues list");
    if (!issues || issues->Empty())
      out.add_deleted(payload["issue"]);  // outside the resource's JQL: not in its catalog
    else
      out.add_updated((*issues)[0]);
    return out;
  }
};

class ProjectProcessor : public JiraProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent& event) override {
    return project_events().count(webhook_event(event.payload())) > 0;
  }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"project"};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    return plausible_key(get_string(payload, {"project", "key"}));
  }
  // `expand=insight` brings totalIssueCount, which the default mapping shows.
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig&) override {
    count_event("jira_events_handled");
    std::string key = *get_string(payload, {"project", "key"});
    std::string name = webhook_event(payload);
    return sync(payload["project"], name == "project_deleted" || name == "project_soft_deleted",
                "/rest/api/3/project/" + path_segment(key) + "?expand=insight");
  }
};

// ---- on_start: the admin webhook (REST /rest/webhooks/1.0/webhook), as Ocean's Jira integration
// creates it at startup.

bool answered(const ocean::http::Response& r, const std::string& what) {
  if (r.ok()) return true;
  ocean::log_error("Jira webhook registration: " + what + " answered " +
                   (r.status ? std::to_string(r.status) + ": " + ocean_plugins::excerpt(r.body)
                             : "nothing (" + r.error + ")"));
  return false;
}

std::string webhook_body(const std::string& identifier, const std::string& url,
                         const std::optional<std::string>& secret) {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  std::string name = "oceand " + identifier;
  d.AddMember("name", rapidjson::Value(name.c_str(), a), a);
  d.AddMember("url", rapidjson::Value(url.c_str(), a), a);
  rapidjson::Value events(rapidjson::kArrayType);
  for (const auto* set : {&issue_events(), &project_events()})
    for (const auto& e : *set) events.PushBack(rapidjson::Value(e.c_str(), a), a);
  d.AddMember("events", events, a);
  d.AddMember("excludeBody", false, a);
  if (secret) d.AddMember("secret", rapidjson::Value(secret->c_str(), a), a);
  return ocean::to_json(d);
}

// Creates the webhook when no webhook points at our URL; updates it (PUT) when it lacks one of our
// events. Jira Server answers a list; Jira Cloud may wrap it in {"values": [...]}.
bool ensure_webhook(const ocean::InstanceInfo& info) {
  const std::string& id = info.integration;
  auto secret = config_value(id, "webhook_secret");
  if (!secret) warn_if_no_secret(id);
  Api api(id);
  if (info.base_url.empty() || !api.configured() || !api.has_credentials()) {
    ocean::log_info(
        "integration '" + id +
        "': no base_url, api_url or credentials (email and api_token, or access_token), so no Jira "
        "webhook is registered; create it by hand (see docs/integrations/jira.md)");
    return true;
  }
  const std::string url =
      ocean_plugins::without_trailing_slash(info.base_url) + "/integration/" + id + "/webhook";
  const std::string path = "/rest/webhooks/1.0/webhook";
  auto list = api.call("GET", path);
  if (!answered(list, "GET " + path)) return false;
  rapidjson::Document doc;
  bool parsed = ocean::parse_json(doc, list.body);
  const rapidjson::Value* hooks = &doc;
  if (parsed && doc.IsObject()) hooks = find(doc, {"values"});
  if (!parsed || !hooks || !hooks->IsArray()) {
    ocean::log_error("Jira webhook registration: GET " + path + " did not answer a list");
    return false;
  }
  for (const auto& hook : hooks->GetArray()) {
    if (get_string(hook, {"url"}) != url) continue;
    std::set<std::string> events;
    if (const auto* e = find(hook, {"events"}); e && e->IsArray())
      for (const auto& name : e->GetArray())
        if (name.IsString()) events.insert(name.GetString());
    bool complete =
        std::includes(events.begin(), events.end(), issue_events().begin(), issue_events().end()) &&
        std::includes(events.begin(), events.end(), project_events().begin(),
                      project_events().end());
    if (complete) {
      ocean::log_info("integration '" + id + "': Jira webhook for " + url + " is up to date");
      return true;
    }
    // The webhook's id is the last segment of its `self` URL.
    auto self = get_string(hook, {"self"}).value_or("");
    std::string hook_id = self.substr(self.find_last_of('/') + 1);
    if (hook_id.empty() || !std::all_of(hook_id.begin(), hook_id.end(), ::isdigit)) {
      ocean::log_error("Jira webhook registration: the webhook for " + url + " has no id");
      return false;
    }
    auto put = api.call("PUT", path + "/" + hook_id, webhook_body(id, url, secret));
    if (!answered(put, "PUT " + path + "/" + hook_id)) return false;
    ocean::log_info("integration '" + id + "': Jira webhook for " + url + " updated");
    return true;
  }
  auto created = api.call("POST", path, webhook_body(id, url, secret));
  if (!answered(created, "POST " + path)) return false;
  ocean::log_info("integration '" + id + "': Jira webhook created for " + url);
  return true;
}

}  // namespace
}  // namespace jira

OCEAN_PLUGIN("jira", "1.0.0") {
  plugin.add_processor<jira::IssueProcessor>("/webhook");
  plugin.add_processor<jira::ProjectProcessor>("/webhook");
  plugin.on_start(&jira::ensure_webhook);
  // The config an integration may set; the aliases are Ocean's names for the same settings.
  plugin.config_key("api_url", "the Jira site, e.g. https://acme.atlassian.net",
                    {.required = true, .aliases = {"jiraHost"}});
  plugin.config_key("email", "the Atlassian account oceand reads Jira as",
                    {.aliases = {"atlassianUserEmail"}});
  plugin.config_key("api_token", "that account's API token",
                    {.secret = true, .aliases = {"atlassianUserToken"}});
  plugin.config_key("access_token",
                    "an OAuth 2.0 access token, sent as Bearer instead of email and api_token",
                    {.secret = true});
  ocean_plugins::declare_webhook_secret(plugin);
  plugin.validate_config([](std::string_view integration) -> std::string {
    if (auto problem = ocean_plugins::url_problem(integration, "api_url"); !problem.empty())
      return problem;
    // Half a credential reads Jira anonymously, which fails on every private project.
    if (jira::config_value(integration, "email").has_value() !=
        jira::config_value(integration, "api_token").has_value())
      return "email and api_token go together: set both, or neither";
    if (jira::config_value(integration, "access_token") &&
        jira::config_value(integration, "api_token"))
      return "access_token (OAuth 2.0) and api_token (Basic) are two ways to sign in: set one";
    return {};
  });
  // Jira's bodies name their event at the top: /integration/webhook can be shared.
  plugin.sender_body_fields({"webhookEvent"});
}
