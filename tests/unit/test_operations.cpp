// Operating oceand (issue 21) on the real binary: what an operator sees when something is off.
#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <regex>
#include <set>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fakes/fake_port.hpp"
#include "ocean/sdk.hpp"
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

TEST_CASE("operations: every configuration problem is reported at once, duplicate keys included") {
  TempDir dir;
  const fs::path config = dir.path() / "oceand.yaml";
  write_file(config,
             "server: {port: 70000}\nlog_level: info\nlog_level: debug\nqueue: {backend: tape}\n"
             "colour: red\nintegrations:\n  Bad Name: {plugin: x}\n");
  const fs::path check_log = dir.path() / "check.log";
  OceandProcess check({"--config", config.string(), "--check"}, check_log);
  CHECK(check.wait_exit(std::chrono::seconds(30)) == 1);
  const std::string checked = read_file(check_log);
  for (const char* problem :
       {"server.port: must be 0..65535", "oceand.yaml: line 3: key 'log_level' is given twice",
        "queue.backend: 'tape' is not one of memory, sqlite", "colour: unknown key",
        "integrations.Bad Name: identifiers are"})
    CHECK_MESSAGE((checked.find(std::string("config  REFUSED  ")) != std::string::npos &&
                   checked.find(problem) != std::string::npos),
                  problem << "\n"
                          << checked);
  // Start names each on its own line too, and does not start.
  const fs::path start_log = dir.path() / "start.log";
  OceandProcess start({"--config", config.string()}, start_log);
  CHECK(start.wait_exit(std::chrono::seconds(30)) == 1);
  const std::string started = read_file(start_log);
  CHECK(started.find("configuration error: server.port: must be 0..65535") != std::string::npos);
  CHECK(started.find("configuration error: colour: unknown key") != std::string::npos);
  CHECK(started.find("listening on") == std::string::npos);
  // A mapping file with a key given twice is refused the same way.
  write_file(dir.path() / "twice.yaml",
             "resources:\n  - kind: a\n    selector: {query: 'true'}\n    selector: {query: "
             "'false'}\n");
  write_file(
      config,
      "server: {host: 127.0.0.1, port: 0}\nplugins: {dir: " + (dir.path() / "plugins").string() +
          "}\nintegrations:\n  a: {plugin: a, mapping: " + (dir.path() / "twice.yaml").string() +
          "}\n");
  OceandProcess again({"--config", config.string(), "--check"}, check_log);
  CHECK(again.wait_exit(std::chrono::seconds(30)) == 1);
  CHECK(read_file(check_log).find("key 'resources[0].selector' is given twice") !=
        std::string::npos);
}

TEST_CASE("operations: log_format json writes one JSON object per line, with the line's fields") {
  TempDir dir;
  const fs::path log = dir.path() / "oceand.log";
  OceandProcess p({"--config", operations_config(dir.path()).string()}, log,
                  {"OCEAN__LOG_FORMAT=json"});
  static const std::regex listening(R"re("msg":"listening on [0-9.]+:([0-9]+)")re");
  std::smatch m;
  std::string text;
  REQUIRE_MESSAGE(wait_until([&] {
                    text = read_file(log);
                    return std::regex_search(text, m, listening);
                  }),
                  text);
  const std::string base = "http://127.0.0.1:" + m[1].str();
  CHECK(HttpClient::request("POST", base + "/integration/nobody/webhook",
                            {{"Content-Type", "application/json"}}, "{\"a\n\":1}",
                            std::chrono::seconds(5))
            .status == 404);
  REQUIRE(wait_until([&] { return read_file(log).find("no_route") != std::string::npos; }));
  std::istringstream lines(read_file(log));
  std::string line;
  int parsed = 0, refused = 0;
  while (std::getline(lines, line)) {
    rapidjson::Document d;
    d.Parse(line.c_str());
    REQUIRE_MESSAGE((!d.HasParseError() && d.IsObject()), line);
    for (const char* key : {"time", "level", "component", "msg"})
      REQUIRE_MESSAGE((d.HasMember(key) && d[key].IsString()), key << " in " << line);
    ++parsed;
    if (d.HasMember("reason") && std::string(d["reason"].GetString()) == "no_route") {
      ++refused;
      CHECK(std::string(d["status"].GetString()) == "404");
      CHECK(std::string(d["level"].GetString()) == "info");
    }
  }
  CHECK(parsed >= 3);
  CHECK(refused == 1);
}

