// The GitHub plugin (build/plugins/github.so) loaded by an in-process oceand, fed the corpus
// payloads, against a fake GitHub REST API.
//
// Starting and stopping an oceand costs a few hundred milliseconds, so each test case runs a
// sequence of steps against one oceand; every step looks only at what that step produced
// (Rig::take), so steps stay independent.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>

#include <rapidjson/document.h>

#include "../../plugins/common/rest_support.hpp"
#include "fakes/fake_github.hpp"
#include "ocean/testing.hpp"
#include "queue/dead_letters.hpp"
#include "support/expected_entities.hpp"
#include "support/test_host.hpp"

using namespace oceand;
using namespace oceand::test;

namespace {

const std::string kSecret = "gh-webhook-secret";
const std::string kToken = "ghp_test_token";
const std::string kMapping = std::string(OCEAN_SOURCE_DIR) + "/config/github/port-app-config.yaml";
const std::string kBaseUrl = "http://oceand.example";
const std::string kHookUrl = kBaseUrl + "/integration/github/webhook";
const char* kProcessors[] = {"RepositoryProcessor", "PullRequestProcessor", "IssueProcessor",
                             "ReleaseProcessor", "WorkflowRunProcessor"};

std::string corpus(const std::string& file) {
  std::string text = read_file(fs::path(OCEAN_CORPORA_DIR) / "github" / file);
  REQUIRE_FALSE(text.empty());
  return text;
}

// The payload with one string member replaced (e.g. "action").
std::string with_member(const std::string& json, const char* name, const std::string& value) {
  rapidjson::Document d;
  d.Parse(json.c_str());
  REQUIRE(d.IsObject());
  d.RemoveMember(name);
  d.AddMember(rapidjson::Value(name, d.GetAllocator()),
              rapidjson::Value(value.c_str(), d.GetAllocator()), d.GetAllocator());
  return json_text(d);
}

enum class Signature { right, wrong, none };

struct Options {
  std::string secret = kSecret;
  std::string token = kToken;
  std::string extra_yaml = "base_url: " + kBaseUrl + "\n";
  std::string extra_config;  // appended inside `config: {...}`, e.g. ", org: octo"
  std::string mapping = kMapping;
};

// One oceand with the github plugin, and the fake GitHub it talks to.
struct Rig {
  FakeGithub own_api;
  FakeGithub& api;
  Options options;
  TestHost host;
  int deliveries = 0;
  CaptureCursor captured{options.mapping};

  // `shared`: a fake GitHub that outlives this oceand (to start several against one GitHub).
  explicit Rig(Options o = {}, FakeGithub* shared = nullptr)
      : api(shared ? *shared : own_api),
        options(o),
        host({"github"}, o.extra_yaml,
             "  github:\n    plugin: github\n    mapping: " + o.mapping +
                 "\n    config: {webhook_secret: \"" + o.secret + "\", api_url: \"" + api.url() +
                 "\", token: \"" + o.token + "\"" + o.extra_config + "}\n") {
    REQUIRE(host.host().plugins().wait_for_starts(std::chrono::seconds(5)));
  }

  HttpResult send(const std::string& event, const std::string& body,
                  Signature signature = Signature::right) {
    HeaderList headers = {{"Content-Type", "application/json"},
                          {"X-GitHub-Event", event},
                          {"X-GitHub-Delivery", "delivery-" + std::to_string(++deliveries)}};
    if (signature == Signature::right)
      headers.emplace_back("X-Hub-Signature-256",
                           "sha256=" + ocean::hmac_sha256_hex(options.secret, body));
    if (signature == Signature::wrong)
      headers.emplace_back("X-Hub-Signature-256",
                           "sha256=" + ocean::hmac_sha256_hex("not-the-secret", body));
    return host.post("/integration/github/webhook", body, headers);
  }
  double finished() { return host.host().metrics().total("oceand_events_processed_total"); }
  // Sends and waits until oceand has finished the event, whatever the outcome.
  void deliver(const std::string& event, const std::string& body,
               Signature signature = Signature::right) {
    double before = finished();
    REQUIRE(send(event, body, signature).status == 200);
    REQUIRE(wait_until([&] { return finished() >= before + 1; }));
  }
  // What happened since the previous take(); api_calls leaves webhook registration out.
  Step take() {
    Step s;
    for (auto& r : api.server().requests())
      if (r.path.find("/hooks") == std::string::npos) s.api_calls.push_back(r);
    api.server().clear_requests();
    captured.next(host, s);
    return s;
  }

  double handled() { return host.plugin_counter("github_events_handled", "github"); }
  double outcome(const std::string& o) { return host.processed("github", o); }
  double dropped(const std::string& reason) {
    return dropped_by(host, "github", kProcessors, reason);
  }
};

std::string event_of(const std::string& file) {
  return file.substr(0, file.find("__"));
}

// A release and a workflow run (the corpus has neither), shaped like GitHub's.
const char* kRepository =
    R"({"id": 186853002, "name": "Hello-World", "full_name": "Codertocat/Hello-World",
        "owner": {"login": "Codertocat"}, "html_url": "https://github.com/Codertocat/Hello-World"})";

std::string release_payload(const std::string& action) {
  return R"({"action": ")" + action + R"(", "release": {"id": 17372790, "tag_name": "0.0.1",
    "name": null, "body": "first", "draft": false, "created_at": "2019-05-15T15:19:25Z",
    "html_url": "https://github.com/Codertocat/Hello-World/releases/tag/0.0.1"},
    "repository": )" +
         kRepository + R"(, "sender": {"login": "Codertocat"}})";
}

std::string workflow_run_payload(const std::string& action, const std::string& status,
                                 const std::string& conclusion) {
  return R"({"action": ")" + action + R"(", "workflow_run": {"id": 30433642, "name": "Build",
    "display_title": "Update README.md", "status": ")" +
         status + R"(", "conclusion": )" + conclusion + R"(, "run_number": 562, "run_attempt": 1,
    "created_at": "2020-01-22T19:33:08Z", "updated_at": "2020-01-22T19:33:08Z",
    "html_url": "https://github.com/Codertocat/Hello-World/actions/runs/30433642",
    "triggering_actor": {"login": "Codertocat"}, "repository": )" +
         kRepository + R"(}, "repository": )" + kRepository +
         R"(, "sender": {"login": "Codertocat"}})";
}

}  // namespace

TEST_CASE(
    "github: the corpus signed right gives the hand-written entities; wrong or unsigned "
    "never reaches handle_event") {
  Rig rig;
  for (const auto& c : github_corpus_cases()) {
    CAPTURE(c.file);
    std::string body = corpus(c.file);
    rig.api.serve_payload(body);
    double before = rig.outcome(c.outcome), handled = rig.handled();
    rig.deliver(event_of(c.file), body);
    CHECK(rig.outcome(c.outcome) == before + 1);
    Step step = rig.take();
    if (!c.fetch_path.empty()) {
      REQUIRE(step.api_calls.size() == 1);
      const auto& call = step.api_calls[0];
      CHECK(call.method == "GET");
      CHECK(call.path == c.fetch_path);
      CHECK(call.header("authorization") == "Bearer " + kToken);
      CHECK(call.header("accept") == "application/vnd.github+json");
      CHECK_FALSE(call.header("user-agent").empty());
    } else {
      CHECK(step.api_calls.empty());
    }
    CHECK(rig.handled() == handled + (c.outcome == "ok" ? 1 : 0));
    check_entities(step.entities, c.entities);
  }
  // No org or repo configured: on_start registered nothing.
  CHECK(rig.api.server().count("GET", "/") == 0);

  double handled = rig.handled();
  for (auto signature : {Signature::wrong, Signature::none}) {
    for (const auto& c : github_corpus_cases()) {
      CAPTURE(c.file);
      rig.deliver(event_of(c.file), corpus(c.file), signature);
    }
  }
  // Supported events are rejected by authenticate; unsupported ones never get that far.
  CHECK(rig.outcome("rejected") == 12);
  CHECK(rig.dropped("authentication_failed") == 12);
  CHECK(rig.outcome("unsupported") == 2 + 4);
  CHECK(rig.host.plugin_counter("github_signature_rejected", "github") == 12);
  CHECK(rig.handled() == handled);
  Step rejected = rig.take();
  CHECK(rejected.api_calls.empty());
  CHECK(rejected.results.empty());
}

