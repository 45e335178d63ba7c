// GitHub's REST API as the integration's token or GitHub App, with the host's shared rate-limit
// budget on every call.
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>

#include "github.hpp"

namespace github {
namespace {

using ocean_plugins::config_value;
using ocean_plugins::get_id;
using ocean_plugins::get_string;

std::string base_of(std::string_view integration) {
  return ocean_plugins::without_trailing_slash(
      config_value(integration, "api_url").value_or(std::string(kDefaultApiUrl)));
}

std::string base64url(std::string_view bytes) {
  std::string s = ocean::base64_encode(bytes);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return s;
}

// The key as configured: PEM text (line breaks possibly written as \n, as environment variables
// carry them), or the PEM base64-encoded once more (Ocean accepts both).
std::string pem_of(std::string key) {
  if (key.find("-----BEGIN") == std::string::npos) {
    std::string compact;
    for (char c : key)
      if (!std::isspace(static_cast<unsigned char>(c))) compact.push_back(c);
    if (auto decoded = ocean::base64_decode(compact)) key = *decoded;
  }
  std::string out;
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] == '\\' && i + 1 < key.size() && key[i + 1] == 'n') {
      out.push_back('\n');
      ++i;
    } else {
      out.push_back(key[i]);
    }
  }
  return out;
}

using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

KeyPtr read_key(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (!bio) return KeyPtr(nullptr, &EVP_PKEY_free);
  return KeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
}

// The App's JWT: RS256 over {iat: now - 60 (clock drift), exp: now + 9 min, iss: app id}. GitHub
// refuses an exp more than ten minutes ahead.
std::string app_jwt(const std::string& app_id, const std::string& private_key) {
  KeyPtr key = read_key(pem_of(private_key));
  if (!key || EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA)
    throw std::runtime_error("GitHub App: app_private_key is not an RSA private key in PEM form");
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  bool numeric = !app_id.empty() && app_id.find_first_not_of("0123456789") == std::string::npos;
  rapidjson::Document claims(rapidjson::kObjectType);
  auto& a = claims.GetAllocator();
  claims.AddMember("iat", now - 60, a);
  claims.AddMember("exp", now + 540, a);
  if (numeric)
    claims.AddMember("iss", static_cast<int64_t>(std::stoll(app_id)), a);
  else
    claims.AddMember("iss", rapidjson::Value(app_id.c_str(), a), a);
  std::string input =
      base64url(R"({"alg":"RS256","typ":"JWT"})") + "." + base64url(ocean::to_json(claims));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1)
    throw std::runtime_error("GitHub App: signing the JWT failed");
  std::string signature(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    throw std::runtime_error("GitHub App: signing the JWT failed");
  signature.resize(len);
  return input + "." + base64url(signature);
}

// GitHub's "2016-07-11T22:14:10Z".
std::optional<std::time_t> parse_time(const std::string& s) {
  std::tm tm{};
  if (s.size() < 20 || !strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return std::nullopt;
  return timegm(&tm);
}

ocean::http::Response send(const std::string& base, std::string_view method,
                           const std::string& path, std::string_view body, const Grant& grant) {
  std::vector<ocean::http::Header> headers = {{"Accept", "application/vnd.github+json"},
                                              {"User-Agent", std::string(kUserAgent)},
                                              {"X-GitHub-Api-Version", "2022-11-28"}};
  if (!grant.authorization.empty()) headers.push_back({"Authorization", grant.authorization});
  if (!body.empty()) headers.push_back({"Content-Type", "application/json"});
  std::string url =
      path.rfind("http://", 0) == 0 || path.rfind("https://", 0) == 0 ? path : base + path;
  return ocean::http::request(method, url, headers, body, ocean::http::Options{{}, grant.budget});
}

// What the App's installations and tokens are, shared by every worker of the integration.
struct AppState {
  std::mutex mutex;
  std::vector<Installation> installations;
  std::chrono::steady_clock::time_point listed{};
  bool have_list = false;
  std::map<unsigned long long, std::pair<std::string, std::time_t>> tokens;  // token, expiry
};

AppState& app_state(const std::string& key) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<AppState>> states;
  std::lock_guard lock(mutex);
  auto& s = states[key];
  if (!s) s = std::make_unique<AppState>();
  return *s;
}

