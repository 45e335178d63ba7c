#include "app/host.hpp"
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include "core/json_text.hpp"
#include "core/text.hpp"
#include "mapping/jq_program.hpp"
#include "mapping/port_app_config.hpp"

#include "ocean/plugin_abi.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "core/busy_marks.hpp"
#include "core/clock.hpp"
#include "core/cpu_gate.hpp"
#include "core/log.hpp"
#include "http/admin_access.hpp"
#include "http/http_server.hpp"
#include "mapping/jq_guard.hpp"
#include "port/local_applier.hpp"
#include "port/port_applier.hpp"
#include "queue/pg_connection.hpp"
#include "queue/queue_stores.hpp"

namespace oceand {

// The environment a mapping's `env` shows: every variable but those whose names say they hold a
// credential (OCEAN__PORT__CLIENT_SECRET, OCEAN__INTEGRATIONS__X__CONFIG__TOKEN,
// AWS_SECRET_KEY...), so a mapping — which Port's UI edits — can never read oceand's secrets.
static std::string mapping_environment(const std::vector<std::string>& environment) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  for (const auto& entry : environment) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    const std::string name = upper(entry.substr(0, eq));
    bool secret = false;
    for (const char* word : {"SECRET", "TOKEN", "PASSWORD", "PASSWD", "PRIVATE", "KEY",
                             "CREDENTIAL", "CLIENT_ID", "AUTH", "COOKIE", "SESSION"})
      secret = secret || name.find(word) != std::string::npos;
    if (secret) continue;
    w.Key(entry.data(), static_cast<rapidjson::SizeType>(eq));
    w.String(entry.data() + eq + 1, static_cast<rapidjson::SizeType>(entry.size() - eq - 1));
  }
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

Host::Host(HostOptions options)
    : options_(std::move(options)), services_(metrics_), plugins_(services_) {
  config_ =
      std::make_shared<HostConfig>(load_host_config(options_.config_path, options_.environment));
  LogLevel level;
  if (Log::parse_level(config_->log_level, level)) Log::set_level(level);
  Log::set_format(config_->log_format == "json" ? Log::Format::json : Log::Format::text);
  for (const auto& warning : config_->warnings) OCEAND_LOG_WARN("config") << warning;
  set_jq_limits(
      JqLimits{config_->mapping_max_eval_seconds, config_->mapping_max_eval_memory_mb << 20});
  set_jq_environment(config_->jq_environment ? mapping_environment(options_.environment) : "{}");
  services_.set_config_source([this] {
    auto current = plugins_.current();
    return current ? current->config : config_ptr();
  });
  services_.set_raw_applier(
      [this](const std::string& plugin, const std::string& integration, const std::string& kind,
             const std::string& items,
             bool deletion) { return apply_raw(plugin, integration, kind, items, deletion); });
}

void Host::make_applier() {
  const PortConfig& port = config_->port;
  if (port.applier == "port") {
    PortSettings settings;
    settings.base_url = port.base_url;
    settings.client_id = port.client_id;
    settings.client_secret = port.client_secret;
    settings.timeout =
        std::chrono::milliseconds(static_cast<long>(port.request_timeout_seconds * 1000));
    port_client_ = std::make_unique<PortClient>(settings, metrics_);
    PortApplierSettings applier;
    applier.max_retries = port.max_retries;
    applier.max_concurrent_requests = port.max_concurrent_requests;
    applier.batch_max_entities = port.upsert_batch_max_length;
    applier.batch_max_bytes = port.upsert_batch_max_bytes;
    applier.delete_batch_max = std::min<size_t>(port.delete_batch_max_size, 100);
    applier_ = std::make_unique<PortApplier>(*port_client_, applier, metrics_);
    plugins_.set_mapping_fetcher([client = port_client_.get()](const std::string& id) {
      return client->integration_config(id);
    });
    OCEAND_LOG_INFO("oceand") << "entities go to Port at " << port.base_url;
  } else {
    try {
      store_ = std::make_unique<EntityStore>(port.local_db);
    } catch (const EntityStoreError& e) {
      throw ConfigError(e.what());
    }
    applier_ = std::make_unique<LocalApplier>(*store_, metrics_);
    OCEAND_LOG_INFO("oceand") << "entities go to the embedded store "
                              << redact_pg_url(port.local_db)
                              << " (GET /api/entities?blueprint=...)";
  }
  catalog_ = std::make_unique<CatalogSink>(*applier_, metrics_, &samples_);
}

