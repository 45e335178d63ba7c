// on_start: make sure GitHub delivers the integration's events to this oceand, as Ocean's GitHub
// integration creates its organization webhook at startup.
#include <algorithm>
#include <set>

#include "github.hpp"

namespace github {
namespace {

using ocean_plugins::config_value;
using ocean_plugins::find;
using ocean_plugins::get_string;
using ocean_plugins::path_segment;

// Where the hooks live: the organization's (config `org`) or one repository's (config `repo`).
std::optional<std::string> hooks_path(std::string_view integration) {
  if (auto org = config_value(integration, "org")) return "/orgs/" + path_segment(*org) + "/hooks";
  if (auto repo = config_value(integration, "repo")) {
    size_t slash = repo->find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == repo->size()) {
      ocean::log_error("integration '" + std::string(integration) + "': config repo '" + *repo +
                       "' is not owner/name; no webhook registered");
      return std::nullopt;
    }
    return "/repos/" + path_segment(repo->substr(0, slash)) + "/" +
           path_segment(repo->substr(slash + 1)) + "/hooks";
  }
  return std::nullopt;
}

// The body of a create or an update: `events` is what the hook should subscribe to.
std::string hook_body(const std::string& url, const std::optional<std::string>& secret,
                      const std::set<std::string>& events, bool create) {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  if (create) d.AddMember("name", "web", a);
  d.AddMember("active", true, a);
  rapidjson::Value list(rapidjson::kArrayType);
  for (const auto& e : events) list.PushBack(rapidjson::Value(e.c_str(), a), a);
  d.AddMember("events", list, a);
  rapidjson::Value config(rapidjson::kObjectType);
  config.AddMember("url", rapidjson::Value(url.c_str(), a), a);
  config.AddMember("content_type", "json", a);
  config.AddMember("insecure_ssl", "0", a);
  if (secret) config.AddMember("secret", rapidjson::Value(secret->c_str(), a), a);
  d.AddMember("config", config, a);
  return ocean::to_json(d);
}

const rapidjson::Value* find_hook(const rapidjson::Value& hooks, const std::string& url) {
  if (!hooks.IsArray()) return nullptr;
  for (const auto& hook : hooks.GetArray())
    if (get_string(hook, {"config", "url"}) == url) return &hook;
  return nullptr;
}

bool answered(const ocean::http::Response& r, const std::string& what) {
  if (r.ok()) return true;
  ocean::log_error("GitHub webhook registration: " + what + " answered " +
                   (r.status ? std::to_string(r.status) + ": " + ocean_plugins::excerpt(r.body)
                             : "nothing (" + r.error + ")"));
  return false;
}

}  // namespace

// Lists the hooks, creates ours when missing, and updates it when it lacks an event, is inactive,
// sends another content type, or has a secret when none is configured (or none when one is).
// GitHub never returns a hook's secret, so a changed secret *value* cannot be noticed: delete the
// hook at GitHub to have it recreated with the new one.
bool ensure_webhook(const ocean::InstanceInfo& info) {
  const std::string& id = info.integration;
  auto secret = config_value(id, "webhook_secret");
  if (!secret) warn_if_no_secret(id);
  Api api(id);
  if (info.base_url.empty() || !api.has_token()) {
    ocean::log_info("integration '" + id +
                    "': no base_url or no token, so no GitHub webhook is registered; create it "
                    "by hand (see docs/integrations/github.md)");
    return true;
  }
  if (!config_value(id, "org") && !config_value(id, "repo")) {
    ocean::log_info("integration '" + id +
                    "': neither org nor repo configured, so no GitHub webhook is registered");
    return true;
  }
  auto path = hooks_path(id);
  if (!path) return false;
  const std::string url =
      ocean_plugins::without_trailing_slash(info.base_url) + "/integration/" + id + "/webhook";
  const std::set<std::string> needed(webhook_events().begin(), webhook_events().end());

  auto list = api.call("GET", *path + "?per_page=100");
  if (!answered(list, "GET " + *path)) return false;
  rapidjson::Document hooks;
  if (!ocean::parse_json(hooks, list.body) || !hooks.IsArray()) {
    ocean::log_error("GitHub webhook registration: GET " + *path + " did not answer a list");
    return false;
  }

  const rapidjson::Value* hook = find_hook(hooks, url);
  if (!hook) {
    auto created = api.call("POST", *path, hook_body(url, secret, needed, true));
    if (!answered(created, "POST " + *path)) return false;
    ocean::log_info("integration '" + id + "': GitHub webhook created for " + url);
    return true;
  }

  std::set<std::string> events;
  if (const auto* list_events = find(*hook, {"events"}); list_events && list_events->IsArray())
    for (const auto& e : list_events->GetArray())
      if (e.IsString()) events.insert(e.GetString());
  bool has_secret = get_string(*hook, {"config", "secret"}).has_value();
  const rapidjson::Value* active = find(*hook, {"active"});
  bool differs =
      !(events.count("*") ||
        std::includes(events.begin(), events.end(), needed.begin(), needed.end())) ||
      !(active && active->IsBool() && active->GetBool()) ||
      get_string(*hook, {"config", "content_type"}) != std::optional<std::string>("json") ||
      has_secret != secret.has_value();
  if (!differs) {
    ocean::log_info("integration '" + id + "': GitHub webhook for " + url + " is up to date");
    return true;
  }
  auto hook_id = ocean_plugins::get_id(*hook, {"id"});
  if (!hook_id) {
    ocean::log_error("GitHub webhook registration: the hook for " + url + " has no id");
    return false;
  }
  // Keep the events the hook already had (someone may rely on them) and add ours.
  if (!events.count("*")) events.insert(needed.begin(), needed.end());
  std::string hook_path = *path + "/" + std::to_string(*hook_id);
  auto patched = api.call("PATCH", hook_path, hook_body(url, secret, events, false));
  if (!answered(patched, "PATCH " + hook_path)) return false;
  ocean::log_info("integration '" + id + "': GitHub webhook for " + url + " updated");
  return true;
}

}  // namespace github
