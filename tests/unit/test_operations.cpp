// Operating oceand (issue 21) on the real binary: what an operator sees when something is off.
#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include "support/oceand_process.hpp"

using namespace oceand;
using namespace oceand::test;

namespace {

// The example plugin and the embedded catalog; `integrations`: more integrations (YAML lines).
fs::path operations_config(const fs::path& dir, const std::string& integrations = "") {
  fs::create_directories(dir / "plugins");
  fs::copy_file(plugin_file("example"), dir / "plugins" / "example.so",
                fs::copy_options::skip_existing);
  write_file(dir / "oceand.yaml",
             "server: {host: 127.0.0.1, port: 0}\nlog_level: info\nplugins: {dir: " +
                 (dir / "plugins").string() + ", cache_dir: " + (dir / "cache").string() +
                 "}\nqueue: {backend: memory}\nport: {applier: local, local_db: " +
                 (dir / "entities.db").string() +
                 "}\nintegrations:\n  example:\n    plugin: example\n    mapping: " +
                 OCEAN_SOURCE_DIR + "/config/example/port-app-config.yaml\n" + integrations);
  return dir / "oceand.yaml";
}

}  // namespace

TEST_CASE("operations: /ready is 503 while a configured integration's plugin is not loaded") {
  TempDir dir;
  ServingOceand o(operations_config(dir.path(), "  github:\n    plugin: github\n"),
                  dir.path() / "oceand.log");
  auto ready = o.get("/ready");
  CHECK(ready.status == 503);
  CHECK(ready.body.find("integration 'github' names plugin 'github', which is not loaded") !=
        std::string::npos);
  CHECK(o.get("/health").status == 200);
  // Once the plugin is there, a reload makes it ready.
  fs::copy_file(plugin_file("github"), dir.path() / "plugins" / "github.so");
  REQUIRE(o.post("/admin/reload", "", {}).status == 200);
  CHECK(o.get("/ready").status == 200);
}

TEST_CASE("operations: refused requests are logged and counted, unknown integrations too") {
  TempDir dir;
  ServingOceand o(operations_config(dir.path()), dir.path() / "oceand.log");
  CHECK(o.post("/integration/nope/webhook", "{}", {{"Content-Type", "application/json"}}).status ==
        404);
  CHECK(o.post("/integration/example/webhook", "<xml/>", {{"Content-Type", "text/xml"}}).status ==
        415);
  CHECK(o.get("/integration/example/webhook").status == 405);
  CHECK(o.metric("oceand_ingress_rejected_total",
                 {{"integration", "unknown"}, {"reason", "no_route"}}) == 1);
  CHECK(o.metric("oceand_ingress_rejected_total",
                 {{"integration", "example"}, {"reason", "content_type"}}) == 1);
  CHECK(o.metric("oceand_ingress_rejected_total",
                 {{"integration", "example"}, {"reason", "method_not_allowed"}}) == 1);
  std::string log = read_file(dir.path() / "oceand.log");
  CHECK(log.find("refused POST path=/integration/nope/webhook status=404 reason=no_route") !=
        std::string::npos);
  CHECK(log.find("refused integration=example route=/webhook status=415 reason=content_type") !=
        std::string::npos);
  // A flood of them is rate-limited like every repeatable line.
  for (int i = 0; i < 50; ++i)
    o.post("/integration/nope-" + std::to_string(i) + "/webhook", "{}", {});
  log = read_file(dir.path() / "oceand.log");
  size_t lines = 0;
  for (size_t at = log.find("reason=no_route"); at != std::string::npos;
       at = log.find("reason=no_route", at + 1))
    ++lines;
  CHECK(lines <= 10);
  CHECK(o.metric("oceand_ingress_rejected_total", {{"reason", "no_route"}}) == 51);
}

TEST_CASE("operations: --version and oceand_build_info name the version and the plugin ABI") {
  TempDir dir;
  OceandProcess version({"--version"}, dir.path() / "version.log");
  REQUIRE(version.wait_exit(std::chrono::seconds(10)) == 0);
  CHECK(read_file(dir.path() / "version.log") ==
        std::string("oceand ") + OCEAND_VERSION + " (plugin ABI 1.1)\n");
  ServingOceand o(operations_config(dir.path()), dir.path() / "oceand.log");
  CHECK(o.metric("oceand_build_info", {{"version", OCEAND_VERSION}, {"abi", "1.1"}}) == 1);
}