TEST_CASE("github: the published X-Hub-Signature-256 test vector") {
  // GitHub's documentation: secret "It's a Secret to Everybody", payload "Hello, World!".
  rapidjson::Document v;
  v.Parse(read_file(fs::path(OCEAN_CORPORA_DIR) / "signature_vectors.json").c_str());
  REQUIRE(v.IsObject());
  const auto& g = v["github_x_hub_signature_256"];
  std::string secret = g["secret"].GetString(), payload = g["payload"].GetString();
  std::string hex = g["signature_hex"].GetString();
  std::string header = "sha256=" + hex;
  CHECK(ocean::hmac_sha256_hex(secret, payload) == hex);
  CHECK(ocean_plugins::verify_sha256_header(secret, payload, std::string_view(header)));
  CHECK_FALSE(ocean_plugins::verify_sha256_header(secret, payload + " ", std::string_view(header)));
  CHECK_FALSE(ocean_plugins::verify_sha256_header("another", payload, std::string_view(header)));
  // GitHub always sends the algorithm prefix; a bare or differently prefixed digest is refused.
  CHECK_FALSE(ocean_plugins::verify_sha256_header(secret, payload, std::string_view(hex)));
  std::string sha1 = "sha1=" + hex;
  CHECK_FALSE(ocean_plugins::verify_sha256_header(secret, payload, std::string_view(sha1)));
  CHECK_FALSE(ocean_plugins::verify_sha256_header(secret, payload, std::nullopt));
  CHECK_FALSE(ocean_plugins::verify_sha256_header(secret, payload, std::string_view("sha256=")));
}

TEST_CASE("github: kinds and actions beyond the corpus, form deliveries, ordering, bad input") {
  Rig rig;

  {
    INFO("a signed form-encoded delivery is verified over the raw form body");
    std::string json = corpus("issues__opened.payload.json");
    rig.api.serve_payload(json);
    std::string form = "payload=";
    for (unsigned char c : json) {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      form += std::isalnum(c) ? std::string(1, static_cast<char>(c)) : std::string(buf);
    }
    HeaderList headers = {
        {"Content-Type", "application/x-www-form-urlencoded"},
        {"X-GitHub-Event", "issues"},
        {"X-GitHub-Delivery", "form-1"},
        {"X-Hub-Signature-256", "sha256=" + ocean::hmac_sha256_hex(kSecret, form)}};
    double before = rig.finished();
    REQUIRE(rig.host.post("/integration/github/webhook", form, headers).status == 200);
    REQUIRE(wait_until([&] { return rig.finished() >= before + 1; }));
    check_entities(rig.take().entities, {upsert("githubIssue", "Hello-World-1")});
  }

  {
    INFO("releases and workflow runs are fetched; a completed run is an update");
    rig.api.serve_payload(release_payload("published"));
    rig.deliver("release", release_payload("published"));
    auto run = workflow_run_payload("completed", "completed", R"("success")");
    rig.api.serve_payload(run);
    rig.deliver("workflow_run", run);
    Step step = rig.take();
    REQUIRE(step.api_calls.size() == 2);
    CHECK(step.api_calls[0].path == "/repos/Codertocat/Hello-World/releases/17372790");
    CHECK(step.api_calls[1].path == "/repos/Codertocat/Hello-World/actions/runs/30433642");
    check_entities(step.entities,
                   {upsert("githubRelease", "Hello-World-0.0.1",
                           {{"title", R"("0.0.1")"}, {"relations.repository", R"("Hello-World")"}}),
                    upsert("githubWorkflowRun", "Hello-World30433642",
                           {{"properties.status", R"("completed")"},
                            {"properties.conclusion", R"("success")"},
                            {"properties.runNumber", "562"},
                            {"relations.repository", R"("Hello-World")"}})});
  }

  {
    INFO("a deleted release is removed with the payload's object, without a fetch");
    rig.deliver("release", release_payload("deleted"));
    Step step = rig.take();
    CHECK(step.api_calls.empty());
    // The identifier needs `__repository`, which the plugin adds to deletions too.
    check_entities(step.entities, {removal("githubRelease", "Hello-World-0.0.1")});
  }

  {
    INFO("repository deleted or archived deletes without a fetch; other actions update");
    std::string created = corpus("repository__created.payload.json");
    rig.api.serve_payload(created);
    for (const char* action : {"deleted", "archived"}) {
      CAPTURE(action);
      rig.deliver("repository", with_member(created, "action", action));
      Step step = rig.take();
      CHECK(step.api_calls.empty());
      check_entities(step.entities, {removal("githubRepository", "Hello-World")});
    }
    rig.deliver("repository", with_member(created, "action", "renamed"));
    Step step = rig.take();
    CHECK(step.api_calls.size() == 1);
    check_entities(step.entities, {upsert("githubRepository", "Hello-World")});
  }

  {
    INFO("an issue closed leaves the catalog with the default mapping (Ocean: state open)");
    rig.api.serve_payload(corpus("issues__deleted.payload.json"));  // its issue is closed
    rig.deliver("issues", with_member(corpus("issues__opened.payload.json"), "action", "closed"));
    check_entities(rig.take().entities, {removal("githubIssue", "Hello-World-1")});
  }

  {
    INFO("an edited event for a pull request GitHub now reports closed deletes it");
    rig.api.serve_payload(corpus("pull_request__closed.payload.json"));
    rig.deliver("pull_request",
                with_member(corpus("pull_request__opened.payload.json"), "action", "edited"));
    Step step = rig.take();
    CHECK(step.api_calls.size() == 1);
    check_entities(step.entities, {removal("githubPullRequest", "Hello-World279147437")});
  }

  {
    INFO("events about one pull request run in arrival order");
    // The fetch for `opened` is slow and `closed` needs none: without the group key the deletion
    // would be applied first and the stale update would win.
    std::string opened = corpus("pull_request__opened.payload.json");
    rig.api.serve_payload(opened);
    rig.api.delay_objects(std::chrono::milliseconds(300));
    double before = rig.finished();
    REQUIRE(rig.send("pull_request", opened).status == 200);
    REQUIRE(rig.send("pull_request", corpus("pull_request__closed.payload.json")).status == 200);
    REQUIRE(wait_until([&] { return rig.finished() >= before + 2; }));
    rig.api.delay_objects(std::chrono::milliseconds(0));
    Step step = rig.take();
    REQUIRE(step.results.size() == 2);
    CHECK(step.results[0].updated.size() == 1);
    CHECK(step.results[1].deleted.size() == 1);
  }

  {
    INFO("malformed payloads and headers are dropped or unsupported, never crash");
    struct Bad {
      const char* event;
      std::string body;
      const char* outcome;
    };
    std::vector<Bad> bad = {
        {"pull_request", R"({"action": "opened"})", "rejected"},
        {"pull_request", R"({"action": "opened", "repository": {"full_name": "no-slash"},
                             "pull_request": {"number": 1}})",
         "rejected"},
        {"pull_request", R"({"action": "opened", "repository": {"full_name": "a/b/c"},
                             "pull_request": {"number": 1}})",
         "rejected"},
        {"pull_request", R"({"action": "opened", "repository": {"full_name": "a/b"},
                             "pull_request": {"number": -3}})",
         "rejected"},
        {"pull_request", R"({"action": "opened", "repository": {"full_name": "a/b"},
                             "pull_request": []})",
         "rejected"},
        {"issues", R"({"action": 7, "repository": "x", "issue": null})", "rejected"},
        {"pull_request", R"({"action": "bogus", "repository": {"full_name": "a/b"}})",
         "unsupported"},
        {"", corpus("pull_request__opened.payload.json"), "unsupported"},
        {"unknown_event", corpus("pull_request__opened.payload.json"), "unsupported"},
    };
    double handled = rig.handled(), invalid = rig.dropped("invalid_payload");
    for (const auto& b : bad) {
      CAPTURE(b.body);
      double before = rig.outcome(b.outcome);
      rig.deliver(b.event, b.body);
      CHECK(rig.outcome(b.outcome) == before + 1);
    }
    CHECK(rig.dropped("invalid_payload") == invalid + 6);
    CHECK(rig.handled() == handled);
    Step step = rig.take();
    CHECK(step.api_calls.empty());
    CHECK(step.results.empty());
  }
}

