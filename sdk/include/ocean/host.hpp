// oceand C++ SDK — host access: logging, the integration's config, counters, register_raw, and
// the error that asks for a retry. Everything here calls the host table (plugin_abi.h) the entry
// function received; see sdk.hpp for the whole SDK.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "ocean/plugin_abi.h"

namespace ocean {

// ----------------------------------------------------------------------------------------------
// Host access
// ----------------------------------------------------------------------------------------------

namespace detail {
// One per plugin library: plugins are built with hidden visibility, so every .so has its own.
inline const ocean_host_api* g_api = nullptr;

inline ocean_str view(std::string_view s) {
  return ocean_str{s.data(), s.size()};
}
inline std::string_view view(ocean_str s) {
  return s.len ? std::string_view(s.ptr, s.len) : std::string_view();
}
}  // namespace detail

enum class LogLevel {
  debug = OCEAN_LOG_DEBUG,
  info = OCEAN_LOG_INFO,
  warning = OCEAN_LOG_WARNING,
  error = OCEAN_LOG_ERROR
};

inline void log(LogLevel level, std::string_view message) {
  if (detail::g_api)
    detail::g_api->log(detail::g_api->host, static_cast<ocean_log_level>(level),
                       detail::view(message));
}
inline void log_debug(std::string_view m) {
  log(LogLevel::debug, m);
}
inline void log_info(std::string_view m) {
  log(LogLevel::info, m);
}
inline void log_warning(std::string_view m) {
  log(LogLevel::warning, m);
}
inline void log_error(std::string_view m) {
  log(LogLevel::error, m);
}

// A value from the `config` block of an integration in oceand.yaml (dot-separated key).
inline std::optional<std::string> integration_config(std::string_view integration,
                                                     std::string_view key) {
  ocean_str value{};
  if (!detail::g_api || !detail::g_api->config_get(detail::g_api->host, detail::view(integration),
                                                   detail::view(key), &value))
    return std::nullopt;
  return std::string(detail::view(value));
}

// Adds to the counter oceand_plugin_<name>_total{plugin="..."}.
inline void metric_add(std::string_view name, double delta = 1.0) {
  if (detail::g_api) detail::g_api->metric_add(detail::g_api->host, detail::view(name), delta);
}

// ----------------------------------------------------------------------------------------------
// Errors
// ----------------------------------------------------------------------------------------------

// Thrown from handle_event for a transient failure: the host retries with the processor's backoff,
// waiting at least `retry_after_seconds` when it is positive (Retry-After, rate-limit reset).
class RetryableError : public std::runtime_error {
 public:
  explicit RetryableError(const std::string& message, double retry_after_seconds = 0)
      : std::runtime_error(message), retry_after_seconds_(retry_after_seconds) {}
  double retry_after_seconds() const { return retry_after_seconds_; }

 private:
  double retry_after_seconds_;
};

// Maps and applies raw items of `kind` with the integration's mapping (Ocean's register_raw).
inline bool register_raw(std::string_view integration, std::string_view kind,
                         std::string_view items_json) {
  return detail::g_api && detail::g_api->register_raw(detail::g_api->host,
                                                      detail::view(integration), detail::view(kind),
                                                      detail::view(items_json)) == OCEAN_STATUS_OK;
}
inline bool unregister_raw(std::string_view integration, std::string_view kind,
                           std::string_view items_json) {
  return detail::g_api && detail::g_api->unregister_raw(
                              detail::g_api->host, detail::view(integration), detail::view(kind),
                              detail::view(items_json)) == OCEAN_STATUS_OK;
}

}  // namespace ocean
