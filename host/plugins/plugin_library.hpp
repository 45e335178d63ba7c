#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/dll/shared_library.hpp>

#include "ocean/plugin_abi.h"
#include "plugins/host_api.hpp"

namespace oceand {

struct HostConfig;
struct IntegrationConfig;

class PluginLoadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One plugin library, loaded from a private content-addressed copy of its file and checked
// against the ABI. Unloading happens in the destructor, after the plugin's shutdown hook; whoever
// can still run plugin code holds a shared_ptr to it.
class PluginLibrary {
 public:
  // Loads `bytes`, the content of `file` as read_plugin_file checked it (never the file again,
  // which may change meanwhile). Throws PluginLoadError with a one-line reason.
  static std::shared_ptr<PluginLibrary> load(const std::filesystem::path& file, std::string bytes,
                                             const std::filesystem::path& cache_dir,
                                             HostServices& services);
  // SHA-256 (hex) of a file's content.
  static std::string sha256_of(const std::string& bytes);

  ~PluginLibrary();
  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;

  const ocean_plugin_descriptor& descriptor() const { return *descriptor_; }
  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  const std::string& file() const { return file_; }
  const std::string& sha256() const { return sha256_; }
  const std::string& private_copy() const { return private_copy_; }
  std::string abi_version() const;
  // Lower-cased names of the headers carrying a delivery id, in the plugin's order (ABI 1.1; the
  // 1.0 defaults otherwise).
  const std::vector<std::string>& delivery_id_headers() const { return delivery_id_headers_; }
  // What says a request is from this plugin's sender (ABI 1.1): headers (lower-case), body fields.
  const std::vector<std::string>& sender_headers() const { return sender_headers_; }
  const std::vector<std::string>& sender_body_fields() const { return sender_body_fields_; }
  // The keys of an integration's `config` block the plugin declared (ABI 1.1; none: any block).
  const std::vector<ConfigKey>& config_keys() const { return host_->config_keys; }
  // Checks one integration's `config` block against the declared keys (required ones set, secrets
  // plain strings), then with the plugin's validate_config (ABI 1.1): empty when accepted, else
  // the reason. Keys the plugin does not declare are added to `unknown`. `config` is what
  // config_get answers from during validate_config, which runs plugin code (crash-marked,
  // exceptions caught).
  [[nodiscard]] std::string check_integration(const IntegrationConfig& integration,
                                              const HostConfig& config,
                                              std::vector<std::string>& unknown) const;

 private:
  PluginLibrary() = default;

  std::unique_ptr<ocean_host> host_;
  ocean_host_api api_{};
  boost::dll::shared_library library_;
  const ocean_plugin_descriptor* descriptor_ = nullptr;
  std::vector<std::string> delivery_id_headers_;
  std::vector<std::string> sender_headers_, sender_body_fields_;
  ocean_status (*validate_config_)(ocean_str, ocean_string_out*) = nullptr;
  std::string name_, version_, file_, sha256_, private_copy_;
};

// Whether a vtable is large enough to hold ABI 1.1's *_checked yes/no hooks.
bool has_checked_hooks(const ocean_processor_vtable* v);

// Checks that a descriptor is complete and consistent; returns an empty string when it is, else
// the first problem found.
std::string check_descriptor(const ocean_plugin_descriptor* d);

}  // namespace oceand