ocean_status Host::apply_raw(const std::string& plugin, const std::string& integration,
                             const std::string& kind, const std::string& items_json,
                             bool deletion) {
  const char* what = deletion ? "unregister_raw" : "register_raw";
  auto generation = plugins_.current();
  const Integration* in = generation ? generation->integration(integration) : nullptr;
  if (!in) {
    OCEAND_LOG_ERROR("oceand") << what << ": no integration '" << integration << "'";
    return OCEAN_STATUS_FAILED;
  }
  // A plugin writes only its own integrations' entities.
  if (!in->plugin || in->plugin->name() != plugin) {
    OCEAND_LOG_ERROR_LIMITED("oceand", std::string(what) + " " + plugin + " " + integration)
        << what << " by plugin '" << plugin << "' for integration '" << integration
        << "', which plugin '" << in->config.plugin << "' serves: refused";
    return OCEAN_STATUS_FAILED;
  }
  if (!catalog_) {
    OCEAND_LOG_ERROR("oceand") << what << ": results go to a test sink in this host";
    return OCEAN_STATUS_FAILED;
  }
  auto timeout =
      std::chrono::milliseconds(static_cast<long>(config_->max_event_processing_seconds * 1000));
  std::string error = catalog_->apply_raw(*in, kind, items_json, deletion, timeout);
  if (!error.empty()) {
    OCEAND_LOG_ERROR("oceand") << integration << " " << what << " of kind " << kind
                               << " failed: " << error;
    return OCEAN_STATUS_FAILED;
  }
  return OCEAN_STATUS_OK;
}

Host::~Host() {
  mapping_watch_.reset();  // its reloads use everything else
  stop();
  if (crash_ledger_) set_crash_ledger_fd(-1);
}

// The HTTP layer's view of this host (http/http_deps.hpp): each handler gets only what it uses.
HttpDeps Host::make_http_deps() {
  HttpDeps d;
  auto config = [this]() -> const HostConfig& { return this->config(); };
  auto metrics = [this]() -> Metrics& { return metrics_; };
  auto plugins = [this]() -> PluginManager& { return plugins_; };
  auto queue = [this]() -> EventQueue& { return this->queue(); };
  d.ingress = {config, metrics, plugins, queue, [this] { return accepting(); }};
  StatusDeps& s = d.admin;
  s.config = config;
  s.metrics = metrics;
  s.plugins = plugins;
  s.queue = queue;
  s.dead_letters = [this]() -> DeadLetterStore& { return this->dead_letters(); };
  s.recent_failures = [this]() -> const RecentFailures& { return engine().recent_failures(); };
  s.status_rates = [this]() -> RateWindow& { return status_rates_; };
  s.port = [this] { return port(); };
  s.unready_reason = [this] { return unready_reason(); };
  s.reload = [this] { return reload(); };
  s.last_reload = [this] { return last_reload(); };
  d.admin.ready = [this] { return ready(); };
  d.admin.raw_samples = [this]() -> const RawSamples& { return samples_; };
  d.entities = {config, [this] { return entity_store(); }};
  return d;
}

std::shared_ptr<const HostConfig> Host::config_ptr() const {
  return config_;
}

