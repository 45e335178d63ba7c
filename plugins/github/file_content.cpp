// A GitOps file's `content` as Ocean gives it: `.json` parsed as JSON, `.yaml` / `.yml` as YAML
// (one document, the safe loader's YAML 1.2 types), anything else — or what does not parse — the
// text itself.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <limits>
#include <map>
#include <sstream>
#include <unordered_set>

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

size_t values_in(const rapidjson::Value& v) {
  size_t n = 1;
  if (v.IsArray())
    for (const auto& item : v.GetArray()) n += values_in(item);
  if (v.IsObject())
    for (const auto& m : v.GetObject()) n += values_in(m.value);
  return n;
}

// Builds the JSON of one YAML document from yaml-cpp's parser events. Aliases are copies of their
// anchor's value, so a small file can describe a huge tree ("billion laughs"): past `budget`
// values the build stops and the file stays text. An alias inside its own anchor (an endless
// tree) stops it too. Nesting is bounded by yaml-cpp's parser, and costs no stack here.
class JsonBuilder : public YAML::EventHandler {
 public:
  JsonBuilder(rapidjson::Document& out, size_t budget)
      : out_(out), a_(out.GetAllocator()), budget_(budget) {}

  bool done() const { return done_; }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t anchor) override {
    complete(rapidjson::Value(), anchor);
  }
  void OnAlias(const YAML::Mark&, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) throw std::length_error("an alias inside its own anchor");
    spend(values_in(it->second));
    complete(rapidjson::Value(it->second, a_), 0);
  }
  void OnScalar(const YAML::Mark&, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    // Quoted scalars (tag "!") and explicitly tagged ones stay strings; plain ones are resolved.
    complete(tag == "?" ? scalar(value, a_)
                        : rapidjson::Value(value.c_str(),
                                           static_cast<rapidjson::SizeType>(value.size()), a_),
             anchor);
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open_.push_back({rapidjson::Value(rapidjson::kArrayType), anchor});
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open_.push_back({rapidjson::Value(rapidjson::kObjectType), anchor});
  }
  void OnMapEnd() override { close(); }

 private:
  struct Open {
    rapidjson::Value value;
    YAML::anchor_t anchor;
    std::optional<std::string> key;  // a map's key waiting for its value
    std::unordered_set<std::string> keys;
  };

  void spend(size_t n) {
    if (n > budget_) throw std::length_error("YAML expands past the conversion budget");
    budget_ -= n;
  }
  void close() {
    Open top = std::move(open_.back());
    open_.pop_back();
    complete(std::move(top.value), top.anchor);
  }
  void complete(rapidjson::Value value, YAML::anchor_t anchor) {
    spend(1);
    if (anchor) anchors_[anchor].CopyFrom(value, anchor_memory_.GetAllocator());
    if (open_.empty()) {
      static_cast<rapidjson::Value&>(out_) = std::move(value);
      done_ = true;
      return;
    }
    Open& parent = open_.back();
    if (parent.value.IsArray()) {
      parent.value.PushBack(std::move(value), a_);
      return;
    }
    if (!parent.key) {
      // A number, true or null as a key is named by its JSON text (as Python's json names it); a
      // list or a map cannot be a key (Python: "unhashable"), and the file stays text.
      if (value.IsObject() || value.IsArray())
        throw std::invalid_argument("a YAML key that is a list or a map");
      parent.key = value.IsString() ? std::string(value.GetString(), value.GetStringLength())
                                    : ocean::to_json(value);
      return;
    }
    std::string key = std::move(*parent.key);
    parent.key.reset();
    if (!parent.keys.insert(key).second) {  // a repeated key: the last one wins, as in Python
      rapidjson::Value name(rapidjson::StringRef(key.c_str(), key.size()));
      parent.value.FindMember(name)->value = std::move(value);
      return;
    }
    parent.value.AddMember(
        rapidjson::Value(key.c_str(), static_cast<rapidjson::SizeType>(key.size()), a_),
        std::move(value), a_);
  }

  rapidjson::Document& out_;
  rapidjson::Document::AllocatorType& a_;
  size_t budget_;
  std::vector<Open> open_;
  rapidjson::Document anchor_memory_;
  std::map<YAML::anchor_t, rapidjson::Value> anchors_;
  bool done_ = false;
};

// Sees a document and keeps nothing: whether a second one follows.
struct Ignore : YAML::EventHandler {
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
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
    // One document at a time, never YAML::LoadAll: on some malformed input (a document starting
    // with ',') yaml-cpp 0.7's parser stops advancing, and LoadAll would ask for documents forever.
    std::istringstream in(text);
    YAML::Parser parser(in);
    JsonBuilder builder(out, 100000 + text.size());
    if (!parser.HandleNextDocument(builder)) {
      out.SetNull();  // an empty file
      return out;
    }
    Ignore rest;
    if (!builder.done() || parser.HandleNextDocument(rest))
      return std::nullopt;  // several documents: Ocean's single-document load refuses them
    return out;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace github
