#include "config/yaml_json.hpp"

#include <cctype>
#include <cerrno>
#include <cstdlib>

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

}  // namespace oceand
