// oceand C++ SDK — a fake host for a plugin's unit tests: no oceand, no network, no threads.
//
//   ocean::testing::FakeHost host;
//   host.load_library("build/plugins/my_plugin.so");      // or host.load(&ocean_plugin_entry)
//   host.set_config("my-integration", "api_url", "https://api.example.com");
//   host.answer("GET", "https://api.example.com/items/7", {200, R"({"id":7})"});
//   auto out = host.run("ItemProcessor", {.integration = "my-integration", .payload =
//   R"({"id":7})"},
//                       R"({"kind":"item","selector":{"query":"true"}})");
//   CHECK(out.status == OCEAN_STATUS_OK);  CHECK(out.updated.size() == 1);
//
// The fake plays oceand's part of the ABI (plugin_abi.h): the host table, the descriptor checks a
// test needs, and one event's way through a processor as oceand runs it — create,
// should_process_event, get_matching_kinds, authenticate, validate_payload, handle_event for one
// resource, on_error after a failed attempt, destroy. HTTP calls are answered from a script and
// recorded; logs, counters and register_raw calls are captured. Config keys the plugin declares
// are honoured as oceand honours them (aliases, validate_config).
//
// Header-only, C++20, no dependency beyond the SDK and libdl. Not thread-safe beyond what the
// plugin's own threads need (callbacks lock).
#pragma once

#include <dlfcn.h>

#include <cctype>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ocean/http.hpp"
#include "ocean/plugin_abi.h"

namespace ocean::testing {

// One scripted HTTP answer. `status` 0 with `error` set is a transport failure (DNS, timeout).
struct Answer {
  int status = 200;
  std::string body;
  std::vector<http::Header> headers;
  std::string error;
};

// An HTTP request the plugin made through the host.
struct Request {
  std::string method, url, body;
  std::vector<http::Header> headers;
  std::string rate_limit_key;  // the budget the call named (ocean_http_request.rate_limit_key)
};

struct LogLine {
  ocean_log_level level;
  std::string message;
};

struct RawCall {
  std::string integration, kind, items_json;
  bool deletion = false;
};

// An event as oceand hands it to hooks. `raw_body` defaults to `payload`.
struct Event {
  std::string integration = "test";
  std::string route = "/webhook";
  std::string payload = "{}";
  std::vector<http::Header> headers;  // give names lower-cased, as oceand does
  std::optional<std::string> raw_body;
  std::string delivery_id;
  uint64_t id = 1;
};

// What a yes/no hook said; `not_asked` when the run stopped before it.
enum class Said { not_asked, yes, no, error };

// What one run made of an event: each hook's answer, then handle_event's.
struct Outcome {
  bool created = false;
  Said should_process = Said::not_asked, authenticated = Said::not_asked, valid = Said::not_asked;
  std::string hook_error;  // what a yes/no hook reported with Said::error
  std::vector<std::string> kinds;
  bool handled = false;  // handle_event ran (the resource's kind was among `kinds`)
  ocean_status status = OCEAN_STATUS_FAILED;
  std::vector<std::string> updated, deleted;  // raw results, JSON text
  std::string error;                          // results_set_error
  double retry_after_seconds = 0;
  // A 429, 5xx or transport failure answered one of its HTTP calls: oceand retries the attempt
  // even if handle_event returned FAILED.
  bool http_retryable = false;
  std::vector<std::string> on_error;  // what on_error was told
};

class FakeHost {
 public:
  FakeHost() {
    api_.struct_size = sizeof api_;
    api_.abi_major = OCEAN_ABI_VERSION_MAJOR;
    api_.abi_minor = OCEAN_ABI_VERSION_MINOR;
    api_.host = reinterpret_cast<ocean_host*>(this);
    api_.log = &cb_log;
    api_.config_get = &cb_config_get;
    api_.http_request = &cb_http_request;
    api_.http_response_free = &cb_http_response_free;
    api_.metric_add = &cb_metric_add;
    api_.string_list_add = &cb_string_list_add;
    api_.string_out_set = &cb_string_out_set;
    api_.results_add_updated = &cb_results_add_updated;
    api_.results_add_deleted = &cb_results_add_deleted;
    api_.results_set_error = &cb_results_set_error;
    api_.results_set_retry_after = &cb_results_set_retry_after;
    api_.event_cache_get = &cb_event_cache_get;
    api_.event_cache_set = &cb_event_cache_set;
    api_.register_raw = &cb_register_raw;
    api_.unregister_raw = &cb_unregister_raw;
    api_.event_metric_add = &cb_event_metric_add;
    api_.refuse = &cb_refuse;
  }
  ~FakeHost() {
    if (descriptor_ && descriptor_->shutdown) descriptor_->shutdown();
    if (library_) ::dlclose(library_);
  }
  FakeHost(const FakeHost&) = delete;
  FakeHost& operator=(const FakeHost&) = delete;

