// Issue 4 end to end: every GitHub and Jira corpus payload sent to a real oceand process (the
// bundled github.so and jira.so, a durable queue), signed right, wrong and not at all, against
// fake GitHub and Jira APIs that answer from the payloads' own objects; the entities are checked
// where they end up: in a fake Port (`port.applier: port`) or in oceand's own store (`local`).
//
// The expectations are the hand-written ones the in-process plugin tests use
// (support/expected_entities.hpp). One process serves each configuration, and each payload is
// sent only once the previous one is finished, so each check sees exactly what one payload did.
#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include "fakes/fake_github.hpp"
#include "fakes/fake_jira.hpp"
#include "fakes/fake_port.hpp"
#include "ocean/sdk.hpp"
#include "support/expected_entities.hpp"
#include "support/oceand_process.hpp"

using namespace oceand;
using namespace oceand::test;

namespace {

const std::string kGithubSecret = "e2e-github-secret";
const std::string kJiraSecret = "e2e-jira-secret";
const std::string kGithubToken = "ghp_e2e_token";

enum class Signature { right, wrong, none };
const char* name_of(Signature s) {
  return s == Signature::right ? "right" : s == Signature::wrong ? "wrong" : "none";
}

std::string corpus(const std::string& integration, const std::string& file) {
  std::string text = read_file(fs::path(OCEAN_CORPORA_DIR) / integration / file);
  REQUIRE_FALSE(text.empty());
  return text;
}

const CorpusCase& case_of(const std::vector<CorpusCase>& cases, const std::string& file) {
  for (const auto& c : cases)
    if (c.file == file) return c;
  FAIL("no corpus case " << file);
  throw std::logic_error("unreachable");
}

// A real oceand with the bundled github and jira plugins, its queue in a file, talking to the
// fake GitHub and Jira of this test process.
class Rig {
 public:
  // `port_settings`: more keys of `port:` (the applier: local unless they say otherwise).
  Rig(FakeGithub& github, FakeJira& jira, const std::string& port_settings)
      : github_(github), jira_(jira) {
    const fs::path& d = dir_.path();
    fs::create_directories(d / "plugins");
    for (const char* p : {"github", "jira"})
      fs::copy_file(plugin_file(p), d / "plugins" / (std::string(p) + ".so"));
    std::string source = OCEAN_SOURCE_DIR;
    // base_url empty: the Jira plugin registers no webhook, so the fake Jira only sees fetches.
    // One worker: each worker thread compiles a resource's jq on its first event there (a few
    // hundred ms for these mappings), and the payloads are sent one at a time anyway.
    std::string yaml = "server: {host: 127.0.0.1, port: 0}\nlog_level: info\nbase_url: \"\"\n";
    yaml += "event_workers_count: 1\n";
    yaml += "plugins: {dir: " + (d / "plugins").string() +
            ", cache_dir: " + (d / "cache").string() + "}\n";
    yaml += "queue: {backend: sqlite, path: " + (d / "queue.db").string() + "}\n";
    yaml += "port: {local_db: " + (d / "entities.db").string() +
            (port_settings.empty() ? "" : ", " + port_settings) + "}\n";
    yaml += "integrations:\n";
    yaml += "  github:\n    plugin: github\n    mapping: " + source +
            "/config/github/port-app-config.yaml\n    config: {webhook_secret: " + kGithubSecret +
            ", api_url: \"" + github.url() + "\", token: " + kGithubToken + "}\n";
    yaml += "  jira:\n    plugin: jira\n    mapping: " + source +
            "/config/jira/port-app-config.yaml\n    config: {webhook_secret: " + kJiraSecret +
            ", api_url: \"" + jira.url() + "\", email: bot@example.com, api_token: jira-token}\n";
    write_file(d / "oceand.yaml", yaml);
    oceand_ = std::make_unique<ServingOceand>(d / "oceand.yaml", d / "oceand.log");
  }

  ServingOceand& oceand() { return *oceand_; }
  std::string log() { return read_file(dir_.path() / "oceand.log"); }

