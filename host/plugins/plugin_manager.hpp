#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "plugins/generation.hpp"
#include "plugins/host_api.hpp"

namespace oceand {

// Owns the current generation: builds a new one from configuration (loading plugin files, reusing
// libraries whose content did not change), validates it whole, and switches to it atomically.
class PluginManager {
 public:
  // Returns an integration's port-app-config text from elsewhere (Port) when none is configured
  // locally; throws when it cannot.
  using MappingFetcher = std::function<std::string(const std::string& identifier)>;

  explicit PluginManager(HostServices& services) : services_(services) {}
  void set_mapping_fetcher(MappingFetcher fetcher) { mapping_fetcher_ = std::move(fetcher); }

  // Loads plugins.dir and the mappings of `config`. Plugin files that cannot be used are recorded
  // as refused (they never stop the others); a mapping or an integration that cannot be set up
  // throws ConfigError.
  std::shared_ptr<Generation> build(std::shared_ptr<const HostConfig> config) const;
  void activate(std::shared_ptr<const Generation> generation);
  std::shared_ptr<const Generation> current() const;

  // Runs on_start of the named integrations (all when empty) on background threads, each bounded
  // by on_start_timeout_seconds; returns at once.
  void start_integrations(const std::shared_ptr<const Generation>& generation,
                          const std::vector<std::string>& identifiers = {});
  // Waits up to `timeout` for on_start calls in flight; true when none is left.
  bool wait_for_starts(std::chrono::milliseconds timeout);

 private:
  void check_config(const IntegrationConfig& ic, const PluginLibrary& plugin,
                    const HostConfig& config) const;
  std::shared_ptr<PortAppConfig> mapping_of(const IntegrationConfig& ic) const;

  // Libraries alive in any generation, by content: the same bytes are never loaded twice at once,
  // since the dynamic loader would hand back the image that is already mapped.
  struct LiveLibrary {
    std::weak_ptr<PluginLibrary> library;
    uint64_t loaded_in = 0;
  };
  std::shared_ptr<PluginLibrary> live_library(const std::string& sha256, uint64_t& loaded_in) const;

  HostServices& services_;
  MappingFetcher mapping_fetcher_;
  mutable std::mutex live_mutex_;
  mutable std::map<std::string, LiveLibrary> live_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Generation> current_;
  std::atomic<uint64_t> next_number_{1};

  // Shared with the on_start threads, which may outlive this manager when a plugin hangs.
  struct StartTracker {
    std::mutex mutex;
    std::condition_variable changed;
    int running = 0;
  };
  std::shared_ptr<StartTracker> starts_ = std::make_shared<StartTracker>();
};

}  // namespace oceand