TEST_CASE("github: API failures: 404 deletes, 500 is retried, 401 fails, rate limits wait") {
  Options o;
  o.extra_yaml += "max_wait_seconds_before_shutdown: 0\n";
  Rig rig(o);
  RetryLog log;
  log.attach(rig.host.host());

  {
    INFO("404 deletes the payload's object");
    rig.api.fail(FakeGithub::Failure::not_found);
    rig.deliver("pull_request", corpus("pull_request__opened.payload.json"));
    rig.deliver("issues", corpus("issues__opened.payload.json"));
    rig.deliver("push", corpus("push__payload.json"));
    rig.api.fail(FakeGithub::Failure::none);
    CHECK(rig.outcome("ok") == 3);
    Step step = rig.take();
    CHECK(step.api_calls.size() == 3);
    check_entities(step.entities, {removal("githubPullRequest", "Hello-World279147437"),
                                   removal("githubIssue", "Hello-World-1"),
                                   removal("githubRepository", "Hello-World")});
  }

  {
    INFO("a 500 is retried after the backoff's first delay, then succeeds");
    std::string body = corpus("issues__opened.payload.json");
    rig.api.serve_payload(body);
    rig.api.fail(FakeGithub::Failure::server_error, 1);
    rig.deliver("issues", body);
    CHECK(rig.outcome("ok") == 4);
    CHECK(log.get() == std::vector<double>{1.0});
    Step step = rig.take();
    CHECK(step.api_calls.size() == 2);
    check_entities(step.entities, {upsert("githubIssue", "Hello-World-1")});
  }

  {
    INFO("bad credentials fail the event for good, with no retry and no token in the error");
    rig.api.require_authorization("Bearer another-token");
    rig.deliver("pull_request", corpus("pull_request__opened.payload.json"));
    rig.api.require_authorization("");
    CHECK(rig.outcome("failed") == 1);
    CHECK(rig.take().api_calls.size() == 1);
    // The host counts the event as processed just before it stores the dead letter.
    REQUIRE(wait_until([&] { return rig.host.host().dead_letters().size() == 1; }));
    auto letters = rig.host.host().dead_letters().list(10);
    REQUIRE(letters.size() == 1);
    CHECK(letters[0].error.find("401") != std::string::npos);
    CHECK(letters[0].error.find(kToken) == std::string::npos);
    CHECK(log.get().size() == 1);
  }

  {
    INFO("403 rate limited is retried no sooner than X-RateLimit-Reset");
    rig.api.fail(FakeGithub::Failure::rate_limited, 1, /*reset_in_seconds=*/4);
    std::string body = corpus("pull_request__opened.payload.json");
    rig.api.serve_payload(body);
    REQUIRE(rig.send("pull_request", body).status == 200);
    REQUIRE(wait_until([&] { return log.get().size() == 2; }));
    // The first retry's backoff is 1 s; the reset four seconds away (less the second that may
    // have ticked since) raises it. The event is left waiting when the test ends.
    CHECK(log.get()[1] >= 3.0);
    CHECK(log.get()[1] <= 4.0);
    Step step = rig.take();
    CHECK(step.api_calls.size() == 1);
    CHECK(step.results.empty());
    CHECK(rig.host.host().dead_letters().size() == 1);
  }
}

TEST_CASE("github: without a secret or token, deliveries are accepted and no hook is registered") {
  FakeGithub github;
  Options o;
  o.secret = "";
  o.token = "";
  o.extra_config = ", org: octo-org";
  Rig rig(o, &github);
  std::string body = corpus("pull_request__opened.payload.json");
  github.serve_payload(body);
  rig.deliver("pull_request", body, Signature::none);
  rig.deliver("pull_request", body, Signature::wrong);
  CHECK(rig.outcome("ok") == 2);
  CHECK(rig.handled() == 2);
  auto requests = github.server().requests();
  REQUIRE(requests.size() == 2);
  for (const auto& r : requests) {
    CHECK(r.path == "/repos/Codertocat/Hello-World/pulls/2");
    CHECK(r.header("authorization").empty());
  }
}

TEST_CASE("github: a selector keeping closed pull requests turns a close into an update") {
  TempDir dir;
  std::string mapping = read_file(kMapping);
  const std::string open_only = R"(states: ["open"])";
  auto at = mapping.find(open_only);
  REQUIRE(at != std::string::npos);
  mapping.replace(at, open_only.size(), R"(states: ["open", "closed"])");
  write_file(dir.path() / "github.yaml", mapping);
  // Also: a GitHub refusing the hook calls is logged and oceand serves anyway.
  FakeGithub github;
  github.fail_hooks(500);
  Options o;
  o.mapping = (dir.path() / "github.yaml").string();
  o.extra_config = ", org: octo-org";
  Rig rig(o, &github);
  CHECK(github.server().count("GET", "/orgs/octo-org/hooks") == 1);
  CHECK(github.hooks("/orgs/octo-org/hooks").empty());
  CHECK(rig.host.get("/ready").status == 200);
  rig.take();  // on_start's calls

  std::string closed = corpus("pull_request__closed.payload.json");
  github.serve_payload(closed);
  rig.deliver("pull_request", closed);
  Step step = rig.take();
  CHECK(step.api_calls.size() == 1);
  check_entities(step.entities, {upsert("githubPullRequest", "Hello-World279147437",
                                        {{"properties.status", R"("closed")"}})});
}

namespace {
std::vector<std::string> hook_events(const std::string& listed) {
  rapidjson::Document d;
  d.Parse(listed.c_str());
  std::vector<std::string> out;
  for (const auto& e : d["events"].GetArray()) out.push_back(e.GetString());
  std::sort(out.begin(), out.end());
  return out;
}
// Ocean's hook events; a repository's hook (a personal account's) has no organization events.
const std::vector<std::string> kHookEvents = {"code_scanning_alert",
                                              "create",
                                              "delete",
                                              "dependabot_alert",
                                              "deployment",
                                              "deployment_status",
                                              "issues",
                                              "member",
                                              "membership",
                                              "organization",
                                              "pull_request",
                                              "push",
                                              "release",
                                              "repository",
                                              "secret_scanning_alert",
                                              "team",
                                              "workflow_run"};
const std::vector<std::string> kRepositoryHookEvents = {"code_scanning_alert",
                                                        "create",
                                                        "delete",
                                                        "dependabot_alert",
                                                        "deployment",
                                                        "deployment_status",
                                                        "issues",
                                                        "pull_request",
                                                        "push",
                                                        "release",
                                                        "repository",
                                                        "secret_scanning_alert",
                                                        "workflow_run"};
Options starting(const std::string& extra_config) {
  Options o;
  o.extra_yaml = "base_url: " + kBaseUrl + "/\n";  // a trailing slash is not doubled
  o.extra_config = extra_config;
  return o;
}
}  // namespace

TEST_CASE("github on_start: creates the organization webhook once, then leaves it alone") {
  FakeGithub github;
  { Rig rig(starting(", org: octo-org"), &github); }
  auto hooks = github.hooks("/orgs/octo-org/hooks");
  REQUIRE(hooks.size() == 1);
  rapidjson::Document hook;
  hook.Parse(hooks[0].c_str());
  CHECK(std::string(hook["config"]["url"].GetString()) == kHookUrl);
  CHECK(std::string(hook["config"]["content_type"].GetString()) == "json");
  CHECK(hook["active"].GetBool());
  CHECK(hook_events(hooks[0]) == kHookEvents);
  CHECK(github.hook_secret("/orgs/octo-org/hooks", 0) == kSecret);
  // Is octo-org a personal account (repository hooks) or an organization? Then its hooks.
  auto requests = github.server().requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[0].path == "/users/octo-org");
  CHECK(requests[1].method == "GET");
  CHECK(requests[1].query_param("per_page") == "100");
  CHECK(requests[2].method == "POST");
  CHECK(requests[2].header("authorization") == "Bearer " + kToken);

  github.server().clear_requests();
  { Rig again(starting(", org: octo-org"), &github); }
  CHECK(github.server().count("GET", "/orgs/octo-org/hooks") == 1);
  CHECK(github.server().count("POST", "/") == 0);
  CHECK(github.server().count("PATCH", "/") == 0);
  CHECK(github.hooks("/orgs/octo-org/hooks").size() == 1);
}