  // As GitHub sends it: the event name, a delivery id and X-Hub-Signature-256.
  HttpResult send_github(const std::string& file, Signature signature) {
    return post_github(file.substr(0, file.find("__")), corpus("github", file), signature);
  }
  HttpResult post_github(const std::string& event, const std::string& body, Signature signature) {
    HeaderList headers = {{"Content-Type", "application/json"},
                          {"X-GitHub-Event", event},
                          {"X-GitHub-Delivery", next_delivery()}};
    if (signature != Signature::none)
      headers.emplace_back(
          "X-Hub-Signature-256",
          "sha256=" + ocean::hmac_sha256_hex(
                          signature == Signature::right ? kGithubSecret : "not-the-secret", body));
    return oceand_->post("/integration/github/webhook", body, headers);
  }
  // As Jira sends it with a secret set: X-Hub-Signature over the body.
  HttpResult send_jira(const std::string& file, Signature signature) {
    return post_jira(corpus("jira", file), signature);
  }
  HttpResult post_jira(const std::string& body, Signature signature) {
    HeaderList headers = {{"Content-Type", "application/json"},
                          {"X-Atlassian-Webhook-Identifier", next_delivery()}};
    if (signature != Signature::none)
      headers.emplace_back(
          "X-Hub-Signature",
          "sha256=" + ocean::hmac_sha256_hex(
                          signature == Signature::right ? kJiraSecret : "not-the-secret", body));
    return oceand_->post("/integration/jira/webhook", body, headers);
  }
  HttpResult send(const std::string& integration, const std::string& file, Signature signature) {
    if (integration == "github") {
      if (signature == Signature::right) github_.serve_payload(corpus("github", file));
      return send_github(file, signature);
    }
    if (signature == Signature::right) jira_.serve_payload(corpus("jira", file));
    return send_jira(file, signature);
  }

  double finished() { return oceand_->metric("oceand_events_processed_total"); }
  // Sends and waits until oceand has finished the event (applied, dropped or unsupported).
  void deliver(const std::string& integration, const std::string& file, Signature signature) {
    double before = finished();
    REQUIRE(send(integration, file, signature).status == 200);
    REQUIRE_MESSAGE(wait_until([&] { return finished() >= before + 1; }), log());
  }
  // A signed delivery of `body` (GitHub's when `github_event` is set, else Jira's), waited for.
  void deliver_body(const std::string& github_event, const std::string& body) {
    double before = finished();
    HttpResult r = github_event.empty() ? post_jira(body, Signature::right)
                                        : post_github(github_event, body, Signature::right);
    REQUIRE(r.status == 200);
    REQUIRE_MESSAGE(wait_until([&] { return finished() >= before + 1; }), log());
  }
  double outcome(const std::string& integration, const std::string& outcome) {
    return oceand_->metric("oceand_events_processed_total",
                           {{"integration", integration}, {"outcome", outcome}});
  }

 private:
  // Distinct for every send: a repeated delivery id would be answered 200 and not processed.
  std::string next_delivery() { return "e2e-delivery-" + std::to_string(++deliveries_); }

  TempDir dir_;
  FakeGithub& github_;
  FakeJira& jira_;
  std::unique_ptr<ServingOceand> oceand_;
  int deliveries_ = 0;
};

// Object fetches the fake API saw for `path` since the last clear.
size_t fetches(FakeServer& api, const std::string& path) {
  size_t n = 0;
  for (const auto& r : api.requests()) n += r.method == "GET" && r.path == path;
  return n;
}

// Port was asked to delete `identifier` of `blueprint`.
bool delete_requested(FakePort& port, const std::string& blueprint, const std::string& identifier) {
  for (const auto& r : port.server().requests())
    if (r.path == "/v1/blueprints/" + blueprint + "/bulk/entities/delete" &&
        r.body.find('"' + identifier + '"') != std::string::npos)
      return true;
  return false;
}

bool searched_for(FakePort& port, const std::string& identifier) {
  for (const auto& r : port.server().requests())
    if (r.path == "/v1/entities/search" && r.body.find('"' + identifier + '"') != std::string::npos)
      return true;
  return false;
}

size_t port_writes(FakePort& port) {
  return port.server().count("POST", "/v1/blueprints/");
}

struct Source {
  std::string integration;
  std::vector<CorpusCase> cases;
  FakeServer& api;
};

}  // namespace

