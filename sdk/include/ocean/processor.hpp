// oceand C++ SDK — processors and registration: WebhookProcessor (Ocean's
// AbstractWebhookProcessor), the adapter that turns it into the C vtable, PluginBuilder and the
// OCEAN_PLUGIN macro. No exception leaves a hook: the adapter catches it and reports it to the
// host (an error status, or OCEAN_ANSWER_ERROR for the yes/no hooks).
#pragma once

#include <cxxabi.h>
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "ocean/host.hpp"
#include "ocean/json.hpp"

namespace ocean {

// Headers of the webhook request; names are lower-cased by the host.
class Headers {
 public:
  Headers(const ocean_header* items, size_t count) : items_(items), count_(count) {}
  std::optional<std::string_view> get(std::string_view name) const {
    for (size_t i = 0; i < count_; ++i) {
      std::string_view n = detail::view(items_[i].name);
      if (n.size() != name.size()) continue;
      bool same = true;
      for (size_t k = 0; k < n.size() && same; ++k)
        same = n[k] == std::tolower(static_cast<unsigned char>(name[k]));
      if (same) return detail::view(items_[i].value);
    }
    return std::nullopt;
  }
  std::string_view get_or(std::string_view name, std::string_view fallback) const {
    return get(name).value_or(fallback);
  }
  size_t size() const { return count_; }

 private:
  const ocean_header* items_;
  size_t count_;
};

namespace detail {
struct EventCache {
  std::unique_ptr<char[]> text;  // what `payload` was parsed from, in place; outlives it
  rapidjson::Document payload;
  static void release(void* p) { delete static_cast<EventCache*>(p); }
};
}  // namespace detail

// One webhook event (Ocean's WebhookEvent): payload, headers, raw body and where it came from.
class WebhookEvent {
 public:
  explicit WebhookEvent(const ocean_event* raw) : raw_(raw) {}

  // The payload, parsed once per event and shared by every hook that sees this event.
  const rapidjson::Value& payload() const {
    auto* cache = static_cast<detail::EventCache*>(detail::g_api->event_cache_get(raw_));
    if (!cache) {
      cache = new detail::EventCache();
      auto text = detail::view(raw_->payload);
      if (!parse_json_in_place(cache->payload, text, cache->text) || !cache->payload.IsObject())
        cache->payload.SetObject();
      detail::g_api->event_cache_set(raw_, cache, &detail::EventCache::release);
    }
    return cache->payload;
  }
  Headers headers() const { return Headers(raw_->headers, raw_->header_count); }
  std::string_view raw_body() const { return detail::view(raw_->raw_body); }
  std::string_view integration() const { return detail::view(raw_->integration); }
  std::string_view route() const { return detail::view(raw_->route); }
  std::string_view delivery_id() const { return detail::view(raw_->delivery_id); }
  uint64_t id() const { return raw_->id; }
  uint32_t attempt() const { return raw_->attempt; }
  std::optional<std::string> config(std::string_view key) const {
    return integration_config(integration(), key);
  }
  const ocean_event* raw() const { return raw_; }

 private:
  const ocean_event* raw_;
};

// One entry of the mapping's resources[] (Ocean's ResourceConfig).
class ResourceConfig {
 public:
  explicit ResourceConfig(const ocean_resource* raw) : raw_(raw) {}
  std::string_view kind() const { return detail::view(raw_->kind); }
  uint32_t index() const { return raw_->index; }
  // The whole resource block (kind, selector, port) as a document.
  const rapidjson::Document& config() const {
    if (!parsed_) {
      auto text = detail::view(raw_->config_json);
      if (!parse_json(config_, text)) config_.SetObject();
      parsed_ = true;
    }
    return config_;
  }
  // The port-app-config's top-level settings (everything but `resources`; Ocean's
  // `event.port_app_config`), e.g. `{"repositoryType": "private"}`. Empty from a 1.0 host.
  const rapidjson::Document& app_config() const {
    if (!app_parsed_) {
      constexpr size_t needed = offsetof(ocean_resource, app_config_json) + sizeof(ocean_str);
      if (raw_->struct_size < needed ||
          !parse_json(app_config_, detail::view(raw_->app_config_json)) || !app_config_.IsObject())
        app_config_.SetObject();
      app_parsed_ = true;
    }
    return app_config_;
  }