TEST_CASE("operations: /ready is 503 while Port's token endpoint fails, 200 once it answers") {
  TempDir dir;
  FakePort port;
  port.fail_next("access_token", 503, 1000000);
  const fs::path config = operations_config(dir.path());
  std::string text = read_file(config);
  text.replace(
      text.find("port: {applier: local"), std::string("port: {applier: local").size(),
      "port: {applier: port, base_url: '" + port.url() + "', client_id: id, client_secret: secret");
  write_file(config, text);
  ServingOceand o(config, dir.path() / "oceand.log");
  auto ready = o.get("/ready");
  CHECK(ready.status == 503);
  CHECK_MESSAGE(ready.body.find("token") != std::string::npos, ready.body);
  REQUIRE(wait_until([&] { return o.get("/ready").body.find("HTTP 503") != std::string::npos; }));
  // Port answers again: the watch's next try (1, 2, 4 ... s apart) gets a token.
  port.clear_faults();
  REQUIRE_MESSAGE(
      wait_until([&] { return o.get("/ready").status == 200; }, std::chrono::seconds(20)),
      o.get("/ready").body);
  CHECK(o.metric("oceand_port_requests_total", {{"endpoint", "auth"}, {"status", "503"}}) >= 1);
}

namespace {

// A datagram socket standing in for systemd's $NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(const fs::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  }
  ~NotifySocket() { ::close(fd_); }
  // The next datagram, or "" when none comes within 30 s.
  std::string next() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 30000) != 1) return {};
    char buffer[4096];
    ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
  }
  std::string env() const { return "NOTIFY_SOCKET=" + path_.string(); }

 private:
  fs::path path_;
  int fd_ = -1;
};

}  // namespace

TEST_CASE(
    "operations: systemd hears READY, RELOADING and STOPPING; --reload fails with the reload") {
  TempDir dir;
  NotifySocket notify(dir.path() / "notify.sock");
  const fs::path config = operations_config(dir.path());
  ServingOceand o(config, dir.path() / "oceand.log", {notify.env()});
  CHECK(notify.next().rfind("READY=1", 0) == 0);

  // SIGHUP: RELOADING=1 (with the monotonic time), then READY=1 again.
  o.process().signal(SIGHUP);
  const std::string reloading = notify.next();
  CHECK(reloading.rfind("RELOADING=1\nMONOTONIC_USEC=", 0) == 0);
  CHECK(notify.next().rfind("READY=1", 0) == 0);

  // systemctl reload: ExecReload runs `oceand --reload`, which answers with the reload's outcome.
  const std::string admin = "OCEAN__ADMIN__LISTEN=127.0.0.1:" + std::to_string(o.admin_port());
  const fs::path out = dir.path() / "reload.out";
  OceandProcess good({"--config", config.string(), "--reload"}, out, {admin});
  CHECK(good.wait_exit(std::chrono::seconds(60)) == 0);
  CHECK(read_file(out).find("\"status\":\"ok\"") != std::string::npos);
  // A configuration that cannot be loaded: the reload fails, and so does the command.
  std::string text = read_file(config);
  text.replace(text.find(OCEAN_SOURCE_DIR), std::string(OCEAN_SOURCE_DIR).size(), "/nonexistent");
  write_file(config, text);
  OceandProcess bad({"--config", config.string(), "--reload"}, out, {admin});
  CHECK(bad.wait_exit(std::chrono::seconds(60)) == 1);
  // (Its stdout and stderr share the file here, each from its own offset: look for the reason.)
  CHECK_MESSAGE(read_file(out).find("cannot read mapping file") != std::string::npos,
                read_file(out));
  CHECK(o.get("/ready").status == 200);  // still serving the configuration it had

  o.process().signal(SIGTERM);
  CHECK(notify.next() == "STOPPING=1");
  CHECK(o.process().wait_exit(std::chrono::seconds(30)) == 0);
}

