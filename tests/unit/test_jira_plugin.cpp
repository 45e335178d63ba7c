// The Jira plugin (build/plugins/jira.so) loaded by an in-process oceand, fed the corpus payloads,
// against a fake Jira REST API.
//
// As in test_github_plugin.cpp, each test case runs steps against one oceand and every step looks
// only at what it produced (Rig::take).
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>

#include <rapidjson/document.h>

#include "fakes/fake_jira.hpp"
#include "ocean/sdk.hpp"
#include "ocean/testing.hpp"
#include "queue/dead_letters.hpp"
#include "support/expected_entities.hpp"
#include "support/test_host.hpp"

using namespace oceand;
using namespace oceand::test;

namespace {

const std::string kSecret = "jira-webhook-secret";
const std::string kEmail = "bot@example.com";
const std::string kApiToken = "jira-api-token";
const std::string kMapping = std::string(OCEAN_SOURCE_DIR) + "/config/jira/port-app-config.yaml";
const std::string kHookUrl = "http://oceand.example/integration/jira/webhook";
const char* kProcessors[] = {"IssueProcessor",   "ProjectProcessor", "UserProcessor",
                             "ReleaseProcessor", "BoardProcessor",   "SprintProcessor"};

std::string corpus(const std::string& file) {
  std::string text = read_file(fs::path(OCEAN_CORPORA_DIR) / "jira" / file);
  REQUIRE_FALSE(text.empty());
  return text;
}

enum class Signature { right, wrong, none };

struct Options {
  std::string secret = kSecret;
  std::string email = kEmail;
  std::string api_token = kApiToken;
  std::string extra_yaml = "base_url: \"\"\n";
  std::string mapping = kMapping;
  std::string access_token;  // set: OAuth 2.0 instead of email and api_token
  std::string extra_config;  // appended inside `config: {...}`, e.g. ", api_version: \"2\""
};

struct Rig {
  FakeJira own_api;
  FakeJira& api;
  Options options;
  TestHost host;
  int deliveries = 0;
  CaptureCursor captured{options.mapping};

  // `shared`: a fake Jira that outlives this oceand. The api_url has a trailing slash on purpose.
  explicit Rig(Options o = {}, FakeJira* shared = nullptr)
      : api(shared ? *shared : own_api),
        options(o),
        host({"jira"}, o.extra_yaml,
             "  jira:\n    plugin: jira\n    mapping: " + o.mapping +
                 "\n    config: {webhook_secret: \"" + o.secret + "\", api_url: \"" + api.url() +
                 "/\", " +
                 (o.access_token.empty()
                      ? "email: \"" + o.email + "\", api_token: \"" + o.api_token + "\""
                      : "access_token: \"" + o.access_token + "\"") +
                 o.extra_config + "}\n") {
    REQUIRE(host.host().plugins().wait_for_starts(std::chrono::seconds(5)));
  }

  HttpResult send(const std::string& body, Signature signature = Signature::right) {
    HeaderList headers = {
        {"Content-Type", "application/json"},
        {"X-Atlassian-Webhook-Identifier", "jira-delivery-" + std::to_string(++deliveries)}};
    if (signature == Signature::right)
      headers.emplace_back("X-Hub-Signature",
                           "sha256=" + ocean::hmac_sha256_hex(options.secret, body));
    if (signature == Signature::wrong)
      headers.emplace_back("X-Hub-Signature", "sha256=" + ocean::hmac_sha256_hex("nope", body));
    return host.post("/integration/jira/webhook", body, headers);
  }
  double finished() { return host.host().metrics().total("oceand_events_processed_total"); }
  void deliver(const std::string& body, Signature signature = Signature::right) {
    double before = finished();
    REQUIRE(send(body, signature).status == 200);
    REQUIRE(wait_until([&] { return finished() >= before + 1; }));
  }
  // What happened since the previous take(); api_calls leaves webhook registration out.
  Step take() {
    Step s;
    for (auto& r : api.server().requests())
      if (r.path.rfind("/rest/webhooks/", 0) != 0) s.api_calls.push_back(r);
    api.server().clear_requests();
    captured.next(host, s);
    return s;
  }
  double handled() { return host.plugin_counter("jira_events_handled", "jira"); }
  double outcome(const std::string& o) { return host.processed("jira", o); }
  double dropped(const std::string& reason) {
    return dropped_by(host, "jira", kProcessors, reason);
  }
};

std::string project_payload(const std::string& event) {
  return R"({"timestamp": 1550286113023, "webhookEvent": ")" + event + R"(",
    "project": {"self": "https://some-instance-test.atlassian.net/rest/api/2/project/10000",
      "id": 10000, "key": "TES", "name": "Test project",
      "projectLead": {"accountId": "5c5f880629be9642ba529340", "displayName": "admin"}}})";
}

}  // namespace

TEST_CASE(
    "jira: the corpus signed right gives the hand-written entities; wrong or unsigned "
    "never reaches handle_event") {
  Rig rig;
  for (const auto& c : jira_corpus_cases()) {
    CAPTURE(c.file);
    std::string body = corpus(c.file);
    rig.api.serve_payload(body);
    double before = rig.outcome(c.outcome);
    rig.deliver(body);
    CHECK(rig.outcome(c.outcome) == before + 1);
    Step step = rig.take();
    if (!c.fetch_path.empty()) {
      REQUIRE(step.api_calls.size() == 1);
      CHECK(step.api_calls[0].method == "GET");
      CHECK(step.api_calls[0].path == c.fetch_path);
      CHECK(step.api_calls[0].header("authorization") ==
            "Basic " + ocean::base64_encode(kEmail + ":" + kApiToken));
    } else {
      CHECK(step.api_calls.empty());
    }
    check_entities(step.entities, c.entities);
  }

  double handled = rig.handled();
  for (auto signature : {Signature::wrong, Signature::none})
    for (const auto& c : jira_corpus_cases()) rig.deliver(corpus(c.file), signature);
  CHECK(rig.outcome("rejected") == 6);
  CHECK(rig.dropped("authentication_failed") == 6);
  CHECK(rig.outcome("unsupported") == 1 + 2);
  CHECK(rig.host.plugin_counter("jira_signature_rejected", "jira") == 6);
  CHECK(rig.handled() == handled);
  Step rejected = rig.take();
  CHECK(rejected.api_calls.empty());
  CHECK(rejected.results.empty());
}

