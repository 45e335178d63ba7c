// Kinds that follow the code: tags and branches (`create`, `delete`, `push`), and the workflows
// and files a push changes (Ocean's push processors, GitOps).
#include "processor_base.hpp"

namespace github {
namespace {

constexpr std::string_view kHeads = "refs/heads/";

// The branch a push went to, or nullopt for a tag push.
std::optional<std::string> pushed_branch(const rapidjson::Value& payload) {
  auto ref = get_string(payload, {"ref"});
  if (!ref || ref->rfind(kHeads, 0) != 0 || ref->size() == kHeads.size()) return std::nullopt;
  return ref->substr(kHeads.size());
}

bool flag(const rapidjson::Value& payload, const char* name) {
  const rapidjson::Value* v = find(payload, {name});
  return v && v->IsBool() && v->GetBool();
}

rapidjson::Document named(const std::string& name) {
  rapidjson::Document d(rapidjson::kObjectType);
  d.AddMember("name", rapidjson::Value(name.c_str(), d.GetAllocator()), d.GetAllocator());
  return d;
}

// A file a push changed, in its final state after the push.
struct Changed {
  std::string path;
  bool removed = false;
};

// From the push's commits (GitHub lists up to 20 of them, oldest first) or, when it listed 20 and
// may have left some out, from the comparison of `before` and `after` (what Ocean always asks).
std::vector<Changed> changed_files(const rapidjson::Value& payload, const Api& api,
                                   const Repo& repo) {
  std::vector<Changed> out;
  auto set = [&](const std::string& path, bool removed) {
    for (auto& c : out)
      if (c.path == path) {
        c.removed = removed;
        return;
      }
    out.push_back({path, removed});
  };
  const rapidjson::Value* commits = find(payload, {"commits"});
  auto before = get_string(payload, {"before"}), after = get_string(payload, {"after"});
  bool complete = commits && commits->IsArray() && commits->Size() < 20;
  if (!complete && before && after && before->find_first_not_of('0') != std::string::npos) {
    auto fresh = api.fetch(repo.path() + "/compare/" + ocean::path_segment(*before) + "..." +
                           ocean::path_segment(*after));
    if (const rapidjson::Value* files = find(fresh.object, {"files"}); files && files->IsArray()) {
      for (const auto& f : files->GetArray())
        if (auto name = get_string(f, {"filename"}))
          set(*name, get_string(f, {"status"}) == std::optional<std::string>("removed"));
      return out;
    }
  }
  if (!commits || !commits->IsArray()) return out;
  for (const auto& commit : commits->GetArray())
    for (const char* list : {"added", "modified", "removed"}) {
      const rapidjson::Value* paths = find(commit, {list});
      if (!paths || !paths->IsArray()) continue;
      for (const auto& p : paths->GetArray())
        if (p.IsString()) set(p.GetString(), std::string_view(list) == "removed");
    }
  return out;
}

std::string base_name(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A glob as Ocean's file selector reads it: `**` spans directories, `*` and `?` do not, case and
// leading dots do not matter.
bool glob_match(std::string_view pattern, std::string_view path) {
  if (pattern.empty()) return path.empty();
  if (pattern.substr(0, 2) == "**") {
    std::string_view rest = pattern.substr(2);
    if (!rest.empty() && rest.front() == '/') {
      // "**/x" also matches "x" at this level.
      if (glob_match(rest.substr(1), path)) return true;
    }
    for (size_t i = 0; i <= path.size(); ++i)
      if (glob_match(rest, path.substr(i))) return true;
    return false;
  }
  if (pattern.front() == '*') {
    for (size_t i = 0; i <= path.size(); ++i) {
      if (glob_match(pattern.substr(1), path.substr(i))) return true;
      if (i < path.size() && path[i] == '/') break;
    }
    return false;
  }
  if (path.empty()) return false;
  if (pattern.front() == '?')
    return path.front() != '/' && glob_match(pattern.substr(1), path.substr(1));
  if (std::tolower(static_cast<unsigned char>(pattern.front())) !=
      std::tolower(static_cast<unsigned char>(path.front())))
    return false;
  return glob_match(pattern.substr(1), path.substr(1));
}

// `create` / `delete` of a tag: re-fetched as its git ref, with `name` and `commit` as Ocean
// gives them.
class TagProcessor : public GithubProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent& event) override {
    return (is("create") || is("delete")) &&
           get_string(event.payload(), {"ref_type"}) == std::optional<std::string>("tag");
  }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"tag"};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    auto ref = get_string(payload, {"ref"});
    return has_repo_and(payload, nullptr, nullptr) && ref && !ref->empty();
  }
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig& resource) override {
    count_handled("tag");
    Repo repo = *repo_of(payload);
    if (!in_scope(payload, resource, repo)) return {};
    std::string tag = *get_string(payload, {"ref"});
    if (is("delete")) return deleted(named(tag), repo);
    stop_if_cancelled();
    auto fresh = api(repo).fetch(repo.path() + "/git/refs/tags/" + ocean::path_segment(tag));
    if (fresh.gone) return deleted(named(tag), repo);
    rapidjson::Document d = enrich(fresh.object, repo);
    auto& a = d.GetAllocator();
    rapidjson::Value commit(rapidjson::kObjectType);
    if (const rapidjson::Value* object = find(fresh.object, {"object"}))
      commit = ocean_plugins::deep_copy(*object, a);
    d.RemoveMember("name");
    d.RemoveMember("commit");
    d.AddMember("name", rapidjson::Value(tag.c_str(), a), a);
    d.AddMember("commit", commit, a);
    ocean::WebhookEventRawResults out;
    out.add_updated(d);
    return out;
  }
};