TEST_CASE(
    "operations: a mapping dry run shows entities and each expression's errors, applying "
    "nothing") {
  TempDir dir;
  ServingOceand o(operations_config(dir.path()), dir.path() / "oceand.log");
  const HeaderList json{{"Content-Type", "application/json"}};
  for (int i = 1; i <= 3; ++i)
    REQUIRE(o.post("/integration/example/webhook",
                   R"({"id": )" + std::to_string(i) + R"(, "title": "t)" + std::to_string(i) +
                       R"(", "status": "open"})",
                   json)
                .status == 200);
  REQUIRE(wait_until([&] { return o.metric("oceand_entities_mapped_total") == 3; }));
  auto entities = [&] {
    rapidjson::Document d;
    d.Parse(o.get("/api/entities?blueprint=example").body.c_str());
    return d.IsObject() && d.HasMember("entities") ? d["entities"].Size() : 999u;
  };
  REQUIRE(entities() == 3);
  auto dry_run = [&](const std::string& body) {
    auto r = o.post("/admin/integrations/example/dry-run", body, json);
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    REQUIRE_MESSAGE(r.status == 200, r.body);
    REQUIRE(d.IsObject());
    return d;
  };

  // Nothing given: the current mapping on the samples oceand kept.
  auto kept = dry_run("");
  CHECK(std::string(kept["raw"].GetString()) == "samples");
  REQUIRE(kept["resources"].Size() == 1);
  CHECK(kept["resources"][0]["items"].GetUint() == 3);
  REQUIRE(kept["resources"][0]["entities"].Size() == 3);
  CHECK(std::string(kept["resources"][0]["entities"][0]["properties"]["status"].GetString()) ==
        "open");

  // A new mapping and a raw object: what each expression makes of it, errors included.
  auto tried = dry_run(
      R"J({"config": {"resources": [{"kind": "example", "selector": {"query": "true"},
           "port": {"entity": {"mappings": {"identifier": ".id | tostring",
             "blueprint": "\"example\"", "properties": {"upper": ".title | ascii_upcase",
             "broken": ".title | error(\"no\")", "wrong": ".id | ascii_upcase"}}}}}]},
         "raw": {"id": 7, "title": "seven"}})J");
  CHECK(std::string(tried["config"].GetString()) == "given");
  const auto& resource = tried["resources"][0];
  REQUIRE(resource["entities"].Size() == 1);
  CHECK(std::string(resource["entities"][0]["identifier"].GetString()) == "7");
  CHECK(std::string(resource["entities"][0]["properties"]["upper"].GetString()) == "SEVEN");
  CHECK(resource["entities"][0]["properties"]["broken"].IsNull());
  REQUIRE(resource["errors"].Size() == 2);
  std::string fields;
  for (const auto& e : resource["errors"].GetArray())
    fields += std::string(e["field"].GetString()) + " ";
  CHECK_MESSAGE(fields.find("properties.broken") != std::string::npos, fields);
  CHECK_MESSAGE(fields.find("properties.wrong") != std::string::npos, fields);

  // An expression that does not compile is named up front.
  auto uncompiled = dry_run(
      R"({"config": "resources:\n  - kind: example\n    selector: {query: 'true'}\n    port: {entity: {mappings: {identifier: '.id |', blueprint: '\"x\"'}}}\n", "raw": [{"id": 1}]})");
  REQUIRE(uncompiled["problems"].Size() == 1);
  CHECK(std::string(uncompiled["problems"][0].GetString()).find("identifier") != std::string::npos);

  // Refusals, and nothing was applied by any of it.
  CHECK(o.post("/admin/integrations/nobody/dry-run", "", json).status == 404);
  CHECK(o.post("/admin/integrations/example/dry-run", "[1]", json).status == 400);
  CHECK(o.post("/admin/integrations/example/dry-run", R"({"raw": 5})", json).status == 400);
  CHECK(o.post("/admin/integrations/example/dry-run", R"({"config": {"resources": 5}})", json)
            .status == 400);
  CHECK(o.get("/admin/integrations/example/dry-run").status == 405);
  CHECK(entities() == 3);
  CHECK(o.metric("oceand_entities_mapped_total") == 3);
}