  // ---- Loading

  // Calls a plugin's entry (link its sources into the test and pass &ocean_plugin_entry). Throws
  // std::runtime_error when it refuses, with its reason (refuse()).
  const ocean_plugin_descriptor& load(ocean_plugin_entry_fn entry) {
    refusal_.clear();
    descriptor_ = entry(&api_);
    if (!descriptor_)
      throw std::runtime_error("the plugin refused this host" +
                               (refusal_.empty() ? std::string() : ": " + refusal_));
    if (descriptor_->abi_major != OCEAN_ABI_VERSION_MAJOR ||
        descriptor_->abi_minor > OCEAN_ABI_VERSION_MINOR)
      throw std::runtime_error("the plugin was built for another ABI");
    return *descriptor_;
  }
  // Loads a built plugin file, as oceand does (RTLD_NOW | RTLD_LOCAL), and calls its entry.
  const ocean_plugin_descriptor& load_library(const std::string& path) {
    library_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!library_) throw std::runtime_error(std::string("cannot load: ") + ::dlerror());
    void* entry = ::dlsym(library_, OCEAN_PLUGIN_ENTRY_SYMBOL);
    if (!entry) throw std::runtime_error("no " OCEAN_PLUGIN_ENTRY_SYMBOL " in " + path);
    return load(reinterpret_cast<ocean_plugin_entry_fn>(entry));
  }
  const ocean_plugin_descriptor& descriptor() const { return *descriptor_; }
  const std::string& refusal() const { return refusal_; }

  // ---- What the test sets up

  // A key of integration `integration`'s config block, as oceand.yaml would give it.
  void set_config(const std::string& integration, const std::string& key, std::string value) {
    config_[integration][key] = std::move(value);
  }
  // The port-app-config's top-level settings every run() hands over (ResourceConfig::app_config),
  // as a JSON object: `{"repositoryType": "private"}`. Default "{}".
  void set_app_config(std::string json) { app_config_ = std::move(json); }
  // The answer to `method url` (url exactly as the plugin sends it, query included). Several for
  // one request are given in turn, the last one repeating.
  void answer(const std::string& method, const std::string& url, Answer a) {
    answers_[method + ' ' + url].push_back(std::move(a));
  }
  // What a request nobody scripted gets (default: status 0, error "no scripted answer").
  void answer_others(Answer a) { fallback_ = std::move(a); }

  // ---- What the plugin did

  std::vector<Request> requests() const { return locked(requests_); }
  std::vector<LogLine> logs() const { return locked(logs_); }
  bool logged(std::string_view fragment) const {
    for (const auto& line : logs())
      if (line.message.find(fragment) != std::string::npos) return true;
    return false;
  }
  // The counter oceand would export as oceand_plugin_<name>_total.
  double metric(const std::string& name) const {
    std::lock_guard lock(mutex_);
    auto it = metrics_.find(name);
    return it == metrics_.end() ? 0 : it->second;
  }
  std::vector<RawCall> raw_calls() const { return locked(raw_calls_); }