 private:
  const ocean_resource* raw_;
  mutable rapidjson::Document config_;
  mutable bool parsed_ = false;
  mutable rapidjson::Document app_config_;
  mutable bool app_parsed_ = false;
};

// What handle_event returns (Ocean's WebhookEventRawResults): raw objects to upsert and to delete.
struct WebhookEventRawResults {
  std::vector<std::string> updated_raw_results;  // JSON objects as text
  std::vector<std::string> deleted_raw_results;

  void add_updated(const rapidjson::Value& item) { updated_raw_results.push_back(to_json(item)); }
  void add_deleted(const rapidjson::Value& item) { deleted_raw_results.push_back(to_json(item)); }
  // The same, for an object the plugin already holds as JSON text (an API answer as received):
  // no parse-and-serialise round trip. The host parses it; text that is not one JSON object fails
  // the event as a malformed result.
  void add_updated_text(std::string object_json) {
    updated_raw_results.push_back(std::move(object_json));
  }
  void add_deleted_text(std::string object_json) {
    deleted_raw_results.push_back(std::move(object_json));
  }
};

// ----------------------------------------------------------------------------------------------
// The processor base class
// ----------------------------------------------------------------------------------------------

// Subclass and override, as with Ocean's AbstractWebhookProcessor. One instance is made per
// (event, processor), so members may hold per-event state. The class must be default-constructible;
// set the retry fields in its constructor.
class WebhookProcessor {
 public:
  virtual ~WebhookProcessor() = default;

  // Retry policy (Ocean's defaults).
  unsigned max_retries = 3;
  double initial_retry_delay_seconds = 1.0;
  double max_retry_delay_seconds = 30.0;
  double exponential_base_seconds = 2.0;

  virtual bool should_process_event(const WebhookEvent& event) = 0;
  virtual std::vector<std::string> get_matching_kinds(const WebhookEvent& event) = 0;
  virtual bool authenticate(const rapidjson::Value& payload, const Headers& headers,
                            std::string_view raw_body) {
    (void)payload, (void)headers, (void)raw_body;
    return true;
  }
  virtual bool validate_payload(const rapidjson::Value& payload) = 0;
  // Throw RetryableError for a transient failure; any other exception fails the event for good.
  virtual WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                              const ResourceConfig& resource) = 0;
  virtual void on_error(const std::string& error) { (void)error; }
  // Called from another thread while handle_event runs; the default sets cancelled().
  virtual void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  // Events with the same key run one at a time, in arrival order. Empty: the event is its own
  // group. Asked only when this processor accepted the event (should_process_event); the first
  // accepting processor of the route that gives a key groups it. Called on a fresh instance whose
  // event() is the event, on the host's dispatcher thread: must be cheap and do no I/O.
  virtual std::string group_key(const WebhookEvent& event) {
    (void)event;
    return {};
  }

  const WebhookEvent& event() const { return *event_; }
  // Adds to oceand_plugin_<name>_total once for this event, however often the hooks run for it
  // (retries, several resources): a counter of events, not of attempts (ABI 1.1).
  void count_event(std::string_view name, double delta = 1.0) const {
    if (detail::g_api && detail::g_api->event_metric_add)
      detail::g_api->event_metric_add(detail::g_api->host, event_->raw(), detail::view(name),
                                      delta);
  }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  template <class T>
  friend struct ProcessorAdapter;
  std::optional<WebhookEvent> event_;
  std::atomic<bool> cancelled_{false};
};

struct InstanceInfo {
  std::string integration;
  std::string base_url;
};

// ----------------------------------------------------------------------------------------------
// Registration (implementation detail of OCEAN_PLUGIN)
// ----------------------------------------------------------------------------------------------

namespace detail {

inline std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out(abi::__cxa_demangle(name, nullptr, nullptr, &status),
                                             std::free);
  std::string s = (status == 0 && out) ? out.get() : name;
  auto colon = s.rfind("::");
  return colon == std::string::npos ? s : s.substr(colon + 2);
}

template <class Fn>
auto guarded(const char* what, Fn&& fn, decltype(fn()) on_error) noexcept -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    log_error(std::string(what) + " threw: " + e.what());
  } catch (...) {
    log_error(std::string(what) + " threw a non-standard exception");
  }
  return on_error;
}

