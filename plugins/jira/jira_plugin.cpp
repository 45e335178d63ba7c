// The Jira integration: live events for issues, projects, users, releases (Jira's versions),
// boards and sprints, with Ocean's Jira integration as the reference for what each event means.
//
// Jira names the event in the body (`webhookEvent`), not in a header, and puts the object under a
// member named after it (`issue`, `project`, `user`, `version`, `board`, `sprint`). Each processor
// re-fetches the object from the REST API v3 (the Agile API 1.0 for boards and sprints) and
// reports deletions with the payload's own object.
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

// One kind: Ocean's name for it, the payload member holding the object, the events that fetch and
// upsert it and those that delete the payload's object.
struct Kind {
  std::string_view name, member;
  std::vector<std::string_view> fetched, deleted;
  bool deletes(std::string_view e) const {
    return std::find(deleted.begin(), deleted.end(), e) != deleted.end();
  }
  bool handles(std::string_view e) const {
    return deletes(e) || std::find(fetched.begin(), fetched.end(), e) != fetched.end();
  }
};

const Kind kIssue{
    "issue", "issue", {"jira:issue_created", "jira:issue_updated"}, {"jira:issue_deleted"}};
// Archived and trashed projects leave the catalog (Jira's project search lists neither); restored
// ones come back.
const Kind kProject{
    "project",
    "project",
    {"project_created", "project_updated", "project_restored_deleted", "project_restored_archived"},
    {"project_deleted", "project_soft_deleted", "project_archived"}};
const Kind kUser{"user", "user", {"user_created", "user_updated"}, {"user_deleted"}};
const Kind kRelease{"release",
                    "version",
                    {"jira:version_created", "jira:version_updated", "jira:version_released",
                     "jira:version_unreleased", "jira:version_moved"},
                    {"jira:version_deleted"}};
const Kind kBoard{"board",
                  "board",
                  {"board_created", "board_updated", "board_configuration_changed"},
                  {"board_deleted"}};
const Kind kSprint{"sprint",
                   "sprint",
                   {"sprint_created", "sprint_updated", "sprint_started", "sprint_closed"},
                   {"sprint_deleted"}};
const Kind* const kKinds[] = {&kIssue, &kProject, &kUser, &kRelease, &kBoard, &kSprint};

// Every event a processor handles: what the webhook subscribes to.
const std::set<std::string>& handled_events() {
  static const std::set<std::string> all = [] {
    std::set<std::string> out;
    for (const Kind* kind : kKinds)
      for (const auto* list : {&kind->fetched, &kind->deleted})
        for (auto e : *list) out.emplace(e);
    return out;
  }();
  return all;
}

std::string webhook_event(const rapidjson::Value& payload) {
  return get_string(payload, {"webhookEvent"}).value_or("");
}

// Keys and account ids go into URLs; they are short and never contain '/' in Jira, so anything
// else is a malformed payload rather than something to encode and send.
std::optional<std::string> plausible_key(std::optional<std::string> key) {
  if (key && !key->empty() && key->size() <= 255 &&
      std::none_of(key->begin(), key->end(), [](char c) {
        return c == '/' || c == '?' || c == '#' || static_cast<unsigned char>(c) < 0x21;
      }))
    return key;
  return std::nullopt;
}

// A numeric id (versions send it as a string, boards and sprints as a number), as text.
std::optional<std::string> numeric_id(const rapidjson::Value& payload,
                                      std::initializer_list<const char*> path) {
  auto id = ocean_plugins::get_id(payload, path);
  return id ? std::optional(std::to_string(*id)) : std::nullopt;
}

// Config `api_version`: "3", Jira Cloud's REST API (the default), or "2", Jira Data Center and
// Server's, whose paths differ in the version, in the issue search (`/search`, not
// `/search/jql`) and in users (read by `key`, not `accountId`).
bool data_center(std::string_view integration) {
  return config_value(integration, "api_version") == std::optional<std::string>("2");
}

