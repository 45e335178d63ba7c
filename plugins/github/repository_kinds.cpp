// Kinds that live inside a repository and are re-fetched by id: the repository itself, pull
// requests, issues, releases, workflow runs, deployments and their statuses, environments, and
// the three kinds of security alerts.
#include <map>

#include "processor_base.hpp"

namespace github {
namespace {

// `repository` events (deleted/archived delete, everything else updates), `push` (updates the
// repository it was pushed to), and collaborator changes (`member`, team `added_to_repository`),
// which refresh the `__collaborators` / `__teams` Ocean's includedRelations asks for.
class RepositoryProcessor : public GithubProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent& event) override {
    if (is("repository") || is("push")) return true;
    std::string action = action_of(event.payload());
    if (is("member")) return action == "added" || action == "edited" || action == "removed";
    return is("team") && action == "added_to_repository";
  }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"repository"};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    return has_repo_and(payload, nullptr, nullptr);
  }
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig& resource) override {
    count_handled("repository");
    Repo repo = *repo_of(payload);
    const rapidjson::Value& object = payload["repository"];
    if (!found_by_search(payload, resource, repo)) return {};
    std::string action = action_of(payload);
    if (is("repository") && (action == "deleted" || action == "archived")) return removed(object);
    // A repository made private (or public) under `repositoryType` leaves the catalog; a payload
    // that does not say its visibility changes nothing (Ocean refuses it).
    if (!visibility_kept(payload, resource))
      return get_string(object, {"visibility"}) ? removed(object) : ocean::WebhookEventRawResults{};
    stop_if_cancelled();
    Api github = api(repo);
    auto fresh = github.fetch(repo.path());
    if (fresh.gone) return removed(object);
    ocean::WebhookEventRawResults out;
    auto relations = relations_of(resource);
    auto included = selector_list(resource, "includedFiles");
    const bool sbom = wants(resource, "sbom"), pages = wants(resource, "pages"),
               properties = wants(resource, "customProperties");
    if (relations.empty() && included.empty() && !sbom && !pages && !properties) {
      out.add_updated_text(std::move(fresh.text));
      return out;
    }
    rapidjson::Document doc;
    static_cast<rapidjson::Value&>(doc) =
        ocean_plugins::deep_copy(fresh.object, doc.GetAllocator());
    auto& a = doc.GetAllocator();
    for (const auto& [member, path] : relations) {
      rapidjson::Document list = github.list(repo.path() + path);
      doc.RemoveMember(member.c_str());
      doc.AddMember(rapidjson::Value(member.c_str(), a), rapidjson::Value(list, a), a);
    }
    // Ocean's `includedFiles`, read from the default branch.
    if (auto branch = get_string(doc, {"default_branch"})) {
      IncludedFileCache read;
      add_included_files(doc, a, included, "", github, repo, *branch, read);
    }
    // Ocean's other relations: `__sbom` (the SPDX document), `__pages`, and `custom_properties`
    // as {name: value} when GitHub's answer lacks them; `{}` where the repository has none.
    auto put = [&](const char* member, rapidjson::Value value) {
      doc.RemoveMember(member);
      doc.AddMember(rapidjson::StringRef(member), value, a);
    };
    if (sbom) {
      auto answer = github.fetch(repo.path() + "/dependency-graph/sbom", {404});
      const rapidjson::Value* spdx = answer.gone ? nullptr : find(answer.object, {"sbom"});
      put("__sbom", spdx && spdx->IsObject() ? ocean_plugins::deep_copy(*spdx, a)
                                             : rapidjson::Value(rapidjson::kObjectType));
    }
    if (pages) {
      auto answer = github.fetch(repo.path() + "/pages", {404});
      put("__pages", !answer.gone && answer.object.IsObject()
                         ? ocean_plugins::deep_copy(answer.object, a)
                         : rapidjson::Value(rapidjson::kObjectType));
    }
    if (properties && !doc.HasMember("custom_properties")) {
      // A list, which fetch() (objects only) refuses; a 404 (a personal account's repository)
      // means none.
      const std::string path = repo.path() + "/properties/values";
      auto answer = github.call("GET", path);
      if (!answer.ok() && answer.status != 404)
        ocean_plugins::interpret(std::move(answer), "GitHub GET " + path, {},
                                 &Api::rate_limit_wait);
      rapidjson::Document list;
      rapidjson::Value values(rapidjson::kObjectType);
      if (answer.ok() && ocean::parse_json(list, answer.body) && list.IsArray())
        for (const auto& p : list.GetArray()) {
          auto name = get_string(p, {"property_name"});
          const rapidjson::Value* value = find(p, {"value"});
          if (!name || !value) continue;
          rapidjson::Value key(name->c_str(), a);
          values.RemoveMember(key);
          values.AddMember(key, ocean_plugins::deep_copy(*value, a), a);
        }
      put("custom_properties", std::move(values));
    }
    out.add_updated(doc);
    return out;
  }

 private:
  // `includedRelations.<name>: true`, or `<name>` in Ocean's older `include` list (sbom).
  static bool wants(const ocean::ResourceConfig& resource, const char* name) {
    const rapidjson::Value* flag = find(resource.config(), {"selector", "includedRelations", name});
    if (flag && flag->IsBool()) return flag->GetBool();
    auto include = selector_strings(resource, "include");
    return include && include->count(name);
  }
  static ocean::WebhookEventRawResults removed(const rapidjson::Value& repository) {
    ocean::WebhookEventRawResults out;
    out.add_deleted(repository);
    return out;
  }
  // Ocean's `includedRelations: {collaborators: {affiliation}, teams: true}` (or the older
  // `include: [collaborators, teams]`): the lists added to the repository.
  static std::vector<std::pair<std::string, std::string>> relations_of(
      const ocean::ResourceConfig& resource) {
    std::vector<std::pair<std::string, std::string>> out;
    const rapidjson::Value& config = resource.config();
    const rapidjson::Value* collaborators =
        find(config, {"selector", "includedRelations", "collaborators"});
    auto include = selector_strings(resource, "include").value_or(std::set<std::string>{});
    if ((collaborators &&
         (collaborators->IsObject() || (collaborators->IsBool() && collaborators->GetBool()))) ||
        include.count("collaborators")) {
      std::string affiliation =
          collaborators ? get_string(*collaborators, {"affiliation"}).value_or("all") : "all";
      out.push_back(
          {"__collaborators", "/collaborators?affiliation=" + ocean::path_segment(affiliation)});
    }
    const rapidjson::Value* teams = find(config, {"selector", "includedRelations", "teams"});
    if ((teams && teams->IsBool() && teams->GetBool()) || include.count("teams"))
      out.push_back({"__teams", "/teams"});
    return out;
  }
};

