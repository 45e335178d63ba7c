#include <doctest/doctest.h>

#include "config/host_config.hpp"
#include "config/yaml_json.hpp"
#include "mapping/port_app_config.hpp"
#include "support/test_host.hpp"

using namespace oceand;
using namespace oceand::test;

TEST_CASE("the embedded defaults match DESIGN") {
  auto c = load_host_config(std::nullopt, {});
  CHECK(c.server.port == 8000);
  CHECK(c.server.max_body_bytes == 1048576);
  CHECK(c.event_workers_count == 32);
  CHECK(c.max_event_processing_seconds == 90);
  CHECK(c.max_wait_seconds_before_shutdown == 5);
  CHECK(c.queue.max_pending == 100000);
  CHECK(c.port.applier == "local");
}

TEST_CASE("the shipped config/oceand.yaml loads") {
  auto c = load_host_config(std::string(OCEAN_SOURCE_DIR) + "/config/oceand.yaml", {});
  REQUIRE(c.integration("github"));
  CHECK(c.integration("github")->settings.at("api_url") == "https://api.github.com");
  CHECK(c.integration("example"));
}

TEST_CASE("OCEAN__ environment variables override any key") {
  TempDir dir;
  write_file(
      dir.path() / "c.yaml",
      "server: {port: 9000}\nintegrations:\n  github:\n    config: {webhook_secret: file}\n");
  auto c = load_host_config((dir.path() / "c.yaml").string(),
                            {"OCEAN__SERVER__PORT=9100", "OCEAN__EVENT_WORKERS_COUNT=16",
                             "OCEAN__INTEGRATIONS__GITHUB__CONFIG__WEBHOOK_SECRET=from-env",
                             "OCEAN__INTEGRATIONS__JIRA__CONFIG__EMAIL=a@b.c", "OTHER=ignored"});
  CHECK(c.server.port == 9100);
  CHECK(c.event_workers_count == 16);
  CHECK(c.integration("github")->settings.at("webhook_secret") == "from-env");
  REQUIRE(c.integration("jira"));
  CHECK(c.integration("jira")->settings.at("email") == "a@b.c");
}

TEST_CASE("an environment value is a string whatever its first character; sections take JSON") {
  const std::vector<std::string> values = {"{x}",   "[a, b]", "*ref", "&anchor", "!tag", "#hash",
                                           "\"q\"", "'q'",    "null", "~",       "yes",  "{",
                                           ": x",   "- y",    "%d",   "@at",     "`tick"};
  for (const auto& v : values) {
    CAPTURE(v);
    auto c =
        load_host_config(std::nullopt, {"OCEAN__INTEGRATIONS__GITHUB__CONFIG__WEBHOOK_SECRET=" + v,
                                        "OCEAN__ADMIN__TOKEN=" + v,
                                        "OCEAN__PORT__CLIENT_SECRET=" + v, "OCEAN__BASE_URL=" + v});
    REQUIRE(c.integration("github"));
    CHECK(c.integration("github")->settings.at("webhook_secret") == v);
    CHECK(c.admin_token == v);
    CHECK(c.port.client_secret == v);
    CHECK(c.base_url == v);
  }
  // A whole section may still be given as a flow mapping, as Ocean's settings take JSON.
  auto c = load_host_config(
      std::nullopt, {R"(OCEAN__INTEGRATIONS__JIRA__CONFIG={"email": "a@b.c", "api_token": "{t}"})",
                     "OCEAN__SERVER={port: 9200}"});
  REQUIRE(c.integration("jira"));
  CHECK(c.integration("jira")->settings.at("email") == "a@b.c");
  CHECK(c.integration("jira")->settings.at("api_token") == "{t}");
  CHECK(c.server.port == 9200);
  CHECK_THROWS_WITH_AS(load_host_config(std::nullopt, {"OCEAN__SERVER={port: "}),
                       doctest::Contains("OCEAN__SERVER"), ConfigError);
}

