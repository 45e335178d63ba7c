#include "mapping/port_app_config.hpp"

#include <atomic>
#include <fstream>
#include <sstream>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <yaml-cpp/yaml.h>

#include "config/host_config.hpp"
#include "config/yaml_json.hpp"
#include "core/json_text.hpp"

namespace oceand {

std::vector<const ResourceMapping*> PortAppConfig::resources_of_kind(
    const std::string& kind) const {
  std::vector<const ResourceMapping*> out;
  for (const auto& r : resources)
    if (r.kind == kind) out.push_back(&r);
  return out;
}

PortAppConfig parse_port_app_config(const std::string& text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(origin + ": " + e.what());
  }
  if (!root.IsMap())
    throw ConfigError(origin + ": a port-app-config is a mapping with a 'resources' list");
  if (auto twice = duplicate_keys(root, origin); !twice.empty()) throw ConfigError(twice);
  // (yaml_to_json below throws ConfigError for what it cannot convert.)
  auto doc = std::make_shared<rapidjson::Document>();
  doc->SetObject();
  static_cast<rapidjson::Value&>(*doc) = yaml_to_json(root, doc->GetAllocator());

  PortAppConfig config;
  auto flag = [&](const char* key, bool& out) {
    auto it = doc->FindMember(key);
    if (it == doc->MemberEnd() || it->value.IsNull()) return;
    if (!it->value.IsBool()) throw ConfigError(origin + ": " + key + " must be true or false");
    out = it->value.GetBool();
  };
  flag("enableMergeEntity", config.enable_merge_entity);
  flag("deleteDependentEntities", config.delete_dependent_entities);
  flag("createMissingRelatedEntities", config.create_missing_related_entities);

  auto resources = doc->FindMember("resources");
  if (resources == doc->MemberEnd() || resources->value.IsNull()) {
    config.document = doc;
    return config;
  }
  if (!resources->value.IsArray()) throw ConfigError(origin + ": resources must be a list");
  unsigned index = 0;
  for (const auto& item : resources->value.GetArray()) {
    const std::string where = origin + ": resources[" + std::to_string(index) + "]";
    if (!item.IsObject()) throw ConfigError(where + " must be a mapping");
    auto kind = item.FindMember("kind");
    if (kind == item.MemberEnd() || !kind->value.IsString() || kind->value.GetStringLength() == 0)
      throw ConfigError(where + ".kind is required");
    ResourceMapping r;
    r.kind = kind->value.GetString();
    r.index = index;
    r.config_json = json_text(item);
    // By content, so a reload that leaves a resource unchanged keeps every worker's compiled
    // programs (compiling them is the costly part of mapping).
    uint64_t hash = 1469598103934665603ull;  // FNV-1a
    for (unsigned char c : r.config_json) hash = (hash ^ c) * 1099511628211ull;
    r.uid = hash;
    config.resources.push_back(std::move(r));
    ++index;
  }
  config.document = doc;
  return config;
}

PortAppConfig load_port_app_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read mapping file " + path);
  std::stringstream text;
  text << in.rdbuf();
  return parse_port_app_config(text.str(), path);
}

}  // namespace oceand
