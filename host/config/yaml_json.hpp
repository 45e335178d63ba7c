#pragma once

#include <string>

#include <rapidjson/document.h>
#include <yaml-cpp/yaml.h>

namespace oceand {

// YAML -> JSON with YAML 1.2 core-schema scalars: plain `true`, `null`, `12`, `1.5` become JSON
// booleans, null and numbers; quoted scalars always stay strings.
rapidjson::Value yaml_to_json(const YAML::Node& node,
                              rapidjson::Document::AllocatorType& allocator);
std::string yaml_to_json_text(const YAML::Node& node);

}  // namespace oceand
