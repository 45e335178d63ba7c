#include "plugins/host_api.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "config/host_config.hpp"
#include "core/cpu_gate.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"

namespace oceand {

namespace {

thread_local CallContext* t_context = nullptr;

// What is lent right now: output tokens -> objects, event addresses (counted: one event may be
// lent by nested calls), and HTTP responses, which are the plugin's from the request until it frees
// them (a second free, or a handle the host never gave, is refused instead of freeing twice). One
// lock for all: a handful of lookups per event, never contended long.
struct Lent {
  std::mutex mutex;
  std::unordered_map<uintptr_t, void*> outputs;
  std::unordered_map<const ocean_event*, int> events;
  std::unordered_set<const ocean_http_response_handle*> responses;
  uintptr_t next = 1;
};
Lent& lent() {
  static Lent* l = new Lent();  // never destroyed: plugin threads may call in during exit
  return *l;
}

// Stale-handle warnings are rate-limited: a plugin thread looping on a dead handle must not flood
// the log. One line per second at most, with the count of the ones left out.
void warn_stale(const char* what, const char* callback) {
  static std::atomic<int64_t> last_second{0};
  static std::atomic<uint64_t> suppressed{0};
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::steady_clock::now().time_since_epoch())
                 .count();
  int64_t before = last_second.load();
  if (before == now || !last_second.compare_exchange_strong(before, now)) {
    ++suppressed;
    return;
  }
  uint64_t left_out = suppressed.exchange(0);
  OCEAND_LOG_ERROR("plugins")
      << "a plugin called " << callback << " with a " << what
      << " handle that is no longer valid (kept past the call it was given in); "
         "ignored"
      << (left_out ? " (" + std::to_string(left_out) + " more since)" : "");
}

template <class T>
T* resolve(T* token, const char* callback) {
  if (!token) return nullptr;
  Lent& l = lent();
  {
    std::lock_guard lock(l.mutex);
    auto it = l.outputs.find(reinterpret_cast<uintptr_t>(token));
    if (it != l.outputs.end()) return static_cast<T*>(it->second);
  }
  warn_stale("output", callback);
  return nullptr;
}

bool event_lent(const ocean_event* event, const char* callback) {
  if (!event) return false;
  Lent& l = lent();
  {
    std::lock_guard lock(l.mutex);
    if (l.events.count(event)) return true;
  }
  warn_stale("event", callback);
  return false;
}

std::string plugin_component(ocean_host* host) {
  return "plugin:" + (host->plugin_name.empty() ? host->file : host->plugin_name);
}

void api_log(ocean_host* host, ocean_log_level level, ocean_str message) {
  if (!host) return;
  LogLevel l = LogLevel::info;
  switch (level) {
    case OCEAN_LOG_DEBUG:
      l = LogLevel::debug;
      break;
    case OCEAN_LOG_INFO:
      l = LogLevel::info;
      break;
    case OCEAN_LOG_WARNING:
      l = LogLevel::warning;
      break;
    default:
      l = LogLevel::error;
      break;
  }
  if (!Log::enabled(l)) return;
  std::string component = plugin_component(host);
  std::string_view text(message.ptr ? message.ptr : "", message.len);
  // A plugin's warnings and errors often follow what senders do (one per forged delivery):
  // rate-limited per plugin and level. Its info and debug lines are its own business.
  if (l >= LogLevel::warning)
    Log::write_limited(l, component, component + (l == LogLevel::error ? " error" : " warning"),
                       text);
  else
    Log::write(l, component, text);
}

// An integration `host`'s plugin serves, or null (logged, rate-limited): a plugin reads and writes
// only its own integrations, never another plugin's secrets or catalog.
const IntegrationConfig* own_integration(ocean_host* host, const HostConfig& config,
                                         const std::string& integration, const char* callback) {
  const IntegrationConfig* ic = config.integration(integration);
  if (!ic || ic->plugin == host->plugin_name) return ic;
  std::string component = plugin_component(host);
  OCEAND_LOG_ERROR_LIMITED(component, component + " " + callback + " " + integration)
      << callback << " for integration '" << integration << "', which plugin '" << ic->plugin
      << "' serves: refused (a plugin reaches only its own integrations)";
  return nullptr;
}

// The configuration the calling hook runs on, or (outside hooks) the current one, held in `held`.
const HostConfig* config_in_reach(ocean_host* host, std::shared_ptr<const HostConfig>& held) {
  if (t_context && t_context->config) return t_context->config;
  if (!host->services->config_source()) return nullptr;
  held = host->services->config_source()();
  return held.get();
}

bool api_config_get(ocean_host* host, ocean_str integration, ocean_str key, ocean_str* value) {
  if (!host || !value) return false;
  std::shared_ptr<const HostConfig> held;
  const HostConfig* config = config_in_reach(host, held);
  if (!config) return false;
  const IntegrationConfig* ic =
      own_integration(host, *config, from_ocean(integration), "config_get");
  if (!ic) return false;
  const std::string name = from_ocean(key);
  // The view points into the generation's config, which outlives the hook (and, for `held`, stays
  // alive in the plugin manager until the next reload).
  for (const auto& declared : host->config_keys) {
    if (declared.name != name) continue;
    if (const std::string* set = declared_value(ic->settings, declared)) {
      *value = to_ocean(*set);
      return true;
    }
  }
  auto it = ic->settings.find(name);  // undeclared, or declared and set to ""
  if (it == ic->settings.end()) return false;
  *value = to_ocean(it->second);
  return true;
}

// A call that spends rate-limit budget `budget` of the plugin: sent once the budget allows it, or
// answered here with a 429 naming the wait when that is longer than the host blocks a worker.
HttpResult budgeted_request(ocean_host& host, const std::string& budget, const std::string& method,
                            const std::string& url, const HeaderList& headers,
                            const std::string& body, std::chrono::milliseconds timeout) {
  // Waiting for the third party's window is waiting outside: the worker's CPU slot goes to another.
  CpuGate::OutsideWait outside;
  RateBudgets& budgets = host.services->rate_budgets();
  const std::string key = host.plugin_name + '\n' + budget;
  RateBudgets::Admission admission = budgets.admit(key);
  if (!admission.sent) {
    host.services->metrics().add("oceand_plugin_rate_limit_held_total",
                                 {{"plugin", host.plugin_name}, {"budget", budget}});
    if (t_context)
      t_context->rate_budget_wait_seconds =
          std::max(t_context->rate_budget_wait_seconds, admission.wait_seconds);
    auto seconds = std::to_string(static_cast<long long>(admission.wait_seconds));
    OCEAND_LOG_INFO_LIMITED(plugin_component(&host), "rate budget " + key)
        << "rate-limit budget '" << budget << "' spent: " << method << " " << url
        << " held back, the budget allows calls again in " << seconds << " s";
    HttpResult held;
    held.status = 429;
    held.headers = {{"retry-after", seconds}, {"x-oceand-rate-budget", "exhausted"}};
    held.body = R"({"message":"oceand: rate-limit budget spent; not sent, retry after )" + seconds +
                R"( s"})";
    return held;
  }
  HttpResult result = HttpClient::request(method, url, headers, body, timeout);
  budgets.settle(key, admission, result);
  return result;
}