// A branch created, pushed to, or deleted. Selectors: `defaultBranchOnly`, `branchNames` (others
// are left alone) and `protectionRules` (adds `__protection_rules`).
class BranchProcessor : public GithubProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent& event) override {
    if (is("push")) return pushed_branch(event.payload()).has_value();
    return (is("create") || is("delete")) &&
           get_string(event.payload(), {"ref_type"}) == std::optional<std::string>("branch");
  }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"branch"};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    auto ref = get_string(payload, {"ref"});
    return has_repo_and(payload, nullptr, nullptr) && ref && !ref->empty();
  }
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig& resource) override {
    count_handled("branch");
    Repo repo = *repo_of(payload);
    std::string branch = pushed_branch(payload).value_or(*get_string(payload, {"ref"}));
    auto default_branch = get_string(payload, {"repository", "default_branch"});
    if (selector_flag(resource, "defaultBranchOnly", false)) {
      if (default_branch != branch) return {};
    } else if (auto names = selector_strings(resource, "branchNames");
               names && !names->empty() && !names->count(branch)) {
      return {};
    }
    if (!in_scope(payload, resource, repo)) return {};
    if (is("delete") || (is("push") && flag(payload, "deleted")))
      return deleted(named(branch), repo);
    stop_if_cancelled();
    Api github = api(repo);
    std::string path = repo.path() + "/branches/" + ocean::path_segment(branch);
    auto fresh = github.fetch(path);
    if (fresh.gone) return deleted(named(branch), repo);
    rapidjson::Document d = enrich(fresh.object, repo);
    auto& a = d.GetAllocator();
    d.RemoveMember("__is_default_branch");
    d.AddMember("__is_default_branch", default_branch == branch, a);
    if (selector_flag(resource, "protectionRules", false)) {
      // No protection, or no right to read it: an empty object, as Ocean gives.
      auto protection = github.fetch(path + "/protection", {403, 404});
      rapidjson::Value rules(rapidjson::kObjectType);
      // A deep copy: the answer's strings live in its own buffer, gone with `protection`.
      if (!protection.gone) rules = ocean_plugins::deep_copy(protection.object, a);
      d.RemoveMember("__protection_rules");
      d.AddMember("__protection_rules", rules, a);
    }
    ocean::WebhookEventRawResults out;
    out.add_updated(d);
    return out;
  }
};

