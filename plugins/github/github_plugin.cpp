// The GitHub integration: live events for repositories, pull requests, issues, releases and
// workflow runs, with Ocean's GitHub integration as the reference for what each event means.
//
// One processor per kind, as in Ocean, all on the route /webhook. Every processor re-fetches the
// object from the REST API (webhook payloads can be stale or reordered) and reports deletions with
// the payload's own object, enriched like Ocean's with `__repository` and `__organization`.
#include <set>

#include "github.hpp"

namespace github {
namespace {

using ocean_plugins::find;
using ocean_plugins::get_id;
using ocean_plugins::get_string;

struct Repo {
  std::string owner, name, full_name;
  std::string path() const {
    return "/repos/" + ocean_plugins::path_segment(owner) + "/" + ocean_plugins::path_segment(name);
  }
};

// The repository an event is about, from `repository.full_name` ("owner/name").
std::optional<Repo> repo_of(const rapidjson::Value& payload) {
  auto full = get_string(payload, {"repository", "full_name"});
  if (!full) return std::nullopt;
  size_t slash = full->find('/');
  if (slash == 0 || slash == std::string::npos || slash + 1 == full->size() ||
      full->find('/', slash + 1) != std::string::npos)
    return std::nullopt;
  return Repo{full->substr(0, slash), full->substr(slash + 1), *full};
}

std::string action_of(const rapidjson::Value& payload) {
  return get_string(payload, {"action"}).value_or("");
}

// The kind and the object's number or id an event is about, for ordering.
struct Subject {
  const char* kind;
  const char* object;  // payload member holding the object, or nullptr for the repository
  const char* id;      // "number" or "id"
};

std::optional<Subject> subject_of(std::string_view event_name) {
  if (event_name == "pull_request") return Subject{"pull-request", "pull_request", "number"};
  if (event_name == "issues") return Subject{"issue", "issue", "number"};
  if (event_name == "release") return Subject{"release", "release", "id"};
  if (event_name == "workflow_run") return Subject{"workflow-run", "workflow_run", "id"};
  if (event_name == "repository" || event_name == "push")
    return Subject{"repository", nullptr, nullptr};
  return std::nullopt;
}

// "owner/repo#pull-request#42": events about one object run in order; different objects run in
// parallel. Events about other things (ping, installation) get no key.
std::string group_key_of(const ocean::WebhookEvent& event) {
  auto subject = subject_of(event.headers().get_or("x-github-event", ""));
  // Checked before the payload is parsed: most of what GitHub sends (check runs, statuses, stars…)
  // no processor here handles.
  if (!subject) return {};
  auto repo = repo_of(event.payload());
  if (!repo) return {};
  std::string key = repo->full_name + "#" + subject->kind;
  if (subject->object) {
    auto id = get_id(event.payload(), {subject->object, subject->id});
    if (!id) return {};
    key += "#" + std::to_string(*id);
  }
  return key;
}

// The states of pull requests (or issues) the resource keeps, from its selector: Ocean's
// `states: [open, closed]` or the older `state: open|closed|all`. Absent: `fallback`.
std::set<std::string> kept_states(const ocean::ResourceConfig& resource,
                                  std::set<std::string> fallback) {
  const rapidjson::Value* states = find(resource.config(), {"selector", "states"});
  if (states && states->IsArray()) {
    std::set<std::string> out;
    for (const auto& s : states->GetArray())
      if (s.IsString()) out.insert(s.GetString());
    return out;
  }
  if (auto state = get_string(resource.config(), {"selector", "state"})) {
    if (*state == "all") return {"open", "closed"};
    return {*state};
  }
  return fallback;
}

class GithubProcessor : public ocean::WebhookProcessor {
 public:
  bool authenticate(const rapidjson::Value&, const ocean::Headers& headers,
                    std::string_view raw_body) override {
    auto secret = ocean_plugins::config_value(event().integration(), "webhook_secret");
    if (!secret) {
      warn_if_no_secret(event().integration());
      return true;
    }
    if (ocean_plugins::verify_sha256_header(*secret, raw_body, headers.get("x-hub-signature-256")))
      return true;
    count_event("github_signature_rejected");
    ocean::log_warning(std::string(headers.get("x-hub-signature-256") ? "wrong" : "missing") +
                       " X-Hub-Signature-256 on delivery '" + std::string(event().delivery_id()) +
                       "' for integration '" + std::string(event().integration()) + "'");
    return false;
  }

