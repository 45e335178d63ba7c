#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/config_error.hpp"

namespace oceand {

struct IntegrationConfig {
  std::string identifier;
  std::string plugin;
  std::string mapping_path;  // empty: none configured
  std::map<std::string, std::string>
      settings;           // the `config` block, flattened to dot-separated keys
  bool implicit = false;  // made for a plugin that no integration names
  // Workers this integration's events may hold at once; 0: the host's default
  // (HostConfig::default_max_concurrency), so one integration never holds every worker.
  int max_concurrency = 0;
};

struct ServerConfig {
  std::string host = "0.0.0.0";
  int port = 8000;
  std::size_t max_body_bytes = 1048576;
  int threads = 64;  // handler threads: requests being handled at once, not connections
  int max_queued_connections = 1024;  // the listen backlog
  int max_connections = 16384;        // open at once; lowered to what ulimit -n leaves
  int io_threads = 0;                 // I/O loops; 0: one per core (1..8)
  int idle_timeout_seconds = 60;      // no request in progress, no byte moving
  int request_timeout_seconds = 60;   // first byte of a request to the end of its body
};

struct QueueConfig {
  std::string backend = "sqlite";
  std::string path = "var/queue.db";
  // backend postgres: the libpq connection string or URI every instance of the cluster shares.
  std::string url;
  // How long an instance may miss renewing its lease before the others take its events over.
  double handover_seconds = 20;
  std::size_t max_pending = 100000;
  double dedupe_window_seconds = 3600;
  std::size_t dead_letter_retention = 10000;  // the newest kept; older ones are dropped (logged)
};

struct PortConfig {
  std::string applier = "local";
  std::string local_db = "var/entities.db";
  std::string base_url = "https://api.getport.io";
  std::string client_id;
  std::string client_secret;
  double request_timeout_seconds = 30;
  unsigned max_retries = 8;
  int max_concurrent_requests = 8;
  // How often the mappings kept in Port (integrations without a mapping file) are read again; a
  // change reloads. 0: only at start and reload.
  double mapping_refresh_seconds = 10;
  // Ocean's batch settings (top-level keys, Ocean's names and defaults).
  std::size_t upsert_batch_max_length = 20;      // upsert_entities_batch_max_length
  std::size_t upsert_batch_max_bytes = 1048576;  // upsert_entities_batch_max_size_in_bytes
  std::size_t delete_batch_max_size = 1000;      // delete_entities_max_batch_size (Port: <= 100)
};

struct HostConfig {
  ServerConfig server;
  std::string base_url = "http://localhost:8000";
  int event_workers_nice = 10;  // workers' CPU priority below ingress (0..19; 0: the same)
  // "idle": the workers run under SCHED_IDLE, so ingress takes the CPU from them the moment it
  // wants it; "normal": SCHED_OTHER at event_workers_nice.
  std::string event_workers_policy = "idle";
  int event_workers_count = 32;  // docs/benchmarks.md: slow third-party APIs are the usual limit
  // Workers computing at once; those waiting for a third party do not count. 0: one per CPU
  // oceand may run on.
  int event_workers_on_cpu = 0;
  double max_event_processing_seconds = 90;
  double max_wait_seconds_before_shutdown = 5;
  double on_start_timeout_seconds = 30;
  std::string plugins_dir = "build/plugins";
  std::string plugins_cache_dir = "var/plugin-cache";
  // sshd's StrictModes for plugins (plugins/plugin_file.hpp); false is the escape hatch.
  bool plugins_strict_modes = true;
  // An event that was running when a plugin crashed the process this many times is moved to the
  // dead letters (reason "crashed") instead of being run again (durable queue only).
  int plugins_crash_limit = 2;
  QueueConfig queue;
  PortConfig port;
  // Bounds on one jq evaluation (mapping/jq_guard.hpp): far above any real mapping.
  double mapping_max_eval_seconds = 2;
  std::size_t mapping_max_eval_memory_mb = 512;
  std::string admin_token;
  // The loopback admin listener (/admin/*, /api/entities, /health, /ready, /metrics): "host:port",
  // "[v6]:port"; empty: none. Envoy's convention.
  std::string admin_listen = "127.0.0.1:9901";
  std::string admin_host() const;  // of admin_listen, brackets removed
  int admin_port() const;
  std::string log_level = "info";
  std::string log_format = "text";  // text | json (one object per line)
  // Ocean's allow_environment_variables_jq_access: `env`/`$ENV` in mappings give the environment
  // (without any variable that looks like a credential), or {} when false.
  bool jq_environment = true;
  std::vector<IntegrationConfig> integrations;  // in file order
  std::string config_dir = "config";            // where implicit integrations look for mappings
  std::string source = "<embedded defaults>";
  // What loading accepted but has to say: Ocean settings it ignores, one line each (logged at
  // start, printed by --check).
  std::vector<std::string> warnings;

  const IntegrationConfig* integration(const std::string& identifier) const;
  // The workers one integration may hold when its max_concurrency is not set: three quarters of
  // event_workers_count (at least 1), so a stuck integration leaves the others a quarter.
  int default_max_concurrency() const;
  int max_concurrency(const std::string& identifier) const;
};

// Reads `path` (or the embedded defaults when empty), applies OCEAN__* overrides from `environment`
// (entries "NAME=value") and validates. Throws ConfigError naming the key and the problem.
// The keys read only at start (server, queue, port, admin, workers, log_level, ...) whose values
// differ: a reload keeps the running ones and says which it ignored. Names only, never values.
std::vector<std::string> start_only_changes(const HostConfig& before, const HostConfig& after);

HostConfig load_host_config(const std::optional<std::string>& path,
                            const std::vector<std::string>& environment);

// The environment of this process as "NAME=value" entries.
std::vector<std::string> process_environment();

}  // namespace oceand