// A yes/no hook in its ABI 1.1 form: an exception is the hook failing to answer, reported with its
// message (the host dead-letters the event) rather than taken for "no".
template <class Fn>
ocean_answer answered(const char* what, Fn&& fn, ocean_string_out* error) noexcept {
  std::string message;
  try {
    return fn() ? OCEAN_ANSWER_YES : OCEAN_ANSWER_NO;
  } catch (const std::exception& e) {
    message = e.what();  // the host names the hook
  } catch (...) {
    message = std::string(what) + " threw a non-standard exception";
  }
  if (message.empty()) message = std::string(what) + " threw an exception without a message";
  g_api->string_out_set(error, view(message));
  return OCEAN_ANSWER_ERROR;
}

}  // namespace detail

template <class T>
struct ProcessorAdapter {
  static void* create(void*, const ocean_event* event) noexcept {
    return detail::guarded(
        "processor constructor",
        [&]() -> void* {
          auto* p = new T();
          static_cast<WebhookProcessor*>(p)->event_.emplace(event);
          return p;
        },
        nullptr);
  }
  static void destroy(void* p) noexcept {
    detail::guarded(
        "processor destructor",
        [&] {
          delete static_cast<T*>(p);
          return 0;
        },
        0);
  }
  static T& self(void* p) { return *static_cast<T*>(p); }
  // The event pointer may differ between calls (retries), so every hook refreshes it.
  static T& bind(void* p, const ocean_event* event) {
    static_cast<WebhookProcessor&>(self(p)).event_.emplace(event);
    return self(p);
  }
  static ocean_answer should_process_event_checked(void* p, const ocean_event* e,
                                                   ocean_string_out* error) noexcept {
    return detail::answered(
        "should_process_event",
        [&] {
          auto& s = bind(p, e);
          return s.should_process_event(s.event());
        },
        error);
  }
  static ocean_answer authenticate_checked(void* p, const ocean_event* e,
                                           ocean_string_out* error) noexcept {
    return detail::answered(
        "authenticate",
        [&] {
          auto& s = bind(p, e);
          return s.authenticate(s.event().payload(), s.event().headers(), s.event().raw_body());
        },
        error);
  }
  static ocean_answer validate_payload_checked(void* p, const ocean_event* e,
                                               ocean_string_out* error) noexcept {
    return detail::answered(
        "validate_payload",
        [&] {
          auto& s = bind(p, e);
          return s.validate_payload(s.event().payload());
        },
        error);
  }
  static ocean_status get_matching_kinds(void* p, const ocean_event* e,
                                         ocean_string_list* out) noexcept {
    return detail::guarded(
        "get_matching_kinds",
        [&] {
          auto& s = bind(p, e);
          for (const auto& kind : s.get_matching_kinds(s.event()))
            detail::g_api->string_list_add(out, detail::view(kind));
          return OCEAN_STATUS_OK;
        },
        OCEAN_STATUS_FAILED);
  }
  static ocean_status handle_event(void* p, const ocean_event* e, const ocean_resource* r,
                                   ocean_results* out) noexcept {
    try {
      auto& s = bind(p, e);
      ResourceConfig resource(r);
      WebhookEventRawResults results = s.handle_event(s.event().payload(), resource);
      for (const auto& item : results.updated_raw_results)
        detail::g_api->results_add_updated(out, detail::view(item));
      for (const auto& item : results.deleted_raw_results)
        detail::g_api->results_add_deleted(out, detail::view(item));
      return OCEAN_STATUS_OK;
    } catch (const RetryableError& err) {
      detail::g_api->results_set_error(out, detail::view(err.what()));
      if (err.retry_after_seconds() > 0)
        detail::g_api->results_set_retry_after(out, err.retry_after_seconds());
      return OCEAN_STATUS_RETRY;
    } catch (const std::exception& err) {
      detail::g_api->results_set_error(
          out, detail::view(std::string("handle_event threw: ") + err.what()));
    } catch (...) {
      detail::g_api->results_set_error(out,
                                       detail::view("handle_event threw a non-standard exception"));
    }
    return OCEAN_STATUS_FAILED;
  }
  static void on_error(void* p, const ocean_event* e, ocean_str error) noexcept {
    detail::guarded(
        "on_error",
        [&] {
          bind(p, e).on_error(std::string(detail::view(error)));
          return 0;
        },
        0);
  }
  static void cancel(void* p) noexcept {
    detail::guarded(
        "cancel",
        [&] {
          self(p).cancel();
          return 0;
        },
        0);
  }
  static void group_key(void*, const ocean_event* e, ocean_string_out* out) noexcept {
    detail::guarded(
        "group_key",
        [&] {
          T probe;
          static_cast<WebhookProcessor&>(probe).event_.emplace(e);
          std::string key = probe.group_key(probe.event());
          if (!key.empty()) detail::g_api->string_out_set(out, detail::view(key));
          return 0;
        },
        0);
  }
  // The yes/no hooks only in their ABI 1.1 form, which reports an exception as an error: a host
  // that loads this plugin (built for 1.1) calls those, so the bool forms stay NULL.
  static constexpr ocean_processor_vtable vtable = {sizeof(ocean_processor_vtable),
                                                    &create,
                                                    &destroy,
                                                    nullptr,
                                                    &get_matching_kinds,
                                                    nullptr,
                                                    nullptr,
                                                    &handle_event,
                                                    &on_error,
                                                    &cancel,
                                                    &group_key,
                                                    &should_process_event_checked,
                                                    &authenticate_checked,
                                                    &validate_payload_checked};
};