// Jira's REST API at config `api_url`, with basic auth from config `email` and `api_token`, or an
// OAuth 2.0 access token (`access_token`, sent as Bearer; a Data Center personal access token
// too). Paths are written as Jira Cloud's; with `api_version: 2` they are sent as Data Center's.
class Api {
 public:
  explicit Api(std::string_view integration)
      : base_(ocean_plugins::without_trailing_slash(
            config_value(integration, "api_url").value_or(""))),
        data_center_(data_center(integration)) {
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
    // Jira Cloud counts calls per site (and user): one budget for every worker of the site.
    return ocean::http::request(method, base_ + sent_path(path), headers, body,
                                ocean::http::Options{{}, "site:" + base_});
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
  std::string sent_path(const std::string& path) const {
    const std::string cloud = "/rest/api/3/", search = "/rest/api/3/search/jql?";
    if (!data_center_ || path.rfind(cloud, 0) != 0) return path;
    if (path.rfind(search, 0) == 0) return "/rest/api/2/search?" + path.substr(search.size());
    return "/rest/api/2/" + path.substr(cloud.size());
  }

  std::string base_;
  std::string auth_;
  bool data_center_ = false;
};

void warn_if_no_secret(std::string_view integration) {
  ocean_plugins::warn_once("no-secret", integration,
                           "integration '" + std::string(integration) +
                               "': no webhook_secret configured, so every Jira delivery is "
                               "accepted without checking X-Hub-Signature");
}

// The fetched object with `name` set to `value`, as text (Ocean's `__projectKey` enrichment).
std::string with_member(ocean_plugins::Fetched& fresh, const char* name, rapidjson::Value value) {
  auto& a = fresh.object.GetAllocator();
  fresh.object.RemoveMember(name);
  fresh.object.AddMember(rapidjson::StringRef(name), value, a);
  return ocean::to_json(fresh.object);
}

// One processor per kind. Deleting events delete the payload's object; the others fetch the
// object by the id in the payload and upsert it, or delete the payload's object when Jira answers
// 404. Events about one object run in order: the group key is `<kind>#<id>`.
class JiraProcessor : public ocean::WebhookProcessor {
 public:
  explicit JiraProcessor(const Kind& kind) : kind_(kind) {}

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
  bool should_process_event(const ocean::WebhookEvent& event) override {
    return kind_.handles(webhook_event(event.payload()));
  }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {std::string(kind_.name)};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    return id(payload).has_value();
  }
  std::string group_key(const ocean::WebhookEvent& event) override {
    auto key = id(event.payload());
    return key ? std::string(kind_.name) + "#" + *key : std::string();
  }
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig& resource) override {
    count_event("jira_events_handled");
    ocean::WebhookEventRawResults out;
    if (kind_.deletes(webhook_event(payload)))
      on_delete(payload, out);
    else
      on_update(payload, *id(payload), resource, out);
    return out;
  }

 protected:
  // The object's id in the payload, when it is well-formed.
  virtual std::optional<std::string> id(const rapidjson::Value& payload) const = 0;
  // Where the object with that id is read.
  virtual std::string path(const std::string& id, const ocean::ResourceConfig& resource) const = 0;
  // The payload's object, what a deletion reports.
  virtual const rapidjson::Value& object(const rapidjson::Value& payload) const {
    return payload[kind_.member.data()];
  }
  // What is upserted of a fetched object: by default the answer as received.
  virtual std::string passed_on(ocean_plugins::Fetched& fresh, const std::string& id) {
    (void)id;
    return std::move(fresh.text);
  }

  virtual void on_delete(const rapidjson::Value& payload, ocean::WebhookEventRawResults& out) {
    out.add_deleted(object(payload));
  }
  virtual void on_update(const rapidjson::Value& payload, const std::string& id,
                         const ocean::ResourceConfig& resource,
                         ocean::WebhookEventRawResults& out) {
    sync(object(payload), id, path(id, resource), out);
  }

  ocean_plugins::Fetched fetch(const std::string& path) {
    if (cancelled()) throw std::runtime_error("cancelled before calling Jira");
    return Api(event().integration()).fetch(path);
  }
  // Fetches object `id` at `path`: upserted, or, when Jira answers 404, `gone` is deleted.
  void sync(const rapidjson::Value& gone, const std::string& id, const std::string& path,
            ocean::WebhookEventRawResults& out) {
    auto fresh = fetch(path);
    if (fresh.gone)
      out.add_deleted(gone);
    else
      out.add_updated_text(passed_on(fresh, id));
  }

 private:
  const Kind& kind_;
};

