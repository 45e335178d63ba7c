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
const std::vector<std::string> kHookEvents = {"issues",  "pull_request", "push",
                                              "release", "repository",   "workflow_run"};
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
  auto requests = github.server().requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].method == "GET");
  CHECK(requests[1].method == "POST");
  CHECK(requests[1].header("authorization") == "Bearer " + kToken);

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
  for (const auto& e : kHookEvents)
    CHECK(std::find(events.begin(), events.end(), e) != events.end());
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