TEST_CASE("operations: --check compiles every jq expression and names file, resource and field") {
  TempDir dir;
  fs::create_directories(dir.path() / "plugins");
  fs::copy_file(plugin_file("example"), dir.path() / "plugins" / "example.so");
  const fs::path mapping = dir.path() / "mapping.yaml";
  write_file(mapping,
             "resources:\n"
             "  - kind: example\n    selector: {query: 'true'}\n    port:\n      entity:\n"
             "        mappings: {identifier: .id | tostring, blueprint: '\"example\"',\n"
             "                   title: '.title | ascii_downcase(', properties: {ok: .status}}\n"
             "  - kind: other\n    selector: {query: '.x ==='}\n    port:\n      entity:\n"
             "        mappings: {identifier: .id, blueprint: '\"other\"'}\n");
  write_file(
      dir.path() / "oceand.yaml",
      "server: {host: 127.0.0.1, port: 8123}\nplugins: {dir: " + (dir.path() / "plugins").string() +
          ", cache_dir: " + (dir.path() / "cache").string() +
          "}\nqueue: {backend: memory}\nintegrations:\n  example:\n    plugin: example\n"
          "    mapping: " +
          mapping.string() + "\n  missing:\n    plugin: nowhere\n");
  OceandProcess check({"--check", "--config", (dir.path() / "oceand.yaml").string()},
                      dir.path() / "check.log");
  CHECK(check.wait_exit(std::chrono::seconds(30)) == 1);
  std::string out = read_file(dir.path() / "check.log");
  CHECK(out.find("mapping REFUSED " + mapping.string() +
                 ": resource 0 (kind example) port.entity.mappings.title:") != std::string::npos);
  CHECK(out.find("mapping REFUSED " + mapping.string() +
                 ": resource 1 (kind other) selector.query:") != std::string::npos);
  CHECK(out.find("integration missing -> plugin nowhere (no loadable nowhere.so in plugins.dir)") !=
        std::string::npos);
  CHECK(out.find("listen  127.0.0.1:8123") != std::string::npos);
  CHECK(out.find("queue   memory") != std::string::npos);
  CHECK(out.find("check found problems") != std::string::npos);
}

namespace {

// The scripted test plugin as integration "scripted" with `settings` (a flow mapping), on a
// server block given by `server`.
void write_scripted_config(const fs::path& dir, const std::string& settings,
                           const std::string& server = "{host: 127.0.0.1, port: 0}",
                           const std::string& log_level = "info",
                           const std::string& queue = "{backend: memory}") {
  write_file(dir / "scripted.yaml",
             "resources:\n  - kind: thing\n    selector: {query: 'true'}\n    port: {entity: "
             "{mappings: {identifier: .id | tostring, blueprint: '\"thing\"'}}}\n");
  write_file(dir / "oceand.yaml",
             "server: " + server + "\nlog_level: " + log_level + "\nplugins: {dir: " +
                 (dir / "plugins").string() + ", cache_dir: " + (dir / "cache").string() +
                 "}\nqueue: " + queue + "\nport: {local_db: " + (dir / "entities.db").string() +
                 "}\nintegrations:\n  scripted:\n    plugin: scripted\n"
                 "    mapping: " +
                 (dir / "scripted.yaml").string() + "\n    config: " + settings + "\n");
}

}  // namespace

TEST_CASE("operations: reload tells the truth: settings re-run on_start, start-only keys warn") {
  TempDir dir;
  fs::create_directories(dir.path() / "plugins");
  fs::copy_file(plugin_file("scripted"), dir.path() / "plugins" / "scripted.so");
  write_scripted_config(dir.path(), "{region: one}");
  ServingOceand o(dir.path() / "oceand.yaml", dir.path() / "oceand.log");
  auto on_starts = [&] { return o.metric("oceand_plugin_on_start_total"); };
  REQUIRE(wait_until([&] { return on_starts() == 1; }));

  // Nothing changed: nothing starts again.
  REQUIRE(o.post("/admin/reload", "", {}).status == 200);
  // The integration's settings changed: its on_start runs again (it may register webhooks).
  write_scripted_config(dir.path(), "{region: two}");
  REQUIRE(o.post("/admin/reload", "", {}).status == 200);
  REQUIRE(wait_until([&] { return on_starts() == 2; }));

  // Start-only keys: applied only by a restart, and the reload says so, once.
  write_scripted_config(dir.path(), "{region: two}", "{host: 127.0.0.1, port: 1}", "warning");
  auto r = o.post("/admin/reload", "", {});
  REQUIRE(r.status == 200);
  CHECK(r.body.find(R"("ignored":["server.port","log_level"])") != std::string::npos);
  CHECK(o.post("/admin/reload", "", {}).body.find(R"("ignored":[])") != std::string::npos);
  std::string log = read_file(dir.path() / "oceand.log");
  CHECK(log.find("reload: server.port, log_level changed, but are read only at start") !=
        std::string::npos);
  CHECK(log.find("changed, but are read only at start", log.find("read only at start") + 1) ==
        std::string::npos);
  CHECK(on_starts() == 2);
}