// Pull request states kept (`states: [open, closed]`, or the older `state: open|closed|all`);
// Ocean's default: open.
std::set<std::string> kept_states(const ocean::ResourceConfig& resource) {
  if (auto states = selector_strings(resource, "states")) return *states;
  if (auto state = get_string(resource.config(), {"selector", "state"})) {
    if (*state == "all") return {"open", "closed"};
    return {*state};
  }
  return {"open"};
}

class PullRequestProcessor : public GithubProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent& event) override {
    static const std::set<std::string> actions = {
        "opened",           "edited",     "reopened",         "synchronize",
        "ready_for_review", "closed",     "labeled",          "unlabeled",
        "assigned",         "unassigned", "review_requested", "review_request_removed"};
    return is("pull_request") && actions.count(action_of(event.payload()));
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
    if (!in_scope(payload, resource, repo)) return {};
    const rapidjson::Value& pr = payload["pull_request"];
    auto number = *get_id(payload, {"pull_request", "number"});
    auto states = kept_states(resource);
    if (action_of(payload) == "closed" && !states.count("closed")) return deleted(pr, repo);
    stop_if_cancelled();
    auto fresh = api(repo).fetch(repo.path() + "/pulls/" + std::to_string(number));
    if (fresh.gone) return deleted(pr, repo);
    if (!states.count(get_string(fresh.object, {"state"}).value_or("")))
      return deleted(fresh.object, repo);
    return updated(fresh, repo);
  }
};