// A push that changes .github/workflows/*.yml: each changed workflow re-fetched by its file name;
// a workflow GitHub reports deleted (or no longer knows, its file removed) is deleted.
class WorkflowProcessor : public GithubProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent& event) override {
    return is("push") && pushed_branch(event.payload()).has_value();
  }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"workflow"};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    return has_repo_and(payload, nullptr, nullptr);
  }
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig& resource) override {
    Repo repo = *repo_of(payload);
    if (!in_scope(payload, resource, repo)) return {};
    stop_if_cancelled();
    Api github = api(repo);
    ocean::WebhookEventRawResults out;
    for (const auto& file : changed_files(payload, github, repo)) {
      if (!is_workflow(file.path)) continue;
      count_handled("workflow");
      stop_if_cancelled();
      auto fresh = github.fetch(repo.path() + "/actions/workflows/" +
                                ocean::path_segment(base_name(file.path)));
      if (fresh.gone) {
        if (!file.removed) continue;
        rapidjson::Document stub = named(base_name(file.path));
        stub.AddMember("path", rapidjson::Value(file.path.c_str(), stub.GetAllocator()),
                       stub.GetAllocator());
        out.add_deleted(enrich(stub, repo));
      } else if (get_string(fresh.object, {"state"}) == std::optional<std::string>("deleted")) {
        out.add_deleted(enrich(fresh.object, repo));
      } else {
        out.add_updated(enrich(fresh.object, repo));
      }
    }
    return out;
  }

 private:
  static bool is_workflow(const std::string& path) {
    auto ends = [&](std::string_view s) {
      return path.size() > s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
    };
    return path.rfind(".github/workflows/", 0) == 0 && path.find('/', 18) == std::string::npos &&
           (ends(".yml") || ends(".yaml"));
  }
};

// Ocean's `file` kind: files matching `selector.files[].path` (a glob) in a push to the default
// branch (or to the branches `repos: [{name, branch}]` names). A changed file is fetched from the
// contents API and its `content` parsed as JSON unless `skipParsing` (or not JSON: kept as text);
// a removed one is deleted.
class FileProcessor : public GithubProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent& event) override {
    return is("push") && pushed_branch(event.payload()).has_value();
  }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"file"};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    return has_repo_and(payload, nullptr, nullptr) &&
           get_string(payload, {"repository", "default_branch"}).has_value();
  }
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig& resource) override {
    Repo repo = *repo_of(payload);
    if (!visibility_kept(payload, resource)) return {};  // (Ocean: no repoSearch for files)
    std::string branch = *pushed_branch(payload);
    std::vector<const rapidjson::Value*> patterns = patterns_for(payload, resource, repo, branch);
    if (patterns.empty()) return {};
    stop_if_cancelled();
    Api github = api(repo);
    ocean::WebhookEventRawResults out;
    for (const auto& file : changed_files(payload, github, repo)) {
      const rapidjson::Value* pattern = nullptr;
      for (const auto* p : patterns)
        if (glob_match(get_string(*p, {"path"}).value_or(""), file.path)) pattern = p;
      if (!pattern) continue;
      count_handled("file");
      rapidjson::Document item(rapidjson::kObjectType);
      auto& a = item.GetAllocator();
      item.AddMember("organization", rapidjson::Value(repo.owner.c_str(), a), a);
      item.AddMember("repository", rapidjson::Value(payload["repository"], a), a);
      item.AddMember("branch", rapidjson::Value(branch.c_str(), a), a);
      item.AddMember("path", rapidjson::Value(file.path.c_str(), a), a);
      item.AddMember("name", rapidjson::Value(base_name(file.path).c_str(), a), a);
      if (file.removed) {
        rapidjson::Value metadata(rapidjson::kObjectType);
        metadata.AddMember("path", rapidjson::Value(file.path.c_str(), a), a);
        item.AddMember("metadata", metadata, a);
        out.add_deleted(enrich(item, repo));
        continue;
      }
      stop_if_cancelled();
      auto fresh = github.fetch(repo.path() + "/contents/" + contents_path(file.path) +
                                "?ref=" + ocean::path_segment(branch));
      if (fresh.gone) continue;  // removed again since the push: its own push deletes it
      std::string text = decoded_content(fresh.object).value_or("");
      bool skip = find(*pattern, {"skipParsing"}) && (*pattern)["skipParsing"].IsBool() &&
                  (*pattern)["skipParsing"].GetBool();
      std::optional<rapidjson::Document> parsed;
      if (!skip) parsed = parse_file_content(file.path, text);
      if (parsed)
        item.AddMember("content", rapidjson::Value(*parsed, a), a);
      else
        item.AddMember(
            "content",
            rapidjson::Value(text.c_str(), static_cast<rapidjson::SizeType>(text.size()), a), a);
      item.AddMember("metadata", rapidjson::Value(fresh.object, a), a);
      out.add_updated(enrich(item, repo));
    }
    return out;
  }

 private:
  // The `files` entries that apply to a push to `branch` of `repo`.
  static std::vector<const rapidjson::Value*> patterns_for(const rapidjson::Value& payload,
                                                           const ocean::ResourceConfig& resource,
                                                           const Repo& repo,
                                                           const std::string& branch) {
    std::vector<const rapidjson::Value*> out;
    const rapidjson::Value* files = find(resource.config(), {"selector", "files"});
    if (!files || !files->IsArray()) return out;
    std::string default_branch = *get_string(payload, {"repository", "default_branch"});
    for (const auto& f : files->GetArray()) {
      if (!get_string(f, {"path"})) continue;
      if (auto org = get_string(f, {"organization"}); org && lower(*org) != lower(repo.owner))
        continue;
      const rapidjson::Value* repos = find(f, {"repos"});
      bool applies = false;
      if (!repos || !repos->IsArray() || repos->Empty()) {
        applies = branch == default_branch;
      } else {
        for (const auto& r : repos->GetArray()) {
          std::string name = r.IsString() ? r.GetString() : get_string(r, {"name"}).value_or("");
          std::string want =
              r.IsObject() ? get_string(r, {"branch"}).value_or(default_branch) : default_branch;
          if (name == repo.name && want == branch) applies = true;
        }
      }
      if (applies) out.push_back(&f);
    }
    return out;
  }
};