ocean_status api_http_request(ocean_host* host, const ocean_http_request* request,
                              ocean_http_response* response) {
  if (!host || !request || !response) return OCEAN_STATUS_FAILED;
  auto* handle = new ocean_http_response_handle();
  HeaderList headers;
  for (size_t i = 0; i < request->header_count; ++i)
    headers.emplace_back(from_ocean(request->headers[i].name),
                         from_ocean(request->headers[i].value));
  auto timeout = std::chrono::milliseconds(request->timeout_ms ? request->timeout_ms : 10000);
  std::string method = from_ocean(request->method);
  if (method.empty()) method = "GET";
  std::string budget;
  if (request->struct_size >= offsetof(ocean_http_request, rate_limit_key) + sizeof(ocean_str))
    budget = from_ocean(request->rate_limit_key);
  if (budget.empty()) {
    handle->result = HttpClient::request(method, from_ocean(request->url), headers,
                                         from_ocean(request->body), timeout);
  } else {
    handle->result = budgeted_request(*host, budget, method, from_ocean(request->url), headers,
                                      from_ocean(request->body), timeout);
  }
  const HttpResult& r = handle->result;
  for (const auto& [k, v] : r.headers) handle->headers.push_back({to_ocean(k), to_ocean(v)});
  if (r.header("x-oceand-rate-budget").empty())
    host->services->metrics().add(
        "oceand_plugin_http_requests_total",
        {{"plugin", host->plugin_name}, {"status", std::to_string(r.status)}});
  if (t_context && r.retryable()) {
    t_context->http_retryable_failure = true;
    t_context->http_failure = method + " " + from_ocean(request->url) + ": " +
                              (r.status ? "HTTP " + std::to_string(r.status) : r.error);
  }
  size_t size = response->struct_size ? response->struct_size : sizeof(ocean_http_response);
  ocean_http_response out{};
  out.struct_size = sizeof out;
  out.status = r.status;
  out.body = to_ocean(r.body);
  out.headers = handle->headers.data();
  out.header_count = handle->headers.size();
  out.error = to_ocean(r.error);
  out.handle = handle;
  std::memcpy(response, &out, std::min(size, sizeof out));
  if (size < sizeof out) {
    // A table too small to carry the handle would leak; such a plugin is refused at load.
    delete handle;
    return OCEAN_STATUS_FAILED;
  }
  {
    std::lock_guard lock(lent().mutex);
    lent().responses.insert(handle);
  }
  return r.status ? OCEAN_STATUS_OK : OCEAN_STATUS_FAILED;
}