TEST_CASE("github on_start: a repository hook lacking events or the secret is patched") {
  FakeGithub github;
  github.add_hook("/repos/octo/app/hooks", "https://elsewhere.example/hook", {"push"});
  github.add_hook("/repos/octo/app/hooks", kHookUrl, {"push", "deployment"});
  Rig rig(starting(", repo: octo/app"), &github);
  CHECK(github.server().count("PATCH", "/repos/octo/app/hooks/2") == 1);
  CHECK(github.server().count("POST", "/") == 0);
  auto hooks = github.hooks("/repos/octo/app/hooks");
  REQUIRE(hooks.size() == 2);
  auto events = hook_events(hooks[1]);
  CHECK(std::find(events.begin(), events.end(), "deployment") != events.end());
  for (const auto& e : kRepositoryHookEvents)
    CHECK(std::find(events.begin(), events.end(), e) != events.end());
  CHECK(std::find(events.begin(), events.end(), "organization") == events.end());
  CHECK(github.hook_secret("/repos/octo/app/hooks", 1) == kSecret);
  CHECK(hook_events(hooks[0]) == std::vector<std::string>{"push"});  // not ours: untouched
}

TEST_CASE("github and jira: the shipped oceand.yaml integrations start with no secret set") {
  // The shipped integrations section as it is (empty secrets and tokens), its mapping paths made
  // absolute, on an in-process oceand with the bundled plugins.
  std::string yaml = read_file(fs::path(OCEAN_SOURCE_DIR) / "config" / "oceand.yaml");
  auto at = yaml.find("\nintegrations:\n");
  REQUIRE(at != std::string::npos);
  std::string integrations = yaml.substr(at + 15);
  for (size_t p = 0; (p = integrations.find("mapping: config/", p)) != std::string::npos;)
    integrations.replace(p + 9, 0, std::string(OCEAN_SOURCE_DIR) + "/");
  TestHost t({"github", "jira", "example"}, "base_url: http://localhost:8000\n", integrations);
  REQUIRE(t.host().plugins().wait_for_starts(std::chrono::seconds(5)));
  CHECK(t.get("/ready").status == 200);
  auto plugins = t.get("/admin/plugins").body;
  CHECK(plugins.find("\"github\"") != std::string::npos);
  CHECK(plugins.find("\"jira\"") != std::string::npos);
  HeaderList ping = {{"Content-Type", "application/json"}, {"X-GitHub-Event", "ping"}};
  CHECK(t.post("/integration/github/webhook", corpus("ping__payload.json"), ping).status == 200);
  CHECK(t.post("/integration/jira/webhook", R"({"webhookEvent": "comment_created"})").status ==
        200);
  REQUIRE(t.wait_processed(2));
  CHECK(t.processed("github", "unsupported") == 1);
  CHECK(t.processed("jira", "unsupported") == 1);
}

TEST_CASE("enriched_text splices the members in as enriched() adds them, or declines") {
  auto fetched = [](const std::string& text) {
    ocean_plugins::Fetched f;
    REQUIRE(ocean::parse_json(f.object, text));
    f.text = text;
    return f;
  };
  const std::initializer_list<std::pair<const char*, std::string>> extra = {
      {"__repository", "re\"po\\\x01"}, {"__organization", "org\xc3\xa9"}};
  for (std::string text :
       {std::string("{}"), std::string(" \n{ }\r\n"),
        std::string(R"({"a":1,"b":[{"c":"}"}],"d":"x\"}"})"),
        std::string("\t{\"number\": 7, \"nested\": {\"__repository\": 1}}  "),
        read_file(fs::path(OCEAN_CORPORA_DIR) / "github" / "pull_request__opened.payload.json")}) {
    CAPTURE(text.substr(0, 60));
    auto f = fetched(text);
    auto spliced = ocean_plugins::enriched_text(f, extra);
    REQUIRE(spliced.has_value());
    rapidjson::Document got;
    REQUIRE(ocean::parse_json(got, *spliced));
    CHECK(ocean::to_json(got) == ocean::to_json(ocean_plugins::enriched(f.object, extra)));
  }
  CHECK_FALSE(ocean_plugins::enriched_text(fetched(R"({"__organization":"x"})"), extra));
  CHECK_FALSE(ocean_plugins::enriched_text(fetched("[1]"), extra));
}

// ---- Every kind Ocean keeps live (issue 19)

namespace {

// A repository as GitHub puts it in payloads, with its default branch and organization.
const char* kRepo =
    R"({"id": 186853002, "name": "Hello-World", "full_name": "Codertocat/Hello-World",
        "default_branch": "main", "visibility": "public", "owner": {"login": "Codertocat"},
        "html_url": "https://github.com/Codertocat/Hello-World"})";
const std::string kRepoPath = "/repos/Codertocat/Hello-World";

std::string event(const std::string& members) {
  return "{" + members + R"(, "repository": )" + kRepo +
         R"(, "organization": {"login": "Codertocat"}, "sender": {"login": "Codertocat"}})";
}

// The default mapping plus a `file` resource (Ocean ships none: which files matter is the
// user's choice) and a workflow-run resource keeping only failures.
std::string mapping_with_files(const fs::path& dir) {
  std::string mapping = read_file(kMapping);
  mapping += R"(  - kind: file
    selector:
      query: "true"
      files:
        - path: "**/package.json"
    port:
      entity:
        mappings:
          identifier: ".repository.name + \"-\" + .path"
          title: ".name"
          blueprint: '"githubFile"'
          properties:
            packageName: ".content.name"
            branch: ".branch"
)";
  write_file(dir / "github.yaml", mapping);
  return (dir / "github.yaml").string();
}

}  // namespace

