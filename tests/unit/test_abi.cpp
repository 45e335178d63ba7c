// ABI 1.1 as plugin authors meet it: yes/no hooks that can say they failed, an entry that says why
// it refuses, per-integration config declared by the plugin and checked when an integration is
// made, and a plugin's reach limited to its own integrations. ABI 1.0 plugins keep working
// (c_plugin.c is built with 1.0's table sizes; its tests are in test_processing.cpp and
// test_loading.cpp).
#include <doctest/doctest.h>

#include "config/host_config.hpp"
#include "plugins/plugin_library.hpp"
#include "queue/dead_letters.hpp"
#include "support/oceand_process.hpp"
#include "support/test_host.hpp"

using namespace oceand;
using namespace oceand::test;

namespace {

// The scripted plugin as an integration of oceand.yaml, its mapping written to `dir`.
std::string scripted_integration(const TempDir& dir, const std::string& config) {
  write_file(dir.path() / "scripted.yaml", kScriptedMapping);
  return "  scripted:\n    plugin: scripted\n    mapping: " +
         (dir.path() / "scripted.yaml").string() + "\n    config: " + config + "\n";
}

}  // namespace

TEST_CASE("abi 1.1: authenticate that throws is the plugin's failure, not a forged delivery") {
  TestHost t({"scripted"});
  HeaderList headers = {{"Content-Type", "application/json"}, {"X-GitHub-Delivery", "d-41"}};
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1, "mode": "auth_throws"})", headers)
            .status == 200);
  REQUIRE(wait_until([&] { return t.host().dead_letters().size() == 1; }));
  auto letters = t.host().dead_letters().list(10);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].reason == "plugin_error");
  CHECK(letters[0].error.find("authenticate") != std::string::npos);
  CHECK(letters[0].error.find("secret store unreachable") != std::string::npos);
  CHECK(letters[0].event->delivery_id == "d-41");  // kept with the letter, for replay
  CHECK(t.processed("scripted", "failed") == 1);
  CHECK(t.host().metrics().total("oceand_events_dropped_total") == 0);
  CHECK(t.plugin_counter("handle_event") == 0);
  // Not claimed: a forged copy that trips the plugin must not suppress the genuine delivery.
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1})", headers).status == 200);
  REQUIRE(wait_until([&] { return t.processed("scripted", "ok") == 1; }));
}

TEST_CASE("abi 1.1: an entry that refuses the host says why, at start and on /admin/plugins") {
  TestHost t({"scripted", "refusing"});
  auto gen = t.host().plugins().current();
  const auto* s = status_of(*gen, "refusing.so");
  REQUIRE(s);
  CHECK(s->state == "refused");
  CHECK(s->error ==
        "the plugin refused this host: needs libfrobnicate.so.3, which this machine lacks");
  CHECK(t.get("/admin/plugins").body.find("needs libfrobnicate.so.3") != std::string::npos);
  const auto* fine = status_of(*gen, "scripted.so");
  REQUIRE(fine);
  CHECK(fine->state == "loaded");
}

TEST_CASE("abi 1.1: a required config key missing stops start, naming integration and key") {
  // Jira declares api_url required (and Ocean's jiraHost as its alias).
  try {
    TestHost t({"jira"}, "", "  jira:\n    plugin: jira\n    config: {email: a@b.c}\n");
    FAIL("started without api_url");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) ==
          "integration 'jira': config key 'api_url' is required by plugin 'jira' (the Jira site, "
          "e.g. https://acme.atlassian.net)");
  }
  // Ocean's name for it is as good, and the plugin's own validate_config runs next.
  try {
    TestHost t({"jira"}, "",
               "  jira:\n    plugin: jira\n    config: {jiraHost: https://a.atlassian.net, "
               "atlassianUserEmail: a@b.c}\n");
    FAIL("started with half a credential");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) ==
          "integration 'jira': plugin 'jira' refused the config: email and api_token go "
          "together: set both, or neither");
  }
  TestHost ok({"jira"}, "", "  jira:\n    plugin: jira\n    config: {jiraHost: https://a.b}\n");
  CHECK(ok.host().plugins().current()->integration("jira") != nullptr);
}