// A plain synchronous route (Ocean's ocean.router.post). Returns the HTTP status; writes the body.
using DirectHandler = std::function<int(std::string_view integration, const Headers& headers,
                                        std::string_view body, std::string& response_body)>;

// How a config key is declared (PluginBuilder::config_key).
struct ConfigKeyOptions {
  bool required = false;
  bool secret = false;
  std::vector<std::string> aliases;  // other names of the setting, e.g. Ocean's "githubToken"
};

class PluginBuilder {
 public:
  // Registers processor T on `route` (e.g. "/webhook"). `name` defaults to T's class name.
  template <class T>
  void add_processor(const std::string& route, std::string name = {}) {
    static_assert(std::is_base_of_v<WebhookProcessor, T>,
                  "processors derive from ocean::WebhookProcessor");
    T defaults;
    auto& slot = *names_.emplace_back(std::make_unique<std::pair<std::string, std::string>>(
        name.empty() ? detail::demangle(typeid(T).name()) : name, route));
    ocean_processor_factory f{};
    f.struct_size = sizeof f;
    f.name = slot.first.c_str();
    f.route = slot.second.c_str();
    f.retry = ocean_retry_policy{
        sizeof(ocean_retry_policy), defaults.max_retries, defaults.initial_retry_delay_seconds,
        defaults.max_retry_delay_seconds, defaults.exponential_base_seconds};
    f.vtable = &ProcessorAdapter<T>::vtable;
    f.factory_ctx = nullptr;
    factories_.push_back(f);
  }

  // Runs once per integration instance after load (register the webhook with the third party).
  // Return false to log a failure; exceptions are caught and logged.
  void on_start(std::function<bool(const InstanceInfo&)> fn) { on_start_ = std::move(fn); }

  void add_direct_route(const std::string& method, const std::string& path, DirectHandler handler) {
    auto& slot = *directs_.emplace_back(
        std::make_unique<DirectSlot>(DirectSlot{method, path, std::move(handler)}));
    ocean_direct_route r{};
    r.struct_size = sizeof r;
    r.method = slot.method.c_str();
    r.path = slot.path.c_str();
    r.handle = &direct_trampoline;
    r.route_ctx = &slot;
    direct_routes_.push_back(r);
  }

  // The request headers carrying a delivery's unique id (ABI 1.1), e.g. {"X-Gitlab-Event-UUID"}:
  // a redelivery with an id already accepted is answered 200 and not processed twice. Unset: the
  // host's defaults (X-GitHub-Delivery, X-Atlassian-Webhook-Identifier, webhook-id).
  void delivery_id_headers(std::vector<std::string> names) {
    delivery_names_ = std::move(names);
    delivery_ptrs_.clear();
    for (const auto& n : delivery_names_) delivery_ptrs_.push_back(n.c_str());
  }

  // What identifies a request from this plugin's sender (ABI 1.1): a header it always sends, or a
  // field at the top of its JSON body. Lets several integrations share /integration/webhook, as
  // Ocean's hooks are registered: each request goes to the integration whose plugin claims it.
  void sender_headers(std::vector<std::string> names) {
    sender_header_names_ = std::move(names);
    sender_header_ptrs_.clear();
    for (const auto& n : sender_header_names_) sender_header_ptrs_.push_back(n.c_str());
  }
  void sender_body_fields(std::vector<std::string> names) {
    sender_field_names_ = std::move(names);
    sender_field_ptrs_.clear();
    for (const auto& n : sender_field_names_) sender_field_ptrs_.push_back(n.c_str());
  }