TEST_CASE("github: every kind Ocean keeps live, from its events to the catalog") {
  TempDir dir;
  Options o;
  o.mapping = mapping_with_files(dir.path());
  Rig rig(o);
  FakeGithub& api = rig.api;
  api.serve(kRepoPath, kRepo);

  {
    INFO("tag: create fetches the git ref, delete removes without a fetch");
    api.serve(kRepoPath + "/git/refs/tags/v1.0",
              R"({"ref": "refs/tags/v1.0", "object": {"sha": "aa11", "type": "commit"}})");
    rig.deliver("create", event(R"("ref": "v1.0", "ref_type": "tag", "master_branch": "main")"));
    Step step = rig.take();
    REQUIRE(step.api_calls.size() == 1);
    CHECK(step.api_calls[0].path == kRepoPath + "/git/refs/tags/v1.0");
    check_entities(step.entities, {upsert("githubTag", "Hello-World-v1.0",
                                          {{"properties.commitSha", R"("aa11")"},
                                           {"relations.repository", R"("Hello-World")"}})});
    rig.deliver("delete", event(R"("ref": "v1.0", "ref_type": "tag")"));
    step = rig.take();
    CHECK(step.api_calls.empty());
    check_entities(step.entities, {removal("githubTag", "Hello-World-v1.0")});
  }

  {
    INFO("branch: created, then deleted by a push with deleted: true");
    api.serve(kRepoPath + "/branches/feature-x",
              R"({"name": "feature-x", "commit": {"sha": "bb22"}, "protected": false,
                  "_links": {"html": "https://github.com/Codertocat/Hello-World/tree/feature-x"}})");
    rig.deliver("create", event(R"("ref": "feature-x", "ref_type": "branch")"));
    check_entities(
        rig.take().entities,
        {upsert("githubBranch", "Hello-World-feature-x",
                {{"properties.isDefault", "false"}, {"properties.commitSha", R"("bb22")"}})});
    rig.deliver("push", event(R"("ref": "refs/heads/feature-x", "before": "bb22",
        "after": "0000000000000000000000000000000000000000", "deleted": true, "commits": [])"));
    Step step = rig.take();
    // The repository is refreshed by every push; the branch leaves without a fetch.
    for (const auto& call : step.api_calls) CHECK(call.path == kRepoPath);
    check_entities(step.entities, {removal("githubBranch", "Hello-World-feature-x"),
                                   upsert("githubRepository", "Hello-World")});
  }

  {
    INFO("push to main: workflows changed and removed, files matching the selector, the branch");
    api.serve(kRepoPath + "/branches/main",
              R"({"name": "main", "commit": {"sha": "cc33"}, "protected": true})");
    api.serve(kRepoPath + "/actions/workflows/ci.yml",
              R"({"id": 161335, "name": "CI", "path": ".github/workflows/ci.yml",
                  "state": "active", "html_url": "https://github.com/x"})");
    api.serve(kRepoPath + "/contents/svc/package.json",
              R"({"type": "file", "path": "svc/package.json", "sha": "dd44",
                  "content": ")" +
                  ocean::base64_encode(R"({"name": "svc-api"})") + R"("})");
    rig.deliver("push", event(R"("ref": "refs/heads/main", "before": "cc32", "after": "cc33",
        "commits": [{"id": "cc33", "added": [], "modified": [".github/workflows/ci.yml",
        "svc/package.json", "README.md"], "removed": [".github/workflows/old.yml"]}])"));
    Step step = rig.take();
    bool contents_on_main = false;
    for (const auto& call : step.api_calls)
      if (call.path == kRepoPath + "/contents/svc/package.json")
        contents_on_main = call.query_param("ref") == "main";
    CHECK(contents_on_main);
    check_entities(step.entities,
                   {upsert("githubRepository", "Hello-World"),
                    upsert("githubBranch", "Hello-World-main", {{"properties.isDefault", "true"}}),
                    upsert("githubWorkflow", "Hello-World-ci.yml",
                           {{"title", R"("CI")"}, {"properties.status", R"("active")"}}),
                    removal("githubWorkflow", "Hello-World-old.yml"),
                    upsert("githubFile", "Hello-World-svc/package.json",
                           {{"properties.packageName", R"("svc-api")"}})});
  }

  {
    INFO("deployment: the deployment and its environment; then a deployment status");
    api.serve(kRepoPath + "/deployments/42",
              R"({"id": 42, "environment": "production", "task": "deploy", "ref": "main",
                  "sha": "cc33", "creator": {"login": "octocat"}})");
    api.serve(kRepoPath + "/environments/production",
              R"({"id": 7, "name": "production", "html_url": "https://github.com/e"})");
    rig.deliver("deployment", event(R"("action": "created", "deployment": {"id": 42,
        "environment": "production", "task": "deploy"})"));
    check_entities(
        rig.take().entities,
        {upsert("githubDeployment", "Hello-World-42",
                {{"title", R"("deploy to production")"}, {"properties.creator", R"("octocat")"}}),
         upsert("githubEnvironment", "Hello-World-production")});
    api.serve(kRepoPath + "/deployments/42/statuses/9",
              R"({"id": 9, "state": "success", "environment": "production"})");
    rig.deliver("deployment_status", event(R"("action": "created", "deployment_status":
        {"id": 9, "state": "success"}, "deployment": {"id": 42, "environment": "production"})"));
    check_entities(rig.take().entities,
                   {upsert("githubDeploymentStatus", "Hello-World-42-9",
                           {{"properties.state", R"("success")"},
                            {"relations.deployment", R"("Hello-World-42")"}})});
  }

  {
    INFO("security alerts: created upserts, an action leaving the kept states deletes");
    api.serve(
        kRepoPath + "/dependabot/alerts/3",
        R"({"number": 3, "state": "open", "security_advisory": {"summary": "Prototype pollution",
                  "severity": "high"}, "dependency": {"package": {"name": "lodash",
                  "ecosystem": "npm"}, "manifest_path": "package.json"}})");
    api.serve(kRepoPath + "/code-scanning/alerts/4",
              R"({"number": 4, "state": "open", "rule": {"name": "sql-injection",
                  "severity": "error"}, "tool": {"name": "CodeQL"}})");
    api.serve(kRepoPath + "/secret-scanning/alerts/5",
              R"({"number": 5, "state": "open", "secret_type": "github_token",
                  "secret_type_display_name": "GitHub Token"})");
    rig.deliver("dependabot_alert", event(R"("action": "created", "alert": {"number": 3})"));
    rig.deliver("code_scanning_alert", event(R"("action": "created", "alert": {"number": 4})"));
    rig.deliver("secret_scanning_alert", event(R"("action": "created", "alert": {"number": 5})"));
    Step step = rig.take();
    REQUIRE(step.api_calls.size() == 3);
    CHECK(step.api_calls[2].query_param("hide_secret") == "true");
    check_entities(
        step.entities,
        {upsert("githubDependabotAlert", "Hello-World-3",
                {{"properties.severity", R"("high")"}, {"properties.package", R"("lodash")"}}),
         upsert("githubCodeScanningAlert", "Hello-World-4", {{"properties.tool", R"("CodeQL")"}}),
         upsert("githubSecretScanningAlert", "Hello-World-5",
                {{"properties.secretType", R"("github_token")"}})});
    rig.deliver("dependabot_alert", event(R"("action": "fixed", "alert": {"number": 3})"));
    rig.deliver("code_scanning_alert", event(R"("action": "fixed", "alert": {"number": 4})"));
    rig.deliver("secret_scanning_alert", event(R"("action": "resolved", "alert": {"number": 5})"));
    step = rig.take();
    CHECK(step.api_calls.empty());
    check_entities(step.entities, {removal("githubDependabotAlert", "Hello-World-3"),
                                   removal("githubCodeScanningAlert", "Hello-World-4"),
                                   removal("githubSecretScanningAlert", "Hello-World-5")});
  }

  {
    INFO("team: created with its members, a membership refreshes it, deleted removes it");
    api.serve("/orgs/Codertocat/teams/justice-league",
              R"({"id": 1, "slug": "justice-league", "name": "Justice League",
                  "privacy": "closed"})");
    api.serve("/orgs/Codertocat/teams/justice-league/members",
              R"([{"login": "octocat", "node_id": "MDQ6VXNlcjE=", "site_admin": false}])");
    std::string team = R"("team": {"id": 1, "slug": "justice-league", "name": "Justice League"})";
    rig.deliver("team", event(R"("action": "created", )" + team));
    check_entities(rig.take().entities, {upsert("githubTeam", "justice-league",
                                                {{"properties.members", R"(["octocat"])"},
                                                 {"properties.privacy", R"("closed")"}})});
    api.serve("/orgs/Codertocat/teams/justice-league/members",
              R"([{"login": "octocat"}, {"login": "hubot"}])");
    api.serve("/orgs/Codertocat/teams/justice-league/repos", R"([{"name": "Hello-World"}])");
    rig.deliver("membership", event(R"("action": "added", "scope": "team",
        "member": {"login": "hubot", "id": 2}, )" +
                                    team));
    check_entities(rig.take().entities, {upsert("githubTeam", "justice-league",
                                                {{"properties.members", R"(["octocat","hubot"])"}}),
                                         upsert("githubCollaborator", "Hello-World-hubot")});
    rig.deliver("team", event(R"("action": "deleted", )" + team));
    check_entities(rig.take().entities, {removal("githubTeam", "justice-league")});
  }

  {
    INFO("user: member_added fetches the user, member_removed deletes");
    api.serve("/users/octocat",
              R"({"login": "octocat", "name": "The Octocat", "email": "octo@example.com"})");
    std::string membership = R"("membership": {"state": "active", "role": "member",
        "user": {"login": "octocat", "id": 1}})";
    rig.deliver("organization", event(R"("action": "member_added", )" + membership));
    check_entities(
        rig.take().entities,
        {upsert("githubUser", "octocat",
                {{"title", R"("The Octocat")"}, {"properties.email", R"("octo@example.com")"}})});
    rig.deliver("organization", event(R"("action": "member_removed", )" + membership));
    check_entities(rig.take().entities, {removal("githubUser", "octocat")});
  }

  {
    INFO("collaborator: member added (and the repository refreshed), then removed");
    api.serve(kRepoPath + "/collaborators/octocat/permission",
              R"({"permission": "write", "role_name": "write",
                  "user": {"login": "octocat", "id": 1, "role_name": "write"}})");
    std::string member = R"("member": {"login": "octocat", "id": 1})";
    rig.deliver("member", event(R"("action": "added", )" + member));
    check_entities(
        rig.take().entities,
        {upsert("githubCollaborator", "Hello-World-octocat",
                {{"properties.roleName", R"("write")"}, {"relations.user", R"("octocat")"}}),
         upsert("githubRepository", "Hello-World")});
    rig.deliver("member", event(R"("action": "removed", )" + member));
    check_entities(rig.take().entities, {removal("githubCollaborator", "Hello-World-octocat"),
                                         upsert("githubRepository", "Hello-World")});
  }
  CHECK(rig.outcome("ok") == rig.finished());
}