TEST_CASE("abi 1.1: validate_config's refusal fails a reload; the running generation stays") {
  TempDir dir;
  TestHost t({"scripted"}, "", scripted_integration(dir, "{theAnswer: \"42\"}"));
  const uint64_t before = t.host().plugins().current()->number;
  // An alias answers config_get for the declared name.
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1, "mode": "peek"})").status == 200);
  REQUIRE(t.wait_processed(1));
  CHECK(t.plugin_counter("answer_42") == 1);

  std::string yaml = read_file(t.dir() / "config" / "oceand.yaml");
  const std::string from = "config: {theAnswer: \"42\"}";
  REQUIRE(yaml.find(from) != std::string::npos);
  yaml.replace(yaml.find(from), from.size(), "config: {theAnswer: \"43\", refuse: not today}");
  write_file(t.dir() / "config" / "oceand.yaml", yaml);
  auto report = t.host().reload();
  CHECK_FALSE(report.ok);
  CHECK(report.error.find("integration 'scripted': plugin 'scripted' refused the config: told to "
                          "refuse: not today") != std::string::npos);
  CHECK(t.host().plugins().current()->number == before);
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 2, "mode": "peek"})").status == 200);
  REQUIRE(t.wait_processed(2));
  CHECK(t.plugin_counter("answer_42") == 2);  // still the old config
}

TEST_CASE("abi 1.1: a declared key set to \"\" does not hide the same setting under an alias") {
  // oceand.yaml ships `token: ""`; an Ocean deployment sets OCEAN__..._CONFIG__GITHUB_TOKEN, which
  // arrives as github_token. "" is unset (Ocean's rule), so the alias's value answers.
  TempDir dir;
  TestHost t({"scripted"}, "", scripted_integration(dir, "{answer: \"\", the_answer: \"42\"}"));
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1, "mode": "peek"})").status == 200);
  REQUIRE(t.wait_processed(1));
  CHECK(t.plugin_counter("answer_42") == 1);
  CHECK(t.plugin_counter("answer_missing") == 0);
}

TEST_CASE("abi 1.1: a plugin reads and writes only its own integrations") {
  // The example plugin's integration holds a secret; the scripted plugin asks for it and tries to
  // register an entity into its catalog.
  TempDir dir;
  TestHost t({"scripted", "example"}, "",
             scripted_integration(dir, "{theAnswer: \"7\"}") +
                 "  example:\n    plugin: example\n    mapping: " + OCEAN_SOURCE_DIR +
                 "/config/example/port-app-config.yaml\n    config: {webhook_secret: s3cret}\n",
             TestHost::Results::applied);
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1, "mode": "peek", "peek": "example"})")
            .status == 200);
  REQUIRE(t.wait_processed(1));
  CHECK(t.plugin_counter("peek_refused") == 1);
  CHECK(t.plugin_counter("peek_read") == 0);
  CHECK(t.plugin_counter("raw_other_refused") == 1);
  CHECK(t.plugin_counter("raw_other_ok") == 0);
  CHECK(t.get("/api/entities").body.find("stolen") == std::string::npos);
  // Its own integration it reaches (register_raw maps with its own mapping).
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 2, "mode": "peek", "peek": "scripted"})")
            .status == 200);
  REQUIRE(t.wait_processed(2));
  CHECK(t.plugin_counter("raw_other_ok") == 1);
}

TEST_CASE("abi 1.1: --check --load-plugins checks each integration's config as start does") {
  TempDir dir;
  fs::create_directories(dir.path() / "plugins");
  fs::copy_file(plugin_file("jira"), dir.path() / "plugins" / "jira.so");
  const fs::path yaml = dir.path() / "oceand.yaml";
  write_file(yaml, "server: {host: 127.0.0.1, port: 0}\nplugins: {dir: " +
                       (dir.path() / "plugins").string() +
                       ", cache_dir: " + (dir.path() / "cache").string() +
                       "}\nqueue: {backend: memory}\nintegrations:\n  jira:\n    plugin: jira\n"
                       "    config: {email: a@b.c}\n");
  // Plain --check runs no plugin code, so it cannot know what the plugin requires.
  OceandProcess plain({"--check", "--config", yaml.string()}, dir.path() / "plain.log");
  CHECK(plain.wait_exit(std::chrono::seconds(30)) == 0);
  OceandProcess loaded({"--check", "--load-plugins", "--config", yaml.string()},
                       dir.path() / "loaded.log");
  CHECK(loaded.wait_exit(std::chrono::seconds(30)) == 1);
  std::string out = read_file(dir.path() / "loaded.log");
  CHECK(out.find("config  REFUSED  integration 'jira': config key 'api_url' is required by plugin "
                 "'jira'") != std::string::npos);
  CHECK(out.find("check found problems") != std::string::npos);
  CHECK_FALSE(fs::exists(dir.path() / "cache"));  // a throwaway cache, removed
  // Fixed: accepted, and said so.
  write_file(yaml, read_file(yaml).replace(read_file(yaml).find("{email: a@b.c}"), 14,
                                           "{jiraHost: https://a.atlassian.net}"));
  OceandProcess fixed({"--check", "--load-plugins", "--config", yaml.string()},
                      dir.path() / "fixed.log");
  CHECK(fixed.wait_exit(std::chrono::seconds(30)) == 0);
  CHECK(read_file(dir.path() / "fixed.log")
            .find("integration jira: config accepted by plugin jira") != std::string::npos);
}
