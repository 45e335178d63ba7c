// Hot reload of a real oceand process under a steady stream of webhooks: plugins replaced, added,
// removed and corrupt, a mapping changed, SIGHUP storms and fifty reloads in a row.
#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include <atomic>
#include <regex>
#include <set>
#include <thread>

#include "plugins/plugin_library.hpp"
#include "support/oceand_process.hpp"

using namespace oceand;
using namespace oceand::test;

namespace {

const char* kVersionedMapping = R"(resources:
  - kind: thing
    selector: {query: "true"}
    port:
      entity:
        mappings:
          identifier: ".id | tostring"
          blueprint: '"versioned"'
          properties:
            version: ".version"
)";

// The same mapping with one more property.
const std::string kVersionedMappingChanged =
    std::string(kVersionedMapping) + "            mapped: '\"second\"'\n";

class ReloadRig {
 public:
  ReloadRig() {
    fs::create_directories(plugins());
    install("example", "example.so");
    install("versioned_v1", "versioned.so");
    install("scripted", "scripted.so");
    write_file(dir_.path() / "scripted" / "port-app-config.yaml", kScriptedMapping);
    write_file(mapping_file(), kVersionedMapping);
    write_file(dir_.path() / "oceand.yaml",
               "server: {host: 127.0.0.1, port: 0}\n"
               "queue: {backend: memory}\n"
               "event_workers_count: 4\n"
               "port: {local_db: " +
                   (dir_.path() / "entities.db").string() +
                   "}\n"
                   "plugins: {dir: " +
                   plugins().string() + ", cache_dir: " + (dir_.path() / "cache").string() +
                   "}\n"
                   "integrations:\n"
                   "  example:\n    mapping: " +
                   OCEAN_SOURCE_DIR +
                   "/config/example/port-app-config.yaml\n"
                   "  versioned:\n    mapping: " +
                   mapping_file().string() + "\n");
    log_ = dir_.path() / "oceand.log";
    process_ = std::make_unique<OceandProcess>(
        std::vector<std::string>{"--config", (dir_.path() / "oceand.yaml").string()}, log_);
    int port = 0;
    REQUIRE(wait_until([&] { return (port = listening_port(log_)) != 0; }));
    base_ = "http://127.0.0.1:" + std::to_string(port);
    int admin = 0;
    REQUIRE(wait_until([&] { return (admin = admin_listening_port(log_)) != 0; }));
    admin_base_ = "http://127.0.0.1:" + std::to_string(admin);
  }

  fs::path plugins() const { return dir_.path() / "plugins"; }
  fs::path mapping_file() const { return dir_.path() / "mappings" / "versioned.yaml"; }
  OceandProcess& process() { return *process_; }
  const fs::path& log() const { return log_; }

  // As docs/operations.md tells ops: copy to a temporary name in the same directory, then rename.
  void install(const std::string& built, const std::string& as) {
    fs::path tmp = plugins() / ("." + as + ".tmp");
    fs::copy_file(plugin_file(built), tmp, fs::copy_options::overwrite_existing);
    fs::rename(tmp, plugins() / as);
  }

  // /admin/* and /api/* on the admin listener, the rest on the main one.
  std::string base_for(const std::string& path) const {
    return path.rfind("/admin/", 0) == 0 || path.rfind("/api/", 0) == 0 ? admin_base_ : base_;
  }
  HttpResult post(const std::string& path, const std::string& body) {
    return HttpClient::request("POST", base_for(path) + path,
                               {{"Content-Type", "application/json"}}, body,
                               std::chrono::seconds(10));
  }
  HttpResult get(const std::string& path) {
    return HttpClient::request("GET", base_for(path) + path, {}, "", std::chrono::seconds(10));
  }
  rapidjson::Document admin_plugins() {
    rapidjson::Document d;
    auto r = get("/admin/plugins");
    if (r.status != 200) MESSAGE("GET /admin/plugins: " << r.status << " " << r.error);
    d.Parse(r.body.c_str());
    return d;
  }
  uint64_t generation() {
    auto d = admin_plugins();
    return d.IsObject() ? d["generation"].GetUint64() : 0;
  }
  int64_t last_reload_at() {
    auto d = admin_plugins();
    return d.IsObject() && d["last_reload"].IsObject() ? d["last_reload"]["at_ms"].GetInt64() : 0;
  }
  double metric(const std::string& series) {
    std::string text = get("/metrics").body;
    size_t pos = text.find("\n" + series + " ");
    if (pos == std::string::npos) return 0;
    return std::stod(text.substr(pos + series.size() + 2));
  }
  // SIGHUP, then waits for the reload's report.
  rapidjson::Document sighup() {
    int64_t before = last_reload_at();
    process_->signal(SIGHUP);
    REQUIRE(wait_until([&] { return last_reload_at() != before; }));
    rapidjson::Document d = admin_plugins();
    rapidjson::Document report;
    if (d.IsObject() && d.HasMember("last_reload"))
      report.CopyFrom(d["last_reload"], report.GetAllocator());
    return report;
  }

