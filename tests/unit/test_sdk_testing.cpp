// The bundled plugins' unit tests, on the SDK's fake host (sdk/include/ocean/testing.hpp): each
// built plugin file is loaded as oceand loads it, but with no oceand around it — config, HTTP
// answers, logs and counters are the test's. This is how a plugin author tests a plugin.
#include <doctest/doctest.h>

#include "ocean/crypto.hpp"
#include "ocean/testing.hpp"
#include "support/test_host.hpp"

using ocean::testing::Answer;
using ocean::testing::Event;
using ocean::testing::FakeHost;
using ocean::testing::Said;
using oceand::test::plugin_file;
using oceand::test::read_file;

namespace {

const char* kExampleResource = R"({"kind":"example","selector":{"query":"true"}})";
const char* kPullRequests = R"({"kind":"pull-request","selector":{"query":"true"}})";

std::string corpus(const std::string& name) {
  return read_file(std::filesystem::path(OCEAN_CORPORA_DIR) / "github" / name);
}

}  // namespace

TEST_CASE("fake host: the example plugin, signed and unsigned, upserted and deleted") {
  FakeHost host;
  const auto& d = host.load_library(plugin_file("example").string());
  CHECK(std::string(d.name) == "example");
  // No secret configured: every request is taken.
  auto out = host.run("ExampleProcessor", {.integration = "ex", .payload = R"({"id": 7})"},
                      kExampleResource);
  CHECK(out.should_process == Said::yes);
  CHECK(out.kinds == std::vector<std::string>{"example"});
  CHECK(out.authenticated == Said::yes);
  CHECK(out.status == OCEAN_STATUS_OK);
  CHECK(out.updated == std::vector<std::string>{R"({"id":7})"});
  CHECK(host.logged("example event 7 for kind example"));

  host.set_config("ex", "webhook_secret", "s3cret");
  const std::string body = R"({"id": 8, "action": "deleted"})";
  out = host.run("ExampleProcessor", {.integration = "ex", .payload = body}, kExampleResource);
  CHECK(out.authenticated == Said::no);  // unsigned
  CHECK_FALSE(out.handled);
  Event signed_event{.integration = "ex", .payload = body};
  signed_event.headers = {
      {"x-hub-signature-256", "sha256=" + ocean::hmac_sha256_hex("s3cret", body)}};
  out = host.run("ExampleProcessor", signed_event, kExampleResource);
  CHECK(out.authenticated == Said::yes);
  CHECK(out.deleted.size() == 1);
  CHECK(out.updated.empty());
  // No id: validation fails, nothing handled.
  out = host.run("ExampleProcessor", {.integration = "other", .payload = R"({"x": 1})"},
                 kExampleResource);
  CHECK(out.valid == Said::no);
  CHECK(host.group_key("ExampleProcessor", {.payload = R"({"id": "a"})"}) == R"("a")");

  // The direct route writes through register_raw, and only when signed.
  std::string response;
  CHECK(host.direct("POST", "/items", "ex", R"({"upsert":[{"id":1}]})", response) == 401);
  const std::string items = R"({"upsert":[{"id":1}],"delete":[{"id":2}]})";
  CHECK(host.direct(
            "POST", "/items", "ex", items, response,
            {{"x-hub-signature-256", "sha256=" + ocean::hmac_sha256_hex("s3cret", items)}}) == 200);
  auto raw = host.raw_calls();
  REQUIRE(raw.size() == 2);
  CHECK(raw[0].items_json == R"([{"id":1}])");
  CHECK_FALSE(raw[0].deletion);
  CHECK(raw[1].deletion);
}