TEST_CASE("operations: the admin listener refuses other names in Host and other sites' posts") {
  TempDir dir;
  ServingOceand o(operations_config(dir.path()), dir.path() / "oceand.log");
  const std::string base = "http://127.0.0.1:" + std::to_string(o.admin_port());
  auto request = [&](const std::string& method, const std::string& path, const HeaderList& h) {
    return HttpClient::request(method, base + path, h, "", std::chrono::seconds(10)).status;
  };
  CHECK(request("GET", "/admin/plugins", {}) == 200);
  CHECK(request("GET", "/admin/plugins", {{"Host", "localhost:9901"}}) == 200);
  CHECK(request("GET", "/admin/plugins", {{"Host", "[::1]:9901"}}) == 200);
  // DNS rebinding: a name of another site that resolved to this machine.
  CHECK(request("GET", "/admin/plugins", {{"Host", "evil.example:9901"}}) == 403);
  CHECK(request("GET", "/", {{"Host", "evil.example"}}) == 403);
  // A state change sent by another site's page.
  CHECK(request("POST", "/admin/reload", {{"Origin", "http://evil.example"}}) == 403);
  CHECK(request("POST", "/admin/reload", {{"Sec-Fetch-Site", "cross-site"}}) == 403);
  CHECK(request("POST", "/admin/reload", {{"Origin", "null"}}) == 403);
  CHECK(request("POST", "/admin/reload", {{"Origin", "http://127.0.0.1:9901"}}) == 200);
  CHECK(request("POST", "/admin/reload", {}) == 200);  // curl, a script: no Origin
}