 private:
  TempDir dir_;
  fs::path log_;
  std::unique_ptr<OceandProcess> process_;
  std::string base_;
  std::string admin_base_;
};

// Posts to routes that exist throughout, until stopped, counting answers.
class SteadyLoad {
 public:
  explicit SteadyLoad(ReloadRig& rig) : rig_(rig), thread_([this] { run(); }) {}
  ~SteadyLoad() { stop(); }
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int accepted_versioned() const { return versioned_ok_; }
  int accepted_example() const { return example_ok_; }
  int refused() const { return refused_; }
  int last_id() const { return next_id_ - 1; }

 private:
  void run() {
    while (!stopping_ && next_id_ < 20000) {
      int id = next_id_;
      auto v = rig_.post("/integration/versioned/webhook", "{\"id\": " + std::to_string(id) + "}");
      auto e = rig_.post("/integration/example/webhook", "{\"id\": " + std::to_string(id) + "}");
      if (v.status == 200) ++versioned_ok_;
      if (e.status == 200) ++example_ok_;
      if (v.status != 200 || e.status != 200) {
        ++refused_;
        MESSAGE("non-2xx during reload: versioned " << v.status << ", example " << e.status);
      }
      next_id_ = id + 1;
    }
  }

  ReloadRig& rig_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> versioned_ok_{0}, example_ok_{0}, refused_{0}, next_id_{1};
  std::thread thread_;
};

std::string field(const rapidjson::Value& report, const char* key) {
  if (!report.IsObject() || !report.HasMember(key) || !report[key].IsString()) return "<missing>";
  return report[key].GetString();
}

double number(const rapidjson::Value& report, const char* key) {
  if (!report.IsObject() || !report.HasMember(key) || !report[key].IsNumber()) return -1;
  return report[key].GetDouble();
}

// The names a reload report lists under `key` (added, changed, removed), comma-separated.
std::string names(const rapidjson::Value& report, const char* key) {
  std::string out;
  if (!report.IsObject() || !report.HasMember(key) || !report[key].IsArray()) return "<missing>";
  for (const auto& n : report[key].GetArray())
    out += (out.empty() ? "" : ",") + std::string(n.GetString());
  return out;
}

}  // namespace