class IssueProcessor : public GithubProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent&) override { return is("issues"); }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"issue"};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    return has_repo_and(payload, "issue", "number");
  }
  // Open issues only unless the selector names states (`state: all`, `states: [...]`): Ocean's
  // issue selector defaults `state` to "open", so a closed issue leaves the catalog. `labels`:
  // an issue without all of them is left alone (Ocean skips it, it does not delete it).
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig& resource) override {
    count_handled("issue");
    Repo repo = *repo_of(payload);
    if (!in_scope(payload, resource, repo)) return {};
    const rapidjson::Value& issue = payload["issue"];
    if (!has_labels(issue, resource)) return {};
    auto number = *get_id(payload, {"issue", "number"});
    auto states = kept_states(resource);
    std::string action = action_of(payload);
    if (action == "deleted" || (action == "closed" && !states.count("closed")))
      return deleted(issue, repo);
    stop_if_cancelled();
    // GitHub answers 301 for an issue transferred to another repository: gone from this one.
    auto fresh =
        api(repo).fetch(repo.path() + "/issues/" + std::to_string(number), {301, 404, 410});
    if (fresh.gone) return deleted(issue, repo);
    if (!states.count(get_string(fresh.object, {"state"}).value_or("")))
      return deleted(fresh.object, repo);
    return updated(fresh, repo);
  }

 private:
  static bool has_labels(const rapidjson::Value& issue, const ocean::ResourceConfig& resource) {
    auto wanted = selector_strings(resource, "labels");
    if (!wanted || wanted->empty()) return true;
    std::set<std::string> present;
    if (const rapidjson::Value* labels = find(issue, {"labels"}); labels && labels->IsArray())
      for (const auto& l : labels->GetArray())
        if (auto name = get_string(l, {"name"})) present.insert(lower(*name));
    for (const auto& w : *wanted)
      if (!present.count(lower(w))) return false;
    return true;
  }
};

// A kind re-fetched at `collection/<payload member's id>`, deleted on `delete_action`.
class ByIdProcessor : public GithubProcessor {
 protected:
  ByIdProcessor(const char* event, const char* kind, const char* member, const char* id,
                const char* collection, const char* delete_action)
      : event_(event),
        kind_(kind),
        member_(member),
        id_(id),
        collection_(collection),
        delete_action_(delete_action) {}

 public:
  bool should_process_event(const ocean::WebhookEvent&) override { return is(event_); }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {kind_};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    return has_repo_and(payload, member_, id_);
  }
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig& resource) override {
    count_handled(kind_);
    Repo repo = *repo_of(payload);
    const rapidjson::Value& object = payload[member_];
    if (!wanted(payload, resource) || !in_scope(payload, resource, repo)) return {};
    if ((delete_action_ && action_of(payload) == delete_action_) || !kept(payload, resource))
      return deleted(object, repo, extra(payload));
    return refreshed(repo, path(payload), object, {404, 410}, extra(payload));
  }

 protected:
  // Members a kind adds beside `__repository` and `__organization`.
  virtual ocean_plugins::Members extra(const rapidjson::Value&) const { return {}; }
  virtual std::string path(const rapidjson::Value& payload) const {
    return collection_ + std::to_string(*get_id(payload, {member_, id_}));
  }
  // False: the selector does not look at this object at all (no change in the catalog).
  virtual bool wanted(const rapidjson::Value&, const ocean::ResourceConfig&) const { return true; }
  // False: the selector no longer keeps the object, which is deleted.
  virtual bool kept(const rapidjson::Value&, const ocean::ResourceConfig&) const { return true; }

  const char* event_;
  const char* kind_;
  const char* member_;
  const char* id_;
  std::string collection_;
  const char* delete_action_;
};

class ReleaseProcessor : public ByIdProcessor {
 public:
  ReleaseProcessor()
      : ByIdProcessor("release", "release", "release", "id", "/releases/", "deleted") {}
};

// Every workflow_run action (requested, in_progress, completed) updates the run: a completed run
// stays with its conclusion. `statuses`: a run whose status and conclusion are both outside the
// list is deleted, as Ocean does.
class WorkflowRunProcessor : public ByIdProcessor {
 public:
  WorkflowRunProcessor()
      : ByIdProcessor("workflow_run", "workflow-run", "workflow_run", "id", "/actions/runs/",
                      nullptr) {}