  // ---- Driving the plugin

  // One event through processor `processor` (its registered name) as oceand runs it, handle_event
  // running for `resource_json` (one resources[] block: kind, selector, port) when its kind is
  // among the matching kinds. A "no" from a yes/no hook, or its error, ends the run there.
  Outcome run(const std::string& processor, const Event& event, const std::string& resource_json,
              uint32_t attempt = 1) {
    const ocean_processor_factory& f = factory(processor);
    const ocean_processor_vtable& v = *f.vtable;
    EventFrame frame(event, attempt);
    Outcome out;
    void* instance = v.create(f.factory_ctx, &frame.event);
    out.created = instance != nullptr;
    if (!instance) return out;
    struct Destroy {
      const ocean_processor_vtable& v;
      void* p;
      ~Destroy() { v.destroy(p); }
    } destroy{v, instance};
    const bool checked =
        v.struct_size >= offsetof(ocean_processor_vtable, validate_payload_checked) +
                             sizeof(v.validate_payload_checked);
    auto ask = [&](auto bool_hook, auto checked_hook, Said& said) {
      if (checked && checked_hook) {
        StringOut message;
        ocean_answer a = checked_hook(instance, &frame.event, message.handle());
        said = a == OCEAN_ANSWER_YES ? Said::yes : a == OCEAN_ANSWER_NO ? Said::no : Said::error;
        if (said == Said::error) out.hook_error = message.value.value_or("");
      } else {
        said = bool_hook(instance, &frame.event) ? Said::yes : Said::no;
      }
      return said == Said::yes;
    };
    if (!ask(v.should_process_event, checked ? v.should_process_event_checked : nullptr,
             out.should_process))
      return out;
    StringList kinds;
    if (v.get_matching_kinds(instance, &frame.event, kinds.handle()) != OCEAN_STATUS_OK) return out;
    out.kinds = kinds.items;
    if (!ask(v.authenticate, checked ? v.authenticate_checked : nullptr, out.authenticated))
      return out;
    if (!ask(v.validate_payload, checked ? v.validate_payload_checked : nullptr, out.valid))
      return out;
    std::string kind = kind_of(resource_json);
    bool wanted = false;
    for (const auto& k : out.kinds) wanted |= k == kind;
    if (!wanted) return out;
    ocean_resource resource{};
    resource.struct_size = sizeof resource;
    resource.kind = view(kind);
    resource.config_json = view(resource_json);
    resource.app_config_json = view(app_config_);
    Results results;
    http_retryable_ = false;
    out.handled = true;
    out.status = v.handle_event(instance, &frame.event, &resource, results.handle());
    out.updated = std::move(results.updated);
    out.deleted = std::move(results.deleted);
    out.error = std::move(results.error);
    out.retry_after_seconds = results.retry_after;
    out.http_retryable = http_retryable_;
    if (out.status != OCEAN_STATUS_OK && v.on_error) {
      std::string told = out.error.empty() ? "processor failed" : out.error;
      v.on_error(instance, &frame.event, view(told));
      out.on_error.push_back(told);
    }
    return out;
  }

  // The ordering key processor `processor` gives `event` ("" for none).
  std::string group_key(const std::string& processor, const Event& event) {
    const ocean_processor_factory& f = factory(processor);
    if (!f.vtable->group_key) return {};
    EventFrame frame(event, 0);
    StringOut key;
    f.vtable->group_key(f.factory_ctx, &frame.event, key.handle());
    return key.value.value_or("");
  }