TEST_CASE("operations: hostile dry runs and configurations get a clear refusal, never a crash") {
  TempDir dir;
  ServingOceand o(operations_config(dir.path()), dir.path() / "oceand.log");
  const HeaderList json{{"Content-Type", "application/json"}};
  // 100,000 levels of nesting: RapidJSON would recurse once per level.
  auto deep = o.post("/admin/integrations/example/dry-run", std::string(100000, '['), json);
  CHECK(deep.status == 400);
  CHECK(o.post("/admin/integrations/example/dry-run",
               R"({"raw": )" + std::string(500, '[') + std::string(500, ']') + "}", json)
            .status == 400);
  // An alias that contains itself, and a billion laughs, in a given config.
  CHECK(o.post("/admin/integrations/example/dry-run", R"({"config": "a: &x [*x]\nresources: []"})",
               json)
            .status == 400);
  std::string laughs = "resources: []\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i)
    laughs += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [" +
              std::string("*l" + std::to_string(i - 1) + ", ") + "*l" + std::to_string(i - 1) +
              ", *l" + std::to_string(i - 1) + ", *l" + std::to_string(i - 1) + ", *l" +
              std::to_string(i - 1) + ", *l" + std::to_string(i - 1) + ", *l" +
              std::to_string(i - 1) + ", *l" + std::to_string(i - 1) + ", *l" +
              std::to_string(i - 1) + ", *l" + std::to_string(i - 1) + "]\n";
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("config");
  writer.String(laughs.c_str());
  writer.EndObject();
  CHECK(o.post("/admin/integrations/example/dry-run", buffer.GetString(), json).status == 400);
  CHECK(o.get("/health").status == 200);

  // The same in oceand.yaml: --check names the problem instead of dying.
  write_file(dir.path() / "cyclic.yaml", "server: &x {port: [*x]}\n");
  const fs::path log = dir.path() / "check.log";
  OceandProcess cyclic({"--config", (dir.path() / "cyclic.yaml").string(), "--check"}, log);
  CHECK(cyclic.wait_exit(std::chrono::seconds(30)) == 1);
  CHECK(read_file(log).find("nested deeper than 64 levels") != std::string::npos);
  write_file(dir.path() / "keys.yaml", "server: {[a]: 1}\n");
  OceandProcess keys({"--config", (dir.path() / "keys.yaml").string(), "--check"}, log);
  CHECK(keys.wait_exit(std::chrono::seconds(30)) == 1);
  CHECK(read_file(log).find("a key must be a string") != std::string::npos);
}

TEST_CASE(
    "operations: an Ocean deployment's environment passes --check and starts, warning once "
    "per ignored setting") {
  TempDir dir;
  fs::create_directories(dir.path() / "plugins");
  fs::copy_file(plugin_file("github"), dir.path() / "plugins" / "github.so");
  write_file(
      dir.path() / "oceand.yaml",
      "server: {host: 127.0.0.1, port: 0}\nplugins: {dir: " + (dir.path() / "plugins").string() +
          ", cache_dir: " + (dir.path() / "cache").string() +
          "}\nqueue: {backend: memory}\nport: {local_db: " + (dir.path() / "entities.db").string() +
          "}\nintegrations:\n  my-github:\n"
          "    mapping: " +
          OCEAN_SOURCE_DIR + "/config/github/port-app-config.yaml\n");
  const std::vector<std::string> ocean = {"OCEAN__INTEGRATION__IDENTIFIER=my-github",
                                          "OCEAN__INTEGRATION__TYPE=github",
                                          "OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET=s3cret",
                                          "OCEAN__EVENT_LISTENER__TYPE=WEBHOOKS_ONLY",
                                          "OCEAN__INITIALIZE_PORT_RESOURCES=true",
                                          "OCEAN__LOG_LEVEL=INFO"};
  const fs::path check_log = dir.path() / "check.log";
  OceandProcess check({"--config", (dir.path() / "oceand.yaml").string(), "--check"}, check_log,
                      ocean);
  CHECK(check.wait_exit(std::chrono::seconds(30)) == 0);
  const std::string checked = read_file(check_log);
  CHECK(checked.find("integration my-github -> plugin github") != std::string::npos);
  CHECK(checked.find("config  WARN     event_listener (from environment variable "
                     "OCEAN__EVENT_LISTENER__TYPE)") != std::string::npos);
  ServingOceand o(dir.path() / "oceand.yaml", dir.path() / "oceand.log", ocean);
  CHECK(o.get("/ready").status == 200);
  // The webhook secret Ocean's variable set is the one checked: a forged pull request is rejected.
  const std::string body =
      R"({"action": "opened", "number": 1, "pull_request": {"number": 1}, "repository": )"
      R"({"name": "r", "owner": {"login": "o"}}})";
  CHECK(o.post("/integration/my-github/webhook", body,
               {{"Content-Type", "application/json"},
                {"X-GitHub-Event", "pull_request"},
                {"X-Hub-Signature-256", "sha256=" + ocean::hmac_sha256_hex("not-it", body)}})
            .status == 200);
  REQUIRE(wait_until([&] {
    return o.metric("oceand_events_processed_total", {{"integration", "my-github"}}) == 1;
  }));
  CHECK(o.metric("oceand_events_processed_total",
                 {{"integration", "my-github"}, {"outcome", "rejected"}}) == 1);
  CHECK(read_file(dir.path() / "oceand.log").find("WARN  [config] event_listener") !=
        std::string::npos);
}

TEST_CASE("operations: a mapping's env shows the environment but never a secret; off, nothing") {
  for (bool allowed : {true, false}) {
    CAPTURE(allowed);
    TempDir dir;
    ServingOceand o(operations_config(dir.path()), dir.path() / "oceand.log",
                    {"MY_REGION=eu", "OCEAN__PORT__CLIENT_SECRET=topsecret",
                     "OCEAN__INTEGRATIONS__EXAMPLE__CONFIG__WEBHOOK_SECRET=hooksecret",
                     std::string("OCEAN__ALLOW_ENVIRONMENT_VARIABLES_JQ_ACCESS=") +
                         (allowed ? "true" : "false")});
    auto r = o.post("/admin/integrations/example/dry-run",
                    R"J({"config": {"resources": [{"kind": "example",
        "selector": {"query": "true"}, "port": {"entity": {"mappings": {"identifier": ".id",
        "blueprint": "\"e\"", "properties": {"region": "env.MY_REGION",
        "leak": "env.OCEAN__PORT__CLIENT_SECRET", "all": "$ENV | tostring"}}}}}]},
        "raw": {"id": "1"}})J",
                    {{"Content-Type", "application/json"}});
    REQUIRE(r.status == 200);
    CHECK(r.body.find("topsecret") == std::string::npos);
    CHECK(r.body.find("hooksecret") == std::string::npos);
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    const auto& props = d["resources"][0]["entities"][0]["properties"];
    if (allowed) {
      CHECK(std::string(props["region"].GetString()) == "eu");
    } else {
      CHECK(props["region"].IsNull());
      CHECK(std::string(props["all"].GetString()) == "{}");
    }
    CHECK(props["leak"].IsNull());
  }
}