  std::string group_key(const ocean::WebhookEvent& event) override { return group_key_of(event); }

 protected:
  std::string_view event_name() const { return event().headers().get_or("x-github-event", ""); }

  // The repository plus, for kinds other than repository, the object under `member` with a
  // positive `id_field`.
  bool has_repo_and(const rapidjson::Value& payload, const char* member,
                    const char* id_field) const {
    if (!repo_of(payload)) return false;
    return !member || get_id(payload, {member, id_field}).has_value();
  }

  Api api() const { return Api(event().integration()); }

  // Ocean's enrichment: mappings reach the repository name as `.__repository`.
  static rapidjson::Document enrich(const rapidjson::Value& object, const Repo& repo) {
    return ocean_plugins::enriched(object,
                                   {{"__repository", repo.name}, {"__organization", repo.owner}});
  }

  ocean::WebhookEventRawResults deleted(const rapidjson::Value& object, const Repo& repo) const {
    ocean::WebhookEventRawResults out;
    out.add_deleted(enrich(object, repo));
    return out;
  }
  // A fetched object goes on as the text GitHub sent, enriched in place.
  ocean::WebhookEventRawResults updated(const ocean_plugins::Fetched& fresh,
                                        const Repo& repo) const {
    ocean::WebhookEventRawResults out;
    if (auto text = ocean_plugins::enriched_text(
            fresh, {{"__repository", repo.name}, {"__organization", repo.owner}}))
      out.add_updated_text(std::move(*text));
    else
      out.add_updated(enrich(fresh.object, repo));
    return out;
  }

  void count_handled(std::string_view kind) const {
    count_event("github_events_handled");
    count_event("github_handled_" + std::string(kind));
  }

  void stop_if_cancelled() const {
    if (cancelled()) throw std::runtime_error("cancelled before calling GitHub");
  }
};

// `repository` events (deleted/archived delete, everything else updates) and `push` (updates the
// repository it was pushed to).
class RepositoryProcessor : public GithubProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent&) override {
    return event_name() == "repository" || event_name() == "push";
  }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"repository"};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    return has_repo_and(payload, nullptr, nullptr);
  }
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig&) override {
    count_handled("repository");
    Repo repo = *repo_of(payload);
    const rapidjson::Value& object = payload["repository"];
    std::string action = action_of(payload);
    if (event_name() == "repository" && (action == "deleted" || action == "archived"))
      return removed(object);
    stop_if_cancelled();
    auto fresh = api().fetch(repo.path());
    if (fresh.gone) return removed(object);
    ocean::WebhookEventRawResults out;
    out.add_updated_text(std::move(fresh.text));
    return out;
  }

 private:
  static ocean::WebhookEventRawResults removed(const rapidjson::Value& repository) {
    ocean::WebhookEventRawResults out;
    out.add_deleted(repository);
    return out;
  }
};

class PullRequestProcessor : public GithubProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent& event) override {
    static const std::set<std::string> actions = {
        "opened",           "edited",     "reopened",         "synchronize",
        "ready_for_review", "closed",     "labeled",          "unlabeled",
        "assigned",         "unassigned", "review_requested", "review_request_removed"};
    return event_name() == "pull_request" && actions.count(action_of(event.payload()));
  }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"pull-request"};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    return has_repo_and(payload, "pull_request", "number");
  }
  // A closed pull request is deleted without a fetch unless the selector keeps closed ones (as
  // Ocean does); a fetched pull request whose state the selector does not keep is deleted too, so
  // an `edited` event on a closed pull request cannot bring it back.
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig& resource) override {
    count_handled("pull_request");
    Repo repo = *repo_of(payload);
    const rapidjson::Value& pr = payload["pull_request"];
    auto number = *get_id(payload, {"pull_request", "number"});
    auto states = kept_states(resource, {"open"});
    if (action_of(payload) == "closed" && !states.count("closed")) return deleted(pr, repo);
    stop_if_cancelled();
    auto fresh = api().fetch(repo.path() + "/pulls/" + std::to_string(number));
    if (fresh.gone) return deleted(pr, repo);
    auto state = get_string(fresh.object, {"state"}).value_or("");
    if (!states.count(state)) return deleted(fresh.object, repo);
    return updated(fresh, repo);
  }
};