 protected:
  bool kept(const rapidjson::Value& payload, const ocean::ResourceConfig& resource) const override {
    auto statuses = selector_strings(resource, "statuses");
    if (!statuses) return true;
    return statuses->count(get_string(payload, {"workflow_run", "status"}).value_or("")) ||
           statuses->count(get_string(payload, {"workflow_run", "conclusion"}).value_or(""));
  }
};

// `task` and `environment` selectors: a deployment outside them is left alone.
bool deployment_wanted(const rapidjson::Value& payload, const ocean::ResourceConfig& resource) {
  for (const char* field : {"task", "environment"}) {
    auto want = get_string(resource.config(), {"selector", field});
    if (want && get_string(payload, {"deployment", field}) != want) return false;
  }
  return true;
}

// Deployments are never deleted by an event (GitHub sends none for it).
class DeploymentProcessor : public ByIdProcessor {
 public:
  DeploymentProcessor()
      : ByIdProcessor("deployment", "deployment", "deployment", "id", "/deployments/", nullptr) {}

 protected:
  bool wanted(const rapidjson::Value& p, const ocean::ResourceConfig& r) const override {
    return deployment_wanted(p, r);
  }
};

// The status, enriched with `__deployment_id` as Ocean does.
class DeploymentStatusProcessor : public ByIdProcessor {
 public:
  DeploymentStatusProcessor()
      : ByIdProcessor("deployment_status", "deployment-status", "deployment_status", "id", "",
                      nullptr) {}
  bool validate_payload(const rapidjson::Value& payload) override {
    return ByIdProcessor::validate_payload(payload) && get_id(payload, {"deployment", "id"});
  }

 protected:
  ocean_plugins::Members extra(const rapidjson::Value& payload) const override {
    return {{"__deployment_id", std::to_string(*get_id(payload, {"deployment", "id"}))}};
  }
  std::string path(const rapidjson::Value& payload) const override {
    return "/deployments/" + std::to_string(*get_id(payload, {"deployment", "id"})) + "/statuses/" +
           std::to_string(*get_id(payload, {"deployment_status", "id"}));
  }
  bool wanted(const rapidjson::Value& p, const ocean::ResourceConfig& r) const override {
    return deployment_wanted(p, r);
  }
};

// The environment a deployment went to (GitHub has no environment event): re-fetched by name.
class EnvironmentProcessor : public GithubProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent&) override { return is("deployment"); }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"environment"};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    auto name = get_string(payload, {"deployment", "environment"});
    return has_repo_and(payload, nullptr, nullptr) && name && !name->empty();
  }
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig& resource) override {
    count_handled("environment");
    Repo repo = *repo_of(payload);
    if (!in_scope(payload, resource, repo)) return {};
    std::string name = *get_string(payload, {"deployment", "environment"});
    rapidjson::Document gone(rapidjson::kObjectType);
    gone.AddMember("name", rapidjson::Value(name.c_str(), gone.GetAllocator()),
                   gone.GetAllocator());
    return refreshed(repo, "/environments/" + ocean::path_segment(name), gone);
  }
};

// Security alerts: the action says which states the alert may now be in; an alert whose states
// the selector does not keep is deleted (Ocean's rule), other actions are ignored.
class AlertProcessor : public ByIdProcessor {
 protected:
  AlertProcessor(const char* event, const char* kind, const char* collection,
                 std::map<std::string, std::set<std::string>> states_by_action,
                 std::set<std::string> default_states, const char* selector)
      : ByIdProcessor(event, kind, "alert", "number", collection, nullptr),
        states_by_action_(std::move(states_by_action)),
        default_states_(std::move(default_states)),
        selector_(selector) {}

 public:
  bool should_process_event(const ocean::WebhookEvent& event) override {
    return is(event_) && states_by_action_.count(action_of(event.payload()));
  }

 protected:
  bool kept(const rapidjson::Value& payload, const ocean::ResourceConfig& resource) const override {
    auto keep = selector_strings(resource, selector_).value_or(default_states_);
    if (keep.count("all")) return true;
    for (const auto& s : states_by_action_.at(action_of(payload)))
      if (keep.count(s)) return true;
    return false;
  }