  // Declares a key of the integration's `config` block (ABI 1.1): the host refuses an integration
  // without a required key at start, reload and SIGHUP, never prints a secret, warns about keys
  // nobody declared, and answers integration_config(name) with an alias's value (Ocean's names,
  // e.g. "githubToken"; case and '_' ignored).
  void config_key(std::string name, std::string description, ConfigKeyOptions options = {}) {
    auto& slot = *config_slots_.emplace_back(std::make_unique<ConfigSlot>());
    slot.name = std::move(name);
    slot.description = std::move(description);
    slot.aliases = std::move(options.aliases);
    for (const auto& a : slot.aliases) slot.alias_ptrs.push_back(a.c_str());
    ocean_config_key k{};
    k.struct_size = sizeof k;
    k.name = slot.name.c_str();
    k.description = slot.description.c_str();
    k.required = options.required;
    k.secret = options.secret;
    k.aliases = slot.alias_ptrs.empty() ? nullptr : slot.alias_ptrs.data();
    k.alias_count = slot.alias_ptrs.size();
    config_keys_.push_back(k);
  }

  // Checks an integration's config when it is created (start, reload): return an empty string to
  // accept it, or why it is refused. integration_config() answers for it during the call.
  void validate_config(std::function<std::string(std::string_view integration)> fn) {
    validate_config_ = std::move(fn);
  }

  // Filled by OCEAN_PLUGIN; plugin authors do not call these.
  const ocean_plugin_descriptor* finish(const char* name, const char* version) {
    descriptor_ = ocean_plugin_descriptor{};
    descriptor_.struct_size = sizeof descriptor_;
    descriptor_.abi_major = OCEAN_ABI_VERSION_MAJOR;
    descriptor_.abi_minor = OCEAN_ABI_VERSION_MINOR;
    descriptor_.name = name;
    descriptor_.version = version;
    descriptor_.processors = factories_.data();
    descriptor_.processor_count = factories_.size();
    descriptor_.on_start = on_start_ ? &start_trampoline : nullptr;
    descriptor_.direct_routes = direct_routes_.data();
    descriptor_.direct_route_count = direct_routes_.size();
    descriptor_.shutdown = nullptr;
    descriptor_.delivery_id_headers = delivery_ptrs_.empty() ? nullptr : delivery_ptrs_.data();
    descriptor_.delivery_id_header_count = delivery_ptrs_.size();
    descriptor_.sender_headers = sender_header_ptrs_.empty() ? nullptr : sender_header_ptrs_.data();
    descriptor_.sender_header_count = sender_header_ptrs_.size();
    descriptor_.sender_body_fields =
        sender_field_ptrs_.empty() ? nullptr : sender_field_ptrs_.data();
    descriptor_.sender_body_field_count = sender_field_ptrs_.size();
    descriptor_.config_keys = config_keys_.empty() ? nullptr : config_keys_.data();
    descriptor_.config_key_count = config_keys_.size();
    descriptor_.validate_config = validate_config_ ? &validate_config_trampoline : nullptr;
    return &descriptor_;
  }
  static PluginBuilder& instance() {
    static PluginBuilder builder;
    return builder;
  }

 private:
  struct DirectSlot {
    std::string method, path;
    DirectHandler handler;
  };
  struct ConfigSlot {
    std::string name, description;
    std::vector<std::string> aliases;
    std::vector<const char*> alias_ptrs;
  };
  static ocean_status validate_config_trampoline(ocean_str integration,
                                                 ocean_string_out* error) noexcept {
    std::string why;
    try {
      why = instance().validate_config_(detail::view(integration));
    } catch (const std::exception& e) {
      why = std::string("validate_config threw: ") + e.what();
    } catch (...) {
      why = "validate_config threw a non-standard exception";
    }
    if (why.empty()) return OCEAN_STATUS_OK;
    detail::g_api->string_out_set(error, detail::view(why));
    return OCEAN_STATUS_FAILED;
  }
  static ocean_status start_trampoline(const ocean_instance_info* info) noexcept {
    return detail::guarded(
        "on_start",
        [&] {
          InstanceInfo i{std::string(detail::view(info->integration)),
                         std::string(detail::view(info->base_url))};
          return instance().on_start_(i) ? OCEAN_STATUS_OK : OCEAN_STATUS_FAILED;
        },
        OCEAN_STATUS_FAILED);
  }
  static int32_t direct_trampoline(void* ctx, ocean_str integration, const ocean_header* headers,
                                   size_t header_count, ocean_str body,
                                   ocean_string_out* response_body) noexcept {
    return detail::guarded(
        "direct route",
        [&]() -> int32_t {
          auto& slot = *static_cast<DirectSlot*>(ctx);
          std::string out;
          int status = slot.handler(detail::view(integration), Headers(headers, header_count),
                                    detail::view(body), out);
          detail::g_api->string_out_set(response_body, detail::view(out));
          return status;
        },
        500);
  }

