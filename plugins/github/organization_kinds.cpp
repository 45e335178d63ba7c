// Kinds about people: teams and their members (`team`, `membership`), organization members
// (`organization`), and repository collaborators (`member`, `membership`, team
// `added_to_repository`).
#include "processor_base.hpp"

namespace github {
namespace {

rapidjson::Document with_organization(const rapidjson::Value& object, const std::string& org) {
  return ocean_plugins::enriched(object, {{"__organization", org}});
}

class OrganizationProcessor : public GithubProcessor {
 protected:
  std::string org(const rapidjson::Value& payload) const { return *owner_of(payload); }
  std::string org_path(const rapidjson::Value& payload) const {
    return "/orgs/" + ocean::path_segment(org(payload));
  }
};

// A team (re-fetched, with its members as Ocean's `members.nodes` when `selector.members`, which
// is Ocean's default) for `team` created/edited/deleted and `membership` added/removed.
class TeamProcessor : public OrganizationProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent& event) override {
    std::string action = action_of(event.payload());
    if (is("team")) return action == "created" || action == "edited" || action == "deleted";
    return is("membership") && (action == "added" || action == "removed");
  }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"team"};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    return owner_of(payload) && get_string(payload, {"team", "slug"});
  }
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig& resource) override {
    count_handled("team");
    std::string owner = org(payload);
    bool members = selector_flag(resource, "members", true);
    ocean::WebhookEventRawResults out;
    if (is("membership") && !members) return out;
    if (is("team") && action_of(payload) == "deleted") {
      out.add_deleted(with_organization(payload["team"], owner));
      return out;
    }
    stop_if_cancelled();
    Api github = api(owner);
    std::string path =
        org_path(payload) + "/teams/" + ocean::path_segment(*get_string(payload, {"team", "slug"}));
    auto fresh = github.fetch(path);
    if (fresh.gone) {
      out.add_deleted(with_organization(payload["team"], owner));
      return out;
    }
    rapidjson::Document team = with_organization(fresh.object, owner);
    if (members) {
      auto& a = team.GetAllocator();
      rapidjson::Document list = github.list(path + "/members");
      rapidjson::Value nodes(rapidjson::kArrayType);
      for (const auto& m : list.GetArray()) {
        rapidjson::Value node(rapidjson::kObjectType);
        auto copy = [&](const char* from, const char* to) {
          if (const rapidjson::Value* v = find(m, {from}))
            node.AddMember(rapidjson::Value(to, a), rapidjson::Value(*v, a), a);
        };
        copy("login", "login");
        copy("node_id", "id");
        copy("site_admin", "isSiteAdmin");
        copy("name", "name");
        copy("email", "email");
        nodes.PushBack(node, a);
      }
      rapidjson::Value wrapper(rapidjson::kObjectType);
      wrapper.AddMember("nodes", nodes, a);
      team.RemoveMember("members");
      team.AddMember("members", wrapper, a);
    }
    out.add_updated(team);
    return out;
  }
};

// An organization member (`organization` member_added / member_removed), re-fetched as a user.
class UserProcessor : public OrganizationProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent& event) override {
    std::string action = action_of(event.payload());
    return is("organization") && (action == "member_added" || action == "member_removed");
  }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"user"};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    return owner_of(payload) && get_string(payload, {"membership", "user", "login"});
  }
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig&) override {
    count_handled("user");
    std::string owner = org(payload);
    const rapidjson::Value& user = payload["membership"]["user"];
    ocean::WebhookEventRawResults out;
    if (action_of(payload) == "member_removed") {
      out.add_deleted(with_organization(user, owner));
      return out;
    }
    stop_if_cancelled();
    auto fresh = api(owner).fetch("/users/" + ocean::path_segment(*get_string(user, {"login"})));
    if (fresh.gone)
      out.add_deleted(with_organization(user, owner));
    else
      out.add_updated(with_organization(fresh.object, owner));
    return out;
  }
};

// Repository collaborators. Ocean skips live events unless `selector.affiliation` is all (its
// default): an event cannot tell a direct collaborator from an outside one.
class CollaboratorProcessor : public GithubProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent& event) override {
    std::string action = action_of(event.payload());
    if (is("member")) return action == "added" || action == "edited" || action == "removed";
    if (is("membership")) return action == "added";
    return is("team") && action == "added_to_repository";
  }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"collaborator"};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    if (is("member")) return repo_of(payload) && get_string(payload, {"member", "login"});
    if (is("membership"))
      return owner_of(payload) && get_string(payload, {"team", "slug"}) &&
             get_string(payload, {"member", "login"});
    return repo_of(payload) && get_string(payload, {"team", "slug"});
  }
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig& resource) override {
    ocean::WebhookEventRawResults out;
    if (get_string(resource.config(), {"selector", "affiliation"}).value_or("all") != "all" ||
        !visibility_kept(payload, resource))
      return out;
    count_handled("collaborator");
    std::string owner = *owner_of(payload);
    Api github = api(owner);
    stop_if_cancelled();
    if (is("member")) {
      Repo repo = *repo_of(payload);
      const rapidjson::Value& member = payload["member"];
      std::string login = *get_string(member, {"login"});
      if (action_of(payload) == "removed") return deleted(member, repo);
      auto fresh = github.fetch(repo.path() + "/collaborators/" + ocean::path_segment(login) +
                                "/permission");
      const rapidjson::Value* user = find(fresh.object, {"user"});
      if (fresh.gone || !user || !user->IsObject()) return deleted(member, repo);
      out.add_updated(enrich(*user, repo));
      return out;
    }
    std::string team_path = "/orgs/" + ocean::path_segment(owner) + "/teams/" +
                            ocean::path_segment(*get_string(payload, {"team", "slug"}));
    if (is("team")) {  // a team given a repository: each of its members collaborates on it
      Repo repo = *repo_of(payload);
      rapidjson::Document members = github.list(team_path + "/members");
      for (const auto& m : members.GetArray()) out.add_updated(enrich(m, repo));
      return out;
    }
    // A member added to a team collaborates on each of the team's repositories.
    rapidjson::Document repos = github.list(team_path + "/repos");
    for (const auto& r : repos.GetArray()) {
      auto name = get_string(r, {"name"});
      if (!name) continue;
      out.add_updated(enrich(payload["member"], Repo{owner, *name, owner + "/" + *name}));
    }
    return out;
  }
};

}  // namespace

void add_organization_kinds(ocean::PluginBuilder& plugin) {
  plugin.add_processor<TeamProcessor>("/webhook");
  plugin.add_processor<UserProcessor>("/webhook");
  plugin.add_processor<CollaboratorProcessor>("/webhook");
}

}  // namespace github