class IssueProcessor : public JiraProcessor {
 public:
  IssueProcessor() : JiraProcessor(kIssue) {}

 protected:
  std::optional<std::string> id(const rapidjson::Value& payload) const override {
    return plausible_key(get_string(payload, {"issue", "key"}));
  }
  std::string path(const std::string& key, const ocean::ResourceConfig& resource) const override {
    std::string options = fetch_options(resource);
    return "/rest/api/3/issue/" + path_segment(key) +
           (options.empty() ? "" : "?" + options.substr(1));
  }
  // The resource's selector scopes it as Ocean's does: with `jql`, the issue is searched for with
  // `(<jql>) AND key = <key>` and, when it no longer matches, deleted; `fields` and `expand` go
  // with the request either way.
  void on_update(const rapidjson::Value& payload, const std::string& key,
                 const ocean::ResourceConfig& resource,
                 ocean::WebhookEventRawResults& out) override {
    auto jql = get_string(resource.config(), {"selector", "jql"});
    if (!jql || jql->empty()) return sync(payload["issue"], key, path(key, resource), out);
    auto found =
        fetch("/rest/api/3/search/jql?jql=" + path_segment("(" + *jql + ") AND key = " + key) +
              "&maxResults=1" + fetch_options(resource));
    const rapidjson::Value* issues = found.gone ? nullptr : find(found.object, {"issues"});
    if (issues && !issues->IsArray())
      throw std::runtime_error("Jira search answered without an issues list");
    if (!issues || issues->Empty())
      out.add_deleted(payload["issue"]);  // outside the resource's JQL: not in its catalog
    else
      out.add_updated((*issues)[0]);
  }

 private:
  static std::string fetch_options(const ocean::ResourceConfig& resource) {
    std::string options;
    for (const char* name : {"fields", "expand"})
      if (auto value = get_string(resource.config(), {"selector", name}); value && !value->empty())
        options += std::string("&") + name + "=" + path_segment(*value);
    return options;
  }
};

// Fetched with the selector's `expand`, by default `insight` (totalIssueCount, which the default
// mapping shows), as Ocean's resync reads projects.
class ProjectProcessor : public JiraProcessor {
 public:
  ProjectProcessor() : JiraProcessor(kProject) {}

 protected:
  std::optional<std::string> id(const rapidjson::Value& payload) const override {
    return plausible_key(get_string(payload, {"project", "key"}));
  }
  std::string path(const std::string& key, const ocean::ResourceConfig& resource) const override {
    const rapidjson::Value* set = find(resource.config(), {"selector", "expand"});
    std::string expand = set && set->IsString() ? set->GetString() : "insight";
    return "/rest/api/3/project/" + path_segment(key) +
           (expand.empty() ? "" : "?expand=" + path_segment(expand));
  }
};

class UserProcessor : public JiraProcessor {
 public:
  UserProcessor() : JiraProcessor(kUser) {}

 protected:
  // Jira Cloud names users by accountId; Data Center by `key` (its payloads have no accountId).
  std::optional<std::string> id(const rapidjson::Value& payload) const override {
    if (data_center(event().integration()))
      return plausible_key(get_string(payload, {"user", "key"}));
    return plausible_key(get_string(payload, {"user", "accountId"}));
  }
  std::string path(const std::string& account, const ocean::ResourceConfig&) const override {
    if (data_center(event().integration())) return "/rest/api/3/user?key=" + path_segment(account);
    return "/rest/api/3/user?accountId=" + path_segment(account);
  }
};

// Jira's versions, Ocean's `release`. The version names only its project's id: the project is
// read for its key, added as `__projectKey` (Ocean's name). A version merged into another is
// deleted with a `mergedTo` naming the other, which is fetched and upserted.
class ReleaseProcessor : public JiraProcessor {
 public:
  ReleaseProcessor() : JiraProcessor(kRelease) {}