  // Checks integration `integration`'s config as oceand does when it makes the integration:
  // required keys (or an alias) set, then the plugin's validate_config. "" when accepted.
  std::string validate_config(const std::string& integration) {
    if (has_config_keys()) {
      for (size_t i = 0; i < descriptor_->config_key_count; ++i) {
        const ocean_config_key& k = descriptor_->config_keys[i];
        if (k.required && !lookup(integration, k.name))
          return std::string("config key '") + k.name + "' is required by plugin '" +
                 descriptor_->name + "'" +
                 (k.description ? std::string(" (") + k.description + ")" : "");
      }
      if (descriptor_->validate_config) {
        StringOut why;
        if (descriptor_->validate_config(view(integration), why.handle()) != OCEAN_STATUS_OK)
          return why.value.value_or("(no reason given)");
      }
    }
    return {};
  }

  // The plugin's on_start for `integration` (webhook registration): its status.
  ocean_status start(const std::string& integration, const std::string& base_url) {
    if (!descriptor_->on_start) return OCEAN_STATUS_OK;
    ocean_instance_info info{};
    info.struct_size = sizeof info;
    info.integration = view(integration);
    info.base_url = view(base_url);
    return descriptor_->on_start(&info);
  }

  // A direct route (method, path) called as oceand's HTTP layer would: its status; the body it
  // wrote in `response`.
  int direct(const std::string& method, const std::string& path, const std::string& integration,
             const std::string& body, std::string& response,
             const std::vector<http::Header>& headers = {}) {
    for (size_t i = 0; i < descriptor_->direct_route_count; ++i) {
      const ocean_direct_route& r = descriptor_->direct_routes[i];
      if (method != r.method || path != r.path) continue;
      std::vector<ocean_header> raw;
      for (const auto& h : headers) raw.push_back({view(h.name), view(h.value)});
      StringOut out;
      int status = r.handle(r.route_ctx, view(integration), raw.data(), raw.size(), view(body),
                            out.handle());
      response = out.value.value_or("");
      return status;
    }
    throw std::runtime_error("no direct route " + method + " " + path);
  }

 private:
  // The host objects lent to hooks, behind the opaque ABI handles.
  struct StringList {
    std::vector<std::string> items;
    ocean_string_list* handle() { return reinterpret_cast<ocean_string_list*>(this); }
  };
  struct StringOut {
    std::optional<std::string> value;
    ocean_string_out* handle() { return reinterpret_cast<ocean_string_out*>(this); }
  };
  struct Results {
    std::vector<std::string> updated, deleted;
    std::string error;
    double retry_after = 0;
    ocean_results* handle() { return reinterpret_cast<ocean_results*>(this); }
  };
  struct CacheSlot {
    void* data = nullptr;
    void (*free_data)(void*) = nullptr;
    std::set<std::string> counted;  // event_metric_add names seen for this event
    ~CacheSlot() {
      if (data && free_data) free_data(data);
    }
  };
  // An ocean_event and what its views point into, alive for one run.
  struct EventFrame {
    Event source;
    std::vector<ocean_header> headers;
    CacheSlot slot;
    ocean_event event{};
    EventFrame(const Event& e, uint32_t attempt) : source(e) {
      if (!source.raw_body) source.raw_body = source.payload;
      for (const auto& h : source.headers) headers.push_back({view(h.name), view(h.value)});
      event.struct_size = sizeof event;
      event.id = source.id;
      event.integration = view(source.integration);
      event.route = view(source.route);
      event.payload = view(source.payload);
      event.raw_body = view(*source.raw_body);
      event.headers = headers.data();
      event.header_count = headers.size();
      event.delivery_id = view(source.delivery_id);
      event.attempt = attempt;
      event.host_private = &slot;
    }
  };
  struct HttpHandle {
    Answer answer;
    std::vector<ocean_header> headers;
  };