TEST_CASE("jira: projects, ordering and bad input") {
  Rig rig;

  {
    INFO("project events are fetched with insight; deleted ones use the payload");
    rig.api.serve("/rest/api/3/project/TES",
                  R"J({"self": "https://some-instance-test.atlassian.net/rest/api/3/project/10000",
                      "id": "10000", "key": "TES", "name": "Test project (renamed)",
                      "insight": {"totalIssueCount": 41}})J");
    rig.deliver(project_payload("project_created"));
    rig.deliver(project_payload("project_updated"));
    Step step = rig.take();
    REQUIRE(step.api_calls.size() == 2);
    CHECK(step.api_calls[0].path == "/rest/api/3/project/TES");
    CHECK(step.api_calls[0].query_param("expand") == "insight");
    check_entities(
        step.entities,
        {upsert("jiraProject", "TES",
                {{"title", R"J("Test project (renamed)")J"},
                 {"properties.url", R"("https://some-instance-test.atlassian.net/projects/TES")"},
                 {"properties.totalIssues", "41"}}),
         upsert("jiraProject", "TES")});
    for (const char* event : {"project_deleted", "project_soft_deleted"}) {
      CAPTURE(event);
      rig.deliver(project_payload(event));
      Step deleted = rig.take();
      CHECK(deleted.api_calls.empty());
      check_entities(deleted.entities, {removal("jiraProject", "TES")});
    }
  }

  {
    INFO("events about one issue run in arrival order");
    // The update waits on a slow API, the delete needs no call: without the group key the delete
    // would be applied first and the stale update would win.
    std::string created = corpus("mattermost__webhook-issue-created.json");
    rig.api.serve_payload(created);
    rig.api.delay_objects(std::chrono::milliseconds(300));
    std::string deleted = created;
    deleted.replace(deleted.find("jira:issue_created"), 18, "jira:issue_deleted");
    double before = rig.finished();
    REQUIRE(rig.send(created).status == 200);
    REQUIRE(rig.send(deleted).status == 200);
    REQUIRE(wait_until([&] { return rig.finished() >= before + 2; }));
    rig.api.delay_objects(std::chrono::milliseconds(0));
    Step step = rig.take();
    REQUIRE(step.results.size() == 2);
    CHECK(step.results[0].updated.size() == 1);
    CHECK(step.results[1].deleted.size() == 1);
  }

  {
    INFO("malformed payloads are dropped or unsupported, never crash");
    struct Bad {
      std::string body;
      const char* outcome;
    };
    std::vector<Bad> bad = {
        {R"({"webhookEvent": "jira:issue_created"})", "rejected"},
        {R"({"webhookEvent": "jira:issue_created", "issue": {"key": 41}})", "rejected"},
        {R"({"webhookEvent": "jira:issue_updated", "issue": {"key": "../../admin"}})", "rejected"},
        {R"({"webhookEvent": "jira:issue_updated", "issue": {"key": ""}})", "rejected"},
        {R"({"webhookEvent": "project_created", "project": "TES"})", "rejected"},
        {R"({"webhookEvent": "user_created", "user": {"accountId": ""}})", "rejected"},
        {R"({"webhookEvent": "user_updated", "user": {"accountId": "a/../b"}})", "rejected"},
        {R"({"webhookEvent": "jira:version_released", "version": {"id": "10x"}})", "rejected"},
        {R"({"webhookEvent": "jira:version_deleted", "version": {"projectId": 10042}})",
         "rejected"},
        {R"({"webhookEvent": "board_created", "board": {"id": -3}})", "rejected"},
        {R"({"webhookEvent": "board_configuration_changed", "configuration": {}})", "rejected"},
        {R"({"webhookEvent": "sprint_started", "sprint": {"id": "../1"}})", "rejected"},
        {R"({"webhookEvent": "sprint_deleted"})", "rejected"},
        {R"({"webhookEvent": 12})", "unsupported"},
        {R"({"issue": {"key": "TES-1"}})", "unsupported"},
        {R"({"webhookEvent": "worklog_created", "worklog": {"id": "1"}})", "unsupported"},
        {R"({"webhookEvent": "jira:version_merged", "version": {"id": "1"}})", "unsupported"},
        {R"({"webhookEvent": "comment_created", "comment": {"id": "1"}})", "unsupported"},
    };
    double handled = rig.handled();
    for (const auto& b : bad) {
      CAPTURE(b.body);
      double before = rig.outcome(b.outcome);
      rig.deliver(b.body);
      CHECK(rig.outcome(b.outcome) == before + 1);
    }
    CHECK(rig.dropped("invalid_payload") == 5 + 8);
    CHECK(rig.handled() == handled);
    Step step = rig.take();
    CHECK(step.api_calls.empty());
    CHECK(step.results.empty());
  }
}