namespace {

// A fresh 2048-bit RSA key pair as PEM: the private half for the plugin, the public for the fake.
std::pair<std::string, std::string> rsa_key_pair() {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  REQUIRE(key != nullptr);
  auto pem = [&](bool private_half) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (private_half)
      PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    else
      PEM_write_bio_PUBKEY(bio, key);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(len));
    BIO_free(bio);
    return out;
  };
  auto pair = std::pair{pem(true), pem(false)};
  EVP_PKEY_free(key);
  return pair;
}

}  // namespace

TEST_CASE(
    "github App: a JWT the fake verifies, installation tokens refreshed before expiry, "
    "hooks per installation") {
  auto [private_pem, public_pem] = rsa_key_pair();
  FakeGithub github;
  github.require_app("424242", public_pem,
                     R"([{"id": 11, "account": {"login": "Codertocat", "type": "Organization"}},
                         {"id": 12, "account": {"login": "octo-personal", "type": "User"}},
                         {"id": 13, "account": {"login": "gone-org"}, "suspended_at": "2024-01-01T00:00:00Z"}])");
  github.serve("/installation/repositories",
               R"({"total_count": 1, "repositories": [{"full_name": "octo-personal/dotfiles"}]})");
  // A token inside the five-minute margin: the plugin must fetch another for its next call.
  github.set_token_lifetime(std::chrono::seconds(240));
  // The key as Ocean accepts it too: the PEM base64-encoded once more.
  Options o = starting(", app_id: \"424242\", app_private_key: \"" +
                       ocean::base64_encode(private_pem) + "\"");
  o.token = "";
  Rig rig(o, &github);
  INFO("JWT refused because: " << github.jwt_problem());
  CHECK(github.jwt_problem().empty());
  // Hooks: the organization installation's, and one per repository of the personal account.
  REQUIRE(github.hooks("/orgs/Codertocat/hooks").size() == 1);
  CHECK(hook_events(github.hooks("/orgs/Codertocat/hooks")[0]) == kHookEvents);
  REQUIRE(github.hooks("/repos/octo-personal/dotfiles/hooks").size() == 1);
  CHECK(hook_events(github.hooks("/repos/octo-personal/dotfiles/hooks")[0]) ==
        kRepositoryHookEvents);
  CHECK(github.server().count("POST", "/app/installations/13") == 0);  // suspended

  size_t issued = github.tokens_issued();
  std::string body = corpus("pull_request__opened.payload.json");
  github.serve_payload(body);
  rig.take();
  rig.deliver("pull_request", body);
  Step step = rig.take();
  REQUIRE(step.api_calls.size() == 2);
  CHECK(step.api_calls[0].path == "/app/installations/11/access_tokens");
  CHECK(step.api_calls[1].path == "/repos/Codertocat/Hello-World/pulls/2");
  CHECK(step.api_calls[1].header("authorization").rfind("Bearer ghs_installation_", 0) == 0);
  CHECK(github.tokens_issued() == issued + 1);  // the short-lived one was not reused
  CHECK(rig.outcome("ok") == 1);

  // A token with an hour left is reused.
  github.set_token_lifetime(std::chrono::seconds(3600));
  rig.deliver("pull_request", body);
  rig.deliver("pull_request", body);
  CHECK(github.tokens_issued() == issued + 2);
  CHECK(rig.outcome("ok") == 3);
  check_entities(rig.take().entities, {upsert("githubPullRequest", "Hello-World279147437"),
                                       upsert("githubPullRequest", "Hello-World279147437")});
}

TEST_CASE("github: config checks name what is wrong with a GitHub App's settings") {
  ocean::testing::FakeHost host;
  host.load_library(plugin_file("github").string());
  host.set_config("g", "githubAppId", "1");
  CHECK(host.validate_config("g") == "a GitHub App needs both app_id and app_private_key");
  host.set_config("g", "githubAppPrivateKey", "not a key");
  CHECK(host.validate_config("g") ==
        "app_private_key is not an RSA private key in PEM form (GitHub's .pem file, or it "
        "base64-encoded)");
  host.set_config("g", "githubAppPrivateKey", rsa_key_pair().first);
  CHECK(host.validate_config("g").empty());
}

TEST_CASE("github: 32 workers share one rate-limit budget: no call past it, no event lost") {
  FakeGithub github;
  // 100 calls per 3-second window: longer than the host blocks a worker (2 s), so calls are also
  // held back and their events wait for the window without spending a retry.
  github.limit_rate(100, 3);
  Options o;
  o.extra_yaml += "event_workers_count: 32\n";
  Rig rig(o, &github);
  const int events = 250;
  rapidjson::Document pr;
  pr.Parse(corpus("pull_request__opened.payload.json").c_str());
  double before = rig.finished();
  for (int n = 1; n <= events; ++n) {
    pr["pull_request"]["number"].SetInt(n);
    pr["pull_request"]["id"].SetInt(1000 + n);
    std::string body = json_text(pr);
    github.serve_payload(body);
    REQUIRE(rig.send("pull_request", body).status == 200);
  }
  REQUIRE(wait_until([&] { return rig.finished() >= before + events; }, std::chrono::seconds(60)));
  CHECK(github.calls_over_budget() == 0);
  CHECK(github.calls_answered() == events);  // each event's one fetch, none wasted
  CHECK(rig.outcome("ok") == events);
  CHECK(rig.take().entities.upserts.size() == events);
  // The budget held calls back rather than letting workers find the limit one by one.
  CHECK(rig.host.host().metrics().total("oceand_plugin_rate_limit_held_total") > 0);
  CHECK(rig.host.host().metrics().total("oceand_task_rate_limit_waits_total") > 0);
  CHECK(rig.host.host().metrics().total("oceand_task_retries_total") == 0);
}

TEST_CASE("github on_start: existing hooks are read page by page; skip_webhook_patching") {
  FakeGithub github;
  github.page_hooks(2);
  for (int i = 0; i < 4; ++i)
    github.add_hook("/orgs/octo-org/hooks", "https://elsewhere.example/" + std::to_string(i),
                    {"push"});
  github.add_hook("/orgs/octo-org/hooks", kHookUrl, {"push"});  // on the third page
  { Rig rig(starting(", org: octo-org, skip_webhook_patching: \"true\""), &github); }
  CHECK(github.server().count("GET", "/orgs/octo-org/hooks") == 3);
  CHECK(github.server().count("POST", "/orgs") == 0);   // found, not duplicated
  CHECK(github.server().count("PATCH", "/orgs") == 0);  // differs, but patching is skipped
  github.server().clear_requests();
  { Rig rig(starting(", org: octo-org"), &github); }
  CHECK(github.server().count("PATCH", "/orgs/octo-org/hooks/5") == 1);
  CHECK(hook_events(github.hooks("/orgs/octo-org/hooks")[4]).size() == kHookEvents.size());
}

// ---- Ocean's repository scope, folders and YAML files (issue 19)

namespace {

std::string repository_json(const std::string& name, const std::string& visibility,
                            const std::string& topics) {
  return R"({"id": )" + std::to_string(std::hash<std::string>{}(name) % 1000000 + 1) +
         R"(, "name": ")" + name + R"(", "full_name": "Codertocat/)" + name +
         R"(", "default_branch": "main", "visibility": ")" + visibility + R"(", "private": )" +
         (visibility == "private" ? "true" : "false") + R"(, "topics": [)" + topics +
         R"(], "owner": {"login": "Codertocat"}})";
}

std::string pull_request_event(const std::string& repository, int number) {
  return R"({"action": "opened", "number": )" + std::to_string(number) +
         R"(, "pull_request": {"id": )" + std::to_string(number) + R"(, "number": )" +
         std::to_string(number) + R"(, "state": "open", "title": "t"}, "repository": )" +
         repository + R"(, "organization": {"login": "Codertocat"}})";
}

}  // namespace

