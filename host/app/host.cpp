#include "app/host.hpp"

#include "core/log.hpp"
#include "http/http_server.hpp"
#include "processing/log_sink.hpp"
#include "queue/queue_stores.hpp"

namespace oceand {

Host::Host(HostOptions options)
    : options_(std::move(options)), services_(metrics_), plugins_(services_) {
  config_ =
      std::make_shared<HostConfig>(load_host_config(options_.config_path, options_.environment));
  LogLevel level;
  if (Log::parse_level(config_->log_level, level)) Log::set_level(level);
  services_.set_config_source(
      [this] { return plugins_.current() ? plugins_.current()->config : config_ptr(); });
}

Host::~Host() {
  stop();
}

std::shared_ptr<const HostConfig> Host::config_ptr() const {
  return config_;
}

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
  metrics_.describe("oceand_events_dropped_total", "counter",
                    "Events dropped by authenticate or validate_payload.");
  metrics_.describe("oceand_events_dead_lettered_total", "counter",
                    "Events moved to the dead letters.");
  metrics_.describe("oceand_event_processing_seconds", "histogram",
                    "Time from routing to the end of processing.");
  metrics_.describe("oceand_event_end_to_end_seconds", "histogram",
                    "Time from accept to the end of processing.");
  metrics_.describe("oceand_queue_depth", "gauge", "Events accepted and not yet finished.");
  metrics_.describe("oceand_dead_letters", "gauge", "Events held in the dead letters.");
  metrics_.gauge("oceand_queue_depth", {},
                 [this] { return queue_ ? static_cast<double>(queue_->depth()) : 0.0; });
  metrics_.gauge("oceand_dead_letters", {}, [this] {
    return dead_letters_ ? static_cast<double>(dead_letters_->size()) : 0.0;
  });
}

void Host::start() {
  describe_metrics();
  LOG_INFO("oceand") << "configuration from " << config_->source;
  auto generation = plugins_.build(config_);
  plugins_.activate(generation);

  QueueStores stores = open_queue_stores(config_->queue);
  queue_ = std::move(stores.queue);
  dead_letters_ = std::move(stores.dead_letters);
  if (options_.sink) {
    sink_ = options_.sink;
  } else {
    own_sink_ = std::make_unique<LogSink>(metrics_);
    sink_ = own_sink_.get();
  }
  EventEngine::Settings settings;
  settings.workers = config_->event_workers_count;
  settings.max_event_processing_seconds = config_->max_event_processing_seconds;
  engine_ =
      std::make_unique<EventEngine>(settings, *queue_, *dead_letters_, plugins_, *sink_, metrics_);
  engine_->start();

  http_ = std::make_unique<HttpServer>(*this);
  http_->start();
  accepting_ = true;
  started_ = true;
  LOG_INFO("oceand") << "listening on " << config_->server.host << ":" << http_->port();
  plugins_.start_integrations(generation);
}

void Host::stop() {
  if (!started_.exchange(false)) return;
  LOG_INFO("oceand") << "shutting down: no new events; draining for up to "
                     << config_->max_wait_seconds_before_shutdown << " s";
  accepting_ = false;
  queue_->close();
  engine_->stop(std::chrono::duration<double>(config_->max_wait_seconds_before_shutdown));
  http_->stop();
  plugins_.wait_for_starts(
      std::chrono::milliseconds(static_cast<long>(config_->on_start_timeout_seconds * 1000)));
  LOG_INFO("oceand") << "stopped";
}

bool Host::ready() const {
  return started_ && plugins_.current() != nullptr && queue_ && queue_->is_open();
}

uint16_t Host::port() const {
  return http_ ? http_->port() : 0;
}

ReloadReport Host::reload() {
  std::lock_guard lock(reload_mutex_);
  ReloadReport report;
  auto current = plugins_.current();
  report.generation = current ? current->number : 0;
  try {
    auto config =
        std::make_shared<HostConfig>(load_host_config(options_.config_path, options_.environment));
    auto generation = plugins_.build(config);
    std::vector<std::string> started;
    for (const auto& [id, in] : generation->integrations) {
      const Integration* before = current ? current->integration(id) : nullptr;
      if (!before || before->plugin != in.plugin) started.push_back(id);
    }
    plugins_.activate(generation);
    report.ok = true;
    report.generation = generation->number;
    if (!started.empty()) plugins_.start_integrations(generation, started);
  } catch (const std::exception& e) {
    report.error = e.what();
    LOG_ERROR("oceand") << "reload failed, generation " << report.generation
                        << " keeps serving: " << e.what();
  }
  return report;
}

}  // namespace oceand
