#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "config/host_config.hpp"
#include "mapping/port_app_config.hpp"
#include "plugins/plugin_library.hpp"

namespace oceand {

// A processor factory as registered by a loaded plugin.
struct ProcessorRef {
  std::shared_ptr<PluginLibrary> plugin;
  const ocean_processor_factory* factory = nullptr;
  std::string name;
};

// A running integration: an identifier from oceand.yaml (or a plugin's own name) backed by a
// plugin.
struct Integration {
  IntegrationConfig config;
  std::shared_ptr<PluginLibrary> plugin;
  std::shared_ptr<const PortAppConfig> mapping;  // never null; empty when none is configured
};

struct WebhookRoute {
  std::string integration;
  std::string path;
  std::vector<ProcessorRef> processors;  // in registration order
};

struct DirectRouteRef {
  std::string integration;
  std::shared_ptr<PluginLibrary> plugin;
  const ocean_direct_route* route = nullptr;
};

// What /admin/plugins shows for every file in plugins.dir.
struct PluginFileStatus {
  std::string file;
  std::string sha256;
  std::string name;
  std::string version;
  std::string abi_version;
  std::string state;  // "loaded" or "refused"
  std::string error;
  uint64_t generation = 0;  // the generation that loaded this copy
};

// One immutable set of configuration, mappings and loaded plugins. Work in flight pins the
// generation it started on; a generation (and the libraries only it holds) is released when the
// last pin goes.
class Generation {
 public:
  uint64_t number = 0;
  std::shared_ptr<const HostConfig> config;
  std::map<std::string, std::shared_ptr<PluginLibrary>> plugins;  // by plugin name
  std::map<std::string, Integration> integrations;                // by identifier
  std::vector<PluginFileStatus> files;
  std::map<std::string, uint64_t> loaded_in;  // plugin sha256 -> generation that first loaded it

  const Integration* integration(const std::string& identifier) const;
  const WebhookRoute* webhook_route(const std::string& integration, const std::string& path) const;
  // Resolves `/integration/<rest>`: "<identifier>/<path>" first, then the alias "<path>" when
  // exactly one integration registered that path.
  const WebhookRoute* resolve_webhook(const std::string& rest) const;
  const DirectRouteRef* resolve_direct(const std::string& method, const std::string& rest) const;
  // A path several integrations registered, reached without an identifier (`rest` is the path):
  // true when it is one. claim() then picks the route whose plugin claims the request by its
  // sender headers or top-level body fields (ABI 1.1); nullptr, with `why`, when none or several
  // do.
  bool shared_path(const std::string& rest) const { return shared_.count("/" + rest) > 0; }
  const WebhookRoute* claim(const std::string& rest,
                            const std::function<bool(const std::string&)>& has_header,
                            std::string_view json_body, std::string& why) const;
  // True when some route (webhook or direct, any method) matches `rest`.
  bool path_exists(const std::string& rest) const;

  void add_routes(const Integration& integration);
  void index_aliases();

 private:
  std::map<std::pair<std::string, std::string>, WebhookRoute> routes_;
  std::map<std::string, const WebhookRoute*> aliases_;
  std::map<std::string, std::vector<const WebhookRoute*>> shared_;  // path -> its routes
  std::map<std::tuple<std::string, std::string, std::string>, DirectRouteRef>
      direct_;  // (integration, method, path)
  std::map<std::pair<std::string, std::string>, const DirectRouteRef*>
      direct_aliases_;  // (method, path)
  std::map<std::string, int> direct_path_owners_;
};

}  // namespace oceand