TEST_CASE("github: repositoryType and repoSearch scope events as Ocean's selectors do") {
  TempDir dir;
  write_file(dir.path() / "scoped.yaml", R"(repositoryType: public
resources:
  - kind: repository
    selector: {query: "true"}
    port:
      entity:
        mappings: {identifier: .name, blueprint: '"githubRepository"',
                   properties: {visibility: .visibility}}
  - kind: pull-request
    selector: {query: "true", states: [open], repoSearch: {query: "topic:platform"}}
    port:
      entity:
        mappings: {identifier: '.__repository + "-" + (.number | tostring)',
                   blueprint: '"githubPullRequest"'}
)");
  Options o;
  o.mapping = (dir.path() / "scoped.yaml").string();
  Rig rig(o);
  FakeGithub& api = rig.api;
  const std::string platform = repository_json("platform-api", "public", R"("platform")");
  const std::string other = repository_json("platform-docs", "public", R"("docs")");
  const std::string secret = repository_json("platform-vault", "private", R"("platform")");
  for (const auto& repo : {platform, other, secret}) api.add_searchable(repo);
  api.serve("/repos/Codertocat/platform-api", platform);
  api.serve("/repos/Codertocat/platform-api/pulls/7",
            R"({"id": 7, "number": 7, "state": "open", "title": "t"})");
  api.serve("/repos/Codertocat/platform-docs/pulls/8",
            R"({"id": 8, "number": 8, "state": "open", "title": "t"})");

  {
    INFO("a public repository is kept; made private, it leaves the catalog without a fetch");
    rig.deliver("repository", R"({"action": "edited", "repository": )" + platform + "}");
    Step step = rig.take();
    check_entities(step.entities, {upsert("githubRepository", "platform-api",
                                          {{"properties.visibility", R"("public")"}})});
    rig.deliver("repository", R"({"action": "privatized", "repository": )" +
                                  repository_json("platform-api", "private", "") + "}");
    step = rig.take();
    CHECK(step.api_calls.empty());
    check_entities(step.entities, {removal("githubRepository", "platform-api")});
  }

  {
    INFO("repoSearch: a repository the query finds is handled, after one targeted search");
    rig.deliver("pull_request", pull_request_event(platform, 7));
    Step step = rig.take();
    REQUIRE(step.api_calls.size() == 2);
    CHECK(step.api_calls[0].path == "/search/repositories");
    CHECK(api.searches().back() == "org:Codertocat topic:platform platform-api in:name");
    CHECK(step.api_calls[1].path == "/repos/Codertocat/platform-api/pulls/7");
    check_entities(step.entities, {upsert("githubPullRequest", "platform-api-7")});
    // The answer is kept a minute (GitHub allows 30 searches a minute): the next event of the
    // repository only fetches.
    rig.deliver("pull_request", pull_request_event(platform, 7));
    step = rig.take();
    REQUIRE(step.api_calls.size() == 1);
    CHECK(step.api_calls[0].path == "/repos/Codertocat/platform-api/pulls/7");
    CHECK(api.searches().size() == 1);
  }

  {
    INFO("repoSearch: a repository the query does not find changes nothing (its name matches)");
    rig.deliver("pull_request", pull_request_event(other, 8));
    Step step = rig.take();
    REQUIRE(step.api_calls.size() == 1);
    CHECK(step.api_calls[0].path == "/search/repositories");
    CHECK(step.entities.upserts.empty());
    CHECK(step.entities.deletions.empty());
  }

  {
    INFO("repositoryType: a private repository's events are not even searched for");
    rig.deliver("pull_request", pull_request_event(secret, 9));
    Step step = rig.take();
    CHECK(step.api_calls.empty());
    CHECK(step.entities.upserts.empty());
    CHECK(step.entities.deletions.empty());
  }
  CHECK(rig.outcome("ok") == rig.finished());
}