  static ocean_str view(std::string_view s) { return ocean_str{s.data(), s.size()}; }
  static std::string text(ocean_str s) { return s.len ? std::string(s.ptr, s.len) : std::string(); }
  static FakeHost& self(ocean_host* host) { return *reinterpret_cast<FakeHost*>(host); }
  template <class T>
  T locked(const T& value) const {
    std::lock_guard lock(mutex_);
    return value;
  }
  static std::string folded(std::string_view key) {
    std::string out;
    for (unsigned char c : key)
      if (c != '_') out.push_back(static_cast<char>(std::tolower(c)));
    return out;
  }
  bool has_config_keys() const {
    return descriptor_ &&
           descriptor_->struct_size >= offsetof(ocean_plugin_descriptor, validate_config) +
                                           sizeof(descriptor_->validate_config);
  }
  // config_get as oceand answers it: the key, or for a declared key any of its aliases.
  const std::string* lookup(const std::string& integration, const std::string& key) const {
    auto in = config_.find(integration);
    if (in == config_.end()) return nullptr;
    auto hit = [](const std::string& v) { return !v.empty(); };
    if (auto it = in->second.find(key); it != in->second.end() && hit(it->second))
      return &it->second;
    if (!has_config_keys()) return nullptr;
    for (size_t i = 0; i < descriptor_->config_key_count; ++i) {
      const ocean_config_key& k = descriptor_->config_keys[i];
      if (key != k.name) continue;
      std::set<std::string> names = {folded(k.name)};
      for (size_t a = 0; a < k.alias_count; ++a) names.insert(folded(k.aliases[a]));
      for (const auto& [name, value] : in->second)
        if (names.count(folded(name)) && hit(value)) return &value;
    }
    return nullptr;
  }
  const ocean_processor_factory& factory(const std::string& name) const {
    if (!descriptor_) throw std::runtime_error("no plugin loaded");
    for (size_t i = 0; i < descriptor_->processor_count; ++i)
      if (name == descriptor_->processors[i].name) return descriptor_->processors[i];
    throw std::runtime_error("the plugin registers no processor named " + name);
  }
  // The "kind" of a resource block, read without a JSON library (it is the test's own text).
  static std::string kind_of(const std::string& resource_json) {
    auto at = resource_json.find("\"kind\"");
    if (at == std::string::npos) return {};
    auto open = resource_json.find('"', resource_json.find(':', at) + 1);
    auto close = resource_json.find('"', open + 1);
    return open == std::string::npos || close == std::string::npos
               ? std::string()
               : resource_json.substr(open + 1, close - open - 1);
  }

  // ---- The host table

