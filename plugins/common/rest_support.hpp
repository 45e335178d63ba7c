// Helpers shared by the bundled plugins (GitHub, Jira). Built only on the public SDK, like any
// third-party plugin: nothing here knows about the host.
#pragma once

#include <cctype>
#include <ctime>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <ocean/sdk.hpp>

namespace ocean_plugins {

// ---- JSON access on untrusted payloads: every lookup tolerates missing members and wrong types.

inline const rapidjson::Value* find(const rapidjson::Value& root,
                                    std::initializer_list<const char*> path) {
  const rapidjson::Value* v = &root;
  for (const char* key : path) {
    if (!v->IsObject()) return nullptr;
    auto it = v->FindMember(key);
    if (it == v->MemberEnd()) return nullptr;
    v = &it->value;
  }
  return v;
}

inline std::optional<std::string> get_string(const rapidjson::Value& root,
                                             std::initializer_list<const char*> path) {
  const rapidjson::Value* v = find(root, path);
  if (!v || !v->IsString()) return std::nullopt;
  return std::string(v->GetString(), v->GetStringLength());
}

// A positive integer, given as a JSON number or as a string of digits (Jira sends ids as strings).
inline std::optional<unsigned long long> get_id(const rapidjson::Value& root,
                                                std::initializer_list<const char*> path) {
  const rapidjson::Value* v = find(root, path);
  if (!v) return std::nullopt;
  if (v->IsUint64()) return v->GetUint64() > 0 ? std::optional(v->GetUint64()) : std::nullopt;
  if (v->IsString()) {
    std::string_view s(v->GetString(), v->GetStringLength());
    if (s.empty() || s.size() > 19) return std::nullopt;
    unsigned long long n = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + static_cast<unsigned>(c - '0');
    }
    return n > 0 ? std::optional(n) : std::nullopt;
  }
  return std::nullopt;
}

// A third-party API's answer for one object.
struct Fetched {
  bool gone = false;               // the API says the object does not exist (any more)
  std::unique_ptr<char[]> parsed;  // the copy `object` was parsed from in place; outlives it
  rapidjson::Document object;
  std::string text;  // the answer's body, which `object` was parsed from
};

// A copy of `value` that owns every string. rapidjson's own copies (CopyFrom, the copying
// constructor) keep pointing at strings they take for constant, which is what an answer parsed in
// place holds (Fetched::object): such a copy dies with the Fetched it came from.
inline rapidjson::Value deep_copy(const rapidjson::Value& value,
                                  rapidjson::Document::AllocatorType& a) {
  switch (value.GetType()) {
    case rapidjson::kStringType:
      return rapidjson::Value(value.GetString(), value.GetStringLength(), a);
    case rapidjson::kArrayType: {
      rapidjson::Value out(rapidjson::kArrayType);
      out.Reserve(value.Size(), a);
      for (const auto& item : value.GetArray()) out.PushBack(deep_copy(item, a), a);
      return out;
    }
    case rapidjson::kObjectType: {
      rapidjson::Value out(rapidjson::kObjectType);
      for (const auto& m : value.GetObject())
        out.AddMember(deep_copy(m.name, a), deep_copy(m.value, a), a);
      return out;
    }
    default:
      return rapidjson::Value(value, a);  // null, booleans, numbers: no strings
  }
}

// String members added to an object (Ocean's `__repository` style enrichment), so the mapping can
// reach context the API object lacks.
using Members = std::vector<std::pair<const char*, std::string>>;

// Copies `value` into a fresh document with the `extra` members.
inline rapidjson::Document enriched(const rapidjson::Value& value, const Members& extra = {}) {
  rapidjson::Document doc;
  static_cast<rapidjson::Value&>(doc) = deep_copy(value, doc.GetAllocator());
  if (!doc.IsObject()) return doc;
  auto& a = doc.GetAllocator();
  for (const auto& [name, text] : extra) {
    doc.RemoveMember(name);
    doc.AddMember(rapidjson::Value(name, a), rapidjson::Value(text.c_str(), a), a);
  }
  return doc;
}

// enriched(), for a fetched object passed on as the text the API sent: the members are spliced in
// before the closing brace, where enriched() appends them, so the mapping sees the same object
// without a copy and a serialisation of the whole document. Empty when the object already has
// one of the members (enriched() replaces it; the text would then hold it twice).
inline std::optional<std::string> enriched_text(const Fetched& fetched, const Members& extra) {
  if (!fetched.object.IsObject()) return std::nullopt;
  for (const auto& [name, text] : extra)
    if (fetched.object.HasMember(name)) return std::nullopt;
  const std::string& body = fetched.text;
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  size_t first = 0;
  while (first < body.size() && is_space(body[first])) ++first;
  size_t close = body.size();
  while (close > first && is_space(body[close - 1])) --close;
  if (close - first < 2 || body[first] != '{' || body[close - 1] != '}') return std::nullopt;
  --close;
  // Names and values written as JSON strings by the SDK's serialiser (escapes included).
  auto json_string = [](std::string_view text) {
    return ocean::to_json(rapidjson::Value(
        rapidjson::StringRef(text.data(), static_cast<rapidjson::SizeType>(text.size()))));
  };
  std::string members;
  for (const auto& [name, text] : extra) {
    if (!members.empty() || fetched.object.MemberCount() > 0) members.push_back(',');
    members += json_string(name);
    members.push_back(':');
    members += json_string(text);
  }
  std::string out;
  out.reserve(close - first + members.size() + 1);
  out.append(body, first, close - first);
  out += members;
  out.push_back('}');
  return out;
}