TEST_CASE("a secret that is not a string is a configuration error, never dropped") {
  TempDir dir;
  auto load = [&](const std::string& yaml) {
    write_file(dir.path() / "c.yaml", yaml);
    return load_host_config((dir.path() / "c.yaml").string(), {});
  };
  for (const char* value : {"{x: 1}", "[a]", "", "~", "null"}) {
    CAPTURE(value);
    CHECK_THROWS_WITH_AS(
        load(std::string("integrations:\n  github:\n    config: {webhook_secret: ") + value +
             "}\n"),
        doctest::Contains("integrations.github.config.webhook_secret: a secret must be a string"),
        ConfigError);
    CHECK_THROWS_WITH_AS(load(std::string("admin: {token: ") + value + "}\n"),
                         doctest::Contains("admin.token: a secret must be a string"), ConfigError);
  }
  CHECK_THROWS_WITH_AS(load("port: {client_secret: {a: b}}\n"),
                       doctest::Contains("port.client_secret"), ConfigError);
  CHECK_THROWS_WITH_AS(load("integrations:\n  jira:\n    config: {api_token: [x]}\n"),
                       doctest::Contains("integrations.jira.config.api_token"), ConfigError);
  CHECK_THROWS_WITH_AS(
      load("integrations:\n  github:\n    config: {app: {id: 1, private_key: {x: 1}}}\n"),
      doctest::Contains("integrations.github.config.app.private_key: a secret must be a string"),
      ConfigError);
  // Quoted, the same text is a string; an empty string is a deliberate "none".
  auto c =
      load("integrations:\n  github:\n    config: {webhook_secret: \"{x: 1}\", token: \"\"}\n");
  CHECK(c.integration("github")->settings.at("webhook_secret") == "{x: 1}");
  CHECK(c.integration("github")->settings.at("token").empty());
}

TEST_CASE("admin.listen: host:port or [v6]:port, empty for none") {
  CHECK(load_host_config(std::nullopt, {}).admin_listen == "127.0.0.1:9901");
  auto shipped = load_host_config(std::string(OCEAN_SOURCE_DIR) + "/config/oceand.yaml", {});
  CHECK(shipped.admin_host() == "127.0.0.1");
  CHECK(shipped.admin_port() == 9901);
  auto v6 = load_host_config(std::nullopt, {"OCEAN__ADMIN__LISTEN=[::1]:9902"});
  CHECK(v6.admin_host() == "::1");
  CHECK(v6.admin_port() == 9902);
  CHECK(load_host_config(std::nullopt, {"OCEAN__ADMIN__LISTEN="}).admin_listen.empty());
  for (const char* bad : {"::1:9901", "localhost", "1.2.3.4:99999", "1.2.3.4:", ":80", "[::1]"}) {
    CAPTURE(bad);
    CHECK_THROWS_WITH_AS(
        load_host_config(std::nullopt, {std::string("OCEAN__ADMIN__LISTEN=") + bad}),
        doctest::Contains("admin.listen"), ConfigError);
  }
}

TEST_CASE("bad configuration is refused with the key named") {
  TempDir dir;
  auto load = [&](const std::string& yaml) {
    write_file(dir.path() / "c.yaml", yaml);
    return load_host_config((dir.path() / "c.yaml").string(), {});
  };
  CHECK_THROWS_WITH_AS(load("event_workers_count: 0\n"), doctest::Contains("event_workers_count"),
                       ConfigError);
  CHECK_THROWS_WITH_AS(load("server: {port: seventy}\n"), doctest::Contains("server.port"),
                       ConfigError);
  CHECK_THROWS_WITH_AS(load("sever: {}\n"), doctest::Contains("sever: unknown key"), ConfigError);
  CHECK_THROWS_WITH_AS(load("queue: {backend: kafka}\n"), doctest::Contains("queue.backend"),
                       ConfigError);
  CHECK_THROWS_WITH_AS(load("server: [1\n"), doctest::Contains("c.yaml"), ConfigError);
  CHECK_THROWS_WITH_AS(load("integrations:\n  Bad Name: {}\n"), doctest::Contains("identifiers"),
                       ConfigError);
  CHECK_THROWS_AS(load_host_config(std::string("/nonexistent.yaml"), {}), ConfigError);
  // The shared queue needs its database, and a lease it can keep.
  CHECK_THROWS_WITH_AS(load("queue: {backend: postgres}\n"),
                       doctest::Contains("queue.backend is 'postgres' but queue.url is empty"),
                       ConfigError);
  CHECK_THROWS_WITH_AS(load("queue: {backend: postgres, url: \"host=db\", handover_seconds: 0}\n"),
                       doctest::Contains("queue.handover_seconds: must be 1..3600"), ConfigError);
  CHECK_THROWS_WITH_AS(load("queue: {url: {host: db}}\n"),
                       doctest::Contains("queue.url: a secret must be a string"), ConfigError);
  HostConfig shared = load("queue: {backend: postgres, url: \"postgresql://o:pw@db/oceand\"}\n");
  CHECK(shared.queue.url == "postgresql://o:pw@db/oceand");
  CHECK(shared.queue.handover_seconds == 20);
}

TEST_CASE("YAML scalars become JSON types as YAML 1.2 reads them") {
  auto json = yaml_to_json_text(
      YAML::Load("{a: true, b: '12', c: 12, d: 1.5, e: null, f: text, g: [1, x]}"));
  CHECK(json == R"({"a":true,"b":"12","c":12,"d":1.5,"e":null,"f":"text","g":[1,"x"]})");
}

