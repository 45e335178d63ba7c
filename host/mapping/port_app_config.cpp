#include "mapping/port_app_config.hpp"

#include <atomic>
#include <fstream>
#include <sstream>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <yaml-cpp/yaml.h>

#include "config/yaml_json.hpp"
#include "core/config_error.hpp"
#include "core/json_text.hpp"

namespace oceand {

std::vector<const ResourceMapping*> PortAppConfig::resources_of_kind(
    const std::string& kind) const {
  std::vector<const ResourceMapping*> out;
  for (const auto& r : resources)
    if (r.kind == kind) out.push_back(&r);
  return out;
}

namespace {

bool one_of(const std::string& key, std::initializer_list<const char*> known) {
  for (const char* k : known)
    if (key == k) return true;
  return false;
}

// A search query, as Port takes it for an identifier, a team or a relation:
// {combinator, rules: [{property, operator, value} | query]}, every leaf a jq expression.
bool search_query(const rapidjson::Value& v) {
  if (!v.IsObject() || !v.HasMember("combinator") || !v.HasMember("rules") || !v["rules"].IsArray())
    return false;
  for (const auto& rule : v["rules"].GetArray())
    if (!search_query(rule) && !(rule.IsObject() && rule.HasMember("property") &&
                                 rule.HasMember("operator") && rule.HasMember("value")))
      return false;
  return true;
}

// What Ocean's models would refuse, and keys it would silently drop (which only ever hide a
// typo): every problem of one resource block, as "<where> <field>: <problem>".
void check_resource(const rapidjson::Value& item, const std::string& where,
                    std::vector<std::string>& problems) {
  auto problem = [&](const std::string& field, const std::string& text) {
    problems.push_back(where + " " + field + ": " + text);
  };
  if (auto selector = item.FindMember("selector"); selector != item.MemberEnd()) {
    if (!selector->value.IsObject())
      problem("selector", "must be a mapping with a query");
    else if (auto q = selector->value.FindMember("query");
             q != selector->value.MemberEnd() && !q->value.IsString())
      problem("selector.query", "must be a jq expression (a string)");
  }
  auto port = item.FindMember("port");
  if (port == item.MemberEnd() || !port->value.IsObject())
    return problem("port.entity.mappings", "is required (port: {entity: {mappings: {...}}})");
  for (const auto& m : port->value.GetObject()) {
    const std::string key = m.name.GetString();
    if (!one_of(key,
                {"entity", "itemsToParse", "itemsToParseName", "itemsToParseTopLevelTransform"}))
      problem("port." + key, "unknown key");
  }
  if (auto t = port->value.FindMember("itemsToParseTopLevelTransform");
      t != port->value.MemberEnd() && !t->value.IsBool())
    problem("port.itemsToParseTopLevelTransform", "must be true or false");
  for (const char* key : {"itemsToParse", "itemsToParseName"})
    if (auto v = port->value.FindMember(key); v != port->value.MemberEnd() && !v->value.IsString())
      problem(std::string("port.") + key, "must be a string");
  auto entity = port->value.FindMember("entity");
  if (entity == port->value.MemberEnd() || !entity->value.IsObject())
    return problem("port.entity.mappings", "is required");
  for (const auto& m : entity->value.GetObject())
    if (std::string(m.name.GetString()) != "mappings")
      problem("port.entity." + std::string(m.name.GetString()), "unknown key");
  auto mappings = entity->value.FindMember("mappings");
  if (mappings == entity->value.MemberEnd()) return problem("port.entity.mappings", "is required");
  if (mappings->value.IsArray())
    return problem("port.entity.mappings",
                   "must be a mapping (identifier, blueprint, properties, ...), not a list");
  if (!mappings->value.IsObject()) return problem("port.entity.mappings", "must be a mapping");
  const auto& fields = mappings->value;
  const std::string at = "port.entity.mappings.";
  for (const auto& m : fields.GetObject()) {
    const std::string key = m.name.GetString();
    if (!one_of(key,
                {"identifier", "title", "blueprint", "icon", "team", "properties", "relations"}))
      problem(at + key, "unknown key");
  }
  auto identifier = fields.FindMember("identifier");
  if (identifier == fields.MemberEnd())
    problem(at + "identifier", "is required");
  else if (!identifier->value.IsString() && !search_query(identifier->value))
    problem(at + "identifier", "must be a jq expression or a search query {combinator, rules}");
  auto blueprint = fields.FindMember("blueprint");
  if (blueprint == fields.MemberEnd())
    problem(at + "blueprint", "is required");
  else if (!blueprint->value.IsString())
    problem(at + "blueprint", "must be a jq expression (a string)");
  for (const char* key : {"title", "icon", "team"})
    if (auto v = fields.FindMember(key); v != fields.MemberEnd() && !v->value.IsString() &&
                                         !v->value.IsNull() &&
                                         !(std::string(key) == "team" && search_query(v->value)))
      problem(at + key, "must be a jq expression (a string)");
  for (const char* key : {"properties", "relations"}) {
    auto v = fields.FindMember(key);
    if (v == fields.MemberEnd() || v->value.IsNull()) continue;
    if (!v->value.IsObject()) {
      problem(at + key, "must be a mapping of names to jq expressions");
      continue;
    }
    for (const auto& f : v->value.GetObject()) {
      const bool relation_query = std::string(key) == "relations" && search_query(f.value);
      if (!f.value.IsString() && !relation_query)
        problem(
            at + key + "." + f.name.GetString(),
            std::string("must be a jq expression (a string)") +
                (std::string(key) == "relations" ? " or a search query {combinator, rules}" : ""));
    }
  }
}

}  // namespace

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

  auto settings = [&] {
    rapidjson::Document top(rapidjson::kObjectType);
    for (const auto& m : doc->GetObject())
      if (std::string_view(m.name.GetString()) != "resources")
        top.AddMember(rapidjson::Value(m.name, top.GetAllocator()),
                      rapidjson::Value(m.value, top.GetAllocator()), top.GetAllocator());
    return std::make_shared<const std::string>(json_text(top));
  }();

  auto resources = doc->FindMember("resources");
  if (resources == doc->MemberEnd() || resources->value.IsNull()) {
    config.document = doc;
    return config;
  }
  if (!resources->value.IsArray()) throw ConfigError(origin + ": resources must be a list");
  unsigned index = 0;
  std::vector<std::string> problems;
  for (const auto& item : resources->value.GetArray()) {
    const std::string where = origin + ": resources[" + std::to_string(index) + "]";
    if (!item.IsObject()) throw ConfigError(where + " must be a mapping");
    auto kind = item.FindMember("kind");
    if (kind == item.MemberEnd() || !kind->value.IsString() || kind->value.GetStringLength() == 0)
      throw ConfigError(where + ".kind is required");
    check_resource(item, where + " (kind " + kind->value.GetString() + ")", problems);
    ResourceMapping r;
    r.kind = kind->value.GetString();
    r.index = index;
    r.config_json = json_text(item);
    r.app_config_json = settings;
    // By content, so a reload that leaves a resource unchanged keeps every worker's compiled
    // programs (compiling them is the costly part of mapping).
    uint64_t hash = 1469598103934665603ull;  // FNV-1a
    for (unsigned char c : r.config_json) hash = (hash ^ c) * 1099511628211ull;
    r.uid = hash;
    config.resources.push_back(std::move(r));
    ++index;
  }
  if (!problems.empty()) throw ConfigError(std::move(problems));
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