TEST_CASE("fake host: the GitHub plugin re-fetches a pull request from scripted answers") {
  FakeHost host;
  host.load_library(plugin_file("github").string());
  host.set_config("gh", "githubHost", "https://github.test/api/v3");  // Ocean's name for api_url
  host.set_config("gh", "token", "t0ken");
  const std::string payload = corpus("pull_request__opened.payload.json");
  Event event{.integration = "gh", .payload = payload};
  event.headers = {{"x-github-event", "pull_request"}};
  const std::string url = "https://github.test/api/v3/repos/Codertocat/Hello-World/pulls/2";

  // 503 then the object: the first attempt is retryable, the second upserts GitHub's answer.
  host.answer("GET", url, Answer{503, "unavailable"});
  host.answer("GET", url, Answer{200, R"({"number":2,"state":"open","title":"fresh"})"});
  auto first = host.run("PullRequestProcessor", event, kPullRequests);
  CHECK(first.handled);
  CHECK(first.status != OCEAN_STATUS_OK);
  CHECK(first.http_retryable);
  CHECK(first.on_error.size() == 1);
  auto second = host.run("PullRequestProcessor", event, kPullRequests, 2);
  CHECK(second.status == OCEAN_STATUS_OK);
  REQUIRE(second.updated.size() == 1);
  CHECK(second.updated[0].find(R"("title":"fresh")") != std::string::npos);
  CHECK(second.updated[0].find(R"("__repository":"Hello-World")") != std::string::npos);
  auto requests = host.requests();
  REQUIRE(requests.size() == 2);
  bool bearer = false;
  for (const auto& h : requests[1].headers) bearer |= h.value == "Bearer t0ken";
  CHECK(bearer);
  // 404: the pull request is gone, so it is a deletion.
  FakeHost gone;
  gone.load_library(plugin_file("github").string());
  gone.set_config("gh", "api_url", "https://github.test/api/v3");
  gone.answer("GET", url, Answer{404, R"({"message":"Not Found"})"});
  auto out = gone.run("PullRequestProcessor", event, kPullRequests);
  CHECK(out.status == OCEAN_STATUS_OK);
  CHECK(out.deleted.size() == 1);
  // Another event name is not this processor's.
  event.headers = {{"x-github-event", "issues"}};
  CHECK(gone.run("PullRequestProcessor", event, kPullRequests).should_process == Said::no);
}

TEST_CASE("fake host: the Jira plugin's config is checked as oceand checks it") {
  FakeHost host;
  host.load_library(plugin_file("jira").string());
  CHECK(host.validate_config("j") ==
        "config key 'api_url' is required by plugin 'jira' (the Jira site, e.g. "
        "https://acme.atlassian.net)");
  host.set_config("j", "jiraHost", "https://acme.atlassian.net");
  CHECK(host.validate_config("j").empty());
  host.set_config("j", "atlassianUserEmail", "bot@acme.test");
  CHECK(host.validate_config("j") == "email and api_token go together: set both, or neither");
  host.set_config("j", "api_token", "tok");
  CHECK(host.validate_config("j").empty());
  host.set_config("j", "access_token", "oauth");
  CHECK(host.validate_config("j") ==
        "access_token (OAuth 2.0) and api_token (Basic) are two ways to sign in: set one");
  host.set_config("k", "api_url", "ftp://acme");
  CHECK(host.validate_config("k") ==
        "api_url must be an http:// or https:// URL, not 'ftp://acme'");
}

TEST_CASE("fake host: a yes/no hook that throws is reported as an error, not a no") {
  FakeHost host;
  host.load_library(plugin_file("scripted").string());
  auto out = host.run("ScriptedProcessor", {.payload = R"({"id": 1, "mode": "auth_throws"})"},
                      R"({"kind":"thing"})");
  CHECK(out.should_process == Said::yes);
  CHECK(out.authenticated == Said::error);
  CHECK(out.hook_error == "secret store unreachable");
  CHECK_FALSE(out.handled);
  CHECK(host.metric("authenticate") == 1);
}

TEST_CASE("fake host: an entry that refuses says why") {
  FakeHost host;
  CHECK_THROWS_WITH(host.load_library(plugin_file("refusing").string()),
                    "the plugin refused this host: needs libfrobnicate.so.3, which this machine "
                    "lacks");
}