// Ocean's `folder` kind: on a push to a branch that `selector.folders[].repos` names (a repo
// without `branch` takes every branch), the folders of the pushed branch's tree matching the
// entry's `path` glob that contain a file the push added or modified, as
// `{folder: <tree entry>, __repository: <the repository>, __organization, __branch}`. Never
// deleted: like Ocean, a push only ever updates folders.
class FolderProcessor : public GithubProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent& event) override {
    return is("push") && pushed_branch(event.payload()).has_value();
  }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"folder"};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    return has_repo_and(payload, nullptr, nullptr) && get_string(payload, {"before"}) &&
           get_string(payload, {"after"});
  }
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig& resource) override {
    Repo repo = *repo_of(payload);
    std::string branch = *pushed_branch(payload);
    std::vector<Entry> patterns = patterns_for(resource, repo, branch);
    if (patterns.empty()) return {};
    const std::vector<std::string> global = selector_list(resource, "includedFiles");
    stop_if_cancelled();
    Api github = api(repo);
    std::vector<std::string> changed;
    for (auto& file : changed_files(payload, github, repo))
      if (!file.removed) changed.push_back(std::move(file.path));
    if (changed.empty()) return {};
    auto repository = github.fetch(repo.path());
    if (repository.gone) return {};
    ocean::WebhookEventRawResults out;
    std::set<std::string> done;
    std::optional<rapidjson::Document> trees[2];  // [recursive]: each asked for at most once
    IncludedFileCache read;
    for (const auto& [pattern, unused] : patterns) {
      // Only a top-level glob ("", "*", or a name without `/` or `*`) needs no recursive tree.
      bool recursive = !every_folder(pattern) && pattern.find_first_of("*/") != std::string::npos;
      if (!trees[recursive]) trees[recursive] = tree(github, repo, branch, recursive);
      for (const auto& entry : trees[recursive]->GetArray()) {
        auto path = get_string(entry, {"path"});
        if (get_string(entry, {"type"}) != std::optional<std::string>("tree") || !path ||
            done.count(*path))
          continue;
        if (!selects(pattern, *path)) continue;
        bool touched = false;
        for (const auto& file : changed)
          touched |= file == *path || file.rfind(*path + "/", 0) == 0;
        if (!touched) continue;
        done.insert(*path);
        count_handled("folder");
        rapidjson::Document item(rapidjson::kObjectType);
        auto& a = item.GetAllocator();
        item.AddMember("folder", rapidjson::Value(entry, a), a);
        item.AddMember("__repository", rapidjson::Value(repository.object, a), a);
        item.AddMember("__organization", rapidjson::Value(repo.owner.c_str(), a), a);
        item.AddMember("__branch", rapidjson::Value(branch.c_str(), a), a);
        // Ocean's `includedFiles`: the selector's own on the item, read from the repository's
        // root; each matching entry's under `folder`, read from inside the folder.
        add_included_files(item, a, global, "", github, repo, branch, read);
        std::vector<std::string> inside;
        for (const auto& [other, files] : patterns)
          if (selects(other, *path))
            for (const auto& f : files)
              if (std::find(inside.begin(), inside.end(), f) == inside.end()) inside.push_back(f);
        add_included_files(item["folder"], a, inside, *path, github, repo, branch, read);
        out.add_updated(item);
      }
    }
    return out;
  }

 private:
  struct Entry {
    std::string path;                   // the glob
    std::vector<std::string> included;  // its includedFiles
  };
  // Ocean reads "" and "*" as every top-level folder, any other path as a glob.
  static bool every_folder(const std::string& pattern) { return pattern.empty() || pattern == "*"; }
  static bool selects(const std::string& pattern, const std::string& path) {
    return every_folder(pattern) || glob_match(pattern, path);
  }
  // The `path` (and `includedFiles`) of each `folders` entry naming this repository (and branch).
  static std::vector<Entry> patterns_for(const ocean::ResourceConfig& resource, const Repo& repo,
                                         const std::string& branch) {
    std::vector<Entry> out;
    const rapidjson::Value* folders = find(resource.config(), {"selector", "folders"});
    if (!folders || !folders->IsArray()) return out;
    for (const auto& f : folders->GetArray()) {
      if (auto org = get_string(f, {"organization"}); org && lower(*org) != lower(repo.owner))
        continue;
      const rapidjson::Value* repos = find(f, {"repos"});
      if (!repos || !repos->IsArray()) continue;
      for (const auto& r : repos->GetArray()) {
        auto want = get_string(r, {"branch"});
        if (get_string(r, {"name"}) == repo.name && (!want || want->empty() || *want == branch)) {
          out.push_back({get_string(f, {"path"}).value_or("*"), string_list(f, "includedFiles")});
          break;
        }
      }
    }
    return out;
  }
  // The branch's tree entries; an empty repository (409) or a branch gone since (404): none.
  static rapidjson::Document tree(const Api& github, const Repo& repo, const std::string& branch,
                                  bool recursive) {
    auto fresh = github.fetch(repo.path() + "/git/trees/" + ocean::path_segment(branch) +
                                  (recursive ? "?recursive=true" : ""),
                              {404, 409});
    rapidjson::Document entries(rapidjson::kArrayType);
    const rapidjson::Value* list = fresh.gone ? nullptr : find(fresh.object, {"tree"});
    // A deep copy: the answer's strings live in `fresh`'s buffer, gone when this returns.
    if (list && list->IsArray())
      static_cast<rapidjson::Value&>(entries) =
          ocean_plugins::deep_copy(*list, entries.GetAllocator());
    return entries;
  }
};

}  // namespace

void add_code_kinds(ocean::PluginBuilder& plugin) {
  plugin.add_processor<TagProcessor>("/webhook");
  plugin.add_processor<BranchProcessor>("/webhook");
  plugin.add_processor<WorkflowProcessor>("/webhook");
  plugin.add_processor<FileProcessor>("/webhook");
  plugin.add_processor<FolderProcessor>("/webhook");
}

}  // namespace github