TEST_CASE("reload under load: replace, add, remove, corrupt plugin and a changed mapping") {
  ReloadRig rig;
  const std::string v1 = "oceand_plugin_handled_v1_total{plugin=\"versioned\"}";
  const std::string v2 = "oceand_plugin_handled_v2_total{plugin=\"versioned\"}";
  SteadyLoad load(rig);
  REQUIRE(wait_until([&] { return rig.metric(v1) >= 20; }));
  std::vector<double> reload_ms;

  // v1 -> v2.
  rig.install("versioned_v2", "versioned.so");
  auto report = rig.sighup();
  CHECK(field(report, "status") == "ok");
  CHECK(names(report, "changed") == "versioned");
  reload_ms.push_back(number(report, "duration_ms"));
  REQUIRE(wait_until([&] { return rig.metric(v2) >= 20; }));
  bool saw_v2 = false;
  rapidjson::Document plugins = rig.admin_plugins();
  for (const auto& f : plugins["plugins"].GetArray())
    saw_v2 |= std::string(f["name"].GetString()) == "versioned" &&
              std::string(f["version"].GetString()) == "2.0.0";
  CHECK(saw_v2);

  // A third plugin: its route appears.
  CHECK(rig.post("/integration/cplugin/c-hook", "{}").status == 404);
  rig.install("cplugin", "cplugin.so");
  report = rig.sighup();
  CHECK(field(report, "status") == "ok");
  CHECK(names(report, "added") == "cplugin");
  reload_ms.push_back(number(report, "duration_ms"));
  CHECK(rig.post("/integration/cplugin/c-hook", "{}").status == 200);

  // A changed mapping.
  write_file(rig.mapping_file(), kVersionedMappingChanged);
  report = rig.sighup();
  CHECK(field(report, "status") == "ok");
  reload_ms.push_back(number(report, "duration_ms"));

  // A removed plugin: its route goes.
  CHECK(rig.post("/integration/scripted/webhook", R"({"id": 1})").status == 200);
  fs::remove(rig.plugins() / "scripted.so");
  report = rig.sighup();
  CHECK(field(report, "status") == "ok");
  CHECK(names(report, "removed") == "scripted");
  reload_ms.push_back(number(report, "duration_ms"));
  CHECK(rig.post("/integration/scripted/webhook", R"({"id": 2})").status == 404);

  // A corrupt plugin: refused, the running generation keeps serving.
  uint64_t serving = rig.generation();
  write_file(rig.plugins() / "corrupt.so",
             "\x7f"
             "ELF but not really");
  report = rig.sighup();
  CHECK(field(report, "status") == "error");
  CHECK(field(report, "message").find("corrupt.so") != std::string::npos);
  CHECK(rig.generation() == serving);
  CHECK(rig.post("/integration/cplugin/c-hook", "{}").status == 200);
  fs::remove(rig.plugins() / "corrupt.so");

  // Let the stream run on v2 a little longer, then stop it and wait for the last event.
  double handled_before = rig.metric(v2);
  REQUIRE(wait_until([&] { return rig.metric(v2) >= handled_before + 20; }));
  load.stop();
  const int accepted = load.accepted_versioned();
  CHECK(load.refused() == 0);
  CHECK(load.accepted_example() == accepted);
  REQUIRE(wait_until([&] { return rig.metric(v1) + rig.metric(v2) >= accepted; },
                     std::chrono::seconds(30)));
  // Every accepted event was handled by exactly one of v1 and v2, and applied once.
  CHECK(rig.metric(v1) + rig.metric(v2) == accepted);
  REQUIRE(wait_until([&] {
    rapidjson::Document d;
    d.Parse(rig.get("/api/entities?blueprint=versioned&limit=1").body.c_str());
    return d.IsObject() && d["total"].GetInt() == accepted;
  }));
  rapidjson::Document last;
  last.Parse(rig.get("/api/entities/versioned/" + std::to_string(load.last_id())).body.c_str());
  REQUIRE(last.IsObject());
  CHECK(last["entity"]["properties"]["version"].GetInt() == 2);
  CHECK(std::string(last["entity"]["properties"]["mapped"].GetString()) == "second");
  rapidjson::Document first;
  first.Parse(rig.get("/api/entities/versioned/1").body.c_str());
  CHECK(first["entity"]["properties"]["version"].GetInt() == 1);

  double worst = *std::max_element(reload_ms.begin(), reload_ms.end());
  MESSAGE("reloads under load took " << reload_ms[0] << ", " << reload_ms[1] << ", " << reload_ms[2]
                                     << ", " << reload_ms[3] << " ms");
  CHECK(worst < 5000);  // a sanity bound, not a speed goal: scripts/bench measures reload time
}

