#include "plugins/plugin_manager.hpp"

#include <algorithm>
#include <condition_variable>
#include <future>
#include <map>
#include <thread>

#include "core/busy_marks.hpp"
#include "core/log.hpp"
#include "plugins/guarded_call.hpp"
#include "plugins/plugin_file.hpp"

namespace oceand {

namespace {}  // namespace

std::shared_ptr<PluginLibrary> PluginManager::live_library(const std::string& sha256,
                                                           uint64_t& loaded_in) const {
  std::lock_guard lock(live_mutex_);
  for (auto it = live_.begin(); it != live_.end();) {
    if (it->second.library.expired())
      it = live_.erase(it);
    else
      ++it;
  }
  auto it = live_.find(sha256);
  if (it == live_.end()) return nullptr;
  loaded_in = it->second.loaded_in;
  return it->second.library.lock();
}

std::shared_ptr<PortAppConfig> PluginManager::mapping_of(const IntegrationConfig& ic) const {
  if (!ic.mapping_path.empty())
    return std::make_shared<PortAppConfig>(load_port_app_config(ic.mapping_path));
  if (!mapping_fetcher_) return std::make_shared<PortAppConfig>();
  try {
    auto mapping = std::make_shared<PortAppConfig>(parse_port_app_config(
        mapping_fetcher_(ic.identifier), "Port's mapping of " + ic.identifier));
    OCEAND_LOG_INFO("plugins") << "integration '" << ic.identifier << "': mapping from Port, "
                               << mapping->resources.size() << " resource(s)";
    return mapping;
  } catch (const std::exception& e) {
    if (ic.implicit) {
      OCEAND_LOG_WARN("plugins") << "integration '" << ic.identifier
                                 << "' has no local mapping and none could be read from Port ("
                                 << e.what() << "): its events map to no entities";
      return std::make_shared<PortAppConfig>();
    }
    throw ConfigError("integration '" + ic.identifier + "': no mapping file is configured and " +
                      e.what());
  }
}

// An integration's `config` block as its plugin declared it (ABI 1.1): a refusal stops start and
// fails a reload (the running generation stays), naming the integration and the plugin's reason.
// An integration made only because its plugin is loaded (no block in oceand.yaml) is warned about
// instead: it has no config to fix, and its events fail with the plugin's own error.
void PluginManager::check_config(const IntegrationConfig& ic, const PluginLibrary& plugin,
                                 const HostConfig& config) const {
  std::vector<std::string> unknown;
  std::string problem = plugin.check_integration(ic, config, unknown);
  for (const auto& key : unknown)
    OCEAND_LOG_WARN("plugins") << "integration '" << ic.identifier << "': config key '" << key
                               << "' is not one plugin '" << plugin.name() << "' declares: ignored";
  if (problem.empty()) return;
  if (ic.implicit) {
    OCEAND_LOG_WARN("plugins") << "integration '" << ic.identifier << "' (made for plugin '"
                               << plugin.name()
                               << "', which oceand.yaml does not configure): " << problem;
    return;
  }
  throw ConfigError("integration '" + ic.identifier + "': " + problem);
}

std::shared_ptr<Generation> PluginManager::build(std::shared_ptr<const HostConfig> config) const {
  auto gen = std::make_shared<Generation>();
  gen->number = next_number_.load();
  gen->config = config;

  const PluginFileRules rules{config->plugins_dir, config->plugins_strict_modes};
  const std::string dir_problem = plugin_dir_problem(rules);
  if (!dir_problem.empty()) {
    OCEAND_LOG_ERROR("plugins") << dir_problem << ": no plugin is loaded from it";
  }
  std::map<std::string, std::string> served_by;  // plugin name -> the file serving it here
  for (const auto& file : list_plugin_files(config->plugins_dir)) {
    PluginFileStatus status;
    status.file = file.string();
    try {
      if (!dir_problem.empty()) throw PluginLoadError(dir_problem);
      std::string bytes = read_plugin_file(file, rules);
      status.sha256 = PluginLibrary::sha256_of(bytes);
      uint64_t loaded_in = 0;
      std::shared_ptr<PluginLibrary> lib = live_library(status.sha256, loaded_in);
      if (!lib) {
        lib = PluginLibrary::load(file, std::move(bytes), config->plugins_cache_dir, services_);
        loaded_in = gen->number;
        std::lock_guard lock(live_mutex_);
        live_[lib->sha256()] = LiveLibrary{lib, loaded_in};
      }
      gen->loaded_in[lib->sha256()] = loaded_in;
      // Named by the file that holds the name in this generation: a library kept from an
      // earlier one remembers the path it was first loaded from, which may have been renamed.
      if (auto holder = served_by.find(lib->name()); holder != served_by.end())
        throw PluginLoadError("plugin name '" + lib->name() + "' is already served by " +
                              holder->second);
      served_by[lib->name()] = file.string();
      status.name = lib->name();
      status.version = lib->version();
      status.abi_version = lib->abi_version();
      status.state = "loaded";
      status.generation = gen->loaded_in[lib->sha256()];
      gen->plugins[lib->name()] = lib;
    } catch (const std::exception& e) {
      status.state = "refused";
      status.error = e.what();
      OCEAND_LOG_ERROR("plugins") << "refused " << file.string() << ": " << e.what();
    }
    gen->files.push_back(std::move(status));
  }

  auto add_integration = [&](IntegrationConfig ic) {
    Integration integration;
    auto plugin = gen->plugins.find(ic.plugin);
    if (plugin == gen->plugins.end()) {
      OCEAND_LOG_WARN("plugins") << "integration '" << ic.identifier << "' names plugin '"
                                 << ic.plugin << "', which is not loaded: its routes answer 404";
    } else {
      integration.plugin = plugin->second;
      check_config(ic, *plugin->second, *config);
    }
    integration.mapping = mapping_of(ic);
    integration.config = std::move(ic);
    auto& slot = gen->integrations[integration.config.identifier] = std::move(integration);
    gen->add_routes(slot);
  };

  for (const auto& ic : config->integrations) add_integration(ic);
  for (const auto& [name, lib] : gen->plugins) {
    if (gen->integrations.count(name)) continue;
    bool named = std::any_of(config->integrations.begin(), config->integrations.end(),
                             [&](const IntegrationConfig& ic) { return ic.plugin == name; });
    if (named) continue;
    IntegrationConfig ic;
    ic.identifier = name;
    ic.plugin = name;
    ic.implicit = true;
    auto mapping = std::filesystem::path(config->config_dir) / name / "port-app-config.yaml";
    std::error_code ec;
    if (std::filesystem::exists(mapping, ec)) ic.mapping_path = mapping.string();
    add_integration(std::move(ic));
  }
  gen->index_aliases();
  return gen;
}

void PluginManager::activate(std::shared_ptr<const Generation> generation) {
  std::shared_ptr<const Generation> old;
  {
    std::lock_guard lock(mutex_);
    old = std::move(current_);
    current_ = std::move(generation);
    next_number_.store(current_->number + 1);
  }
  OCEAND_LOG_INFO("plugins") << "generation " << current_->number
                             << " active: " << current_->plugins.size() << " plugin(s), "
                             << current_->integrations.size() << " integration(s)";
  // `old` is released here, or later by the last task that pinned it.
}

std::shared_ptr<const Generation> PluginManager::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

void PluginManager::start_integrations(const std::shared_ptr<const Generation>& generation,
                                       const std::vector<std::string>& identifiers) {
  for (const auto& [id, integration] : generation->integrations) {
    if (!integration.plugin || !integration.plugin->descriptor().on_start) continue;
    if (!identifiers.empty() &&
        std::find(identifiers.begin(), identifiers.end(), id) == identifiers.end())
      continue;
    {
      std::lock_guard lock(starts_->mutex);
      ++starts_->running;
    }
    auto timeout = std::chrono::duration<double>(generation->config->on_start_timeout_seconds);
    auto done = std::make_shared<std::promise<ocean_status>>();
    auto future = done->get_future().share();
    // The thread pins the generation, so the library stays loaded while on_start runs, however
    // long.
    std::thread([tracker = starts_, generation, id = id, done] {
      const Integration& in = generation->integrations.at(id);
      CallContext context;
      context.config = generation->config.get();
      CallScope scope(context);
      ocean_instance_info info{};
      info.struct_size = sizeof info;
      info.integration = to_ocean(in.config.identifier);
      info.base_url = to_ocean(generation->config->base_url);
      ocean_status status = OCEAN_STATUS_FAILED;
      std::string escaped;
      {
        BusyMark mark(
            BusyMark::What{0, &in.config.identifier, nullptr, &in.plugin->file(), "on_start"});
        escaped = call_guarded([&] { status = in.plugin->descriptor().on_start(&info); });
      }
      if (!escaped.empty()) {
        OCEAND_LOG_ERROR("plugins") << "on_start of '" << id << "': plugin failure: " << escaped;
        status = OCEAN_STATUS_FAILED;
      }
      done->set_value(status);
      std::lock_guard lock(tracker->mutex);
      --tracker->running;
      tracker->changed.notify_all();
    }).detach();
    std::thread([id = id, future, timeout] {
      if (future.wait_for(timeout) != std::future_status::ready) {
        OCEAND_LOG_ERROR("plugins") << "on_start of '" << id << "' did not finish within "
                                    << timeout.count() << " s; oceand goes on serving";
        return;
      }
      if (future.get() == OCEAN_STATUS_OK)
        OCEAND_LOG_INFO("plugins") << "on_start of '" << id << "' done";
      else
        OCEAND_LOG_ERROR("plugins") << "on_start of '" << id << "' failed; oceand goes on serving";
    }).detach();
  }
}

bool PluginManager::wait_for_starts(std::chrono::milliseconds timeout) {
  std::unique_lock lock(starts_->mutex);
  return starts_->changed.wait_for(lock, timeout, [&] { return starts_->running == 0; });
}

}  // namespace oceand