TEST_CASE(
    "jira: an issue is kept only while it matches its resource's selector.jql (Ocean's scope); "
    "OAuth 2.0 signs in with Bearer") {
  TempDir dir;
  const fs::path mapping = dir.path() / "scoped.yaml";
  write_file(mapping, R"(resources:
  - kind: issue
    selector:
      query: "true"
      jql: "project = TES AND statusCategory != Done"
      fields: "summary,status"
      expand: "renderedFields"
    port:
      entity:
        mappings:
          identifier: ".key"
          title: ".fields.summary"
          blueprint: '"jiraIssue"'
)");
  Options options;
  options.mapping = mapping.string();
  options.access_token = "oauth-access-token";
  Rig rig(options);
  rig.api.require_authorization("Bearer oauth-access-token");
  std::string created = corpus("mattermost__webhook-issue-created.json");
  rig.api.serve_payload(created);
  rapidjson::Document d;
  d.Parse(created.c_str());
  const std::string key = d["issue"]["key"].GetString();

  rig.deliver(created);
  Step in_scope = rig.take();
  REQUIRE(in_scope.api_calls.size() == 1);
  const FakeRequest& search = in_scope.api_calls[0];
  CHECK(search.path == "/rest/api/3/search/jql");
  CHECK(FakeJira::decoded(search.query_param("jql")) ==
        "(project = TES AND statusCategory != Done) AND key = " + key);
  CHECK(FakeJira::decoded(search.query_param("fields")) == "summary,status");
  CHECK(search.query_param("expand") == "renderedFields");
  check_entities(in_scope.entities, {upsert("jiraIssue", key)});

  // Done now: the search no longer finds it, so it leaves the catalog.
  rig.api.exclude_from_search(key);
  rig.deliver(created);
  Step out_of_scope = rig.take();
  CHECK(out_of_scope.api_calls.size() == 1);
  check_entities(out_of_scope.entities, {removal("jiraIssue", key)});
  CHECK(rig.outcome("ok") == 2);
}

TEST_CASE("jira: API failures: 404 deletes, 500 is retried, 401 fails, 429 waits") {
  Options o;
  o.extra_yaml += "max_wait_seconds_before_shutdown: 0\n";
  Rig rig(o);
  RetryLog log;
  log.attach(rig.host.host());
  std::string created = corpus("mattermost__webhook-issue-created.json");

  {
    INFO("404 deletes the payload's issue");
    rig.api.fail(FakeJira::Failure::not_found);
    rig.deliver(corpus("mattermost__webhook-issue-updated-edited.json"));
    rig.api.fail(FakeJira::Failure::none);
    Step step = rig.take();
    CHECK(step.api_calls.size() == 1);
    check_entities(step.entities, {removal("jiraIssue", "TES-41")});
  }

  {
    INFO("a 500 is retried after the backoff's first delay, then succeeds");
    rig.api.serve_payload(created);
    rig.api.fail(FakeJira::Failure::server_error, 1);
    rig.deliver(created);
    CHECK(rig.outcome("ok") == 2);
    CHECK(log.get() == std::vector<double>{1.0});
    Step step = rig.take();
    CHECK(step.api_calls.size() == 2);
    check_entities(step.entities, {upsert("jiraIssue", "TES-41")});
  }

  {
    INFO("bad credentials fail the event for good");
    rig.api.require_authorization("Basic something-else");
    rig.deliver(created);
    rig.api.require_authorization("");
    CHECK(rig.outcome("failed") == 1);
    CHECK(rig.take().api_calls.size() == 1);
    // The host counts the event as processed just before it stores the dead letter.
    REQUIRE(wait_until([&] { return rig.host.host().dead_letters().size() == 1; }));
    auto letters = rig.host.host().dead_letters().list(10);
    REQUIRE(letters.size() == 1);
    CHECK(letters[0].error.find("401") != std::string::npos);
    CHECK(log.get().size() == 1);
  }

  {
    INFO("429 is retried no sooner than Retry-After");
    rig.api.fail(FakeJira::Failure::rate_limited, 1, /*retry_after_seconds=*/7);
    REQUIRE(rig.send(created).status == 200);
    REQUIRE(wait_until([&] { return log.get().size() == 2; }));
    CHECK(log.get()[1] == doctest::Approx(7.0));
    Step step = rig.take();
    CHECK(step.api_calls.size() == 1);
    CHECK(step.results.empty());
  }
}

TEST_CASE(
    "jira: without a secret or credentials, deliveries are accepted and no webhook is "
    "registered") {
  FakeJira jira;
  Options o;
  o.secret = "";
  o.email = "";
  o.api_token = "";
  o.extra_yaml = "base_url: http://oceand.example\n";
  Rig rig(o, &jira);
  std::string body = corpus("mattermost__webhook-issue-created.json");
  jira.serve_payload(body);
  rig.deliver(body, Signature::none);
  CHECK(rig.outcome("ok") == 1);
  CHECK(rig.handled() == 1);
  auto requests = jira.server().requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].path == "/rest/api/3/issue/TES-41");
  CHECK(requests[0].header("authorization").empty());
}

namespace {
Options starting() {
  Options o;
  o.extra_yaml = "base_url: http://oceand.example\n";
  return o;
}
}  // namespace

