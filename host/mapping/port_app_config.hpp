#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <rapidjson/document.h>

namespace oceand {

// One entry of `resources[]` in Ocean's port-app-config.
struct ResourceMapping {
  std::string kind;
  unsigned index = 0;
  std::string config_json;  // the whole block as JSON text, handed to processors
  uint64_t uid = 0;         // hash of config_json: keys the pool of compiled programs
  // The file's top-level settings but `resources` (shared by every block), as JSON text: what
  // Ocean's processors read as `event.port_app_config` (GitHub's `repositoryType`).
  std::shared_ptr<const std::string> app_config_json;
};

// Ocean's port-app-config.yaml as users write it.
struct PortAppConfig {
  std::vector<ResourceMapping> resources;
  bool enable_merge_entity = true;
  bool delete_dependent_entities = true;  // Ocean's default
  bool create_missing_related_entities = true;
  std::shared_ptr<const rapidjson::Document> document;  // the whole file as JSON

  std::vector<const ResourceMapping*> resources_of_kind(const std::string& kind) const;
};

// Parses a port-app-config from YAML (or JSON, which is YAML) text. Throws ConfigError.
PortAppConfig parse_port_app_config(const std::string& text, const std::string& origin);
PortAppConfig load_port_app_config(const std::string& path);

}  // namespace oceand