namespace {

// The process_* metrics every Prometheus client library exports, read from /proc/self.
void describe_process_metrics(Metrics& metrics) {
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  auto statm = [](int field) {
    std::ifstream in("/proc/self/statm");
    double v = 0;
    for (int i = 0; i <= field && in >> v; ++i) {
    }
    return v;
  };
  auto stat_field = [](int field) {  // 1-based, as in proc(5)
    std::ifstream in("/proc/self/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = text.rfind(')');  // the command name may hold spaces
    if (close == std::string::npos) return 0.0;
    std::istringstream rest(text.substr(close + 2));
    std::string v;
    for (int i = 3; i <= field && rest >> v; ++i) {
    }
    return std::strtod(v.c_str(), nullptr);
  };
  metrics.describe("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  metrics.gauge("process_resident_memory_bytes", {}, [=] { return statm(1) * page; });
  metrics.describe("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
  metrics.gauge("process_virtual_memory_bytes", {}, [=] { return statm(0) * page; });
  metrics.describe("process_cpu_seconds_total", "counter",
                   "Total user and system CPU time spent in seconds.");
  metrics.gauge("process_cpu_seconds_total", {},
                [=] { return (stat_field(14) + stat_field(15)) / ticks; });
  metrics.describe("process_open_fds", "gauge", "Number of open file descriptors.");
  metrics.gauge("process_open_fds", {}, [] {
    double n = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
      ++n;
    return n;
  });
  metrics.describe("process_start_time_seconds", "gauge",
                   "Start time of the process since the Unix epoch in seconds.");
  const double started = static_cast<double>(unix_ms()) / 1000.0;
  metrics.gauge("process_start_time_seconds", {}, [=] { return started; });
}

}  // namespace

void Host::describe_metrics() {
  metrics_.describe("oceand_events_received_total", "counter",
                    "Webhook events accepted at ingress.");
  metrics_.describe("oceand_events_duplicate_total", "counter",
                    "Deliveries answered 200 but not queued again (same delivery id).");
  metrics_.describe("oceand_ingress_rejected_total", "counter",
                    "Webhook requests refused at ingress, by reason.");
  metrics_.describe("oceand_events_processed_total", "counter", "Events finished, by outcome.");
  metrics_.describe("oceand_tasks_total", "counter",
                    "Processor tasks finished, by processor and outcome.");
  metrics_.describe("oceand_task_retries_total", "counter", "Retries scheduled.");
  metrics_.describe("oceand_task_rate_limit_waits_total", "counter",
                    "Attempts that waited for their plugin's rate-limit budget (no retry spent).");
  metrics_.describe("oceand_plugin_rate_limit_held_total", "counter",
                    "Plugin HTTP calls not sent because their rate-limit budget was spent, by "
                    "plugin and budget.");
  metrics_.describe("oceand_events_dropped_total", "counter",
                    "Events dropped by authenticate or validate_payload.");
  metrics_.describe("oceand_events_dead_lettered_total", "counter",
                    "Events moved to the dead letters.");
  metrics_.describe(
      "oceand_plugin_failures_total", "counter",
      "Plugin hooks that failed to answer (an exception escaped), by plugin and hook.");
  metrics_.describe("oceand_workers_abandoned_total", "counter",
                    "Workers given up on because a handler ignored cancel past its deadline; each "
                    "was replaced.");
  metrics_.describe("oceand_event_processing_seconds", "histogram",
                    "Time from routing to the end of processing.");
  metrics_.describe("oceand_event_end_to_end_seconds", "histogram",
                    "Time from accept to the end of processing.");
  metrics_.describe("oceand_queue_depth", "gauge", "Events accepted and not yet finished.");
  metrics_.describe("oceand_dead_letters", "gauge", "Events held in the dead letters.");
  metrics_.describe("oceand_entities_mapped_total", "counter",
                    "Entities produced by mappings, by integration and operation.");
  metrics_.describe("oceand_entities_skipped_total", "counter",
                    "Mapped items without identifier or blueprint.");
  metrics_.describe("oceand_port_requests_total", "counter",
                    "Port API calls, by endpoint and status.");
  metrics_.describe("oceand_port_entities_total", "counter",
                    "Entities sent to Port, by final outcome.");
  metrics_.describe("oceand_port_retries_total", "counter", "Port API calls retried.");
  metrics_.describe("oceand_reloads_total", "counter", "Reloads, by outcome.");
  metrics_.describe("oceand_reload_seconds", "histogram",
                    "Time from the start of a reload to the switch (or the failure).");
  metrics_.describe("oceand_local_entities_total", "counter",
                    "Entities written to the embedded store, by operation.");
  metrics_.describe(
      "oceand_plugin_events_in_flight", "gauge",
      "Events taken from the queue and not yet finished, by the plugin serving them.");
  metrics_.describe("oceand_plugin_http_requests_total", "counter",
                    "HTTP requests plugins made through the host (ocean::http_request), by plugin "
                    "and status (0: no answer).");
  describe_process_metrics(metrics_);
  metrics_.describe("oceand_build_info", "gauge",
                    "Always 1: the running oceand's version and plugin ABI in its labels.");
  metrics_.gauge("oceand_build_info",
                 {{"version", OCEAND_VERSION},
                  {"abi", std::to_string(OCEAN_ABI_VERSION_MAJOR) + "." +
                              std::to_string(OCEAN_ABI_VERSION_MINOR)}},
                 [] { return 1.0; });
  metrics_.gauge("oceand_queue_depth", {},
                 [this] { return queue_ ? static_cast<double>(queue_->depth()) : 0.0; });
  metrics_.gauge("oceand_dead_letters", {}, [this] {
    return dead_letters_ ? static_cast<double>(dead_letters_->size()) : 0.0;
  });
}

void Host::start() {
  describe_metrics();
  OCEAND_LOG_INFO("oceand") << "configuration from " << config_->source;
  if (!options_.sink) make_applier();
  if (port_client_) token_watch_ = std::make_unique<PortTokenWatch>(*port_client_);
  auto generation = plugins_.build(config_);
  plugins_.activate(generation);

  QueueStores stores = open_queue_stores(config_->queue);
  queue_ = std::move(stores.queue);
  dead_letters_ = std::move(stores.dead_letters);
  // A file of this machine's own, whatever the backend: with postgres, an event that crashed this
  // instance is quarantined when it runs here again.
  if (config_->queue.backend != "memory") {
    try {
      std::filesystem::path parent = std::filesystem::path(config_->queue.path).parent_path();
      if (!parent.empty()) std::filesystem::create_directories(parent);
      crash_ledger_ = std::make_unique<CrashLedger>(config_->queue.path + ".crashes");
    } catch (const std::exception& e) {
      throw ConfigError(std::string("queue.path: ") + e.what());
    }
  }
  // From here a plugin that crashes the process leaves a line naming itself, and (durable queue)
  // a ledger record that keeps its event from crash-looping oceand.
  install_fatal_signal_handlers(crash_ledger_ ? crash_ledger_->fd() : -1);
  sink_ = options_.sink ? options_.sink : catalog_.get();
  EventEngine::Settings settings;
  settings.workers = config_->event_workers_count;
  settings.nice = config_->event_workers_nice;
  settings.idle = config_->event_workers_policy == "idle";
  settings.on_cpu = config_->event_workers_on_cpu > 0
                        ? static_cast<size_t>(config_->event_workers_on_cpu)
                        : CpuGate::usable_cpus();
  settings.max_event_processing_seconds = config_->max_event_processing_seconds;
  settings.crash_limit = static_cast<unsigned>(config_->plugins_crash_limit);
  // Read from the generation serving now, so a reload can change an integration's limit.
  settings.max_concurrency = [this](const std::string& integration) {
    auto generation = plugins_.current();
    const HostConfig& config = generation ? *generation->config : *config_;
    return config.max_concurrency(integration);
  };
  engine_ =
      std::make_unique<EventEngine>(settings, *queue_, *dead_letters_, plugins_, *sink_, metrics_);
  engine_->set_crash_ledger(crash_ledger_.get());
  engine_->start();

  http_deps_ = make_http_deps();
  http_ = std::make_unique<HttpServer>(http_deps_, Listener::main);
  if (!config_->admin_listen.empty())
    admin_http_ = std::make_unique<HttpServer>(http_deps_, Listener::admin);
  http_->start();
  if (admin_http_) admin_http_->start();
  accepting_ = true;
  started_ = true;
  OCEAND_LOG_INFO("oceand") << "listening on " << config_->server.host << ":" << http_->port();
  if (admin_http_) {
    OCEAND_LOG_INFO("oceand") << "admin listening on " << config_->admin_host() << ":"
                              << admin_http_->port();
    Poco::Net::IPAddress bound;
    if (Poco::Net::IPAddress::tryParse(config_->admin_host(), bound) && !is_loopback(bound) &&
        config_->admin_token.empty()) {
      OCEAND_LOG_WARN("oceand")
          << "admin.listen " << config_->admin_listen
          << " is not a loopback address: other hosts reaching it are refused "
             "until admin.token is set";
    }
  } else {
    OCEAND_LOG_INFO("oceand") << "no admin listener (admin.listen is empty)";
  }
  plugins_.start_integrations(generation);
  if (port_client_ && config_->port.mapping_refresh_seconds > 0)
    mapping_watch_ = std::make_unique<Periodic>(
        "port-mappings",
        std::chrono::milliseconds(static_cast<long>(config_->port.mapping_refresh_seconds * 1000)),
        [this] { reload_if_port_mappings_changed(); });
}

// Ocean reads the mapping kept in Port for every event; oceand reads it every
// port.mapping_refresh_seconds and reloads when one changed, so an edit in Port's UI takes effect
// without a SIGHUP (and an unchanged one costs one GET per integration, no reload).
void Host::reload_if_port_mappings_changed() {
  auto generation = plugins_.current();
  if (!generation || !port_client_) return;
  for (const auto& [id, integration] : generation->integrations) {
    if (!integration.config.mapping_path.empty() || !integration.mapping) continue;
    std::string fresh;
    try {
      auto now =
          parse_port_app_config(port_client_->integration_config(id), "Port's mapping of " + id);
      fresh = now.document ? json_text(*now.document) : std::string();
    } catch (const std::exception& e) {
      OCEAND_LOG_DEBUG("oceand") << "integration " << id
                                 << ": Port's mapping not read again: " << e.what();
      continue;
    }
    const std::string running =
        integration.mapping->document ? json_text(*integration.mapping->document) : std::string();
    if (fresh == running) continue;
    OCEAND_LOG_INFO("oceand") << "integration " << id << ": its mapping changed in Port; reloading";
    reload();
    return;
  }
}

void Host::stop() {
  if (!started_.exchange(false)) return;
  mapping_watch_.reset();  // no reload may start while stopping
  OCEAND_LOG_INFO("oceand") << "shutting down: no new events; draining for up to "
                            << config_->max_wait_seconds_before_shutdown << " s";
  accepting_ = false;
  queue_->close();
  engine_->stop(std::chrono::duration<double>(config_->max_wait_seconds_before_shutdown));
  token_watch_.reset();
  if (applier_) applier_->stop();
  // Both listeners close at once: each waits for its acceptor to notice.
  auto admin_stopped = std::async(std::launch::async, [this] {
    if (admin_http_) admin_http_->stop();
  });
  http_->stop();
  admin_stopped.wait();
  plugins_.wait_for_starts(
      std::chrono::milliseconds(static_cast<long>(config_->on_start_timeout_seconds * 1000)));
  Log::flush_suppressed(true);
  OCEAND_LOG_INFO("oceand") << "stopped";
}

bool Host::ready() const {
  return unready_reason().empty();
}

std::string Host::unready_reason() const {
  if (!started_) return "not started, or shutting down";
  if (plugins_.current() == nullptr) return "no plugin generation loaded";
  if (!queue_ || !queue_->is_open()) return "the queue is closed";
  if (std::string problem = queue_->problem(); !problem.empty()) return problem;
  if (port_client_)
    if (std::string problem = port_client_->token_problem(); !problem.empty()) return problem;
  // A configured integration whose plugin is not loaded answers every webhook 404.
  auto generation = plugins_.current();
  for (const auto& [id, integration] : generation->integrations)
    if (!integration.plugin && !integration.config.implicit)
      return "integration '" + id + "' names plugin '" + integration.config.plugin +
             "', which is not loaded";
  return {};
}

uint16_t Host::port() const {
  return http_ ? http_->port() : 0;
}

uint16_t Host::admin_port() const {
  return admin_http_ ? admin_http_->port() : 0;
}

ReloadReport Host::reload() {
  std::unique_lock lock(reload_mutex_);
  const uint64_t ticket = ++reloads_requested_;
  if (reloading_) {
    // Folded into the reload that starts after the running one.
    reload_done_.wait(lock, [&] { return reloads_finished_ >= ticket; });
    return last_reload_;
  }
  reloading_ = true;
  while (reloads_finished_ < reloads_requested_) {
    const uint64_t covers = reloads_requested_;
    lock.unlock();
    ReloadReport report;
    try {
      report = reload_once();
    } catch (const std::exception& e) {
      report.error = e.what();
    }
    lock.lock();
    last_reload_ = std::move(report);
    reloads_finished_ = covers;
    reload_done_.notify_all();
  }
  reloading_ = false;
  return last_reload_;
}

ReloadReport Host::last_reload() const {
  std::lock_guard lock(reload_mutex_);
  return last_reload_;
}

namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out.empty() ? "-" : out;
}

}  // namespace

ReloadReport Host::reload_once() {
  auto began = std::chrono::steady_clock::now();
  ReloadReport report;
  auto current = plugins_.current();
  report.generation = current ? current->number : 0;
  auto finish = [&](bool ok) {
    report.ok = ok;
    report.at_ms = unix_ms();
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    metrics_.add("oceand_reloads_total", {{"outcome", ok ? "ok" : "failed"}});
    metrics_.observe("oceand_reload_seconds", {}, report.seconds);
  };
  try {
    auto config =
        std::make_shared<HostConfig>(load_host_config(options_.config_path, options_.environment));
    auto generation = plugins_.build(config);
    report.files = generation->files;

    // A file that is refused now and was not refused as the same bytes before is a failed change:
    // keep serving what works rather than drop the plugin it was meant to replace.
    for (const auto& f : generation->files) {
      if (f.state == "loaded") continue;
      bool known = false;
      if (current)
        for (const auto& old : current->files)
          known |= old.file == f.file && old.sha256 == f.sha256 && old.state != "loaded";
      if (!known) throw PluginLoadError(f.file + " refused: " + f.error);
    }
    for (const auto& [name, lib] : generation->plugins) {
      const PluginLibrary* before = nullptr;
      if (current) {
        auto it = current->plugins.find(name);
        if (it != current->plugins.end()) before = it->second.get();
      }
      if (!before)
        report.added.push_back(name);
      else if (before->sha256() != lib->sha256())
        report.changed.push_back(name);
    }
    if (current)
      for (const auto& [name, _] : current->plugins)
        if (!generation->plugins.count(name)) report.removed.push_back(name);

    // An integration starts again when its plugin or its settings changed (its on_start may
    // register webhooks with them), or when base_url did, which every on_start reads.
    const bool base_url_changed = current && current->config->base_url != config->base_url;
    std::vector<std::string> started;
    for (const auto& [id, in] : generation->integrations) {
      const Integration* before = current ? current->integration(id) : nullptr;
      if (!before || before->plugin != in.plugin || before->config.settings != in.config.settings ||
          base_url_changed)
        started.push_back(id);
    }
    if (current) {
      auto ignored = start_only_changes(*current->config, *config);
      if (!ignored.empty()) {
        std::string keys;
        for (const auto& key : ignored) keys += (keys.empty() ? "" : ", ") + key;
        OCEAND_LOG_WARN("oceand")
            << "reload: " << keys
            << " changed, but are read only at start: restart oceand to apply "
               "them (the running values stay)";
        report.ignored = ignored;
      }
    }
    plugins_.activate(generation);
    set_jq_limits(
        JqLimits{config->mapping_max_eval_seconds, config->mapping_max_eval_memory_mb << 20});
    report.generation = generation->number;
    finish(true);
    OCEAND_LOG_INFO("oceand") << "reload: generation " << generation->number << " serving after "
                              << static_cast<long>(report.seconds * 1000) << " ms; plugins added "
                              << joined(report.added) << ", changed " << joined(report.changed)
                              << ", removed " << joined(report.removed);
    if (!started.empty()) plugins_.start_integrations(generation, started);
  } catch (const std::exception& e) {
    report.error = e.what();
    finish(false);
    OCEAND_LOG_ERROR("oceand") << "reload failed, generation " << report.generation
                               << " keeps serving: " << e.what();
  }
  return report;
}

}  // namespace oceand