TEST_CASE(
    "operations: GitHub and Jira share /integration/webhook, as Ocean registers their hooks") {
  TempDir dir;
  fs::create_directories(dir.path() / "plugins");
  for (const char* p : {"github", "jira"})
    fs::copy_file(plugin_file(p), dir.path() / "plugins" / (std::string(p) + ".so"));
  write_file(
      dir.path() / "oceand.yaml",
      "server: {host: 127.0.0.1, port: 0}\nplugins: {dir: " + (dir.path() / "plugins").string() +
          ", cache_dir: " + (dir.path() / "cache").string() +
          "}\nqueue: {backend: memory}\nport: {local_db: " + (dir.path() / "entities.db").string() +
          "}\nintegrations:\n  github:\n    mapping: " + OCEAN_SOURCE_DIR +
          "/config/github/port-app-config.yaml\n  jira:\n    mapping: " + OCEAN_SOURCE_DIR +
          "/config/jira/port-app-config.yaml\n    config: {api_url: https://acme.atlassian.net}\n");
  ServingOceand o(dir.path() / "oceand.yaml", dir.path() / "oceand.log");
  const HeaderList json{{"Content-Type", "application/json"}};
  auto processed = [&](const char* integration) {
    return o.metric("oceand_events_processed_total", {{"integration", integration}});
  };
  HeaderList github = json;
  github.emplace_back("X-GitHub-Event", "ping");
  CHECK(o.post("/integration/webhook", R"({"zen": "hi"})", github).status == 200);
  REQUIRE(wait_until([&] { return processed("github") == 1; }));
  CHECK(o.post("/integration/webhook",
               R"({"webhookEvent": "jira:unknown_event", "x": {"webhookEvent": 1}})", json)
            .status == 200);
  REQUIRE(wait_until([&] { return processed("jira") == 1; }));
  CHECK(processed("github") == 1);
  // Nobody's: a body field nested below the top does not count.
  CHECK(o.post("/integration/webhook", R"({"x": {"webhookEvent": "jira:issue_created"}})", json)
            .status == 404);
  // Both claim it: ambiguous, so refused rather than guessed.
  CHECK(o.post("/integration/webhook", R"({"webhookEvent": "x"})", github).status == 404);
  // With the identifier, as before.
  CHECK(o.post("/integration/jira/webhook", R"({"webhookEvent": "x"})", json).status == 200);
}
