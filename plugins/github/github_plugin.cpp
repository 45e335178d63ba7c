// The GitHub integration: live events for every kind Ocean's GitHub integration keeps live, with
// its processors as the reference for what each event means (docs/integrations/github.md).
//
// One processor per kind, as in Ocean, all on the route /webhook. Every processor re-fetches the
// object from the REST API (webhook payloads can be stale or reordered) and reports deletions with
// the payload's own object, enriched like Ocean's with `__repository` and `__organization`.
#include <algorithm>
#include <array>
#include <chrono>
#include <mutex>
#include <unordered_map>

#include "processor_base.hpp"

namespace github {

std::optional<Repo> repo_of(const rapidjson::Value& payload) {
  auto full = get_string(payload, {"repository", "full_name"});
  if (!full) return std::nullopt;
  size_t slash = full->find('/');
  if (slash == 0 || slash == std::string::npos || slash + 1 == full->size() ||
      full->find('/', slash + 1) != std::string::npos)
    return std::nullopt;
  return Repo{full->substr(0, slash), full->substr(slash + 1), *full};
}

std::optional<std::string> owner_of(const rapidjson::Value& payload) {
  if (auto org = get_string(payload, {"organization", "login"}); org && !org->empty()) return org;
  if (auto repo = repo_of(payload)) return repo->owner;
  return std::nullopt;
}

std::string action_of(const rapidjson::Value& payload) {
  return get_string(payload, {"action"}).value_or("");
}

namespace {

// The object an event is about within its repository or organization: its kind and the payload
// member naming it. Events about one object run in order; different objects run in parallel.
struct Subject {
  bool per_repository;  // else per organization
  const char* kind;
  // Path of the object's id in the payload (up to three members); none: the repository itself.
  std::array<const char*, 3> id{};
};

std::optional<Subject> subject_of(std::string_view event) {
  if (event == "pull_request") return Subject{true, "pull-request", {"pull_request", "number"}};
  if (event == "issues") return Subject{true, "issue", {"issue", "number"}};
  if (event == "release") return Subject{true, "release", {"release", "id"}};
  if (event == "workflow_run") return Subject{true, "workflow-run", {"workflow_run", "id"}};
  // A push also drives branches, workflows and files; one order per repository keeps a branch's
  // creation, pushes and deletion (create/delete) apart from nothing that touches them.
  if (event == "repository" || event == "push" || event == "create" || event == "delete")
    return Subject{true, "repository", {}};
  if (event == "deployment" || event == "deployment_status")
    return Subject{true, "deployment", {"deployment", "id"}};
  if (event == "dependabot_alert") return Subject{true, "dependabot-alert", {"alert", "number"}};
  if (event == "code_scanning_alert") return Subject{true, "code-scanning", {"alert", "number"}};
  if (event == "secret_scanning_alert")
    return Subject{true, "secret-scanning", {"alert", "number"}};
  if (event == "member") return Subject{true, "collaborator", {"member", "id"}};
  if (event == "team" || event == "membership") return Subject{false, "team", {"team", "id"}};
  if (event == "organization") return Subject{false, "user", {"membership", "user", "id"}};
  return std::nullopt;
}

std::optional<unsigned long long> id_of(const rapidjson::Value& payload, const Subject& subject) {
  if (!subject.id[1]) return get_id(payload, {subject.id[0]});
  if (!subject.id[2]) return get_id(payload, {subject.id[0], subject.id[1]});
  return get_id(payload, {subject.id[0], subject.id[1], subject.id[2]});
}

}  // namespace

std::string group_key_of(const ocean::WebhookEvent& event) {
  auto subject = subject_of(event.headers().get_or("x-github-event", ""));
  // Checked before the payload is parsed: much of what GitHub sends (check runs, statuses,
  // stars…) no processor here handles.
  if (!subject) return {};
  const rapidjson::Value& payload = event.payload();
  std::string key;
  if (subject->per_repository) {
    auto repo = repo_of(payload);
    if (!repo) return {};
    key = repo->full_name;
  } else {
    auto owner = owner_of(payload);
    if (!owner) return {};
    key = *owner;
  }
  key += "#";
  key += subject->kind;
  if (subject->id[0]) {
    auto id = id_of(payload, *subject);
    if (!id) return {};
    key += "#" + std::to_string(*id);
  }
  return key;
}

std::optional<std::set<std::string>> selector_strings(const ocean::ResourceConfig& resource,
                                                      const char* name) {
  const rapidjson::Value* list = find(resource.config(), {"selector", name});
  if (!list) return std::nullopt;
  std::set<std::string> out;
  if (list->IsString()) out.insert(list->GetString());
  if (list->IsArray())
    for (const auto& s : list->GetArray())
      if (s.IsString()) out.insert(s.GetString());
  return out;
}

bool selector_flag(const ocean::ResourceConfig& resource, const char* name, bool fallback) {
  const rapidjson::Value* v = find(resource.config(), {"selector", name});
  return v && v->IsBool() ? v->GetBool() : fallback;
}

bool GithubProcessor::authenticate(const rapidjson::Value&, const ocean::Headers& headers,
                                   std::string_view raw_body) {
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

bool GithubProcessor::has_repo_and(const rapidjson::Value& payload, const char* member,
                                   const char* id_field) const {
  if (!repo_of(payload)) return false;
  return !member || get_id(payload, {member, id_field}).has_value();
}

namespace {
ocean_plugins::Members with_repository(const Repo& repo, const ocean_plugins::Members& extra) {
  ocean_plugins::Members all = {{"__repository", repo.name}, {"__organization", repo.owner}};
  all.insert(all.end(), extra.begin(), extra.end());
  return all;
}
}  // namespace

rapidjson::Document GithubProcessor::enrich(const rapidjson::Value& object, const Repo& repo,
                                            const ocean_plugins::Members& extra) {
  return ocean_plugins::enriched(object, with_repository(repo, extra));
}

ocean::WebhookEventRawResults GithubProcessor::deleted(const rapidjson::Value& object,
                                                       const Repo& repo,
                                                       const ocean_plugins::Members& extra) {
  ocean::WebhookEventRawResults out;
  out.add_deleted(enrich(object, repo, extra));
  return out;
}

ocean::WebhookEventRawResults GithubProcessor::updated(const ocean_plugins::Fetched& fresh,
                                                       const Repo& repo,
                                                       const ocean_plugins::Members& extra) {
  ocean::WebhookEventRawResults out;
  if (auto text = ocean_plugins::enriched_text(fresh, with_repository(repo, extra)))
    out.add_updated_text(std::move(*text));
  else
    out.add_updated(enrich(fresh.object, repo, extra));
  return out;
}

ocean::WebhookEventRawResults GithubProcessor::refreshed(
    const Repo& repo, const std::string& path, const rapidjson::Value& gone_object,
    std::initializer_list<int> gone, const ocean_plugins::Members& extra) const {
  stop_if_cancelled();
  auto fresh = api(repo).fetch(repo.path() + path, gone);
  if (fresh.gone) return deleted(gone_object, repo, extra);
  return updated(fresh, repo, extra);
}

bool GithubProcessor::visibility_kept(const rapidjson::Value& payload,
                                      const ocean::ResourceConfig& resource) {
  auto wanted = get_string(resource.app_config(), {"repositoryType"});
  if (!wanted || *wanted == "all") return true;
  // Events about no repository (an organization's team or member) are not filtered.
  if (!find(payload, {"repository"})) return true;
  return get_string(payload, {"repository", "visibility"}) == wanted;
}

std::string contents_path(const std::string& path) {
  std::string out;
  size_t at = 0;
  while (true) {
    size_t slash = path.find('/', at);
    out += ocean::path_segment(path.substr(at, slash - at));
    if (slash == std::string::npos) return out;
    out += '/';
    at = slash + 1;
  }
}

std::optional<std::string> decoded_content(const rapidjson::Value& answer) {
  auto encoded = get_string(answer, {"content"});
  if (!encoded) return std::nullopt;
  std::string compact;
  for (char c : *encoded)
    if (c != '\n' && c != '\r') compact.push_back(c);
  return ocean::base64_decode(compact);
}

std::vector<std::string> selector_list(const ocean::ResourceConfig& resource, const char* name) {
  const rapidjson::Value* selector = find(resource.config(), {"selector"});
  return selector ? string_list(*selector, name) : std::vector<std::string>{};
}

std::vector<std::string> string_list(const rapidjson::Value& config, const char* name) {
  std::vector<std::string> out;
  const rapidjson::Value* list = find(config, {name});
  if (!list || !list->IsArray()) return out;
  for (const auto& item : list->GetArray())
    if (item.IsString() && item.GetStringLength() > 0 &&
        std::find(out.begin(), out.end(), item.GetString()) == out.end())
      out.emplace_back(item.GetString());
  return out;
}

void add_included_files(rapidjson::Value& target, rapidjson::Document::AllocatorType& a,
                        const std::vector<std::string>& requested, const std::string& base,
                        const Api& github, const Repo& repo, const std::string& ref,
                        IncludedFileCache& read) {
  if (requested.empty() || !target.IsObject()) return;
  auto trimmed = [](std::string s) {
    while (!s.empty() && s.front() == '/') s.erase(0, 1);
    while (!s.empty() && s.back() == '/') s.pop_back();
    return s;
  };
  std::string folder = trimmed(base);
  if (folder == ".") folder.clear();
  rapidjson::Value files(rapidjson::kObjectType);
  if (auto it = target.FindMember("__includedFiles");
      it != target.MemberEnd() && it->value.IsObject())
    files = ocean_plugins::deep_copy(it->value, a);
  for (const auto& want : requested) {
    std::string path = trimmed(want);
    if (!folder.empty() && path.rfind(folder + "/", 0) != 0) path = folder + "/" + path;
    auto known = read.find(path);
    if (known == read.end()) {
      auto fresh = github.fetch(
          repo.path() + "/contents/" + contents_path(path) + "?ref=" + ocean::path_segment(ref),
          {404});
      std::optional<std::string> text;
      if (!fresh.gone &&
          get_string(fresh.object, {"encoding"}) == std::optional<std::string>("base64"))
        text = decoded_content(fresh.object);
      known = read.emplace(path, std::move(text)).first;
    }
    rapidjson::Value content;  // null unless the file was read
    if (known->second)
      content.SetString(known->second->c_str(),
                        static_cast<rapidjson::SizeType>(known->second->size()), a);
    rapidjson::Value name(want.c_str(), a);
    files.RemoveMember(name);
    files.AddMember(name, content, a);
  }
  target.RemoveMember("__includedFiles");
  target.AddMember("__includedFiles", files, a);
}

namespace {

// What repoSearch queries answered, for a minute: GitHub allows 30 searches a minute, and a busy
// repository's events would otherwise each wait for one. A `repository` event (topics or
// visibility edited) always searches again and refreshes the answer.
class SearchAnswers {
 public:
  static SearchAnswers& instance() {
    static SearchAnswers answers;
    return answers;
  }
  std::optional<bool> get(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto it = answers_.find(key);
    if (it == answers_.end() || it->second.second <= Clock::now()) return std::nullopt;
    return it->second.first;
  }
  void put(const std::string& key, bool found) {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    if (answers_.size() >= kMaxAnswers) {
      std::erase_if(answers_, [&](const auto& a) { return a.second.second <= now; });
      if (answers_.size() >= kMaxAnswers) answers_.clear();
    }
    answers_[key] = {found, now + kLifetime};
  }

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kMaxAnswers = 10000;
  static constexpr auto kLifetime = std::chrono::seconds(60);
  std::mutex mutex_;
  std::unordered_map<std::string, std::pair<bool, Clock::time_point>> answers_;
};

}  // namespace

bool GithubProcessor::found_by_search(const rapidjson::Value& payload,
                                      const ocean::ResourceConfig& resource,
                                      const Repo& repo) const {
  const rapidjson::Value* query = find(resource.config(), {"selector", "repoSearch", "query"});
  if (!find(resource.config(), {"selector", "repoSearch"})) return true;
  std::string q = "org:" + repo.owner + " " +
                  (query && query->IsString() ? std::string(query->GetString()) + " " : "") +
                  repo.name + " in:name";
  auto id = get_id(payload, {"repository", "id"});
  const std::string key = std::string(event().integration()) + '\n' + q + '\n' +
                          (id ? std::to_string(*id) : lower(repo.full_name));
  auto& answers = SearchAnswers::instance();
  std::optional<bool> known = is("repository") ? std::nullopt : answers.get(key);
  if (!known) {
    stop_if_cancelled();
    // Matching by name narrows the search to a page or two; the id makes the match exact.
    rapidjson::Document found = api(repo).for_search().list(
        "/search/repositories?q=" + ocean::path_segment(q), "items", 10);
    known = false;
    for (const auto& item : found.GetArray())
      if (id ? get_id(item, {"id"}) == id
             : lower(get_string(item, {"full_name"}).value_or("")) == lower(repo.full_name))
        known = true;
    answers.put(key, *known);
  }
  if (!*known)
    ocean::log_info("repository '" + repo.full_name +
                    "' is not among the results of its resource's repoSearch query: event ignored");
  return *known;
}

void GithubProcessor::count_handled(std::string_view kind) const {
  count_event("github_events_handled");
  std::string name = "github_handled_" + std::string(kind);
  for (char& c : name)
    if (c == '-') c = '_';
  count_event(name);
}

void warn_if_no_secret(std::string_view integration) {
  ocean_plugins::warn_once("no-secret", integration,
                           "integration '" + std::string(integration) +
                               "': no webhook_secret configured, so every GitHub delivery is "
                               "accepted without checking X-Hub-Signature-256");
}

}  // namespace github

OCEAN_PLUGIN("github", "1.1.0") {
  github::add_repository_kinds(plugin);
  github::add_code_kinds(plugin);
  github::add_organization_kinds(plugin);
  plugin.on_start(&github::ensure_webhook);
  // The config an integration may set; the aliases are Ocean's names for the same settings.
  ocean_plugins::declare_webhook_secret(plugin);
  plugin.config_key("api_url", "GitHub's REST API (GitHub Enterprise: https://host/api/v3)",
                    {.aliases = {"githubHost"}});
  plugin.config_key("token", "a personal or fine-grained token (wins over a GitHub App)",
                    {.secret = true, .aliases = {"githubToken"}});
  plugin.config_key("app_id", "the GitHub App's id (with app_private_key)",
                    {.aliases = {"githubAppId"}});
  plugin.config_key("app_private_key", "the GitHub App's private key (PEM, or PEM in base64)",
                    {.secret = true, .aliases = {"githubAppPrivateKey"}});
  plugin.config_key("org", "the organization(s) whose webhook on_start registers, comma-separated",
                    {.aliases = {"githubOrganization"}});
  plugin.config_key("repo", "owner/name of the one repository whose webhook on_start registers");
  plugin.config_key("skip_webhook_patching",
                    "true: an existing hook is never changed (Ocean's skipWebhookPatching)",
                    {.aliases = {"skipWebhookPatching"}});
  plugin.validate_config([](std::string_view integration) {
    std::string problem = ocean_plugins::url_problem(integration, "api_url");
    return problem.empty() ? github::Credentials::problem(integration) : problem;
  });
  // GitHub names every delivery's event in a header: /integration/webhook can be shared.
  plugin.sender_headers({"X-GitHub-Event"});
}