  std::map<std::string, std::set<std::string>> states_by_action_;
  std::set<std::string> default_states_;
  const char* selector_;
};

class DependabotAlertProcessor : public AlertProcessor {
 public:
  DependabotAlertProcessor()
      : AlertProcessor("dependabot_alert", "dependabot-alert", "/dependabot/alerts/",
                       {{"created", {"open"}},
                        {"reopened", {"open"}},
                        {"auto_reopened", {"open"}},
                        {"reintroduced", {"open"}},
                        {"dismissed", {"dismissed"}},
                        {"auto_dismissed", {"auto_dismissed"}},
                        {"fixed", {"fixed"}}},
                       {"open"}, "states") {}

 protected:
  // `severity` and `ecosystems`: an alert outside them is left alone.
  bool wanted(const rapidjson::Value& payload,
              const ocean::ResourceConfig& resource) const override {
    if (auto severity = selector_strings(resource, "severity"); severity && !severity->empty()) {
      std::set<std::string> wanted;
      for (const auto& s : *severity) wanted.insert(lower(s));
      if (!wanted.count(
              lower(get_string(payload, {"alert", "security_advisory", "severity"}).value_or(""))))
        return false;
    }
    if (auto ecosystems = selector_strings(resource, "ecosystems");
        ecosystems && !ecosystems->empty() &&
        !ecosystems->count(
            get_string(payload, {"alert", "dependency", "package", "ecosystem"}).value_or("")))
      return false;
    return true;
  }
};

class CodeScanningAlertProcessor : public AlertProcessor {
 public:
  CodeScanningAlertProcessor()
      : AlertProcessor("code_scanning_alert", "code-scanning-alerts", "/code-scanning/alerts/",
                       {{"appeared_in_branch", {"open"}},
                        {"reopened", {"open"}},
                        {"created", {"open"}},
                        {"fixed", {"fixed", "dismissed"}},
                        {"closed_by_user", {"closed"}}},
                       {"open"}, "state") {}

 protected:
  bool wanted(const rapidjson::Value& payload,
              const ocean::ResourceConfig& resource) const override {
    auto severity = get_string(resource.config(), {"selector", "severity"});
    return !severity || lower(*severity) ==
                            lower(get_string(payload, {"alert", "rule", "severity"}).value_or(""));
  }
};

class SecretScanningAlertProcessor : public AlertProcessor {
 public:
  SecretScanningAlertProcessor()
      : AlertProcessor("secret_scanning_alert", "secret-scanning-alerts",
                       "/secret-scanning/alerts/",
                       {{"created", {"open"}},
                        {"publicly_leaked", {"open"}},
                        {"reopened", {"open"}},
                        {"validated", {"open"}},
                        {"resolved", {"resolved"}}},
                       {"open"}, "state") {}

 protected:
  // Ocean's `hideSecret` (default true) is passed on to GitHub.
  std::string path(const rapidjson::Value& payload) const override {
    return ByIdProcessor::path(payload) + "?hide_secret=" + (hide_secret_ ? "true" : "false");
  }
  bool wanted(const rapidjson::Value&, const ocean::ResourceConfig& resource) const override {
    hide_secret_ = selector_flag(resource, "hideSecret", true);
    return true;
  }

 private:
  mutable bool hide_secret_ = true;
};

}  // namespace

void add_repository_kinds(ocean::PluginBuilder& plugin) {
  plugin.add_processor<RepositoryProcessor>("/webhook");
  plugin.add_processor<PullRequestProcessor>("/webhook");
  plugin.add_processor<IssueProcessor>("/webhook");
  plugin.add_processor<ReleaseProcessor>("/webhook");
  plugin.add_processor<WorkflowRunProcessor>("/webhook");
  plugin.add_processor<DeploymentProcessor>("/webhook");
  plugin.add_processor<DeploymentStatusProcessor>("/webhook");
  plugin.add_processor<EnvironmentProcessor>("/webhook");
  plugin.add_processor<DependabotAlertProcessor>("/webhook");
  plugin.add_processor<CodeScanningAlertProcessor>("/webhook");
  plugin.add_processor<SecretScanningAlertProcessor>("/webhook");
}

}  // namespace github