TEST_CASE("operations: a duplicate plugin name names the file that serves it now") {
  TempDir dir;
  fs::create_directories(dir.path() / "plugins");
  fs::copy_file(plugin_file("scripted"), dir.path() / "plugins" / "x.so");
  write_scripted_config(dir.path(), "{region: one}");
  ServingOceand o(dir.path() / "oceand.yaml", dir.path() / "oceand.log");
  // x.so renamed to z.so, and the same plugin again as y.so: y.so serves it (files load in name
  // order), and z.so is refused naming y.so, not the x.so the library was first loaded from.
  fs::rename(dir.path() / "plugins" / "x.so", dir.path() / "plugins" / "z.so");
  fs::copy_file(plugin_file("scripted"), dir.path() / "plugins" / "y.so");
  auto r = o.post("/admin/reload", "", {});
  CHECK(r.status == 500);
  CHECK(r.body.find("plugin name 'scripted' is already served by " +
                    (dir.path() / "plugins" / "y.so").string()) != std::string::npos);
  CHECK(r.body.find("x.so") == std::string::npos);
}

TEST_CASE(
    "operations: dead letters: read one whole, delete one, replay or delete by filter, pages") {
  TempDir dir;
  fs::create_directories(dir.path() / "plugins");
  fs::copy_file(plugin_file("scripted"), dir.path() / "plugins" / "scripted.so");
  // Retention 6: the oldest of 8 letters are dropped.
  write_scripted_config(dir.path(), "{region: one}", "{host: 127.0.0.1, port: 0}", "info",
                        "{backend: memory, dead_letter_retention: 6}");
  ServingOceand o(dir.path() / "oceand.yaml", dir.path() / "oceand.log");
  for (int i = 1; i <= 8; ++i)
    REQUIRE(o.post("/integration/scripted/webhook",
                   R"({"id": )" + std::to_string(i) + R"(, "mode": "throw"})",
                   {{"Content-Type", "application/json"}, {"X-Trace", "t-" + std::to_string(i)}})
                .status == 200);
  auto listing = [&](const std::string& query = "") {
    rapidjson::Document d;
    d.Parse(o.get("/admin/dead-letters" + query).body.c_str());
    return d;
  };
  REQUIRE(wait_until([&] { return o.metric("oceand_events_dead_lettered_total") == 8; }));
  auto all = listing();
  REQUIRE(all.IsObject());
  CHECK(all["total"].GetUint64() == 6);  // dead_letter_retention
  REQUIRE(all["dead_letters"].Size() == 6);
  auto page = listing("?limit=2&offset=1");
  REQUIRE(page["dead_letters"].Size() == 2);
  CHECK(page["dead_letters"][0]["id"].GetUint64() == all["dead_letters"][1]["id"].GetUint64());
  CHECK(o.get("/admin/dead-letters?limit=0").status == 400);

  // One letter, whole: its headers and body as they were accepted.
  const uint64_t newest = all["dead_letters"][0]["id"].GetUint64();
  auto one = o.get("/admin/dead-letters/" + std::to_string(newest));
  REQUIRE(one.status == 200);
  // Letters are newest first by failure, which workers running side by side may not finish in
  // the order the events came: the letter's own header says which event it is.
  rapidjson::Document whole;
  whole.Parse(one.body.c_str());
  REQUIRE(whole.IsObject());
  REQUIRE(whole["headers"].HasMember("x-trace"));
  const std::string trace = whole["headers"]["x-trace"].GetString();
  REQUIRE(trace.rfind("t-", 0) == 0);
  CHECK(std::string(whole["body"].GetString()) ==
        R"({"id": )" + trace.substr(2) + R"(, "mode": "throw"})");
  CHECK(o.get("/admin/dead-letters/999999").status == 404);
  CHECK(o.get("/admin/dead-letters/abc").status == 400);

  // Delete one.
  auto gone = HttpClient::request("DELETE", o.url("/admin/dead-letters/" + std::to_string(newest)),
                                  {}, "", std::chrono::seconds(5));
  CHECK(gone.status == 200);
  CHECK(o.get("/admin/dead-letters/" + std::to_string(newest)).status == 404);
  CHECK(listing()["total"].GetUint64() == 5);

  // A filter that matches nothing does nothing; one that matches replays them all at once.
  auto none = o.post("/admin/dead-letters/replay?integration=nobody", "", {});
  CHECK(none.body.find(R"("replayed":0)") != std::string::npos);
  CHECK(o.post("/admin/dead-letters/replay?colour=red", "", {}).status == 400);
  auto replayed = o.post("/admin/dead-letters/replay?integration=scripted&reason=failed", "", {});
  CHECK(replayed.status == 200);
  CHECK(replayed.body.find(R"("replayed":5)") != std::string::npos);
  // They fail again (mode: throw) and come back as 5 new letters; then all are deleted by filter.
  REQUIRE(wait_until([&] { return listing()["total"].GetUint64() == 5; }));
  auto deleted = HttpClient::request("DELETE", o.url("/admin/dead-letters?reason=failed"), {}, "",
                                     std::chrono::seconds(5));
  CHECK(deleted.status == 200);
  CHECK(deleted.body.find(R"("deleted":5)") != std::string::npos);
  CHECK(listing()["total"].GetUint64() == 0);
}