TEST_CASE(
    "fifty reloads in a row and a SIGHUP storm leave descriptors, threads and memory bounded") {
  ReloadRig rig;
  auto reload = [&] {
    auto r = rig.post("/admin/reload", "");
    CHECK(r.status == 200);
  };
  // Warm up: the first loads and unloads settle allocator pools and thread-local sessions.
  for (int i = 0; i < 6; ++i) {
    rig.install(i % 2 ? "versioned_v1" : "versioned_v2", "versioned.so");
    reload();
    CHECK(
        rig.post("/integration/versioned/webhook", "{\"id\": " + std::to_string(i) + "}").status ==
        200);
  }
  const std::string handled =
      "oceand_events_processed_total{integration=\"versioned\",outcome=\"ok\"}";
  if (!wait_until([&] { return rig.metric(handled) >= 6; })) {
    MESSAGE(rig.get("/metrics").body);
    MESSAGE(read_file(rig.log()));
    FAIL("warm-up events were not processed");
  }
  ProcessFootprint before = footprint(rig.process().pid());

  for (int i = 0; i < 50; ++i) {
    rig.install(i % 2 ? "versioned_v1" : "versioned_v2", "versioned.so");
    reload();
    CHECK(rig.post("/integration/versioned/webhook", "{\"id\": " + std::to_string(100 + i) + "}")
              .status == 200);
  }
  REQUIRE(wait_until([&] { return rig.metric(handled) >= 56; }, std::chrono::seconds(30)));

  // A storm: SIGHUPs folded into a few reloads, never a crash.
  double reloads_before = rig.metric("oceand_reloads_total{outcome=\"ok\"}");
  for (int i = 0; i < 30; ++i) rig.process().signal(SIGHUP);
  REQUIRE(wait_until(
      [&] { return rig.metric("oceand_reloads_total{outcome=\"ok\"}") > reloads_before; }));
  CHECK(rig.get("/health").status == 200);
  CHECK(rig.metric("oceand_reloads_total{outcome=\"ok\"}") - reloads_before <= 30);

  // Only the current generation's library copies stay mapped.
  REQUIRE(wait_until([&] {
    ProcessFootprint now = footprint(rig.process().pid());
    return now.threads <= before.threads + 2 && now.fds <= before.fds + 2;
  }));
  ProcessFootprint after = footprint(rig.process().pid());
  MESSAGE("after 50 reloads: fds " << before.fds << " -> " << after.fds << ", threads "
                                   << before.threads << " -> " << after.threads << ", RSS "
                                   << before.rss_kib / 1024 << " -> " << after.rss_kib / 1024
                                   << " MiB");
  CHECK(after.fds <= before.fds + 2);
  CHECK(after.threads <= before.threads + 2);
#if !defined(__SANITIZE_ADDRESS__)
  // ASan's quarantine holds freed memory on purpose, so resident memory is bounded only without it.
  CHECK(after.rss_kib <= before.rss_kib + 16 * 1024);
#endif
  // Old generations are released: only the current copies of the three plugins stay mapped.
  auto mapped_copies = [&] {
    std::set<std::string> paths;
    std::istringstream maps(read_file("/proc/" + std::to_string(rig.process().pid()) + "/maps"));
    std::string line;
    while (std::getline(maps, line)) {
      size_t pos = line.find("/cache/");
      if (pos != std::string::npos) paths.insert(line.substr(line.find('/')));
    }
    return paths.size();
  };
  CHECK(wait_until([&] { return mapped_copies() <= 3; }));
  MESSAGE("plugin copies mapped after the reloads: " << mapped_copies());
  rig.process().signal(SIGTERM);
  CHECK(rig.process().wait_exit(std::chrono::seconds(15)) == 0);
}

TEST_CASE("a replaced plugin is unmapped once its events finish (no STB_GNU_UNIQUE pins it)") {
  ReloadRig rig;
  const std::string v1_copy = PluginLibrary::sha256_of(read_file(plugin_file("versioned_v1"))) + ".so";
  auto mapped = [&](const std::string& name) {
    return read_file("/proc/" + std::to_string(rig.process().pid()) + "/maps").find(name) !=
           std::string::npos;
  };
  REQUIRE(mapped(v1_copy));
  CHECK(rig.post("/integration/versioned/webhook", "{\"id\": 1}").status == 200);
  rig.install("versioned_v2", "versioned.so");
  REQUIRE(rig.post("/admin/reload", "").status == 200);
  CHECK(rig.post("/integration/versioned/webhook", "{\"id\": 2}").status == 200);
  CHECK(wait_until([&] { return rig.metric("oceand_queue_depth") == 0; }));
  CHECK_MESSAGE(wait_until([&] { return !mapped(v1_copy); }),
                read_file("/proc/" + std::to_string(rig.process().pid()) + "/maps"));
  CHECK(rig.metric("process_resident_memory_bytes") > 1 << 20);
}