TEST_CASE("jira on_start: creates the webhook once with every handled event, then idles") {
  FakeJira jira;
  { Rig rig(starting(), &jira); }
  auto hooks = jira.webhooks();
  REQUIRE(hooks.size() == 1);
  CHECK(hooks[0].url == kHookUrl);
  CHECK(hooks[0].secret == kSecret);
  std::vector<std::string> events = hooks[0].events;
  std::sort(events.begin(), events.end());
  CHECK(events == std::vector<std::string>{"board_configuration_changed",
                                           "board_created",
                                           "board_deleted",
                                           "board_updated",
                                           "jira:issue_created",
                                           "jira:issue_deleted",
                                           "jira:issue_updated",
                                           "jira:version_created",
                                           "jira:version_deleted",
                                           "jira:version_moved",
                                           "jira:version_released",
                                           "jira:version_unreleased",
                                           "jira:version_updated",
                                           "project_archived",
                                           "project_created",
                                           "project_deleted",
                                           "project_restored_archived",
                                           "project_restored_deleted",
                                           "project_soft_deleted",
                                           "project_updated",
                                           "sprint_closed",
                                           "sprint_created",
                                           "sprint_deleted",
                                           "sprint_started",
                                           "sprint_updated",
                                           "user_created",
                                           "user_deleted",
                                           "user_updated"});
  CHECK(jira.server().count("POST", "/rest/webhooks/1.0/webhook") == 1);
  CHECK(jira.server().requests()[0].header("authorization") ==
        "Basic " + ocean::base64_encode(kEmail + ":" + kApiToken));
  { Rig again(starting(), &jira); }
  CHECK(jira.server().count("GET", "/rest/webhooks/1.0/webhook") == 2);
  CHECK(jira.server().count("POST", "/rest/webhooks/1.0/webhook") == 1);
  CHECK(jira.server().count("PUT", "/") == 0);
  CHECK(jira.webhooks().size() == 1);
}

TEST_CASE("jira on_start: an existing webhook missing events is updated in place") {
  FakeJira jira;
  jira.add_webhook("https://elsewhere.example/hook", {"jira:issue_created"});
  jira.add_webhook(kHookUrl, {"jira:issue_created"});
  Rig rig(starting(), &jira);
  CHECK(jira.server().count("PUT", "/rest/webhooks/1.0/webhook/2") == 1);
  CHECK(jira.server().count("POST", "/") == 0);
  auto hooks = jira.webhooks();
  REQUIRE(hooks.size() == 2);
  CHECK(hooks[1].events.size() == 28);
  CHECK(hooks[0].events.size() == 1);  // not ours: untouched
}

// ---- The kinds beyond issues, with payloads shaped as Atlassian delivers them: the object under a
// member named after it, beside `timestamp` and `webhookEvent`.

namespace {

const std::string kSite = "https://acme.atlassian.net";

std::string delivery(const std::string& event, const std::string& member, const std::string& object,
                     const std::string& extra = "") {
  return R"({"timestamp": 1767225600000, "webhookEvent": ")" + event + R"(", ")" + member +
         R"(": )" + object + extra + "}";
}

const std::string kPayProject = R"({"self": ")" + kSite + R"(/rest/api/2/project/10042",
    "id": 10042, "key": "PAY", "name": "Payments",
    "avatarUrls": {"48x48": "https://avatars.example/pay48.png"},
    "projectLead": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Dana Lead",
      "active": true, "timeZone": "Europe/Berlin", "accountType": "atlassian"},
    "assigneeType": "admin.assignee.type.unassigned"})";

// As GET /rest/api/3/project/{key or id} answers it.
std::string project_answer(const std::string& name, int total_issues) {
  return R"({"self": ")" + kSite + R"(/rest/api/3/project/10042", "id": "10042", "key": "PAY",
      "name": ")" +
         name + R"(", "projectTypeKey": "software",
      "insight": {"totalIssueCount": )" +
         std::to_string(total_issues) + "}}";
}

const std::string kAccountId = "712020:1f0c9a2e-7b7e-4c55-9a1f-3f7b0f0d1c2e";

std::string user_object(const std::string& display_name, bool active = true) {
  return R"({"self": ")" + kSite + "/rest/api/3/user?accountId=" + kAccountId +
         R"(", "accountId": ")" + kAccountId + R"(", "accountType": "atlassian",
      "displayName": ")" +
         display_name + R"(", "active": )" + (active ? "true" : "false") +
         R"(, "timeZone": "America/New_York", "locale": "en_US",
      "emailAddress": "sam@acme.example",
      "avatarUrls": {"48x48": "https://avatars.example/sam48.png", "24x24": "https://avatars.example/sam24.png"}})";
}

std::string version_object(const std::string& id, const std::string& name, bool released) {
  return R"({"self": ")" + kSite + "/rest/api/3/version/" + id + R"(", "id": ")" + id +
         R"(", "description": "Q1 payments release", "name": ")" + name +
         R"(", "archived": false, "released": )" + (released ? "true" : "false") +
         R"(, "startDate": "2026-01-05", "releaseDate": "2026-02-01", "overdue": false,
      "userStartDate": "05/Jan/26", "userReleaseDate": "01/Feb/26", "projectId": 10042})";
}

std::string board_object(const std::string& name) {
  return R"({"id": 84, "self": ")" + kSite + R"(/rest/agile/1.0/board/84", "name": ")" + name +
         R"J(", "type": "scrum", "location": {"projectId": 10042, "projectKey": "PAY",
      "projectName": "Payments", "projectTypeKey": "software", "displayName": "Payments (PAY)"},
      "isPrivate": false})J";
}

std::string board_project(const std::string& key, int id) {
  return R"({"self": ")" + kSite + "/rest/api/2/project/" + std::to_string(id) + R"(", "id": ")" +
         std::to_string(id) + R"(", "key": ")" + key + R"(", "name": ")" + key +
         R"(", "projectTypeKey": "software"})";
}

