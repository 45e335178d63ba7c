// libFuzzer target: the GitHub plugin's reading of GitOps files (JSON and YAML by extension).
// Whatever it returns must be a JSON value that survives a round trip through rapidjson's writer
// and reader (numbers to the reader's precision: rapidjson's default parse of a long mantissa is
// not correctly rounded); nothing it is given may crash it or make it expand without bound.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "github/github.hpp"

namespace {

bool same(const rapidjson::Value& a, const rapidjson::Value& b) {
  if (a.IsNumber() && b.IsNumber()) {
    double x = a.GetDouble(), y = b.GetDouble();
    return x == y || std::fabs(x - y) <= 1e-12 * std::fmax(std::fabs(x), std::fabs(y));
  }
  if (a.GetType() != b.GetType()) return false;
  if (a.IsArray()) {
    if (a.Size() != b.Size()) return false;
    for (rapidjson::SizeType i = 0; i < a.Size(); ++i)
      if (!same(a[i], b[i])) return false;
    return true;
  }
  if (a.IsObject()) {
    if (a.MemberCount() != b.MemberCount()) return false;
    for (const auto& m : a.GetObject()) {
      auto it = b.FindMember(m.name);
      if (it == b.MemberEnd() || !same(m.value, it->value)) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  for (const char* path : {"deploy/app.yaml", "port.json", "notes.txt"}) {
    auto parsed = github::parse_file_content(path, text);
    if (!parsed) continue;
    if (std::string(path) == "notes.txt") abort();  // other files are never parsed
    std::string json = ocean::to_json(*parsed);
    rapidjson::Document again;
    if (!ocean::parse_json(again, json) || !same(again, *parsed)) abort();
  }
  return 0;
}
