#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "client/http_client.hpp"
#include "client/rate_budget.hpp"
#include "ocean/plugin_abi.h"

namespace oceand {

class Metrics;
struct HostConfig;

// What the host offers every plugin through ocean_host_api. One instance per host process.
class HostServices {
 public:
  // register_raw / unregister_raw of plugin `plugin`, which may apply only to its own integrations.
  using RawApplier = std::function<ocean_status(
      const std::string& plugin, const std::string& integration, const std::string& kind,
      const std::string& items_json, bool deletion)>;
  using ConfigSource = std::function<std::shared_ptr<const HostConfig>()>;

  explicit HostServices(Metrics& metrics) : metrics_(metrics) {}

  Metrics& metrics() { return metrics_; }
  void set_raw_applier(RawApplier applier) { raw_applier_ = std::move(applier); }
  const RawApplier& raw_applier() const { return raw_applier_; }
  // Where config_get looks when it is called outside any hook.
  void set_config_source(ConfigSource source) { config_source_ = std::move(source); }
  const ConfigSource& config_source() const { return config_source_; }
  // The rate-limit budgets plugins' calls name (ocean_http_request.rate_limit_key); they outlive
  // reloads, as the limits they track are the API's, not the library's.
  RateBudgets& rate_budgets() { return rate_budgets_; }

 private:
  Metrics& metrics_;
  RateBudgets rate_budgets_;
  RawApplier raw_applier_;
  ConfigSource config_source_;
};

// What a worker thread is doing on behalf of a plugin. Set around every hook call so that host
// callbacks made from that hook see the generation's configuration and can mark HTTP failures.
// The plugin counters one event has moved (ocean_host_api.event_metric_add): a counter counts
// events, so a retry, a second resource's task or a second processor of the same event does not
// move it again. Shared with hook calls that may outlive the event (an abandoned handler).
struct EventCounters {
  std::mutex mutex;
  std::unordered_set<std::string> names;
  bool first(const std::string& name) {
    std::lock_guard lock(mutex);
    return names.insert(name).second;
  }
};

struct CallContext {
  const HostConfig* config = nullptr;
  bool http_retryable_failure = false;
  std::string http_failure;
  // A call was held back by its rate-limit budget: a failure of this attempt is the budget's
  // wait, not the plugin's, and spends no retry.
  double rate_budget_wait_seconds = 0;

  static CallContext* current();
};

class CallScope {
 public:
  explicit CallScope(CallContext& context);
  ~CallScope();
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

 private:
  CallContext* previous_;
};

// The per-event cache slot behind ocean_event.host_private.
struct EventCacheSlot {
  // The plugin counters this event has moved (event_metric_add).
  std::shared_ptr<EventCounters> counters = std::make_shared<EventCounters>();
  void* data = nullptr;
  void (*free_data)(void*) = nullptr;
  void release();
  ~EventCacheSlot() { release(); }
};

// A key of an integration's `config` block as its plugin declared it (ABI 1.1 ocean_config_key).
struct ConfigKey {
  std::string name;
  std::string description;
  bool required = false;
  bool secret = false;
  std::vector<std::string> aliases;

  // Its name and aliases, each as config_key_folded gives it.
  std::set<std::string> folded_names() const;
};

// How config keys compare with their aliases: case and '_' ignored (github_token, githubToken and
// GITHUB_TOKEN are one name).
std::string config_key_folded(std::string_view key);

// The value an integration's `settings` give declared key `key`, under its name first, then under
// any spelling of its name or aliases; null when none is set. "" counts as unset, as in Ocean's
// config, so an empty `token: ""` in oceand.yaml does not hide OCEAN__..._CONFIG__GITHUB_TOKEN.
const std::string* declared_value(const std::map<std::string, std::string>& settings,
                                  const ConfigKey& key);

inline ocean_str to_ocean(const std::string& s) {
  return ocean_str{s.data(), s.size()};
}
inline std::string from_ocean(ocean_str s) {
  return s.len ? std::string(s.ptr, s.len) : std::string();
}

}  // namespace oceand

// Definitions of the opaque ABI types (global namespace, as declared in plugin_abi.h).
struct ocean_host {
  oceand::HostServices* services = nullptr;
  std::string plugin_name;  // filled once the descriptor is read
  std::string file;
  std::vector<oceand::ConfigKey> config_keys;  // what the descriptor declared (ABI 1.1)
  // The entry function's reason for refusing the host (ocean_host_api.refuse), taken only while
  // the entry runs.
  std::atomic<bool> in_entry{false};
  std::mutex refusal_mutex;
  std::string refusal;
};
struct ocean_string_list {
  std::vector<std::string> items;
};
struct ocean_string_out {
  std::string value;
  bool set = false;
};
struct ocean_results {
  std::vector<std::string> updated;
  std::vector<std::string> deleted;
  std::string error;
  double retry_after_seconds = 0;
};
struct ocean_http_response_handle {
  oceand::HttpResult result;
  std::vector<ocean_header> headers;
};

namespace oceand {
// The table handed to a plugin's entry function. `host` must outlive the library.
ocean_host_api make_host_api(ocean_host* host);

// Host objects lent to a plugin for the length of one call. The plugin gets a token, never the
// object's address: a token kept past the call (and used later, say from the plugin's own thread)
// no longer resolves, so the callback logs the misuse and returns an error instead of writing into
// memory that is gone. Tokens are never reused.
class LentOutput {
 public:
  explicit LentOutput(void* object);
  ~LentOutput();
  LentOutput(const LentOutput&) = delete;
  LentOutput& operator=(const LentOutput&) = delete;
  template <class T>
  T* token() const {
    return reinterpret_cast<T*>(token_);
  }

 private:
  uintptr_t token_;
};

// An ocean_event lent to a plugin for one call. The plugin reads its fields directly, so it gets
// the real address; the cache callbacks refuse an event that is not lent right now.
class LentEvent {
 public:
  explicit LentEvent(const ocean_event* event);
  ~LentEvent();
  LentEvent(const LentEvent&) = delete;
  LentEvent& operator=(const LentEvent&) = delete;

 private:
  const ocean_event* event_;
};

}  // namespace oceand