// ---- Configuration

// A non-empty value of the integration's config; "" counts as unset, as in Ocean's config.
inline std::optional<std::string> config_value(std::string_view integration, std::string_view key) {
  auto v = ocean::integration_config(integration, key);
  if (!v || v->empty()) return std::nullopt;
  return v;
}

// The hook secret both bundled plugins check deliveries against (Ocean's name: webhookSecret).
inline void declare_webhook_secret(ocean::PluginBuilder& plugin) {
  plugin.config_key("webhook_secret", "the hook's secret; deliveries are checked against it",
                    {.secret = true, .aliases = {"webhookSecret"}});
}

// For validate_config: why config `key` is not an http:// or https:// URL; "" when it is one, or
// unset (a required key's absence the host reports first).
inline std::string url_problem(std::string_view integration, std::string_view key) {
  auto url = config_value(integration, key);
  if (!url || url->rfind("https://", 0) == 0 || url->rfind("http://", 0) == 0) return {};
  return std::string(key) + " must be an http:// or https:// URL, not '" + *url + "'";
}

inline std::string without_trailing_slash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// One log line per (topic, integration) for the life of the library: a missing secret is worth
// one warning, not one per event.
inline void warn_once(const std::string& topic, std::string_view integration,
                      std::string_view message) {
  static std::mutex mutex;
  static std::set<std::string> warned;
  {
    std::lock_guard lock(mutex);
    if (!warned.insert(topic + '\n' + std::string(integration)).second) return;
  }
  ocean::log_warning(message);
}

// ---- URLs

// Percent-encodes one path segment: names come from payloads, and a '/' or '?' in them must not
// reach another API path.
using ocean::path_segment;

// ---- Webhook signatures

// True when `header` is "sha256=<hex HMAC-SHA256 of body>" under `secret` (GitHub's
// X-Hub-Signature-256, and Jira's X-Hub-Signature for webhooks with a secret).
inline bool verify_sha256_header(std::string_view secret, std::string_view body,
                                 std::optional<std::string_view> header) {
  constexpr std::string_view prefix = "sha256=";
  if (!header || header->substr(0, prefix.size()) != prefix) return false;
  return ocean::verify_hmac_sha256(secret, body, *header);
}

// ---- REST calls

// Seconds from a Retry-After header given in seconds. HTTP dates are not used by GitHub or Jira.
inline std::optional<double> retry_after_seconds(const ocean::http::Response& r) {
  auto v = r.header("retry-after");
  if (!v || v->empty() || v->size() > 9) return std::nullopt;
  double n = 0;
  for (char c : *v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

// Seconds until a Unix-epoch reset header (GitHub's X-RateLimit-Reset), at least 1.
inline std::optional<double> seconds_until_epoch_header(const ocean::http::Response& r,
                                                        std::string_view name) {
  auto v = r.header(name);
  if (!v || v->empty() || v->size() > 12) return std::nullopt;
  long long epoch = 0;
  for (char c : *v) {
    if (c < '0' || c > '9') return std::nullopt;
    epoch = epoch * 10 + (c - '0');
  }
  long long left = epoch - static_cast<long long>(std::time(nullptr));
  return static_cast<double>(left < 1 ? 1 : left);
}

inline std::string excerpt(std::string_view body, size_t limit = 200) {
  std::string out(body.substr(0, limit));
  for (auto& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  if (body.size() > limit) out += "...";
  return out;
}

// What a third-party API answer means for a live event:
//  - 2xx with a JSON object: the fresh object;
//  - a status in `gone_statuses` (404, ...): the object is gone, the caller deletes it;
//  - 429, 5xx, no answer, or a rate-limited 403 (`rate_limited` says which 403s are): a
//    RetryableError carrying the wait the API asked for, so the host's backoff honours it;
//  - anything else (401, a plain 403, 400, a body that is not an object): a permanent error, the
//    event goes to the dead letters with the reason.
template <class RateLimited>
Fetched interpret(ocean::http::Response r, std::string_view what,
                  std::initializer_list<int> gone_statuses, RateLimited&& rate_limited) {
  const std::string subject(what);
  if (r.status == 0) throw ocean::RetryableError(subject + ": no answer (" + r.error + ")");
  if (r.ok()) {
    Fetched f;
    if (!ocean::parse_json_in_place(f.object, r.body, f.parsed) || !f.object.IsObject())
      throw std::runtime_error(subject + ": the answer is not a JSON object: " + excerpt(r.body));
    f.text = std::move(r.body);
    return f;
  }
  for (int s : gone_statuses)
    if (r.status == s) {
      Fetched f;
      f.gone = true;
      return f;
    }
  std::optional<double> wait = rate_limited(r);
  if (r.status == 429 || r.status >= 500 || wait) {
    double seconds = wait.value_or(retry_after_seconds(r).value_or(0));
    throw ocean::RetryableError(
        subject + ": answered " + std::to_string(r.status) +
            (seconds > 0 ? ", retry after " + std::to_string(static_cast<long long>(seconds)) + " s"
                         : std::string()),
        seconds);
  }
  throw std::runtime_error(subject + ": answered " + std::to_string(r.status) + ": " +
                           excerpt(r.body));
}

}  // namespace ocean_plugins