  std::vector<std::unique_ptr<std::pair<std::string, std::string>>> names_;
  std::vector<ocean_processor_factory> factories_;
  std::vector<std::unique_ptr<DirectSlot>> directs_;
  std::vector<ocean_direct_route> direct_routes_;
  std::function<bool(const InstanceInfo&)> on_start_;
  std::vector<std::string> delivery_names_;
  std::vector<const char*> delivery_ptrs_;
  std::vector<std::string> sender_header_names_, sender_field_names_;
  std::vector<const char*> sender_header_ptrs_, sender_field_ptrs_;
  std::vector<std::unique_ptr<ConfigSlot>> config_slots_;
  std::vector<ocean_config_key> config_keys_;
  std::function<std::string(std::string_view)> validate_config_;
  ocean_plugin_descriptor descriptor_{};
};

// Thrown from the OCEAN_PLUGIN body when the plugin cannot work with this host or machine (ABI
// 1.1): the host refuses to load it, with this message as the reason.
class PluginRefusal : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
// Tells the host why the plugin refuses it, when the host's table has the callback (ABI 1.1).
inline void refuse(const ocean_host_api* api, std::string_view reason) {
  if (api && api->struct_size >= offsetof(ocean_host_api, refuse) + sizeof(api->refuse) &&
      api->refuse)
    api->refuse(api->host, view(reason));
}

inline const ocean_plugin_descriptor* entry(const ocean_host_api* api, const char* name,
                                            const char* version,
                                            void (*register_fn)(PluginBuilder&)) noexcept {
  if (!api) return nullptr;
  if (api->abi_major != OCEAN_ABI_VERSION_MAJOR || api->struct_size < sizeof(ocean_host_api)) {
    refuse(api, "built with the oceand SDK for ABI " + std::to_string(OCEAN_ABI_VERSION_MAJOR) +
                    "." + std::to_string(OCEAN_ABI_VERSION_MINOR) + "; this host's table is older");
    return nullptr;
  }
  g_api = api;
  try {
    // Registration runs once per loaded image: if the host enters again, the descriptor it already
    // holds stays valid (re-registering would move the tables it points into).
    static const ocean_plugin_descriptor* registered = nullptr;
    if (registered) return registered;
    auto& builder = PluginBuilder::instance();
    register_fn(builder);
    registered = builder.finish(name, version);
    return registered;
  } catch (const PluginRefusal& e) {
    refuse(api, e.what());
  } catch (const std::exception& e) {
    log_error(std::string("plugin registration threw: ") + e.what());
    refuse(api, std::string("plugin registration threw: ") + e.what());
  } catch (...) {
    log_error("plugin registration threw a non-standard exception");
    refuse(api, "plugin registration threw a non-standard exception");
  }
  return nullptr;
}
}  // namespace detail

}  // namespace ocean

// Declares the plugin and opens the body of its registration function, where `plugin` is the
// ocean::PluginBuilder:
//   OCEAN_PLUGIN("github", "1.0.0") { plugin.add_processor<PullRequestProcessor>("/webhook"); }
#define OCEAN_PLUGIN(NAME, VERSION)                                                \
  static void ocean_sdk_register_plugin(::ocean::PluginBuilder& plugin);           \
  extern "C" OCEAN_EXPORT const ocean_plugin_descriptor* ocean_plugin_entry(       \
      const ocean_host_api* api) {                                                 \
    return ::ocean::detail::entry(api, NAME, VERSION, &ocean_sdk_register_plugin); \
  }                                                                                \
  static void ocean_sdk_register_plugin(::ocean::PluginBuilder& plugin)
