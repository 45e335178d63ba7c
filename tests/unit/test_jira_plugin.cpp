// The Jira plugin (build/plugins/jira.so) loaded by an in-process oceand, fed the corpus payloads,
// against a fake Jira REST API.
//
// As in test_github_plugin.cpp, each test case runs steps against one oceand and every step looks
// only at what it produced (Rig::take).
#include <doctest/doctest.h>

#include <algorithm>

#include <rapidjson/document.h>

#include "fakes/fake_jira.hpp"
#include "ocean/sdk.hpp"
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
const char* kProcessors[] = {"IssueProcessor", "ProjectProcessor"};

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
                 "}\n") {
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
        {R"({"webhookEvent": 12})", "unsupported"},
        {R"({"issue": {"key": "TES-1"}})", "unsupported"},
        {R"({"webhookEvent": "sprint_started", "sprint": {"id": 1}})", "unsupported"},
    };
    double handled = rig.handled();
    for (const auto& b : bad) {
      CAPTURE(b.body);
      double before = rig.outcome(b.outcome);
      rig.deliver(b.body);
      CHECK(rig.outcome(b.outcome) == before + 1);
    }
    CHECK(rig.dropped("invalid_payload") == 5);
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
  CHECK(events == std::vector<std::string>{"jira:issue_created", "jira:issue_deleted",
                                           "jira:issue_updated", "project_created",
                                           "project_deleted", "project_soft_deleted",
                                           "project_updated"});
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
  CHECK(hooks[1].events.size() == 7);
  CHECK(hooks[0].events.size() == 1);  // not ours: untouched
}