std::string sprint_object(const std::string& state, const std::string& more = "") {
  return R"({"id": 231, "self": ")" + kSite + R"(/rest/agile/1.0/sprint/231", "state": ")" + state +
         R"(", "name": "PAY Sprint 12", "createdDate": "2026-02-27T14:10:00.000Z",
      "originBoardId": 84, "goal": "Ship refunds API")" +
         more + "}";
}
const std::string kSprintDates =
    R"(, "startDate": "2026-03-02T09:00:00.000Z", "endDate": "2026-03-16T09:00:00.000Z")";

std::vector<std::string> paths(const Step& step) {
  std::vector<std::string> out;
  for (const auto& r : step.api_calls) out.push_back(r.method + " " + r.path);
  return out;
}

}  // namespace

TEST_CASE(
    "jira project_* events: created, updated and restored are fetched with the selector's "
    "expand; deleted, trashed and archived delete the payload's project") {
  Rig rig;
  rig.api.serve_object("project", project_answer("Payments", 7));
  for (const char* event : {"project_created", "project_updated", "project_restored_deleted",
                            "project_restored_archived"}) {
    CAPTURE(event);
    rig.deliver(delivery(event, "project", kPayProject));
    Step step = rig.take();
    REQUIRE(step.api_calls.size() == 1);
    CHECK(step.api_calls[0].path == "/rest/api/3/project/PAY");
    CHECK(step.api_calls[0].query_param("expand") == "insight");
    // From the answer, not the payload: the payload has no insight.
    check_entities(step.entities,
                   {upsert("jiraProject", "PAY",
                           {{"title", R"("Payments")"},
                            {"properties.url", R"("https://acme.atlassian.net/projects/PAY")"},
                            {"properties.totalIssues", "7"}})});
  }
  // Gone from Jira: a fetch would answer 404, and none is made.
  rig.api.forget("/rest/api/3/project/PAY");
  for (const char* event : {"project_deleted", "project_soft_deleted", "project_archived"}) {
    CAPTURE(event);
    rig.deliver(delivery(event, "project", kPayProject));
    Step step = rig.take();
    CHECK(step.api_calls.empty());
    check_entities(step.entities, {removal("jiraProject", "PAY")});
  }
  CHECK(rig.outcome("ok") == 7);

  // A selector's expand replaces insight; an empty one sends none. One resource each: one fetch
  // each.
  TempDir dir;
  const fs::path mapping = dir.path() / "projects.yaml";
  std::string resource = R"(
  - kind: project
    selector:
      query: "true"
      expand: EXPAND
    port:
      entity:
        mappings:
          identifier: ".key"
          title: ".name"
          blueprint: '"jiraProject"'
)";
  auto with = [&](const std::string& expand) {
    std::string r = resource;
    return r.replace(r.find("EXPAND"), 6, expand);
  };
  write_file(mapping, "resources:" + with(R"("description,lead")") + with(R"("")"));
  Options options;
  options.mapping = mapping.string();
  Rig custom(options);
  custom.api.serve_object("project", project_answer("Payments", 7));
  custom.deliver(delivery("project_updated", "project", kPayProject));
  Step step = custom.take();
  REQUIRE(step.api_calls.size() == 2);
  std::set<std::string> queries;
  for (const auto& call : step.api_calls) {
    CHECK(call.path == "/rest/api/3/project/PAY");
    queries.insert(FakeJira::decoded(call.query));
  }
  CHECK(queries == std::set<std::string>{"", "expand=description,lead"});
  CHECK(step.results.size() == 2);
}