 protected:
  std::optional<std::string> id(const rapidjson::Value& payload) const override {
    return numeric_id(payload, {"version", "id"});
  }
  std::string path(const std::string& id, const ocean::ResourceConfig&) const override {
    return version(id);
  }
  static std::string version(const std::string& id) { return "/rest/api/3/version/" + id; }
  std::string passed_on(ocean_plugins::Fetched& fresh, const std::string&) override {
    auto project = numeric_id(fresh.object, {"projectId"});
    if (!project) return std::move(fresh.text);
    auto owner = fetch("/rest/api/3/project/" + *project);
    auto key = owner.gone ? std::nullopt : get_string(owner.object, {"key"});
    if (!key) return std::move(fresh.text);  // a project we may not read: no relation
    return with_member(fresh, "__projectKey",
                       rapidjson::Value(key->c_str(), fresh.object.GetAllocator()));
  }
  void on_delete(const rapidjson::Value& payload, ocean::WebhookEventRawResults& out) override {
    out.add_deleted(payload["version"]);
    if (auto into = numeric_id(payload, {"mergedTo", "id"}))
      sync(payload["mergedTo"], *into, version(*into), out);
  }
};

// Boards (Jira Software's Agile API). Ocean adds the keys of the board's projects as
// `__projectKeys`, from every page of /board/{id}/project.
class BoardProcessor : public JiraProcessor {
 public:
  BoardProcessor() : JiraProcessor(kBoard) {}

 protected:
  // board_configuration_changed may carry the board's `configuration` (whose id is the board's)
  // instead of the board.
  std::optional<std::string> id(const rapidjson::Value& payload) const override {
    auto board = numeric_id(payload, {"board", "id"});
    return board ? board : numeric_id(payload, {"configuration", "id"});
  }
  const rapidjson::Value& object(const rapidjson::Value& payload) const override {
    return numeric_id(payload, {"board", "id"}) ? payload["board"] : payload["configuration"];
  }
  std::string path(const std::string& id, const ocean::ResourceConfig&) const override {
    return "/rest/agile/1.0/board/" + id;
  }
  std::string passed_on(ocean_plugins::Fetched& fresh, const std::string& id) override {
    auto& a = fresh.object.GetAllocator();
    rapidjson::Value keys(rapidjson::kArrayType);
    const std::string projects = "/rest/agile/1.0/board/" + id + "/project?maxResults=50&startAt=";
    for (unsigned start = 0, pages = 0; pages < 100; ++pages) {
      auto page = fetch(projects + std::to_string(start));
      const rapidjson::Value* values = page.gone ? nullptr : find(page.object, {"values"});
      if (!values || !values->IsArray() || values->Empty()) break;
      for (const auto& project : values->GetArray())
        if (auto key = get_string(project, {"key"}))
          keys.PushBack(rapidjson::Value(key->c_str(), a), a);
      start += values->Size();
      if (const auto* last = find(page.object, {"isLast"});
          !last || !last->IsBool() || last->GetBool())
        break;
    }
    return with_member(fresh, "__projectKeys", std::move(keys));
  }
};

class SprintProcessor : public JiraProcessor {
 public:
  SprintProcessor() : JiraProcessor(kSprint) {}

 protected:
  std::optional<std::string> id(const rapidjson::Value& payload) const override {
    return numeric_id(payload, {"sprint", "id"});
  }
  std::string path(const std::string& id, const ocean::ResourceConfig&) const override {
    return "/rest/agile/1.0/sprint/" + id;
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
  for (const auto& e : handled_events()) events.PushBack(rapidjson::Value(e.c_str(), a), a);
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
    if (std::includes(events.begin(), events.end(), handled_events().begin(),
                      handled_events().end())) {
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
  plugin.add_processor<jira::UserProcessor>("/webhook");
  plugin.add_processor<jira::ReleaseProcessor>("/webhook");
  plugin.add_processor<jira::BoardProcessor>("/webhook");
  plugin.add_processor<jira::SprintProcessor>("/webhook");
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
  plugin.config_key("api_version",
                    "3: Jira Cloud's REST API (default); 2: Jira Data Center or Server's");
  ocean_plugins::declare_webhook_secret(plugin);
  plugin.validate_config([](std::string_view integration) -> std::string {
    if (auto problem = ocean_plugins::url_problem(integration, "api_url"); !problem.empty())
      return problem;
    if (auto version = jira::config_value(integration, "api_version");
        version && *version != "2" && *version != "3")
      return "api_version is '" + *version + "': 3 (Jira Cloud) or 2 (Data Center, Server)";
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
