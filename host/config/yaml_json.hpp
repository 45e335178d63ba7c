#pragma once

#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <yaml-cpp/yaml.h>

namespace oceand {

// YAML -> JSON with YAML 1.2 core-schema scalars: plain `true`, `null`, `12`, `1.5` become JSON
// booleans, null and numbers; quoted scalars always stay strings. Throws ConfigError for a key
// that is not a string, or a tree deeper than 64 levels or over a million nodes.
rapidjson::Value yaml_to_json(const YAML::Node& node,
                              rapidjson::Document::AllocatorType& allocator);
std::string yaml_to_json_text(const YAML::Node& node);

// Every key given twice in one mapping, at any depth, as "<origin>: line N: key 'a.b' is given
// twice". yaml-cpp keeps the first and drops the rest without a word, so a setting written twice
// would silently not be the one the operator last wrote.
// `unreadable` (when given) is set when the tree cannot be read further — nested too deep or too
// large (an alias that contains itself), or a key that is not a string — and the problem is the
// last one returned: the caller must stop there.
std::vector<std::string> duplicate_keys(const YAML::Node& root, const std::string& origin,
                                        bool* unreadable = nullptr);

}  // namespace oceand
