#pragma once

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "app/host.hpp"
#include "client/http_client.hpp"
#include "mapping/port_app_config.hpp"
#include "plugins/generation.hpp"
#include "processing/result_sink.hpp"

namespace oceand::test {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "oceand-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// What a generation says of the file `file_name` in plugins.dir (null: not seen).
inline const PluginFileStatus* status_of(const Generation& gen, const std::string& file_name) {
  for (const auto& f : gen.files)
    if (fs::path(f.file).filename() == file_name) return &f;
  return nullptr;
}

// Path of a built plugin: test plugins first, then the bundled ones.
inline fs::path plugin_file(const std::string& name) {
  fs::path test = fs::path(OCEAN_TEST_PLUGIN_DIR) / (name + ".so");
  if (fs::exists(test)) return test;
  return fs::path(OCEAN_PLUGIN_DIR) / (name + ".so");
}

// Waits for `condition` with a deadline; true when it held in time.
inline bool wait_until(const std::function<bool()>& condition,
                       std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return condition();
}

// Records what processors produced, in the order it arrived.
class CapturingSink : public ResultSink {
 public:
  struct Entry {
    std::string integration, kind;
    uint64_t event_id;
    std::vector<std::string> updated, deleted;
  };
  DeferredApply apply(const Integration& integration, const ResourceMapping& resource,
                      const Event& event, RawResults results, EventUpserts&,
                      ApplyDone done) override {
    {
      std::lock_guard lock(mutex_);
      entries_.push_back({integration.config.identifier, resource.kind, event.id,
                          std::move(results.updated), std::move(results.deleted)});
    }
    done(ApplyOutcome::applied());
    return {};
  }
  std::vector<Entry> entries() const {
    std::lock_guard lock(mutex_);
    return entries_;
  }
  size_t size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
};

// The delays of the retries a host schedules, as its engine reports them.
struct RetryLog {
  std::mutex mutex;
  std::vector<std::pair<unsigned, double>> retries;  // (n-th retry, delay in seconds)
  void attach(Host& host) {
    host.engine().set_retry_observer([this](uint64_t, const std::string&, unsigned n, double d) {
      std::lock_guard lock(mutex);
      retries.emplace_back(n, d);
    });
  }
  std::vector<std::pair<unsigned, double>> numbered() {
    std::lock_guard lock(mutex);
    return retries;
  }
  std::vector<double> get() {
    std::vector<double> delays;
    for (const auto& r : numbered()) delays.push_back(r.second);
    return delays;
  }
};

inline const char* kScriptedMapping = R"(resources:
  - kind: thing
    selector: {query: "true"}
    port: {entity: {mappings: {identifier: ".id | tostring", blueprint: '"thing"'}}}
  - kind: other
    selector: {query: "true"}
    port: {entity: {mappings: {identifier: ".id | tostring", blueprint: '"other"'}}}
)";

// An in-process oceand on an ephemeral loopback port, with plugins copied into its own directory.
// Results go to a CapturingSink, or with `Results::applied` through mapping to the configured
// applier (the embedded store in the test's directory unless extra_yaml sets `port:`).
class TestHost {
 public:
  enum class Results { captured, applied };

  explicit TestHost(const std::vector<std::string>& plugins, const std::string& extra_yaml = "",
                    const std::string& integrations_yaml = "",
                    Results results = Results::captured) {
    fs::create_directories(dir_.path() / "plugins");
    for (const auto& p : plugins)
      fs::copy_file(plugin_file(p), dir_.path() / "plugins" / (p + ".so"));
    write_file(dir_.path() / "config" / "scripted" / "port-app-config.yaml", kScriptedMapping);
    write_file(dir_.path() / "config" / "cplugin" / "port-app-config.yaml",
               "resources:\n  - kind: c-kind\n    selector: {query: \"true\"}\n"
               "    port: {entity: {mappings: {identifier: .id, blueprint: '\"c\"'}}}\n");
    std::string yaml;
    if (extra_yaml.find("server:") == std::string::npos)
      yaml += "server: {host: 127.0.0.1, port: 0}\n";
    // OCEAN_TEST_QUEUE=sqlite runs the whole suite on the durable queue.
    if (extra_yaml.find("queue:") == std::string::npos) {
      const char* backend = std::getenv("OCEAN_TEST_QUEUE");
      yaml +=
          backend && std::string(backend) == "sqlite"
              ? "queue: {backend: sqlite, path: " + (dir_.path() / "var" / "queue.db").string() +
                    "}\n"
              : "queue: {backend: memory}\n";
    }
    if (extra_yaml.find("port:") == std::string::npos)
      yaml += "port: {local_db: " + (dir_.path() / "entities.db").string() + "}\n";
    yaml +=
        "log_level: warning\n"
        "plugins: {dir: " +
        (dir_.path() / "plugins").string() + ", cache_dir: " + (dir_.path() / "cache").string() +
        "}\n" + extra_yaml;
    if (!integrations_yaml.empty()) yaml += "integrations:\n" + integrations_yaml;
    config_path_ = dir_.path() / "config" / "oceand.yaml";
    write_file(config_path_, yaml);
    // The admin listener on an ephemeral port too, so that tests run side by side.
    std::vector<std::string> environment;
    if (extra_yaml.find("listen:") == std::string::npos)
      environment.push_back("OCEAN__ADMIN__LISTEN=127.0.0.1:0");
    host_ = std::make_unique<Host>(HostOptions{config_path_.string(), environment,
                                               results == Results::captured ? &sink_ : nullptr});
    host_->start();
  }
  ~TestHost() { host_->stop(); }

  HttpResult post(const std::string& path, const std::string& body, HeaderList headers = {}) {
    if (headers.empty()) headers.emplace_back("Content-Type", "application/json");
    return HttpClient::request("POST", url(path), headers, body, std::chrono::seconds(10));
  }
  HttpResult get(const std::string& path) {
    return HttpClient::request("GET", url(path), {}, "", std::chrono::seconds(10));
  }
  // /admin/* and /api/* go to the admin listener (where loopback needs no token), the rest to
  // the main one; main_url() reaches the main listener whatever the path.
  std::string url(const std::string& path) const {
    bool admin = path.rfind("/admin/", 0) == 0 || path.rfind("/api/", 0) == 0;
    return admin && host_->admin_port() ? admin_url(path) : main_url(path);
  }
  std::string main_url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(host_->port()) + path;
  }
  std::string admin_url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(host_->admin_port()) + path;
  }

  double plugin_counter(const std::string& name, const std::string& plugin = "scripted") {
    return host_->metrics().value("oceand_plugin_" + name + "_total", {{"plugin", plugin}});
  }
  double processed(const std::string& integration, const std::string& outcome) {
    return host_->metrics().value("oceand_events_processed_total",
                                  {{"integration", integration}, {"outcome", outcome}});
  }
  bool wait_processed(double n) {
    return wait_until([&] { return host_->metrics().total("oceand_events_processed_total") >= n; });
  }

  Host& host() { return *host_; }
  CapturingSink& sink() { return sink_; }
  const fs::path& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  fs::path config_path_;
  CapturingSink sink_;
  std::unique_ptr<Host> host_;
};

}  // namespace oceand::test
