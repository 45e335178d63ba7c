#include "config/yaml_json.hpp"
#include "config/host_config.hpp"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <set>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace oceand {

namespace {
rapidjson::Value plain_scalar(const std::string& s, rapidjson::Document::AllocatorType& a) {
  if (s == "true" || s == "True" || s == "TRUE") return rapidjson::Value(true);
  if (s == "false" || s == "False" || s == "FALSE") return rapidjson::Value(false);
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return rapidjson::Value();
  const char* begin = s.c_str();
  char* end = nullptr;
  errno = 0;
  long long i = std::strtoll(begin, &end, 10);
  if (errno == 0 && end && *end == '\0' &&
      (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' || s[0] == '+'))
    return rapidjson::Value(static_cast<int64_t>(i));
  errno = 0;
  double d = std::strtod(begin, &end);
  if (errno == 0 && end && *end == '\0' && s.find_first_of("0123456789") != std::string::npos &&
      s.find_first_of("xXnN") == std::string::npos)
    return rapidjson::Value(d);
  return rapidjson::Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a);
}
}  // namespace

namespace {

constexpr int kMaxDepth = 64;
constexpr size_t kMaxNodes = 1'000'000;

// The text of a mapping key; a key that is itself a list or a mapping is refused.
std::string key_text(const YAML::Node& key) {
  if (key.IsScalar()) return key.Scalar();
  throw ConfigError("line " + std::to_string(key.Mark().line + 1) + ": a key must be a string");
}

// Recursive, with a depth and a node budget: an alias refers to what it names, so `&x [*x]` is
// a cycle and nested aliases grow exponentially (billion laughs); neither may take the process.
rapidjson::Value convert(const YAML::Node& node, rapidjson::Document::AllocatorType& a, int depth,
                         size_t& nodes) {
  if (depth > kMaxDepth || ++nodes > kMaxNodes)
    throw ConfigError("line " + std::to_string(node.Mark().line + 1) +
                      ": nested deeper than 64 levels or over a million nodes (an alias that "
                      "contains itself?)");
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      rapidjson::Value obj(rapidjson::kObjectType);
      for (const auto& kv : node) {
        auto key = key_text(kv.first);
        obj.AddMember(
            rapidjson::Value(key.c_str(), static_cast<rapidjson::SizeType>(key.size()), a),
            convert(kv.second, a, depth + 1, nodes), a);
      }
      return obj;
    }
    case YAML::NodeType::Sequence: {
      rapidjson::Value arr(rapidjson::kArrayType);
      for (const auto& item : node) arr.PushBack(convert(item, a, depth + 1, nodes), a);
      return arr;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() == "!")
        return rapidjson::Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a);
      return plain_scalar(s, a);
    }
    default:
      return rapidjson::Value();
  }
}

}  // namespace

rapidjson::Value yaml_to_json(const YAML::Node& node, rapidjson::Document::AllocatorType& a) {
  size_t nodes = 0;
  return convert(node, a, 0, nodes);
}

std::string yaml_to_json_text(const YAML::Node& node) {
  rapidjson::Document doc;
  rapidjson::Value v = yaml_to_json(node, doc.GetAllocator());
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

namespace {
// False when the tree cannot be read further (too deep, too large, a key that is not a string):
// the problem is in `out` and the caller stops.
bool find_duplicates(const YAML::Node& node, const std::string& path, const std::string& origin,
                     std::vector<std::string>& out, int depth, size_t& nodes) {
  const std::string line = std::to_string(node.Mark().line + 1);
  if (depth > kMaxDepth || ++nodes > kMaxNodes) {
    out.push_back(origin + ": line " + line +
                  ": nested deeper than 64 levels or over a million nodes (an alias that "
                  "contains itself?)");
    return false;
  }
  if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i)
      if (!find_duplicates(node[i], path + "[" + std::to_string(i) + "]", origin, out, depth + 1,
                           nodes))
        return false;
    return true;
  }
  if (!node.IsMap()) return true;
  std::set<std::string> seen;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) {
      out.push_back(origin + ": line " + std::to_string(kv.first.Mark().line + 1) +
                    ": a key must be a string" + (path.empty() ? "" : " (in '" + path + "')"));
      return false;
    }
    const std::string key = kv.first.Scalar();
    const std::string where = path.empty() ? key : path + "." + key;
    if (!seen.insert(key).second)
      out.push_back(origin + ": line " + std::to_string(kv.first.Mark().line + 1) + ": key '" +
                    where + "' is given twice");
    if (!find_duplicates(kv.second, where, origin, out, depth + 1, nodes)) return false;
  }
  return true;
}
}  // namespace

std::vector<std::string> duplicate_keys(const YAML::Node& root, const std::string& origin,
                                        bool* unreadable) {
  std::vector<std::string> out;
  size_t nodes = 0;
  const bool readable = find_duplicates(root, "", origin, out, 0, nodes);
  if (unreadable) *unreadable = !readable;
  return out;
}

}  // namespace oceand