constexpr auto kInstallationsFresh = std::chrono::minutes(15);
constexpr std::time_t kRefreshBefore = 5 * 60;

}  // namespace

const std::vector<std::string>& webhook_events() {
  static const std::vector<std::string> events = {"repository",
                                                  "pull_request",
                                                  "issues",
                                                  "release",
                                                  "create",
                                                  "delete",
                                                  "push",
                                                  "deployment",
                                                  "deployment_status",
                                                  "workflow_run",
                                                  "dependabot_alert",
                                                  "code_scanning_alert",
                                                  "organization",
                                                  "team",
                                                  "membership",
                                                  "member",
                                                  "secret_scanning_alert"};
  return events;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool organization_only_event(std::string_view event) {
  return event == "organization" || event == "team" || event == "membership" || event == "member";
}

Credentials::Credentials(std::string_view integration, std::string base)
    : integration_(integration),
      base_(std::move(base)),
      token_(config_value(integration, "token").value_or("")),
      app_id_(config_value(integration, "app_id").value_or("")),
      private_key_(config_value(integration, "app_private_key").value_or("")) {}

std::string Credentials::problem(std::string_view integration) {
  auto id = config_value(integration, "app_id");
  auto key = config_value(integration, "app_private_key");
  if (id.has_value() != key.has_value())
    return "a GitHub App needs both app_id and app_private_key";
  if (key && !config_value(integration, "token")) {
    KeyPtr k = read_key(pem_of(*key));
    if (!k || EVP_PKEY_base_id(k.get()) != EVP_PKEY_RSA)
      return "app_private_key is not an RSA private key in PEM form (GitHub's .pem file, or it "
             "base64-encoded)";
  }
  return {};
}

Grant Credentials::as_app() const {
  return Grant{"Bearer " + app_jwt(app_id_, private_key_), "app:" + app_id_};
}

std::vector<Installation> Credentials::installations() const {
  if (!token_.empty() || !app()) return {};
  AppState& state = app_state(integration_ + '\n' + base_ + '\n' + app_id_);
  std::lock_guard lock(state.mutex);
  auto now = std::chrono::steady_clock::now();
  if (state.have_list && now - state.listed < kInstallationsFresh) return state.installations;
  Api app(base_, as_app());
  rapidjson::Document list = app.list("/app/installations");
  std::vector<Installation> found;
  for (const auto& item : list.GetArray()) {
    auto id = get_id(item, {"id"});
    auto login = get_string(item, {"account", "login"});
    const rapidjson::Value* suspended = ocean_plugins::find(item, {"suspended_at"});
    if (!id || !login || (suspended && !suspended->IsNull())) continue;
    found.push_back({*id, *login, get_string(item, {"account", "type"}) == "User"});
  }
  state.installations = found;
  state.listed = now;
  state.have_list = true;
  return found;
}

Grant Credentials::for_owner(std::string_view owner) const {
  if (!token_.empty()) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(token_.data()), token_.size(), digest);
    std::string fingerprint = ocean::to_hex(std::string_view(reinterpret_cast<char*>(digest), 6));
    return Grant{"Bearer " + token_, "token:" + fingerprint};
  }
  if (!app()) return Grant{};
  auto installations = this->installations();
  const Installation* chosen = nullptr;
  for (const auto& i : installations)
    if (lower(i.account) == lower(std::string(owner))) chosen = &i;
  if (!chosen && owner.empty() && installations.size() == 1) chosen = &installations.front();
  if (!chosen)
    throw std::runtime_error("GitHub App " + app_id_ + " is not installed on '" +
                             std::string(owner) + "'");
  const unsigned long long id = chosen->id;
  AppState& state = app_state(integration_ + '\n' + base_ + '\n' + app_id_);
  std::lock_guard lock(state.mutex);
  std::time_t now = std::time(nullptr);
  auto it = state.tokens.find(id);
  if (it == state.tokens.end() || it->second.second - now < kRefreshBefore) {
    Api app(base_, as_app());
    std::string path = "/app/installations/" + std::to_string(id) + "/access_tokens";
    auto r = app.call("POST", path);
    if (r.status == 0 || r.status == 429 || r.status >= 500)
      throw ocean::RetryableError("GitHub POST " + path + ": " +
                                  (r.status ? "answered " + std::to_string(r.status) : r.error));
    rapidjson::Document d;
    if (!r.ok() || !ocean::parse_json(d, r.body) || !get_string(d, {"token"}))
      throw std::runtime_error("GitHub POST " + path + " answered " + std::to_string(r.status) +
                               ": " + ocean_plugins::excerpt(r.body));
    auto expires = parse_time(get_string(d, {"expires_at"}).value_or(""));
    it = state.tokens
             .insert_or_assign(id,
                               std::pair{*get_string(d, {"token"}), expires.value_or(now + 3600)})
             .first;
  }
  return Grant{"Bearer " + it->second.first, "installation:" + std::to_string(id)};
}