TEST_CASE("github: folder: a push updates the selected folders it touched, as Ocean's") {
  TempDir dir;
  write_file(dir.path() / "folders.yaml", R"(resources:
  - kind: folder
    selector:
      query: "true"
      folders:
        - path: "services/*"
          repos: [{name: Hello-World, branch: main}]
        - path: "*"
          organization: someone-else
          repos: [{name: Hello-World}]
    port:
      entity:
        mappings:
          identifier: '.__repository.name + "/" + .folder.path'
          blueprint: '"githubFolder"'
          properties: {branch: .__branch, organization: .__organization,
                       repositoryUrl: .__repository.html_url, sha: .folder.sha}
)");
  Options o;
  o.mapping = (dir.path() / "folders.yaml").string();
  Rig rig(o);
  FakeGithub& api = rig.api;
  api.serve(kRepoPath, kRepo);
  api.serve(kRepoPath + "/git/trees/main", R"({"sha": "t1", "truncated": false, "tree": [
      {"path": "services", "type": "tree", "sha": "s0"},
      {"path": "services/api", "type": "tree", "sha": "s1"},
      {"path": "services/api/main.go", "type": "blob", "sha": "b1"},
      {"path": "services/web", "type": "tree", "sha": "s2"},
      {"path": "services/.hidden", "type": "tree", "sha": "s3"},
      {"path": "services/.hidden/x.txt", "type": "blob", "sha": "b3"},
      {"path": "docs", "type": "tree", "sha": "s4"}]})");

  rig.deliver("push", event(R"("ref": "refs/heads/main", "before": "aa", "after": "bb",
      "commits": [{"id": "bb", "added": ["services/.hidden/x.txt"],
                   "modified": ["services/api/main.go", "docs/readme.md"],
                   "removed": ["services/web/old.txt"]}])"));
  Step step = rig.take();
  bool recursive = false;
  for (const auto& call : step.api_calls)
    if (call.path == kRepoPath + "/git/trees/main")
      recursive = call.query_param("recursive") == "true";
  CHECK(recursive);
  // services/web only lost a file, docs is not selected, services itself does not match the glob.
  std::vector<ExpectedEntity> want = {
      upsert("githubFolder", "Hello-World/services/api",
             {{"properties.branch", R"("main")"},
              {"properties.organization", R"("Codertocat")"},
              {"properties.repositoryUrl", R"("https://github.com/Codertocat/Hello-World")"},
              {"properties.sha", R"("s1")"}}),
      upsert("githubFolder", "Hello-World/services/.hidden", {{"properties.sha", R"("s3")"}})};
  check_entities(step.entities, want);
  CHECK(step.entities.deletions.empty());

  INFO("a push to a branch no entry names asks GitHub nothing for folders");
  rig.deliver("push", event(R"("ref": "refs/heads/dev", "before": "aa", "after": "cc",
      "commits": [{"id": "cc", "added": [], "modified": ["services/api/main.go"], "removed": []}])"));
  step = rig.take();
  CHECK(step.api_calls.empty());
  CHECK(step.entities.upserts.empty());
  CHECK(rig.outcome("ok") == rig.finished());
}

TEST_CASE("github: file contents parsed as Ocean's: JSON and YAML by extension, else text") {
  TempDir dir;
  write_file(dir.path() / "files.yaml", R"(resources:
  - kind: file
    selector:
      query: "true"
      files: [{path: "deploy/*"}]
    port:
      entity:
        mappings: {identifier: .path, blueprint: '"githubFile"', properties: {content: .content}}
)");
  Options o;
  o.mapping = (dir.path() / "files.yaml").string();
  Rig rig(o);
  FakeGithub& api = rig.api;
  auto serve_file = [&](const std::string& path, const std::string& text) {
    api.serve(kRepoPath + "/contents/" + path, R"({"type": "file", "path": ")" + path +
                                                   R"(", "content": ")" +
                                                   ocean::base64_encode(text) + R"("})");
  };
  serve_file("deploy/app.yaml", R"(replicas: 2
name: svc
replicas: 3
ratio: 0.5
hex: 0x1F
enabled: yes
on: true
nothing: ~
empty:
quoted: "42"
tags: [a, "1", 2.5e1]
when: 2024-01-02
nested: {a: &anchor {b: [1, null]}, c: *anchor}
)");
  serve_file("deploy/app.json", R"({"name": "svc", "replicas": 3})");
  serve_file("deploy/notes.txt", R"({"looks": "like json"})");
  serve_file("deploy/two.yml", "a: 1\n---\nb: 2\n");
  serve_file("deploy/broken.yaml", "a: [1, 2\n");
  // Nine levels of nine aliases: 9^9 values from a few hundred bytes.
  std::string laughs = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 10; ++i) {
    std::string prev = "*l" + std::to_string(i - 1);
    laughs += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [" + prev;
    for (int k = 0; k < 8; ++k) laughs += ", " + prev;
    laughs += "]\n";
  }
  serve_file("deploy/laughs.yaml", laughs);
  // An alias inside its own anchor, a map as a key, and what makes yaml-cpp's LoadAll loop forever.
  serve_file("deploy/self.yaml", "a: &a [1, *a]\n");
  serve_file("deploy/mapkey.yaml", "{a: 1}: x\n");
  serve_file("deploy/comma.yaml", ", x]\n");

  rig.deliver("push", event(R"("ref": "refs/heads/main", "before": "aa", "after": "bb",
      "commits": [{"id": "bb", "modified": ["deploy/app.yaml", "deploy/app.json",
      "deploy/notes.txt", "deploy/two.yml", "deploy/broken.yaml", "deploy/laughs.yaml",
      "deploy/self.yaml", "deploy/mapkey.yaml", "deploy/comma.yaml"]}])"));
  Step step = rig.take();
  check_entities(
      step.entities,
      {upsert(
           "githubFile", "deploy/app.yaml",
           {{"properties.content",
             R"({"name":"svc","replicas":3,"ratio":0.5,"hex":31,"enabled":"yes","on":true,"nothing":null,"empty":null,)"
             R"("quoted":"42","tags":["a","1",25.0],"when":"2024-01-02",)"
             R"("nested":{"a":{"b":[1,null]},"c":{"b":[1,null]}}})"}}),
       upsert("githubFile", "deploy/app.json",
              {{"properties.content", R"({"name":"svc","replicas":3})"}}),
       upsert("githubFile", "deploy/notes.txt",
              {{"properties.content", R"("{\"looks\": \"like json\"}")"}}),
       upsert("githubFile", "deploy/two.yml", {{"properties.content", R"("a: 1\n---\nb: 2\n")"}}),
       upsert("githubFile", "deploy/broken.yaml", {{"properties.content", R"("a: [1, 2\n")"}}),
       upsert("githubFile", "deploy/laughs.yaml", {}),
       upsert("githubFile", "deploy/self.yaml", {{"properties.content", R"("a: &a [1, *a]\n")"}}),
       upsert("githubFile", "deploy/mapkey.yaml", {{"properties.content", R"("{a: 1}: x\n")"}}),
       upsert("githubFile", "deploy/comma.yaml", {{"properties.content", R"(", x]\n")"}})});
  for (const auto& u : step.entities.upserts)
    if (u.identifier == "deploy/laughs.yaml") {
      // Left as text: the conversion stopped instead of expanding 387 million values.
      rapidjson::Document d;
      d.Parse(u.json.c_str());
      const rapidjson::Value* content = at_path(d, "properties.content");
      REQUIRE(content != nullptr);
      CHECK(content->IsString());
    }
  CHECK(rig.outcome("ok") == rig.finished());
}

TEST_CASE("github: branch protectionRules add the protection, {} when there is none") {
  TempDir dir;
  write_file(dir.path() / "branches.yaml", R"(resources:
  - kind: branch
    selector: {query: "true", protectionRules: true}
    port:
      entity:
        mappings:
          identifier: '.__repository + "-" + .name'
          blueprint: '"githubBranch"'
          properties: {rules: .__protection_rules, isDefault: .__is_default_branch}
)");
  Options o;
  o.mapping = (dir.path() / "branches.yaml").string();
  Rig rig(o);
  FakeGithub& api = rig.api;
  api.serve(kRepoPath + "/branches/main", R"({"name": "main", "protected": true})");
  api.serve(kRepoPath + "/branches/main/protection",
            R"({"required_status_checks": {"strict": true, "contexts": ["ci/build"]},
                "enforce_admins": {"enabled": true}})");
  api.serve(kRepoPath + "/branches/feature-x", R"({"name": "feature-x", "protected": false})");
  rig.deliver("create", event(R"("ref": "main", "ref_type": "branch")"));
  rig.deliver("create", event(R"("ref": "feature-x", "ref_type": "branch")"));
  Step step = rig.take();
  check_entities(step.entities,
                 {upsert("githubBranch", "Hello-World-main",
                         {{"properties.rules",
                           R"({"required_status_checks": {"strict": true, "contexts": ["ci/build"]},
                    "enforce_admins": {"enabled": true}})"},
                          {"properties.isDefault", "true"}}),
                  upsert("githubBranch", "Hello-World-feature-x",
                         {{"properties.rules", "{}"}, {"properties.isDefault", "false"}})});
  CHECK(rig.outcome("ok") == rig.finished());
}

TEST_CASE("github: includedFiles and relations (sbom, pages, customProperties), as Ocean's") {
  TempDir dir;
  write_file(dir.path() / "included.yaml", R"(resources:
  - kind: repository
    selector:
      query: "true"
      includedFiles: [README.md, docs/missing.md]
      includedRelations: {sbom: true, pages: true, customProperties: true}
    port:
      entity:
        mappings: {identifier: .name, blueprint: '"githubRepository"',
                   properties: {readme: '.__includedFiles["README.md"]',
                                missing: '.__includedFiles["docs/missing.md"]',
                                spdx: .__sbom.spdxVersion, pages: .__pages,
                                tier: .custom_properties.tier}}
  - kind: folder
    selector:
      query: "true"
      includedFiles: [CODEOWNERS]
      folders:
        - path: "services/*"
          repos: [{name: Hello-World, branch: main}]
          includedFiles: [README.md, /services/api/owners.txt]
    port:
      entity:
        mappings:
          identifier: '.folder.path'
          blueprint: '"githubFolder"'
          properties: {owners: '.__includedFiles.CODEOWNERS',
                       readme: '.folder.__includedFiles["README.md"]',
                       file: '.folder.__includedFiles["/services/api/owners.txt"]'}
)");
  Options o;
  o.mapping = (dir.path() / "included.yaml").string();
  Rig rig(o);
  FakeGithub& api = rig.api;
  auto serve_file = [&](const std::string& path, const std::string& text) {
    api.serve(kRepoPath + "/contents/" + path,
              R"({"type": "file", "encoding": "base64", "path": ")" + path + R"(", "content": ")" +
                  ocean::base64_encode(text) + R"("})");
  };
  api.serve(kRepoPath, kRepo);
  serve_file("README.md", "# Hello World\n");
  serve_file("CODEOWNERS", "* @octocat\n");
  serve_file("services/api/README.md", "# API\n");
  serve_file("services/api/owners.txt", "platform-team\n");
  api.serve(kRepoPath + "/dependency-graph/sbom",
            R"({"sbom": {"spdxVersion": "SPDX-2.3", "packages": []}})");
  api.serve(
      kRepoPath + "/properties/values",
      R"([{"property_name": "tier", "value": "gold"}, {"property_name": "x", "value": null}])");
  // No /pages: GitHub answers 404 for a repository without Pages.
  api.serve(kRepoPath + "/git/trees/main", R"({"tree": [
      {"path": "services", "type": "tree"}, {"path": "services/api", "type": "tree"},
      {"path": "services/api/main.go", "type": "blob"}, {"path": "services/web", "type": "tree"},
      {"path": "services/web/app.js", "type": "blob"}]})");

  rig.deliver("repository", R"({"action": "edited", "repository": )" + std::string(kRepo) + "}");
  Step step = rig.take();
  for (const auto& call : step.api_calls)
    if (call.path.find("/contents/") != std::string::npos) CHECK(call.query_param("ref") == "main");
  check_entities(step.entities, {
                                    upsert("githubRepository", "Hello-World",
                                           {{"properties.readme", R"("# Hello World\n")"},
                                            {"properties.missing", "null"},
                                            {"properties.spdx", R"("SPDX-2.3")"},
                                            {"properties.pages", "{}"},
                                            {"properties.tier", R"("gold")"}}),
                                });

  rig.deliver("push", event(R"("ref": "refs/heads/main", "before": "aa", "after": "bb",
      "commits": [{"id": "bb", "modified": ["services/api/main.go", "services/web/app.js"]}])"));
  step = rig.take();
  check_entities(step.entities, {upsert("githubFolder", "services/api",
                                        {{"properties.owners", R"("* @octocat\n")"},
                                         {"properties.readme", R"("# API\n")"},
                                         {"properties.file", R"("platform-team\n")"}}),
                                 upsert("githubFolder", "services/web",
                                        {{"properties.owners", R"("* @octocat\n")"},
                                         {"properties.readme", "null"},
                                         {"properties.file", "null"}}),
                                 // (every push refreshes its repository too)
                                 upsert("githubRepository", "Hello-World")});
  // Both folders carry CODEOWNERS: one event reads it once.
  size_t codeowners = 0;
  for (const auto& call : step.api_calls)
    codeowners += call.path == kRepoPath + "/contents/CODEOWNERS";
  CHECK(codeowners == 1);
  CHECK(rig.outcome("ok") == rig.finished());
}