class IssueProcessor : public GithubProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent&) override {
    return event_name() == "issues";
  }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"issue"};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    return has_repo_and(payload, "issue", "number");
  }
  // Open issues only unless the selector names states (`state: all`, `states: [...]`): Ocean's
  // issue selector defaults `state` to "open", so a closed issue leaves the catalog.
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig& resource) override {
    count_handled("issue");
    Repo repo = *repo_of(payload);
    const rapidjson::Value& issue = payload["issue"];
    auto number = *get_id(payload, {"issue", "number"});
    auto states = kept_states(resource, {"open"});
    std::string action = action_of(payload);
    if (action == "deleted" || (action == "closed" && !states.count("closed")))
      return deleted(issue, repo);
    stop_if_cancelled();
    // GitHub answers 301 for an issue transferred to another repository: gone from this one.
    auto fresh = api().fetch(repo.path() + "/issues/" + std::to_string(number), {301, 404, 410});
    if (fresh.gone) return deleted(issue, repo);
    if (!states.count(get_string(fresh.object, {"state"}).value_or("")))
      return deleted(fresh.object, repo);
    return updated(fresh, repo);
  }
};

class ReleaseProcessor : public GithubProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent&) override {
    return event_name() == "release";
  }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"release"};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    return has_repo_and(payload, "release", "id");
  }
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig&) override {
    count_handled("release");
    Repo repo = *repo_of(payload);
    const rapidjson::Value& release = payload["release"];
    if (action_of(payload) == "deleted") return deleted(release, repo);
    stop_if_cancelled();
    auto id = *get_id(payload, {"release", "id"});
    auto fresh = api().fetch(repo.path() + "/releases/" + std::to_string(id));
    if (fresh.gone) return deleted(release, repo);
    return updated(fresh, repo);
  }
};

// Every workflow_run action (requested, in_progress, completed) updates the run: a completed run
// stays in the catalog with its conclusion.
class WorkflowRunProcessor : public GithubProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent&) override {
    return event_name() == "workflow_run";
  }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"workflow-run"};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    return has_repo_and(payload, "workflow_run", "id");
  }
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig&) override {
    count_handled("workflow_run");
    Repo repo = *repo_of(payload);
    const rapidjson::Value& run = payload["workflow_run"];
    stop_if_cancelled();
    auto id = *get_id(payload, {"workflow_run", "id"});
    auto fresh = api().fetch(repo.path() + "/actions/runs/" + std::to_string(id));
    if (fresh.gone) return deleted(run, repo);
    return updated(fresh, repo);
  }
};

}  // namespace

void warn_if_no_secret(std::string_view integration) {
  ocean_plugins::warn_once("no-secret", integration,
                           "integration '" + std::string(integration) +
                               "': no webhook_secret configured, so every GitHub delivery is "
                               "accepted without checking X-Hub-Signature-256");
}

}  // namespace github

OCEAN_PLUGIN("github", "1.0.0") {
  plugin.add_processor<github::RepositoryProcessor>("/webhook");
  plugin.add_processor<github::PullRequestProcessor>("/webhook");
  plugin.add_processor<github::IssueProcessor>("/webhook");
  plugin.add_processor<github::ReleaseProcessor>("/webhook");
  plugin.add_processor<github::WorkflowRunProcessor>("/webhook");
  plugin.on_start(&github::ensure_webhook);
  // The config an integration may set; the aliases are Ocean's names for the same settings.
  ocean_plugins::declare_webhook_secret(plugin);
  plugin.config_key("api_url", "GitHub's REST API (GitHub Enterprise: https://host/api/v3)",
                    {.aliases = {"githubHost"}});
  plugin.config_key("token", "a token that reads the repositories (and admins hooks)",
                    {.secret = true, .aliases = {"githubToken"}});
  plugin.config_key("org", "the organization whose webhook on_start registers",
                    {.aliases = {"githubOrganization"}});
  plugin.config_key("repo", "owner/name of the one repository whose webhook on_start registers");
  plugin.validate_config([](std::string_view integration) {
    return ocean_plugins::url_problem(integration, "api_url");
  });
  // GitHub names every delivery's event in a header: /integration/webhook can be shared.
  plugin.sender_headers({"X-GitHub-Event"});
}