TEST_CASE("e2e: the GitHub and Jira corpora through a real oceand into a fake Port") {
  FakeGithub github;
  FakeJira jira;
  FakePort port;
  Rig rig(github, jira,
          "applier: port, base_url: \"" + port.url() + "\", client_id: id, client_secret: secret");
  std::vector<Source> sources = {{"github", github_corpus_cases(), github.server()},
                                 {"jira", jira_corpus_cases(), jira.server()}};

  for (auto& source : sources) {
    for (const auto& c : source.cases) {
      CAPTURE(c.file);
      source.api.clear_requests();
      size_t writes = port_writes(port);
      double before = rig.outcome(source.integration, c.outcome);
      rig.deliver(source.integration, c.file, Signature::right);
      CHECK(rig.outcome(source.integration, c.outcome) == before + 1);
      if (!c.fetch_path.empty()) CHECK(fetches(source.api, c.fetch_path) == 1);
      if (c.entities.empty()) CHECK(port_writes(port) == writes);
      for (const auto& want : c.entities) {
        CAPTURE(want.identifier);
        auto stored = port.entity(want.blueprint, want.identifier);
        if (want.op == ExpectedEntity::Op::upsert) {
          REQUIRE(stored.has_value());
          check_fields(*stored, want);
        } else {
          CHECK_FALSE(stored.has_value());
          // Deleted, or looked up first and found absent (Ocean deletes only what exists as the
          // integration's own).
          CHECK((delete_requested(port, want.blueprint, want.identifier) ||
                 searched_for(port, want.identifier)));
        }
      }
    }
  }

  // The same payloads signed with another secret, and unsigned: authenticate refuses every one a
  // processor accepts, before any fetch; unsupported ones never get that far.
  github.server().clear_requests();
  jira.server().clear_requests();
  size_t writes = port_writes(port);
  double handled = rig.oceand().metric("oceand_plugin_github_events_handled_total") +
                   rig.oceand().metric("oceand_plugin_jira_events_handled_total");
  for (auto signature : {Signature::wrong, Signature::none})
    for (auto& source : sources)
      for (const auto& c : source.cases) {
        CAPTURE(c.file);
        CAPTURE(name_of(signature));
        rig.deliver(source.integration, c.file, signature);
      }
  auto auth_failed = [&](const std::string& integration) {
    return rig.oceand().metric("oceand_events_dropped_total",
                               {{"integration", integration}, {"reason", "authentication_failed"}});
  };
  CHECK(auth_failed("github") == 2 * 6);
  CHECK(auth_failed("jira") == 2 * 3);
  CHECK(rig.outcome("github", "rejected") == 2 * 6);
  CHECK(rig.outcome("jira", "rejected") == 2 * 3);
  CHECK(rig.oceand().metric("oceand_plugin_github_events_handled_total") +
            rig.oceand().metric("oceand_plugin_jira_events_handled_total") ==
        handled);
  CHECK(github.object_gets() == 0);
  CHECK(jira.object_gets() == 0);
  CHECK(port_writes(port) == writes);
  // The forged deliveries were logged as dropped, and no secret reached the log.
  std::string log = rig.log();
  CHECK(log.find("authentication_failed, dropped") != std::string::npos);
  CHECK(log.find(kGithubSecret) == std::string::npos);
  CHECK(log.find(kJiraSecret) == std::string::npos);
}

TEST_CASE("e2e: corpus payloads through a real oceand into its local store, read over HTTP") {
  FakeGithub github;
  FakeJira jira;
  Rig rig(github, jira, "");  // the default applier: local
  auto entity = [&](const std::string& blueprint, const std::string& identifier) {
    return rig.oceand().get("/api/entities/" + blueprint + "/" + identifier);
  };
  auto check_stored = [&](const ExpectedEntity& want) {
    CAPTURE(want.identifier);
    HttpResult r = entity(want.blueprint, want.identifier);
    REQUIRE(r.status == 200);
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    REQUIRE(d.IsObject());
    REQUIRE(d.HasMember("entity"));
    check_fields(json_text(d["entity"]), want);
  };

  // One payload of each kind the corpora have: repository, pull request, GitHub issue, Jira issue.
  struct Upsert {
    std::string integration, file;
  };
  auto github_cases = github_corpus_cases();
  auto jira_cases = jira_corpus_cases();
  std::vector<std::pair<Upsert, const CorpusCase*>> upserts = {
      {{"github", "push__payload.json"}, &case_of(github_cases, "push__payload.json")},
      {{"github", "pull_request__opened.payload.json"},
       &case_of(github_cases, "pull_request__opened.payload.json")},
      {{"github", "issues__opened.payload.json"},
       &case_of(github_cases, "issues__opened.payload.json")},
      {{"jira", "mattermost__webhook-issue-created.json"},
       &case_of(jira_cases, "mattermost__webhook-issue-created.json")},
  };
  for (const auto& [send, expected] : upserts) {
    CAPTURE(send.file);
    rig.deliver(send.integration, send.file, Signature::right);
    REQUIRE(expected->entities.size() == 1);
    check_stored(expected->entities[0]);
  }

  // A forged update of the stored Jira issue changes nothing.
  rig.deliver("jira", "mattermost__webhook-issue-updated-edited.json", Signature::wrong);
  check_stored(case_of(jira_cases, "mattermost__webhook-issue-created.json").entities[0]);

  // Deletions reach the store too.
  for (const char* file : {"pull_request__closed.payload.json", "issues__deleted.payload.json"}) {
    CAPTURE(file);
    const auto& removal = case_of(github_cases, file).entities.at(0);
    REQUIRE(entity(removal.blueprint, removal.identifier).status == 200);
    rig.deliver("github", file, Signature::right);
    CHECK(entity(removal.blueprint, removal.identifier).status == 404);
  }
  CHECK(entity("githubRepository", "Hello-World").status == 200);
}