  static void cb_log(ocean_host* host, ocean_log_level level, ocean_str message) {
    std::lock_guard lock(self(host).mutex_);
    self(host).logs_.push_back({level, text(message)});
  }
  static bool cb_config_get(ocean_host* host, ocean_str integration, ocean_str key,
                            ocean_str* value) {
    const std::string* found = self(host).lookup(text(integration), text(key));
    if (!found) return false;
    *value = view(*found);
    return true;
  }
  static ocean_status cb_http_request(ocean_host* host, const ocean_http_request* request,
                                      ocean_http_response* response) {
    FakeHost& h = self(host);
    Request r{text(request->method), text(request->url), text(request->body), {}, {}};
    if (request->struct_size >= offsetof(ocean_http_request, rate_limit_key) + sizeof(ocean_str))
      r.rate_limit_key = text(request->rate_limit_key);
    for (size_t i = 0; i < request->header_count; ++i)
      r.headers.push_back({text(request->headers[i].name), text(request->headers[i].value)});
    auto handle = std::make_unique<HttpHandle>();
    {
      std::lock_guard lock(h.mutex_);
      auto it = h.answers_.find(r.method + ' ' + r.url);
      if (it == h.answers_.end()) {
        handle->answer = h.fallback_;
      } else {
        handle->answer = it->second.front();
        if (it->second.size() > 1) it->second.erase(it->second.begin());
      }
      h.requests_.push_back(std::move(r));
    }
    const Answer& a = handle->answer;
    if (a.status == 0 || a.status == 429 || a.status >= 500) h.http_retryable_ = true;
    for (const auto& hd : a.headers) handle->headers.push_back({view(hd.name), view(hd.value)});
    ocean_http_response out{};
    out.struct_size = sizeof out;
    out.status = a.status;
    out.body = view(a.body);
    out.headers = handle->headers.data();
    out.header_count = handle->headers.size();
    out.error = view(a.error);
    out.handle = reinterpret_cast<ocean_http_response_handle*>(handle.release());
    *response = out;
    return a.status ? OCEAN_STATUS_OK : OCEAN_STATUS_FAILED;
  }
  static void cb_http_response_free(ocean_host*, ocean_http_response_handle* handle) {
    delete reinterpret_cast<HttpHandle*>(handle);
  }
  static void cb_metric_add(ocean_host* host, ocean_str name, double delta) {
    std::lock_guard lock(self(host).mutex_);
    self(host).metrics_[text(name)] += delta;
  }
  static void cb_event_metric_add(ocean_host* host, const ocean_event* event, ocean_str name,
                                  double delta) {
    auto* slot = static_cast<CacheSlot*>(event->host_private);
    if (!slot->counted.insert(text(name)).second) return;  // once per event, as oceand counts
    cb_metric_add(host, name, delta);
  }
  static void cb_string_list_add(ocean_string_list* out, ocean_str value) {
    reinterpret_cast<StringList*>(out)->items.push_back(text(value));
  }
  static void cb_string_out_set(ocean_string_out* out, ocean_str value) {
    reinterpret_cast<StringOut*>(out)->value = text(value);
  }
  static void cb_results_add_updated(ocean_results* out, ocean_str json) {
    reinterpret_cast<Results*>(out)->updated.push_back(text(json));
  }
  static void cb_results_add_deleted(ocean_results* out, ocean_str json) {
    reinterpret_cast<Results*>(out)->deleted.push_back(text(json));
  }
  static void cb_results_set_error(ocean_results* out, ocean_str message) {
    reinterpret_cast<Results*>(out)->error = text(message);
  }
  static void cb_results_set_retry_after(ocean_results* out, double seconds) {
    reinterpret_cast<Results*>(out)->retry_after = seconds;
  }
  static void* cb_event_cache_get(const ocean_event* event) {
    return static_cast<CacheSlot*>(event->host_private)->data;
  }
  static void cb_event_cache_set(const ocean_event* event, void* data, void (*free_data)(void*)) {
    auto* slot = static_cast<CacheSlot*>(event->host_private);
    if (slot->data && slot->free_data) slot->free_data(slot->data);
    slot->data = data;
    slot->free_data = free_data;
  }
  static ocean_status raw(ocean_host* host, ocean_str integration, ocean_str kind, ocean_str items,
                          bool deletion) {
    std::lock_guard lock(self(host).mutex_);
    self(host).raw_calls_.push_back({text(integration), text(kind), text(items), deletion});
    return OCEAN_STATUS_OK;
  }
  static ocean_status cb_register_raw(ocean_host* host, ocean_str integration, ocean_str kind,
                                      ocean_str items) {
    return raw(host, integration, kind, items, false);
  }
  static ocean_status cb_unregister_raw(ocean_host* host, ocean_str integration, ocean_str kind,
                                        ocean_str items) {
    return raw(host, integration, kind, items, true);
  }
  static void cb_refuse(ocean_host* host, ocean_str reason) { self(host).refusal_ = text(reason); }

  ocean_host_api api_{};
  void* library_ = nullptr;
  const ocean_plugin_descriptor* descriptor_ = nullptr;
  std::string refusal_;
  mutable std::mutex mutex_;
  std::map<std::string, std::map<std::string, std::string>> config_;
  std::string app_config_ = "{}";
  std::map<std::string, std::vector<Answer>> answers_;
  Answer fallback_{0, "", {}, "no scripted answer"};
  std::vector<Request> requests_;
  std::vector<LogLine> logs_;
  std::map<std::string, double> metrics_;
  std::vector<RawCall> raw_calls_;
  bool http_retryable_ = false;
};

}  // namespace ocean::testing
