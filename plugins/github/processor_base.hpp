// What every GitHub processor shares: the signature check, the ordering key, the repository and
// owner an event is about, Ocean's enrichment, and selector reading.
#pragma once

#include <map>
#include <set>

#include "github.hpp"

namespace github {

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
std::optional<Repo> repo_of(const rapidjson::Value& payload);
// The account an event is about: `organization.login`, else the repository's owner.
std::optional<std::string> owner_of(const rapidjson::Value& payload);
std::string action_of(const rapidjson::Value& payload);
// Events about one object run in order ("owner/repo#pull-request#42"); see the .cpp.
std::string group_key_of(const ocean::WebhookEvent& event);

// A repository file's path for the contents API: each segment encoded, the slashes kept.
std::string contents_path(const std::string& path);
// The text of a contents API answer's `content` (base64, wrapped in lines), or nullopt when it
// has none or it does not decode.
std::optional<std::string> decoded_content(const rapidjson::Value& answer);

// Ocean's `includedFiles`: each requested path (relative to `base`, a folder, unless it already
// starts with it) read from `ref` and added to `target` as `__includedFiles: {<requested>: <text>}`
// — null for a file that is missing, a directory or too large for the contents API. `read`
// keeps what one event read, so a file asked for by several of its items is read once.
using IncludedFileCache = std::map<std::string, std::optional<std::string>>;
void add_included_files(rapidjson::Value& target, rapidjson::Document::AllocatorType& a,
                        const std::vector<std::string>& requested, const std::string& base,
                        const Api& github, const Repo& repo, const std::string& ref,
                        IncludedFileCache& read);
// The strings of a list in `config` at `name` (`includedFiles: [README.md]`), in order, once each.
std::vector<std::string> string_list(const rapidjson::Value& config, const char* name);
// The same for the resource's selector (`selector.includedFiles`).
std::vector<std::string> selector_list(const ocean::ResourceConfig& resource, const char* name);

// The strings of a selector list (`states: [open]`), or nullopt when the selector lacks it.
std::optional<std::set<std::string>> selector_strings(const ocean::ResourceConfig& resource,
                                                      const char* name);
bool selector_flag(const ocean::ResourceConfig& resource, const char* name, bool fallback);

class GithubProcessor : public ocean::WebhookProcessor {
 public:
  bool authenticate(const rapidjson::Value&, const ocean::Headers& headers,
                    std::string_view raw_body) override;
  std::string group_key(const ocean::WebhookEvent& event) override { return group_key_of(event); }

 protected:
  std::string_view event_name() const { return event().headers().get_or("x-github-event", ""); }
  bool is(std::string_view name) const { return event_name() == name; }

  // The repository plus, when `member` is given, the object under it with a positive `id_field`.
  bool has_repo_and(const rapidjson::Value& payload, const char* member,
                    const char* id_field) const;

  Api api(const std::string& owner) const { return Api(event().integration(), owner); }
  Api api(const Repo& repo) const { return api(repo.owner); }

  // Ocean's enrichment: mappings reach the repository name as `.__repository` and its owner as
  // `.__organization`, plus a kind's own `extra` members (a deployment status's
  // `__deployment_id`).
  static rapidjson::Document enrich(const rapidjson::Value& object, const Repo& repo,
                                    const ocean_plugins::Members& extra = {});
  static ocean::WebhookEventRawResults deleted(const rapidjson::Value& object, const Repo& repo,
                                               const ocean_plugins::Members& extra = {});
  // A fetched object goes on as the text GitHub sent, enriched in place.
  static ocean::WebhookEventRawResults updated(const ocean_plugins::Fetched& fresh,
                                               const Repo& repo,
                                               const ocean_plugins::Members& extra = {});
  // Fetches `path` of the repository: the fresh object enriched, or `gone_object` deleted.
  ocean::WebhookEventRawResults refreshed(const Repo& repo, const std::string& path,
                                          const rapidjson::Value& gone_object,
                                          std::initializer_list<int> gone = {404, 410},
                                          const ocean_plugins::Members& extra = {}) const;

  // Ocean's repository scope. `repositoryType` (top level of the port-app-config: `all`, the
  // default, or a visibility — `public`, `private`, `internal`) against the payload's
  // `repository.visibility`.
  static bool visibility_kept(const rapidjson::Value& payload,
                              const ocean::ResourceConfig& resource);
  // `selector.repoSearch.query`: the repository is among GitHub's search results for
  // `org:<owner> <query> <name> in:name` (Ocean's targeted search). True without the selector.
  bool found_by_search(const rapidjson::Value& payload, const ocean::ResourceConfig& resource,
                       const Repo& repo) const;
  // Both: an event outside the scope changes nothing in the catalog.
  bool in_scope(const rapidjson::Value& payload, const ocean::ResourceConfig& resource,
                const Repo& repo) const {
    return visibility_kept(payload, resource) && found_by_search(payload, resource, repo);
  }

  void count_handled(std::string_view kind) const;
  void stop_if_cancelled() const {
    if (cancelled()) throw std::runtime_error("cancelled before calling GitHub");
  }
};

// Registration of each file's processors on /webhook.
void add_repository_kinds(ocean::PluginBuilder& plugin);    // repository_kinds.cpp
void add_code_kinds(ocean::PluginBuilder& plugin);          // code_kinds.cpp
void add_organization_kinds(ocean::PluginBuilder& plugin);  // organization_kinds.cpp

}  // namespace github