namespace {

const char* kHelloWorld =
    R"({"id": 186853002, "name": "Hello-World", "full_name": "Codertocat/Hello-World",
        "default_branch": "main", "visibility": "public", "owner": {"login": "Codertocat"},
        "html_url": "https://github.com/Codertocat/Hello-World"})";

// A GitHub delivery about Hello-World with these members beside the repository.
std::string github_event(const std::string& members) {
  return "{" + members + R"(, "repository": )" + kHelloWorld +
         R"(, "organization": {"login": "Codertocat"}, "sender": {"login": "Codertocat"}})";
}

}  // namespace

// Issue 19: one event per kind the corpora lack, through the real process with the shipped
// mappings, into the fake Port — upserts, then the deletions the kinds have.
TEST_CASE("e2e: every GitHub and Jira kind beyond the corpora, through a real oceand into Port") {
  FakeGithub github;
  FakeJira jira;
  FakePort port;
  Rig rig(github, jira,
          "applier: port, base_url: \"" + port.url() + "\", client_id: id, client_secret: secret");
  const std::string repo = "/repos/Codertocat/Hello-World";
  github.serve(repo, kHelloWorld);
  github.serve(repo + "/git/refs/tags/v1.0",
               R"({"ref": "refs/tags/v1.0", "object": {"sha": "aa11"}})");
  github.serve(repo + "/branches/feature-x", R"({"name": "feature-x", "commit": {"sha": "bb22"}})");
  github.serve(
      repo + "/actions/workflows/ci.yml",
      R"({"id": 161335, "name": "CI", "path": ".github/workflows/ci.yml", "state": "active"})");
  github.serve(repo + "/branches/main", R"({"name": "main", "commit": {"sha": "cc33"}})");
  github.serve(repo + "/deployments/42", R"({"id": 42, "environment": "production",
      "task": "deploy", "ref": "main", "sha": "cc33", "creator": {"login": "octocat"}})");
  github.serve(repo + "/environments/production", R"({"id": 7, "name": "production"})");
  github.serve(repo + "/deployments/42/statuses/9", R"({"id": 9, "state": "success"})");
  github.serve(repo + "/dependabot/alerts/3", R"({"number": 3, "state": "open",
      "security_advisory": {"severity": "high"}, "dependency": {"package": {"name": "lodash"}}})");
  github.serve(repo + "/code-scanning/alerts/4", R"({"number": 4, "state": "open",
      "rule": {"severity": "error"}, "tool": {"name": "CodeQL"}})");
  github.serve(repo + "/secret-scanning/alerts/5",
               R"({"number": 5, "state": "open", "secret_type": "github_token"})");
  github.serve("/orgs/Codertocat/teams/justice-league",
               R"({"id": 1, "slug": "justice-league", "name": "Justice League"})");
  github.serve("/orgs/Codertocat/teams/justice-league/members", R"([{"login": "octocat"}])");
  github.serve("/users/octocat", R"({"login": "octocat", "name": "The Octocat"})");
  github.serve(
      repo + "/collaborators/octocat/permission",
      R"({"role_name": "write", "user": {"login": "octocat", "id": 1, "role_name": "write"}})");

  struct Send {
    std::string github_event;  // "" for Jira
    std::string body;
    std::vector<std::pair<std::string, std::string>> upserted;  // blueprint, identifier
  };
  const std::string team =
      R"("team": {"id": 1, "slug": "justice-league", "name": "Justice League"})";
  const std::string membership =
      R"("membership": {"state": "active", "user": {"login": "octocat", "id": 1}})";
  const std::string project = R"({"self": "https://acme.atlassian.net/rest/api/3/project/10042",
      "id": "10042", "key": "PAY", "name": "Payments"})";
  std::vector<Send> sends = {
      {"create",
       github_event(R"("ref": "v1.0", "ref_type": "tag")"),
       {{"githubTag", "Hello-World-v1.0"}}},
      {"create",
       github_event(R"("ref": "feature-x", "ref_type": "branch")"),
       {{"githubBranch", "Hello-World-feature-x"}}},
      {"push",
       github_event(R"("ref": "refs/heads/main", "before": "cc32", "after": "cc33",
          "commits": [{"id": "cc33", "modified": [".github/workflows/ci.yml"]}])"),
       {{"githubWorkflow", "Hello-World-ci.yml"}, {"githubBranch", "Hello-World-main"}}},
      {"deployment",
       github_event(R"("action": "created", "deployment": {"id": 42,
          "environment": "production", "task": "deploy"})"),
       {{"githubDeployment", "Hello-World-42"}, {"githubEnvironment", "Hello-World-production"}}},
      {"deployment_status",
       github_event(R"("action": "created", "deployment_status": {"id": 9},
          "deployment": {"id": 42, "environment": "production"})"),
       {{"githubDeploymentStatus", "Hello-World-42-9"}}},
      {"dependabot_alert",
       github_event(R"("action": "created", "alert": {"number": 3})"),
       {{"githubDependabotAlert", "Hello-World-3"}}},
      {"code_scanning_alert",
       github_event(R"("action": "created", "alert": {"number": 4})"),
       {{"githubCodeScanningAlert", "Hello-World-4"}}},
      {"secret_scanning_alert",
       github_event(R"("action": "created", "alert": {"number": 5})"),
       {{"githubSecretScanningAlert", "Hello-World-5"}}},
      {"team", github_event(R"("action": "created", )" + team), {{"githubTeam", "justice-league"}}},
      {"organization",
       github_event(R"("action": "member_added", )" + membership),
       {{"githubUser", "octocat"}}},
      {"member",
       github_event(R"("action": "added", "member": {"login": "octocat", "id": 1})"),
       {{"githubCollaborator", "Hello-World-octocat"}}},
      {"",
       R"({"webhookEvent": "project_created", "project": )" + project + "}",
       {{"jiraProject", "PAY"}}},
      {"",
       R"({"webhookEvent": "user_created", "user": {"accountId": "5b10ac8d82e05b22cc7d4ef5",
          "displayName": "Sam Dev", "active": true}})",
       {{"jiraUser", "5b10ac8d82e05b22cc7d4ef5"}}},
      {"",
       R"({"webhookEvent": "jira:version_created", "version": {"id": "10310",
          "name": "2.4.0", "projectId": 10042, "released": false}})",
       {{"jiraRelease", "10310"}}},
      {"",
       R"({"webhookEvent": "sprint_started", "sprint": {"id": 37, "name": "Sprint 37",
          "state": "active", "originBoardId": 84}})",
       {{"jiraSprint", "37"}}},
  };
  for (const auto& s : sends) {
    CAPTURE(s.body.substr(0, 120));
    if (s.github_event.empty()) jira.serve_payload(s.body);
    rig.deliver_body(s.github_event, s.body);
    for (const auto& [blueprint, identifier] : s.upserted) {
      CAPTURE(identifier);
      CHECK(port.entity(blueprint, identifier).has_value());
    }
  }

  // Deletions, without a fetch: tag and branch deleted, alert fixed, team deleted, member removed.
  std::vector<Send> removals = {
      {"delete",
       github_event(R"("ref": "v1.0", "ref_type": "tag")"),
       {{"githubTag", "Hello-World-v1.0"}}},
      {"delete",
       github_event(R"("ref": "feature-x", "ref_type": "branch")"),
       {{"githubBranch", "Hello-World-feature-x"}}},
      {"dependabot_alert",
       github_event(R"("action": "fixed", "alert": {"number": 3})"),
       {{"githubDependabotAlert", "Hello-World-3"}}},
      {"team", github_event(R"("action": "deleted", )" + team), {{"githubTeam", "justice-league"}}},
      {"organization",
       github_event(R"("action": "member_removed", )" + membership),
       {{"githubUser", "octocat"}}},
      {"",
       R"({"webhookEvent": "project_deleted", "project": )" + project + "}",
       {{"jiraProject", "PAY"}}},
  };
  for (const auto& s : removals) {
    CAPTURE(s.body.substr(0, 120));
    rig.deliver_body(s.github_event, s.body);
    for (const auto& [blueprint, identifier] : s.upserted) {
      CAPTURE(identifier);
      CHECK_FALSE(port.entity(blueprint, identifier).has_value());
      CHECK(delete_requested(port, blueprint, identifier));
    }
  }
  CHECK(rig.outcome("github", "ok") == 16);
  CHECK(rig.outcome("jira", "ok") == 5);
}