TEST_CASE("port-app-config: resources, kinds and flags") {
  auto c = parse_port_app_config(kScriptedMapping, "test");
  REQUIRE(c.resources.size() == 2);
  CHECK(c.resources[0].kind == "thing");
  CHECK(c.resources_of_kind("other").size() == 1);
  CHECK(c.resources[1].config_json.find(R"("kind":"other")") != std::string::npos);
  CHECK(c.enable_merge_entity);
  auto d = parse_port_app_config("deleteDependentEntities: true\nresources: []\n", "test");
  CHECK(d.delete_dependent_entities);
  CHECK_THROWS_AS(parse_port_app_config("resources: [{selector: {}}]", "m.yaml"), ConfigError);
  CHECK_THROWS_AS(parse_port_app_config("- 1", "m.yaml"), ConfigError);
  auto shipped =
      load_port_app_config(std::string(OCEAN_SOURCE_DIR) + "/config/github/port-app-config.yaml");
  CHECK(shipped.resources_of_kind("pull-request").size() == 1);
}

TEST_CASE("an Ocean deployment's environment starts oceand unchanged") {
  const std::vector<std::string> env = {"OCEAN__INTEGRATION__IDENTIFIER=my-github",
                                        "OCEAN__INTEGRATION__TYPE=GitHub",
                                        "OCEAN__INTEGRATION__CONFIG__GITHUB_TOKEN=ghp_x",
                                        "OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET={s}",
                                        "ocean__integration__config__githubOrganization=acme",
                                        R"(OCEAN__EVENT_LISTENER={"type": "WEBHOOKS_ONLY"})",
                                        "OCEAN__INITIALIZE_PORT_RESOURCES=false",
                                        "OCEAN__SCHEDULED_RESYNC_INTERVAL=60",
                                        "OCEAN__SEND_RAW_DATA_EXAMPLES=false",
                                        "OCEAN__RUNTIME=OnPrem",
                                        "OCEAN__UPSERT_ENTITIES_BATCH_MAX_LENGTH=10",
                                        "OCEAN__PORT__CLIENT_ID=id",
                                        "OCEAN__PORT__CLIENT_SECRET=secret",
                                        "OCEAN__PORT__PORT_APP_CONFIG_CACHE_TTL=60",
                                        "APPLICATION__LOG_LEVEL=DEBUG"};
  auto c = load_host_config(std::nullopt, env);
  const IntegrationConfig* ic = c.integration("my-github");
  REQUIRE(ic != nullptr);
  CHECK(ic->plugin == "github");
  CHECK(ic->settings.at("github_token") == "ghp_x");
  CHECK(ic->settings.at("webhook_secret") == "{s}");
  CHECK(ic->settings.at("githuborganization") == "acme");
  CHECK(c.port.upsert_batch_max_length == 10);
  CHECK(c.log_level == "debug");
  // Each ignored Ocean setting named once, with the variable it came from.
  REQUIRE(c.warnings.size() == 6);
  std::string all;
  for (const auto& w : c.warnings) all += w + "\n";
  for (const char* name : {"OCEAN__EVENT_LISTENER", "OCEAN__INITIALIZE_PORT_RESOURCES",
                           "OCEAN__SCHEDULED_RESYNC_INTERVAL", "OCEAN__SEND_RAW_DATA_EXAMPLES",
                           "OCEAN__RUNTIME", "OCEAN__PORT__PORT_APP_CONFIG_CACHE_TTL"})
    CHECK_MESSAGE(all.find(name) != std::string::npos, name << "\n" << all);
  // Without an identifier, Ocean's default; log levels in any case.
  auto d =
      load_host_config(std::nullopt, {"OCEAN__INTEGRATION__TYPE=jira", "OCEAN__LOG_LEVEL=Warning"});
  CHECK(d.integration("my-jira-integration") != nullptr);
  CHECK(d.log_level == "warning");
  // A refusal names the variable to fix.
  try {
    load_host_config(std::nullopt, {"OCEAN__COLOUR=red", "OCEAN__SERVER__SPEED=9"});
    FAIL("accepted");
  } catch (const ConfigError& e) {
    const std::string all_problems = e.what();
    CHECK(all_problems.find("colour: unknown key (from environment variable OCEAN__COLOUR)") !=
          std::string::npos);
    CHECK(all_problems.find(
              "server.speed: unknown key (from environment variable OCEAN__SERVER__SPEED)") !=
          std::string::npos);
  }
}