Api::Api(std::string_view integration, std::string owner) : base_(base_of(integration)) {
  grant_ = Credentials(integration, base_).for_owner(owner);
}

Api::Api(std::string base, Grant grant) : base_(std::move(base)), grant_(std::move(grant)) {}

ocean::http::Response Api::call(std::string_view method, const std::string& path,
                                std::string_view body) const {
  return send(base_, method, path, body, grant_);
}

ocean_plugins::Fetched Api::fetch(const std::string& path, std::initializer_list<int> gone) const {
  return ocean_plugins::interpret(call("GET", path), "GitHub GET " + path, gone, &rate_limit_wait);
}

rapidjson::Document Api::list(const std::string& path, const char* member, int max_pages) const {
  rapidjson::Document out(rapidjson::kArrayType);
  auto& a = out.GetAllocator();
  std::string next = path + (path.find('?') == std::string::npos ? "?" : "&") + "per_page=100";
  for (int page = 0; page < max_pages && !next.empty(); ++page) {
    auto r = call("GET", next);
    const std::string what = "GitHub GET " + next;
    // Any answer but a 2xx throws there: retryable (429, 5xx, rate limits) or not.
    if (!r.ok()) ocean_plugins::interpret(std::move(r), what, {}, &rate_limit_wait);
    rapidjson::Document d;
    if (!ocean::parse_json(d, r.body))
      throw std::runtime_error(what +
                               ": the answer is not JSON: " + ocean_plugins::excerpt(r.body));
    const rapidjson::Value* items = member ? ocean_plugins::find(d, {member}) : &d;
    if (!items || !items->IsArray()) throw std::runtime_error(what + ": the answer is not a list");
    if (items->Empty()) break;
    for (const auto& item : items->GetArray()) out.PushBack(rapidjson::Value(item, a), a);
    next = next_link(r);
  }
  return out;
}

std::optional<double> Api::rate_limit_wait(const ocean::http::Response& r) {
  if (r.status != 403 && r.status != 429) return std::nullopt;
  if (auto after = ocean_plugins::retry_after_seconds(r)) return after;
  if (r.header("x-ratelimit-remaining") == std::optional<std::string>("0"))
    return ocean_plugins::seconds_until_epoch_header(r, "x-ratelimit-reset").value_or(60);
  return std::nullopt;
}

std::string next_link(const ocean::http::Response& r) {
  auto link = r.header("link");
  if (!link) return {};
  // <https://api.github.com/...&page=2>; rel="next", <...>; rel="last"
  size_t at = 0;
  while (at < link->size()) {
    size_t open = link->find('<', at);
    if (open == std::string::npos) break;
    size_t close = link->find('>', open);
    if (close == std::string::npos) break;
    size_t end = link->find(',', close);
    std::string params =
        link->substr(close + 1, end == std::string::npos ? std::string::npos : end - close - 1);
    if (params.find("rel=\"next\"") != std::string::npos)
      return link->substr(open + 1, close - open - 1);
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return {};
}

}  // namespace github
