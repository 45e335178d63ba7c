#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config/host_config.hpp"
#include "core/metrics.hpp"
#include "core/periodic.hpp"
#include "core/rate_window.hpp"
#include "http/http_deps.hpp"
#include "mapping/raw_samples.hpp"
#include "plugins/host_api.hpp"
#include "plugins/plugin_manager.hpp"
#include "plugins/reload_report.hpp"
#include "port/applier.hpp"
#include "port/catalog_sink.hpp"
#include "port/entity_store.hpp"
#include "port/port_client.hpp"
#include "processing/engine.hpp"
#include "queue/crash_ledger.hpp"
#include "queue/dead_letters.hpp"
#include "queue/event_queue.hpp"

namespace oceand {

class HttpServer;

struct HostOptions {
  std::optional<std::string> config_path;  // none: the embedded defaults
  std::vector<std::string> environment;    // "NAME=value" entries for OCEAN__ overrides
  ResultSink* sink = nullptr;              // none: mapping and the configured applier
};

// The whole oceand process as an object: configuration, plugins, queue, engine and HTTP server.
// main() runs one; tests run several in one process.
class Host {
 public:
  explicit Host(HostOptions options);
  ~Host();

  // Loads configuration, mappings and plugins, opens the queue and starts serving. Throws
  // ConfigError when the configuration or a mapping is invalid.
  void start();
  // Stops accepting, drains up to max_wait_seconds_before_shutdown, stops everything.
  void stop();
  // Re-reads configuration, mappings and plugins; switches only when all of it is valid. Safe from
  // any thread: requests that arrive while a reload runs fold into one more reload, and each caller
  // gets the report of a reload that began after its request.
  ReloadReport reload();
  // The last reload's report (none yet: generation 0).
  ReloadReport last_reload() const;

  const HostConfig& config() const { return *config_; }
  std::shared_ptr<const HostConfig> config_ptr() const;
  uint16_t port() const;
  uint16_t admin_port() const;  // 0 without an admin listener
  bool accepting() const { return accepting_.load(); }
  bool ready() const;
  std::string unready_reason() const;  // empty when ready

  Metrics& metrics() { return metrics_; }
  PluginManager& plugins() { return plugins_; }
  EventQueue& queue() { return *queue_; }
  DeadLetterStore& dead_letters() { return *dead_letters_; }
  EventEngine& engine() { return *engine_; }
  HostServices& services() { return services_; }
  // The embedded catalog when port.applier is local (and no test sink replaces the applier).
  EntityStore* entity_store() { return store_.get(); }
  // The newest raw results mapped, for mapping dry runs.
  const RawSamples& raw_samples() const { return samples_; }
  // The status page's rates (received, processed, ...) over the last minute.
  RateWindow& status_rates() { return status_rates_; }

 private:
  void describe_metrics();
  void make_applier();
  ReloadReport reload_once();
  HttpDeps make_http_deps();
  void reload_if_port_mappings_changed();
  ocean_status apply_raw(const std::string& plugin, const std::string& integration,
                         const std::string& kind, const std::string& items_json, bool deletion);

  HostOptions options_;
  std::shared_ptr<const HostConfig> config_;
  Metrics metrics_;
  HostServices services_;
  RawSamples samples_;
  RateWindow status_rates_;
  PluginManager plugins_;
  std::unique_ptr<EventQueue> queue_;
  std::unique_ptr<DeadLetterStore> dead_letters_;
  std::unique_ptr<CrashLedger> crash_ledger_;  // durable queue only; outlives the engine
  std::unique_ptr<EntityStore> store_;
  std::unique_ptr<PortClient> port_client_;
  std::unique_ptr<PortTokenWatch> token_watch_;  // port.applier "port": /ready's token check
  std::unique_ptr<Periodic> mapping_watch_;      // mappings kept in Port, read again
  std::unique_ptr<Applier> applier_;
  std::unique_ptr<CatalogSink> catalog_;
  ResultSink* sink_ = nullptr;
  std::unique_ptr<EventEngine> engine_;
  HttpDeps http_deps_;  // what the HTTP layer may ask of this host; outlives the servers
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<HttpServer> admin_http_;  // admin.listen
  std::atomic<bool> accepting_{false};
  std::atomic<bool> started_{false};
  mutable std::mutex reload_mutex_;
  std::condition_variable reload_done_;
  uint64_t reloads_requested_ = 0, reloads_finished_ = 0;
  bool reloading_ = false;
  ReloadReport last_reload_;
};

}  // namespace oceand