void api_http_response_free(ocean_host*, ocean_http_response_handle* handle) {
  if (!handle) return;
  {
    std::lock_guard lock(lent().mutex);
    if (lent().responses.erase(handle) == 0) {
      warn_stale("http response", "http_response_free");
      return;
    }
  }
  delete handle;
}

bool valid_metric_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(), [](unsigned char c) {
           return std::islower(c) || std::isdigit(c) || c == '_';
         });
}

// `once`: counted at most once per event (event_metric_add), by the hook's call context.
void add_plugin_counter(ocean_host* host, ocean_str name, double delta, EventCounters* once) {
  if (!host || !std::isfinite(delta)) return;
  std::string n = from_ocean(name);
  if (!valid_metric_name(n)) {
    OCEAND_LOG_WARN(plugin_component(host))
        << "metric name '" << n << "' ignored: use [a-z0-9_]{1,64}";
    return;
  }
  // The host's own oceand_plugin_* families: a plugin must not write into them.
  if (n == "failures" || n == "http_requests" || n == "events_in_flight") {
    OCEAND_LOG_WARN(plugin_component(host)) << "metric name '" << n << "' ignored: the host's own";
    return;
  }
  if (once && !once->first(n)) return;
  host->services->metrics().add("oceand_plugin_" + n + "_total", {{"plugin", host->plugin_name}},
                                delta);
}

void api_metric_add(ocean_host* host, ocean_str name, double delta) {
  add_plugin_counter(host, name, delta, nullptr);
}

void api_event_metric_add(ocean_host* host, const ocean_event* event, ocean_str name,
                          double delta) {
  if (!event_lent(event, "event_metric_add")) return;
  // By the event itself, whichever thread the plugin calls from.
  auto* slot = static_cast<EventCacheSlot*>(event->host_private);
  add_plugin_counter(host, name, delta, slot ? slot->counters.get() : nullptr);
}

// An output is written only by the call it was lent to, which does not return meanwhile; the
// lookup (not a lock held across the write) is what keeps a stale token from writing.
void api_string_list_add(ocean_string_list* token, ocean_str value) {
  if (auto* out = resolve(token, "string_list_add")) out->items.push_back(from_ocean(value));
}
void api_string_out_set(ocean_string_out* token, ocean_str value) {
  auto* out = resolve(token, "string_out_set");
  if (!out) return;
  out->value = from_ocean(value);
  out->set = true;
}
void api_results_add_updated(ocean_results* token, ocean_str json) {
  if (auto* out = resolve(token, "results_add_updated")) out->updated.push_back(from_ocean(json));
}
void api_results_add_deleted(ocean_results* token, ocean_str json) {
  if (auto* out = resolve(token, "results_add_deleted")) out->deleted.push_back(from_ocean(json));
}
void api_results_set_error(ocean_results* token, ocean_str message) {
  if (auto* out = resolve(token, "results_set_error")) out->error = from_ocean(message);
}
void api_results_set_retry_after(ocean_results* token, double seconds) {
  auto* out = resolve(token, "results_set_retry_after");
  if (out && std::isfinite(seconds) && seconds > 0)
    out->retry_after_seconds = std::min(seconds, 3600.0);
}

void* api_event_cache_get(const ocean_event* event) {
  if (!event_lent(event, "event_cache_get") || !event->host_private) return nullptr;
  return static_cast<EventCacheSlot*>(event->host_private)->data;
}
void api_event_cache_set(const ocean_event* event, void* data, void (*free_data)(void*)) {
  // Refused: the data stays the plugin's (free_data is not called from a thread the plugin did
  // not expect it on).
  if (!event_lent(event, "event_cache_set") || !event->host_private) return;
  auto* slot = static_cast<EventCacheSlot*>(event->host_private);
  slot->release();
  slot->data = data;
  slot->free_data = free_data;
}

