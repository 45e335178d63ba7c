// A GitOps file's `content` as Ocean gives it: `.json` parsed as JSON, `.yaml` / `.yml` as YAML
// (one document, the safe loader's YAML 1.2 types), anything else — or what does not parse — the
// text itself.
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <limits>

#include "github.hpp"

namespace github {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i])
      return false;
  return true;
}

bool digits(std::string_view s, int base) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = base == 16 ? std::isxdigit(static_cast<unsigned char>(c))
                         : c >= '0' && c < static_cast<char>('0' + base);
    if (!ok) return false;
  }
  return true;
}

// A plain scalar resolved as YAML 1.2's core schema does (what Ocean's safe loader yields).
rapidjson::Value scalar(const std::string& s, rapidjson::Document::AllocatorType& a) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return rapidjson::Value();
  if (s == "true" || s == "True" || s == "TRUE") return rapidjson::Value(true);
  if (s == "false" || s == "False" || s == "FALSE") return rapidjson::Value(false);
  std::string_view body = s;
  bool negative = false;
  if (body.front() == '-' || body.front() == '+') {
    negative = body.front() == '-';
    body.remove_prefix(1);
  }
  auto integer = [&](std::string_view d, int base) -> std::optional<rapidjson::Value> {
    if (!digits(d, base)) return std::nullopt;
    errno = 0;
    unsigned long long v = std::strtoull(std::string(d).c_str(), nullptr, base);
    if (errno == ERANGE || v > static_cast<unsigned long long>(std::numeric_limits<int64_t>::max()))
      return rapidjson::Value(static_cast<double>(v) * (negative ? -1 : 1));
    return negative ? rapidjson::Value(-static_cast<int64_t>(v))
                    : rapidjson::Value(static_cast<uint64_t>(v));
  };
  if (body.substr(0, 2) == "0x" && s.front() != '-' && s.front() != '+')
    if (auto v = integer(body.substr(2), 16)) return std::move(*v);
  if (body.substr(0, 2) == "0o" && s.front() != '-' && s.front() != '+')
    if (auto v = integer(body.substr(2), 8)) return std::move(*v);
  if (auto v = integer(body, 10)) return std::move(*v);
  // Floats: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?; .inf and .nan have no JSON
  // form, so they stay text.
  size_t i = 0, n = body.size(), int_digits = 0, frac_digits = 0;
  while (i < n && std::isdigit(static_cast<unsigned char>(body[i]))) ++i, ++int_digits;
  if (i < n && body[i] == '.') {
    ++i;
    while (i < n && std::isdigit(static_cast<unsigned char>(body[i]))) ++i, ++frac_digits;
  }
  bool number = int_digits + frac_digits > 0;
  if (number && i < n && (body[i] == 'e' || body[i] == 'E')) {
    size_t j = i + 1;
    if (j < n && (body[j] == '+' || body[j] == '-')) ++j;
    size_t exp_digits = 0;
    while (j < n && std::isdigit(static_cast<unsigned char>(body[j]))) ++j, ++exp_digits;
    i = exp_digits ? j : n + 1;
  }
  if (number && i == n) {
    double v = std::strtod(s.c_str(), nullptr);
    if (std::isfinite(v)) return rapidjson::Value(v);
  }
  return rapidjson::Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a);
}

// Aliases share nodes, so a small file can describe a huge tree ("billion laughs"): the
// conversion stops past `budget` values and the file stays text.
struct Converter {
  rapidjson::Document::AllocatorType& a;
  size_t budget;

  rapidjson::Value operator()(const YAML::Node& node) {
    if (budget-- == 0) throw std::length_error("YAML expands past the conversion budget");
    switch (node.Type()) {
      case YAML::NodeType::Sequence: {
        rapidjson::Value out(rapidjson::kArrayType);
        for (const auto& item : node) out.PushBack((*this)(item), a);
        return out;
      }
      case YAML::NodeType::Map: {
        rapidjson::Value out(rapidjson::kObjectType);
        for (const auto& kv : node) {
          std::string key = kv.first.IsScalar() ? kv.first.Scalar() : YAML::Dump(kv.first);
          rapidjson::Value name(key.c_str(), static_cast<rapidjson::SizeType>(key.size()), a);
          out.RemoveMember(name);  // a repeated key: the last one wins, as in Python
          out.AddMember(name, (*this)(kv.second), a);
        }
        return out;
      }
      case YAML::NodeType::Scalar:
        // Quoted or explicitly tagged "!" scalars are strings; plain ones are resolved.
        if (node.Tag() != "?")
          return rapidjson::Value(node.Scalar().c_str(),
                                  static_cast<rapidjson::SizeType>(node.Scalar().size()), a);
        return scalar(node.Scalar(), a);
      default:
        return rapidjson::Value();
    }
  }
};

}  // namespace

std::optional<rapidjson::Document> parse_file_content(std::string_view path,
                                                      const std::string& text) {
  rapidjson::Document out;
  if (ends_with(path, ".json")) {
    if (ocean::parse_json(out, text)) return out;
    return std::nullopt;
  }
  if (!ends_with(path, ".yaml") && !ends_with(path, ".yml")) return std::nullopt;
  try {
    std::vector<YAML::Node> documents = YAML::LoadAll(text);
    if (documents.size() > 1) return std::nullopt;  // Ocean's single-document load refuses it
    if (documents.empty()) {
      out.SetNull();
      return out;
    }
    Converter convert{out.GetAllocator(), 100000 + text.size()};
    static_cast<rapidjson::Value&>(out) = convert(documents.front());
    return out;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace github
