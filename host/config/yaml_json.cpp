#include "config/yaml_json.hpp"

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

rapidjson::Value yaml_to_json(const YAML::Node& node, rapidjson::Document::AllocatorType& a) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      rapidjson::Value obj(rapidjson::kObjectType);
      for (const auto& kv : node) {
        auto key = kv.first.as<std::string>();
        obj.AddMember(
            rapidjson::Value(key.c_str(), static_cast<rapidjson::SizeType>(key.size()), a),
            yaml_to_json(kv.second, a), a);
      }
      return obj;
    }
    case YAML::NodeType::Sequence: {
      rapidjson::Value arr(rapidjson::kArrayType);
      for (const auto& item : node) arr.PushBack(yaml_to_json(item, a), a);
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

std::string yaml_to_json_text(const YAML::Node& node) {
  rapidjson::Document doc;
  rapidjson::Value v = yaml_to_json(node, doc.GetAllocator());
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

namespace {
void find_duplicates(const YAML::Node& node, const std::string& path, const std::string& origin,
                     std::vector<std::string>& out) {
  if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i)
      find_duplicates(node[i], path + "[" + std::to_string(i) + "]", origin, out);
    return;
  }
  if (!node.IsMap()) return;
  std::set<std::string> seen;
  for (const auto& kv : node) {
    const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
    const std::string where = path.empty() ? key : path + "." + key;
    if (!seen.insert(key).second)
      out.push_back(origin + ": line " + std::to_string(kv.first.Mark().line + 1) + ": key '" +
                    where + "' is given twice");
    find_duplicates(kv.second, where, origin, out);
  }
}
}  // namespace

std::vector<std::string> duplicate_keys(const YAML::Node& root, const std::string& origin) {
  std::vector<std::string> out;
  find_duplicates(root, "", origin, out);
  return out;
}

}  // namespace oceand