ocean_status raw(ocean_host* host, ocean_str integration, ocean_str kind, ocean_str items,
                 bool deletion) {
  if (!host) return OCEAN_STATUS_FAILED;
  const auto& applier = host->services->raw_applier();
  if (!applier) {
    OCEAND_LOG_ERROR(plugin_component(host))
        << (deletion ? "unregister_raw" : "register_raw") << " is not available";
    return OCEAN_STATUS_FAILED;
  }
  return applier(host->plugin_name, from_ocean(integration), from_ocean(kind), from_ocean(items),
                 deletion);
}
ocean_status api_register_raw(ocean_host* host, ocean_str integration, ocean_str kind,
                              ocean_str items) {
  return raw(host, integration, kind, items, false);
}
ocean_status api_unregister_raw(ocean_host* host, ocean_str integration, ocean_str kind,
                                ocean_str items) {
  return raw(host, integration, kind, items, true);
}

void api_refuse(ocean_host* host, ocean_str reason) {
  if (!host) return;
  if (!host->in_entry.load()) {
    OCEAND_LOG_WARN(plugin_component(host)) << "refuse called outside ocean_plugin_entry: ignored";
    return;
  }
  std::lock_guard lock(host->refusal_mutex);
  host->refusal = from_ocean(reason).substr(0, 1024);
}

}  // namespace

std::set<std::string> ConfigKey::folded_names() const {
  std::set<std::string> names = {config_key_folded(name)};
  for (const auto& alias : aliases) names.insert(config_key_folded(alias));
  return names;
}

const std::string* declared_value(const std::map<std::string, std::string>& settings,
                                  const ConfigKey& key) {
  if (auto it = settings.find(key.name); it != settings.end() && !it->second.empty())
    return &it->second;
  const std::set<std::string> names = key.folded_names();
  for (const auto& [setting, value] : settings)
    if (!value.empty() && names.count(config_key_folded(setting))) return &value;
  return nullptr;
}

std::string config_key_folded(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (unsigned char c : key)
    if (c != '_') out.push_back(static_cast<char>(std::tolower(c)));
  return out;
}

CallContext* CallContext::current() {
  return t_context;
}

CallScope::CallScope(CallContext& context) : previous_(t_context) {
  t_context = &context;
}
CallScope::~CallScope() {
  t_context = previous_;
}

LentOutput::LentOutput(void* object) {
  Lent& l = lent();
  std::lock_guard lock(l.mutex);
  // Tokens look like no address a plugin could have: multiples of 16 plus 8, counting up.
  token_ = (l.next++ << 4) | 8;
  l.outputs.emplace(token_, object);
}

LentOutput::~LentOutput() {
  Lent& l = lent();
  std::lock_guard lock(l.mutex);
  l.outputs.erase(token_);
}

LentEvent::LentEvent(const ocean_event* event) : event_(event) {
  Lent& l = lent();
  std::lock_guard lock(l.mutex);
  ++l.events[event_];
}

LentEvent::~LentEvent() {
  Lent& l = lent();
  std::lock_guard lock(l.mutex);
  auto it = l.events.find(event_);
  if (it != l.events.end() && --it->second == 0) l.events.erase(it);
}

void EventCacheSlot::release() {
  if (data && free_data) free_data(data);
  data = nullptr;
  free_data = nullptr;
}

ocean_host_api make_host_api(ocean_host* host) {
  ocean_host_api api{};
  api.struct_size = sizeof api;
  api.abi_major = OCEAN_ABI_VERSION_MAJOR;
  api.abi_minor = OCEAN_ABI_VERSION_MINOR;
  api.host = host;
  api.log = &api_log;
  api.config_get = &api_config_get;
  api.http_request = &api_http_request;
  api.http_response_free = &api_http_response_free;
  api.metric_add = &api_metric_add;
  api.string_list_add = &api_string_list_add;
  api.string_out_set = &api_string_out_set;
  api.results_add_updated = &api_results_add_updated;
  api.results_add_deleted = &api_results_add_deleted;
  api.results_set_error = &api_results_set_error;
  api.results_set_retry_after = &api_results_set_retry_after;
  api.event_cache_get = &api_event_cache_get;
  api.event_cache_set = &api_event_cache_set;
  api.register_raw = &api_register_raw;
  api.unregister_raw = &api_unregister_raw;
  api.event_metric_add = &api_event_metric_add;
  api.refuse = &api_refuse;
  return api;
}

}  // namespace oceand