TEST_CASE(
    "jira user_* events: created and updated are fetched by accountId, user_deleted deletes the "
    "payload's user, a 404 deletes") {
  Rig rig;
  rig.api.serve_object("user", user_object("Sam Dev"));
  // Jira leaves emailAddress out of the event (privacy): the fetch brings what the account may see.
  std::string payload = R"({"self": ")" + kSite + "/rest/api/2/user?accountId=" + kAccountId +
                        R"(", "accountId": ")" + kAccountId + R"(", "accountType": "atlassian",
      "displayName": "Sam", "active": true, "timeZone": "America/New_York",
      "avatarUrls": {"48x48": "https://avatars.example/old48.png"}})";

  rig.deliver(delivery("user_created", "user", payload));
  Step created = rig.take();
  REQUIRE(created.api_calls.size() == 1);
  CHECK(created.api_calls[0].path == "/rest/api/3/user");
  CHECK(FakeJira::decoded(created.api_calls[0].query_param("accountId")) == kAccountId);
  check_entities(created.entities,
                 {upsert("jiraUser", kAccountId,
                         {{"title", R"("Sam Dev")"},
                          {"properties.emailAddress", R"("sam@acme.example")"},
                          {"properties.active", "true"},
                          {"properties.accountType", R"("atlassian")"},
                          {"properties.timeZone", R"("America/New_York")"},
                          {"properties.locale", R"("en_US")"},
                          {"properties.avatarUrl", R"("https://avatars.example/sam48.png")"}})});

  rig.api.serve_object("user", user_object("Sam Developer", false));
  rig.deliver(delivery("user_updated", "user", payload));
  Step updated = rig.take();
  CHECK(updated.api_calls.size() == 1);
  check_entities(updated.entities,
                 {upsert("jiraUser", kAccountId,
                         {{"title", R"("Sam Developer")"}, {"properties.active", "false"}})});

  // The deleted user's object is minimal, and no longer readable: no fetch.
  rig.api.forget("/rest/api/3/user?accountId=" + kAccountId);
  rig.deliver(delivery("user_deleted", "user",
                       R"({"self": "https://acme.atlassian.net/rest/api/2/user?accountId=)" +
                           kAccountId + R"(", "accountId": ")" + kAccountId + R"("})"));
  Step deleted = rig.take();
  CHECK(deleted.api_calls.empty());
  check_entities(deleted.entities, {removal("jiraUser", kAccountId)});

  rig.deliver(delivery("user_updated", "user", payload));
  Step gone = rig.take();
  CHECK(gone.api_calls.size() == 1);
  check_entities(gone.entities, {removal("jiraUser", kAccountId)});
  CHECK(rig.outcome("ok") == 4);
}

TEST_CASE(
    "jira jira:version_* events: releases fetched with their project's key; version_deleted "
    "deletes, and with mergedTo upserts the version merged into") {
  Rig rig;
  rig.api.serve_object("version", version_object("10310", "2.4.0", true));
  rig.api.serve_object("project", project_answer("Payments", 7));
  const std::vector<std::string> fetch_and_project = {"GET /rest/api/3/version/10310",
                                                      "GET /rest/api/3/project/10042"};
  const ExpectedEntity release_2_4_0 =
      upsert("jiraRelease", "10310",
             {{"title", R"("2.4.0")"},
              {"properties.released", "true"},
              {"properties.releaseDate", R"("2026-02-01")"},
              {"properties.url", R"("https://acme.atlassian.net/projects/PAY/versions/10310")"},
              {"relations.project", R"("PAY")"}});

  for (const char* event : {"jira:version_created", "jira:version_updated", "jira:version_released",
                            "jira:version_unreleased", "jira:version_moved"}) {
    CAPTURE(event);
    // The payload's version is older than Jira's: what is upserted is the fetched one.
    rig.deliver(delivery(event, "version", version_object("10310", "2.4.0-rc", false)));
    Step step = rig.take();
    CHECK(paths(step) == fetch_and_project);
    check_entities(step.entities, {release_2_4_0});
  }

  {
    INFO("a plain delete: the payload's version, no fetch");
    rig.deliver(delivery("jira:version_deleted", "version",
                         R"({"self": "https://acme.atlassian.net/rest/api/2/version/10311",
                             "id": "10311", "name": "2.4.1", "archived": false,
                             "released": false, "projectId": 10042})"));
    Step step = rig.take();
    CHECK(step.api_calls.empty());
    check_entities(step.entities, {removal("jiraRelease", "10311")});
  }

  {
    INFO("a merge: 10311 deleted, 10310 (mergedTo) fetched and upserted");
    rig.deliver(delivery("jira:version_deleted", "version",
                         R"({"id": "10311", "name": "2.4.1", "projectId": 10042,
            "self": "https://acme.atlassian.net/rest/api/2/version/10311"})",
                         R"(, "mergedTo": {"id": "10310", "name": "2.4.0", "projectId": 10042,
            "self": "https://acme.atlassian.net/rest/api/2/version/10310", "released": true,
            "archived": false})"));
    Step step = rig.take();
    CHECK(paths(step) == fetch_and_project);
    check_entities(step.entities, {removal("jiraRelease", "10311"), release_2_4_0});
  }

  {
    INFO("a project the account may not read: the release is upserted without its key");
    rig.api.forget("/rest/api/3/project/10042");
    rig.deliver(
        delivery("jira:version_updated", "version", version_object("10310", "2.4.0", true)));
    Step step = rig.take();
    CHECK(paths(step) == fetch_and_project);
    REQUIRE(step.results.size() == 1);
    REQUIRE(step.results[0].updated.size() == 1);
    CHECK(step.results[0].updated[0].find("__projectKey") == std::string::npos);
    check_entities(step.entities, {upsert("jiraRelease", "10310", {{"title", R"("2.4.0")"}})});
  }

  {
    INFO("a version Jira no longer has is deleted");
    rig.api.forget("/rest/api/3/version/10310");
    rig.deliver(
        delivery("jira:version_updated", "version", version_object("10310", "2.4.0", true)));
    Step step = rig.take();
    CHECK(paths(step) == std::vector<std::string>{"GET /rest/api/3/version/10310"});
    check_entities(step.entities, {removal("jiraRelease", "10310")});
  }
  CHECK(rig.outcome("ok") == 9);
}

TEST_CASE(
    "jira board_* events: fetched from the Agile API with every page of their projects; "
    "configuration changes refetch; board_deleted deletes") {
  Rig rig;
  rig.api.serve_object("board", board_object("PAY board"));
  // Two a page: three projects take two pages.
  rig.api.serve_board_projects(
      84, {board_project("PAY", 10042), board_project("OPS", 10043), board_project("WEB", 10044)},
      2);
  const std::string payload = R"J({"id": 84,
      "self": "https://acme.atlassian.net/rest/agile/1.0/board/84",
      "name": "PAY board (old name)", "type": "scrum"})J";
  const std::vector<std::string> calls = {"GET /rest/agile/1.0/board/84",
                                          "GET /rest/agile/1.0/board/84/project",
                                          "GET /rest/agile/1.0/board/84/project"};
  const ExpectedEntity board = upsert(
      "jiraBoard", "84",
      {{"title", R"("PAY board")"},
       {"properties.type", R"("scrum")"},
       {"properties.url", R"("https://acme.atlassian.net/secure/RapidBoard.jspa?rapidView=84")"},
       {"relations.projects", R"(["PAY", "OPS", "WEB"])"}});

  for (const char* event : {"board_created", "board_updated"}) {
    CAPTURE(event);
    rig.deliver(delivery(event, "board", payload));
    Step step = rig.take();
    REQUIRE(paths(step) == calls);
    CHECK(step.api_calls[1].query_param("startAt") == "0");
    CHECK(step.api_calls[2].query_param("startAt") == "2");
    check_entities(step.entities, {board});
  }

  {
    INFO("board_configuration_changed names the board by its configuration");
    rig.deliver(delivery("board_configuration_changed", "configuration",
                         R"({"id": 84, "name": "PAY board", "type": "scrum",
                             "filter": {"id": "10040"},
                             "columnConfig": {"columns": [], "constraintType": "none"}})"));
    Step step = rig.take();
    CHECK(paths(step) == calls);
    check_entities(step.entities, {board});
  }

  {
    INFO("board_deleted: the payload's board, no fetch");
    rig.api.forget("/rest/agile/1.0/board/84");
    rig.deliver(delivery("board_deleted", "board", payload));
    Step step = rig.take();
    CHECK(step.api_calls.empty());
    check_entities(step.entities, {removal("jiraBoard", "84")});
  }

  {
    INFO("an update of a board Jira no longer has deletes it");
    rig.deliver(delivery("board_updated", "board", payload));
    Step step = rig.take();
    CHECK(paths(step) == std::vector<std::string>{"GET /rest/agile/1.0/board/84"});
    check_entities(step.entities, {removal("jiraBoard", "84")});
  }
  CHECK(rig.outcome("ok") == 5);
}

TEST_CASE(
    "jira sprint_* events: created, started, updated and closed are fetched; a 404 deletes; "
    "sprint_deleted deletes the payload's sprint") {
  Rig rig;
  struct Case {
    const char* event;
    std::string payload, answer;
    const char* state;
  };
  // Each payload is as Jira sends it; the answer is Jira's state when the event is processed.
  std::vector<Case> cases = {
      {"sprint_created", sprint_object("future"), sprint_object("future"), "future"},
      {"sprint_started", sprint_object("active", kSprintDates),
       sprint_object("active", kSprintDates), "active"},
      {"sprint_updated", sprint_object("active", kSprintDates),
       sprint_object("active", kSprintDates), "active"},
      {"sprint_closed",
       sprint_object("closed", kSprintDates + R"(, "completeDate": "2026-03-16T10:00:00.000Z")"),
       sprint_object("closed", kSprintDates + R"(, "completeDate": "2026-03-16T10:00:00.000Z")"),
       "closed"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.event);
    rig.api.serve_object("sprint", c.answer);
    rig.deliver(delivery(c.event, "sprint", c.payload));
    Step step = rig.take();
    CHECK(paths(step) == std::vector<std::string>{"GET /rest/agile/1.0/sprint/231"});
    std::map<std::string, std::string> fields = {
        {"title", R"("PAY Sprint 12")"},
        {"properties.state", '"' + std::string(c.state) + '"'},
        {"properties.goal", R"("Ship refunds API")"},
        {"relations.board", R"("84")"}};
    if (std::string(c.state) != "future")
      fields["properties.startDate"] = R"("2026-03-02T09:00:00.000Z")";
    if (std::string(c.state) == "closed")
      fields["properties.completeDate"] = R"("2026-03-16T10:00:00.000Z")";
    check_entities(step.entities, {upsert("jiraSprint", "231", fields)});
  }

  {
    INFO("a 404 on the fetch deletes the payload's sprint");
    rig.api.forget("/rest/agile/1.0/sprint/231");
    rig.deliver(delivery("sprint_updated", "sprint", sprint_object("active", kSprintDates)));
    Step step = rig.take();
    CHECK(step.api_calls.size() == 1);
    check_entities(step.entities, {removal("jiraSprint", "231")});
  }

  {
    INFO("sprint_deleted: the payload's sprint, no fetch");
    rig.deliver(delivery("sprint_deleted", "sprint", sprint_object("future")));
    Step step = rig.take();
    CHECK(step.api_calls.empty());
    check_entities(step.entities, {removal("jiraSprint", "231")});
  }
  CHECK(rig.outcome("ok") == 6);
}

TEST_CASE("jira: events about one project, user, release, board or sprint run in arrival order") {
  Rig rig;
  rig.api.serve_object("project", project_answer("Payments", 7));
  rig.api.serve_object("user", user_object("Sam Dev"));
  rig.api.serve_object("version", version_object("10310", "2.4.0", true));
  rig.api.serve_object("board", board_object("PAY board"));
  rig.api.serve_board_projects(84, {board_project("PAY", 10042)});
  rig.api.serve_object("sprint", sprint_object("active"));
  // Each update waits on a slow API, its delete needs no call: without the group keys every delete
  // would be applied first and the stale update would win.
  const std::map<std::string, std::pair<std::string, std::string>> kinds = {
      {"project",
       {delivery("project_updated", "project", kPayProject),
        delivery("project_deleted", "project", kPayProject)}},
      {"user",
       {delivery("user_updated", "user", user_object("Sam")),
        delivery("user_deleted", "user", user_object("Sam"))}},
      {"release",
       {delivery("jira:version_updated", "version", version_object("10310", "2.4.0", true)),
        delivery("jira:version_deleted", "version", version_object("10310", "2.4.0", true))}},
      {"board",
       {delivery("board_updated", "board", board_object("PAY board")),
        delivery("board_deleted", "board", board_object("PAY board"))}},
      {"sprint",
       {delivery("sprint_updated", "sprint", sprint_object("active")),
        delivery("sprint_deleted", "sprint", sprint_object("active"))}},
  };
  rig.api.delay_objects(std::chrono::milliseconds(300));
  double before = rig.finished();
  for (const auto& [kind, events] : kinds) REQUIRE(rig.send(events.first).status == 200);
  for (const auto& [kind, events] : kinds) REQUIRE(rig.send(events.second).status == 200);
  REQUIRE(wait_until([&] { return rig.finished() >= before + 10; }));
  rig.api.delay_objects(std::chrono::milliseconds(0));
  Step step = rig.take();
  REQUIRE(step.results.size() == 10);
  for (const auto& [kind, events] : kinds) {
    CAPTURE(kind);
    std::vector<std::string> order;
    for (const auto& r : step.results)
      if (r.kind == kind) order.push_back(r.updated.empty() ? "deleted" : "updated");
    CHECK(order == std::vector<std::string>{"updated", "deleted"});
  }
}

TEST_CASE(
    "jira: config/jira/blueprints.json has every blueprint, property and relation the default "
    "mapping writes, each after the blueprints it relates to") {
  PortAppConfig mapping = load_port_app_config(kMapping);
  rapidjson::Document blueprints;
  blueprints.Parse(read_file(fs::path(OCEAN_SOURCE_DIR) / "config/jira/blueprints.json").c_str());
  REQUIRE(blueprints.IsArray());
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < blueprints.Size(); ++i)
    position[blueprints[static_cast<rapidjson::SizeType>(i)]["identifier"].GetString()] = i;

  std::set<std::string> kinds, used;
  for (const auto& resource : mapping.resources) {
    CAPTURE(resource.kind);
    kinds.insert(resource.kind);
    rapidjson::Document block;
    block.Parse(resource.config_json.c_str());
    const rapidjson::Value& entity = block["port"]["entity"]["mappings"];
    std::string name = entity["blueprint"].GetString();  // a jq string literal: '"jiraUser"'
    REQUIRE(name.size() > 2);
    name = name.substr(1, name.size() - 2);
    REQUIRE(position.count(name) == 1);
    used.insert(name);
    const rapidjson::Value& blueprint =
        blueprints[static_cast<rapidjson::SizeType>(position[name])];
    if (entity.HasMember("properties"))
      for (const auto& p : entity["properties"].GetObject()) {
        CAPTURE(p.name.GetString());
        CHECK(blueprint["schema"]["properties"].HasMember(p.name.GetString()));
      }
    if (entity.HasMember("relations"))
      for (const auto& r : entity["relations"].GetObject()) {
        CAPTURE(r.name.GetString());
        REQUIRE(blueprint["relations"].HasMember(r.name.GetString()));
        std::string target = blueprint["relations"][r.name.GetString()]["target"].GetString();
        REQUIRE(position.count(target) == 1);
        CHECK(position[target] <= position[name]);
      }
  }
  CHECK(kinds == std::set<std::string>{"board", "issue", "project", "release", "sprint", "user"});
  CHECK(used.size() == position.size());  // and nothing the mapping does not write
}

TEST_CASE(
    "jira Data Center (api_version: 2): REST v2 paths, /search for the JQL scope, users by key") {
  TempDir dir;
  write_file(dir.path() / "dc.yaml", R"(resources:
  - kind: issue
    selector: {query: "true", jql: "project = PAY"}
    port:
      entity:
        mappings: {identifier: .key, blueprint: '"jiraIssue"', title: .fields.summary}
  - kind: user
    selector: {query: "true"}
    port:
      entity:
        mappings: {identifier: .key, blueprint: '"jiraUser"', title: .displayName}
)");
  Options o;
  o.mapping = (dir.path() / "dc.yaml").string();
  o.access_token = "dc-personal-access-token";
  o.extra_config = ", api_version: \"2\"";
  Rig rig(o);
  rig.api.speak_data_center();
  rig.api.require_authorization("Bearer dc-personal-access-token");
  const std::string issue =
      R"({"id": "10001", "key": "PAY-1", "fields": {"summary": "Card declined"}})";
  rig.api.serve_object("issue", issue);
  rig.api.serve_object("user",
                       R"({"key": "JIRAUSER10100", "name": "sam", "displayName": "Sam Dev"})");

  rig.deliver(R"({"webhookEvent": "jira:issue_updated", "issue": )" + issue + "}");
  Step step = rig.take();
  REQUIRE(step.api_calls.size() == 1);
  CHECK(step.api_calls[0].path == "/rest/api/2/search");
  CHECK(FakeJira::decoded(step.api_calls[0].query_param("jql")) ==
        "(project = PAY) AND key = PAY-1");
  check_entities(step.entities, {upsert("jiraIssue", "PAY-1", {{"title", R"("Card declined")"}})});

  rig.api.exclude_from_search("PAY-1");
  rig.deliver(R"({"webhookEvent": "jira:issue_updated", "issue": )" + issue + "}");
  check_entities(rig.take().entities, {removal("jiraIssue", "PAY-1")});

  // Data Center's user events carry `key` and `name`, no accountId.
  rig.deliver(R"({"webhookEvent": "user_updated", "user": {"key": "JIRAUSER10100",
      "name": "sam", "displayName": "Sam"}})");
  step = rig.take();
  REQUIRE(step.api_calls.size() == 1);
  CHECK(step.api_calls[0].path == "/rest/api/2/user");
  CHECK(step.api_calls[0].query_param("key") == "JIRAUSER10100");
  check_entities(step.entities, {upsert("jiraUser", "JIRAUSER10100", {{"title", R"("Sam Dev")"}})});
  CHECK(rig.outcome("ok") == 3);
}

TEST_CASE("jira config: api_version is 3 or 2") {
  ocean::testing::FakeHost host;
  host.load_library(plugin_file("jira").string());
  host.set_config("j", "api_url", "https://jira.example.com");
  host.set_config("j", "api_version", "4");
  CHECK(host.validate_config("j").find("api_version is '4'") != std::string::npos);
  host.set_config("j", "api_version", "2");
  CHECK(host.validate_config("j").empty());
}
