// on_start: make sure GitHub delivers the integration's events to this oceand, as Ocean's GitHub
// integration creates its organization webhook at startup.
#include <algorithm>
#include <set>

#include "processor_base.hpp"

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

// One hook collection: lists its hooks (every page), creates ours when missing, and updates it
// when it lacks an event, is inactive, sends another content type, or has a secret when none is
// configured (or none when one is) — unless `skip_patching` (Ocean's skipWebhookPatching). GitHub
// never returns a hook's secret, so a changed secret *value* cannot be noticed: delete the hook at
// GitHub to have it recreated with the new one.
bool ensure_hook(const std::string& id, const Api& api, const std::string& path,
                 const std::string& url, const std::optional<std::string>& secret,
                 const std::set<std::string>& needed, bool skip_patching) {
  rapidjson::Document hooks;
  try {
    hooks = api.list(path);
  } catch (const std::exception& e) {
    ocean::log_error("GitHub webhook registration: " + std::string(e.what()));
    return false;
  }

  const rapidjson::Value* hook = find_hook(hooks, url);
  if (!hook) {
    auto created = api.call("POST", path, hook_body(url, secret, needed, true));
    if (!answered(created, "POST " + path)) return false;
    ocean::log_info("integration '" + id + "': GitHub webhook created for " + url + " at " + path);
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
    ocean::log_info("integration '" + id + "': GitHub webhook for " + url + " at " + path +
                    " is up to date");
    return true;
  }
  if (skip_patching) {
    ocean::log_warning("integration '" + id + "': GitHub webhook for " + url + " at " + path +
                       " differs from what the integration needs (events, active, content type "
                       "or secret), left as it is: skip_webhook_patching is set");
    return true;
  }
  auto hook_id = ocean_plugins::get_id(*hook, {"id"});
  if (!hook_id) {
    ocean::log_error("GitHub webhook registration: the hook for " + url + " has no id");
    return false;
  }
  // Keep the events the hook already had (someone may rely on them) and add ours.
  if (!events.count("*")) events.insert(needed.begin(), needed.end());
  std::string hook_path = path + "/" + std::to_string(*hook_id);
  auto patched = api.call("PATCH", hook_path, hook_body(url, secret, events, false));
  if (!answered(patched, "PATCH " + hook_path)) return false;
  ocean::log_info("integration '" + id + "': GitHub webhook for " + url + " at " + path +
                  " updated");
  return true;
}

// Where hooks go, and as whom: an organization's hook collection, or one per repository of a
// personal account (which has no organization hook, nor its events).
struct Target {
  std::string path;
  bool organization;
  Grant grant;
};

std::vector<std::string> listed(const std::string& text) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= text.size()) {
    size_t comma = text.find(',', at);
    std::string item = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

void add_repository_hooks(std::vector<Target>& out, const rapidjson::Value& repos,
                          const Grant& grant) {
  for (const auto& r : repos.GetArray())
    if (auto full = get_string(r, {"full_name"}); full && full->find('/') != std::string::npos)
      out.push_back({"/repos/" + path_segment(full->substr(0, full->find('/'))) + "/" +
                         path_segment(full->substr(full->find('/') + 1)) + "/hooks",
                     false, grant});
}

std::optional<std::vector<Target>> targets(const std::string& id, const Credentials& credentials,
                                           const std::string& base) {
  std::vector<Target> out;
  auto orgs = listed(config_value(id, "org").value_or(""));
  if (credentials.app() && !config_value(id, "token")) {
    for (const auto& installation : credentials.installations()) {
      if (!orgs.empty() && std::none_of(orgs.begin(), orgs.end(), [&](const std::string& o) {
            return lower(o) == lower(installation.account);
          }))
        continue;
      Grant grant = credentials.for_owner(installation.account);
      if (!installation.user) {
        out.push_back({"/orgs/" + path_segment(installation.account) + "/hooks", true, grant});
        continue;
      }
      Api as_installation(base, grant);
      add_repository_hooks(out, as_installation.list("/installation/repositories", "repositories"),
                           grant);
    }
    return out;
  }
  Grant grant = credentials.for_owner("");
  Api api(base, grant);
  for (const auto& org : orgs) {
    // A personal account has no organization hook: its own repositories get one each.
    auto account = api.call("GET", "/users/" + path_segment(org));
    rapidjson::Document d;
    if (account.ok() && ocean::parse_json(d, account.body) &&
        get_string(d, {"type"}) == std::optional<std::string>("User")) {
      add_repository_hooks(out, api.list("/user/repos?affiliation=owner"), grant);
      continue;
    }
    out.push_back({"/orgs/" + path_segment(org) + "/hooks", true, grant});
  }
  if (orgs.empty()) {
    if (!config_value(id, "repo")) return out;
    auto path = hooks_path(id);
    if (!path) return std::nullopt;
    out.push_back({*path, false, grant});
  }
  return out;
}

}  // namespace

bool ensure_webhook(const ocean::InstanceInfo& info) {
  const std::string& id = info.integration;
  auto secret = config_value(id, "webhook_secret");
  if (!secret) warn_if_no_secret(id);
  const std::string base = ocean_plugins::without_trailing_slash(
      config_value(id, "api_url").value_or(std::string(kDefaultApiUrl)));
  Credentials credentials(id, base);
  if (info.base_url.empty() || !credentials.configured()) {
    ocean::log_info("integration '" + id +
                    "': no base_url or no credentials, so no GitHub webhook is registered; create "
                    "it by hand (see docs/integrations/github.md)");
    return true;
  }
  if (!credentials.app() && !config_value(id, "org") && !config_value(id, "repo")) {
    ocean::log_info("integration '" + id +
                    "': neither org nor repo configured, so no GitHub webhook is registered");
    return true;
  }
  const std::string url =
      ocean_plugins::without_trailing_slash(info.base_url) + "/integration/" + id + "/webhook";
  std::set<std::string> all(webhook_events().begin(), webhook_events().end()), repository;
  for (const auto& e : all)
    if (!organization_only_event(e)) repository.insert(e);
  bool skip = lower(config_value(id, "skip_webhook_patching").value_or("false")) == "true";
  std::optional<std::vector<Target>> where;
  try {
    where = targets(id, credentials, base);
  } catch (const std::exception& e) {
    ocean::log_error("GitHub webhook registration: " + std::string(e.what()));
    return false;
  }
  if (!where) return false;
  bool ok = true;
  for (const auto& target : *where) {
    Api api(base, target.grant);
    ok = ensure_hook(id, api, target.path, url, secret, target.organization ? all : repository,
                     skip) &&
         ok;
  }
  return ok;
}

}  // namespace github
