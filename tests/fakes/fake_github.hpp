#pragma once

// A fake GitHub REST API on loopback. It answers GET for repositories, pull requests, issues,
// releases and workflow runs from objects it was given (normally the webhook payload's own
// objects, which is what GitHub would answer right after the event), keeps repository and
// organization webhooks in memory (list, create, update), and can be told to fail the way GitHub
// fails: 404, 403 rate limited, 401, 500.

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <ctime>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/json_text.hpp"
#include "fakes/fake_server.hpp"
#include "ocean/crypto.hpp"

namespace oceand::test {

class FakeGithub {
 public:
  enum class Failure { none, not_found, rate_limited, unauthorized, server_error };

  // A connection thread per oceand worker: each keeps its connection alive, and a worker whose
  // connection found no free thread would wait for the client's timeout.
  FakeGithub() : server_([this](const FakeRequest& r) { return handle(r); }, 64) {}

  std::string url() const { return server_.url(); }
  FakeServer& server() { return server_; }

  // Serves the objects of a webhook payload at their REST paths.
  void serve_payload(const std::string& payload_json) {
    rapidjson::Document d;
    d.Parse(payload_json.c_str());
    if (!d.IsObject() || !d.HasMember("repository") || !d["repository"].IsObject() ||
        !d["repository"].HasMember("full_name"))
      return;
    std::string repo = "/repos/" + std::string(d["repository"]["full_name"].GetString());
    serve(repo, json_text(d["repository"]));
    auto add = [&](const char* member, const char* id, const std::string& collection) {
      if (!d.HasMember(member) || !d[member].IsObject() || !d[member].HasMember(id)) return;
      serve(repo + collection + std::to_string(d[member][id].GetUint64()), json_text(d[member]));
    };
    add("pull_request", "number", "/pulls/");
    add("issue", "number", "/issues/");
    add("release", "id", "/releases/");
    add("workflow_run", "id", "/actions/runs/");
  }
  // A repository GET /search/repositories can find: `q` is read as GitHub does for the qualifiers
  // `org:`, `user:`, `topic:`, `is:public|private|internal` and words `in:name` (a name
  // containing each, case-insensitively); the answer is GitHub's {total_count, items}.
  void add_searchable(const std::string& repository_json) {
    std::lock_guard lock(mutex_);
    searchable_.push_back(repository_json);
  }
  // The `q` of each search so far, decoded.
  std::vector<std::string> searches() {
    std::lock_guard lock(mutex_);
    return searches_;
  }
  void serve(const std::string& path, const std::string& json) {
    std::lock_guard lock(mutex_);
    serve_locked(path, json);
  }

  // The next `times` object GETs (all of them with -1) fail with `failure`. A rate-limited answer
  // resets the limit `reset_in_seconds` from now.
  void fail(Failure failure, int times = -1, int reset_in_seconds = 1) {
    std::lock_guard lock(mutex_);
    failure_ = failure;
    failures_left_ = times;
    reset_in_seconds_ = reset_in_seconds;
  }
  // Answers object GETs only after `delay`, like a slow API.
  void delay_objects(std::chrono::milliseconds delay) {
    std::lock_guard lock(mutex_);
    delay_ = delay;
  }
  // Answers 401 unless the request carries `Authorization: <value>`.
  void require_authorization(const std::string& value) {
    std::lock_guard lock(mutex_);
    authorization_ = value;
  }
  // Answers every hook call with `status` (0: behave).
  void fail_hooks(int status) {
    std::lock_guard lock(mutex_);
    hooks_status_ = status;
  }

  // Hooks as GitHub lists them (secrets masked), under ".../hooks" paths.
  std::vector<std::string> hooks(const std::string& hooks_path) {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& h : hooks_[hooks_path]) out.push_back(h.listed());
    return out;
  }
  // The secret a hook was last given (GitHub never shows it; tests may).
  std::string hook_secret(const std::string& hooks_path, size_t index) {
    std::lock_guard lock(mutex_);
    return hooks_[hooks_path].at(index).secret;
  }
  void add_hook(const std::string& hooks_path, const std::string& url,
                const std::vector<std::string>& events, const std::string& secret = "") {
    std::lock_guard lock(mutex_);
    hooks_[hooks_path].push_back(Hook{next_hook_id_++, url, events, "json", true, secret});
  }

  // GitHub App mode: /app calls need an RS256 JWT of app `app_id` signed by the key whose public
  // half is `public_key_pem`; POST /app/installations/{id}/access_tokens issues a token valid for
  // `token_lifetime`; every other call needs a token issued and not yet expired.
  void require_app(const std::string& app_id, const std::string& public_key_pem,
                   const std::string& installations_json) {
    std::lock_guard lock(mutex_);
    app_id_ = app_id;
    public_key_ = public_key_pem;
    serve_locked("/app/installations", installations_json);
  }
  void set_token_lifetime(std::chrono::seconds lifetime) {
    std::lock_guard lock(mutex_);
    token_lifetime_ = lifetime;
  }
  size_t tokens_issued() {
    std::lock_guard lock(mutex_);
    return tokens_.size();
  }
  // Why the last refused JWT was refused ("" when none was).
  std::string jwt_problem() {
    std::lock_guard lock(mutex_);
    return jwt_problem_;
  }

  // Rate-limit mode: `per_window` calls per one-second window (Unix seconds), every answer
  // carrying X-RateLimit-Remaining / -Reset as GitHub's do; a call past the budget is answered
  // 403 with remaining 0 and counted.
  void limit_rate(int per_window, int window_seconds = 1) {
    std::lock_guard lock(mutex_);
    per_window_ = per_window;
    window_seconds_ = window_seconds;
  }
  size_t calls_answered() {
    std::lock_guard lock(mutex_);
    return answered_;
  }
  int calls_over_budget() {
    std::lock_guard lock(mutex_);
    return over_budget_;
  }
  // Hook lists answered `size` at a time, with Link rel="next" as GitHub pages them.
  void page_hooks(size_t size) {
    std::lock_guard lock(mutex_);
    hooks_page_ = size;
  }

  size_t object_gets() const {
    size_t n = 0;
    for (const auto& r : server_.requests())
      if (r.method == "GET" && r.path.find("/hooks") == std::string::npos) ++n;
    return n;
  }

 private:
  struct Hook {
    long id;
    std::string url;
    std::vector<std::string> events;
    std::string content_type;
    bool active;
    std::string secret;
    std::string listed() const {
      rapidjson::Document d(rapidjson::kObjectType);
      auto& a = d.GetAllocator();
      d.AddMember("id", static_cast<int64_t>(id), a);
      d.AddMember("name", "web", a);
      d.AddMember("active", active, a);
      rapidjson::Value ev(rapidjson::kArrayType);
      for (const auto& e : events) ev.PushBack(rapidjson::Value(e.c_str(), a), a);
      d.AddMember("events", ev, a);
      rapidjson::Value config(rapidjson::kObjectType);
      config.AddMember("url", rapidjson::Value(url.c_str(), a), a);
      config.AddMember("content_type", rapidjson::Value(content_type.c_str(), a), a);
      config.AddMember("insecure_ssl", "0", a);
      if (!secret.empty()) config.AddMember("secret", "********", a);
      d.AddMember("config", config, a);
      return json_text(d);
    }
  };

  static FakeResponse message(int status, const std::string& text) {
    return FakeResponse::json(
        status,
        R"({"message":")" + text + R"(","documentation_url":"https://docs.github.com/rest"})");
  }

  void serve_locked(const std::string& path, const std::string& json) { objects_[path] = json; }

  static std::string unbase64url(std::string s) {
    for (char& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
    while (s.size() % 4) s.push_back('=');
    return ocean::base64_decode(s).value_or("");
  }

  // "": a JWT of our app, signed by its key, in its lifetime; else why not.
  std::string check_jwt(const std::string& authorization) {
    if (authorization.rfind("Bearer ", 0) != 0) return "no Bearer token";
    std::string jwt = authorization.substr(7);
    size_t a = jwt.find('.'), b = jwt.rfind('.');
    if (a == std::string::npos || a == b) return "not a JWT";
    rapidjson::Document header, claims;
    header.Parse(unbase64url(jwt.substr(0, a)).c_str());
    claims.Parse(unbase64url(jwt.substr(a + 1, b - a - 1)).c_str());
    if (!header.IsObject() || !header.HasMember("alg") ||
        std::string(header["alg"].GetString()) != "RS256")
      return "alg is not RS256";
    std::string signature = unbase64url(jwt.substr(b + 1)), input = jwt.substr(0, b);
    BIO* bio = BIO_new_mem_buf(public_key_.data(), static_cast<int>(public_key_.size()));
    EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool verified =
        key && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
        EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                         signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                         input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    if (!verified) return "signature does not verify with the app's public key";
    if (!claims.IsObject() || !claims.HasMember("iss") || !claims.HasMember("iat") ||
        !claims.HasMember("exp") || !claims["iat"].IsInt64() || !claims["exp"].IsInt64())
      return "claims iss, iat, exp missing";
    std::string iss = claims["iss"].IsString() ? claims["iss"].GetString()
                                               : std::to_string(claims["iss"].GetInt64());
    if (iss != app_id_) return "iss is " + iss;
    long long now = std::time(nullptr), iat = claims["iat"].GetInt64(),
              exp = claims["exp"].GetInt64();
    if (exp <= now || iat > now + 1 || exp - now > 600) return "outside its lifetime";
    return "";
  }

  FakeResponse app_call(const FakeRequest& r) {
    std::string problem = check_jwt(r.header("authorization"));
    if (!problem.empty()) {
      jwt_problem_ = problem;
      return message(401, "A JSON web token could not be decoded");
    }
    if (r.method == "POST" && r.path.size() > 14 &&
        r.path.compare(r.path.size() - 14, 14, "/access_tokens") == 0) {
      std::string token = "ghs_installation_" + std::to_string(tokens_.size() + 1);
      std::time_t expires = std::time(nullptr) + token_lifetime_.count();
      tokens_[token] = expires;
      char when[32];
      std::tm tm{};
      gmtime_r(&expires, &tm);
      std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
      return FakeResponse::json(201,
                                R"({"token":")" + token + R"(","expires_at":")" + when + R"("})");
    }
    auto it = objects_.find(r.path);
    if (it == objects_.end()) return message(404, "Not Found");
    return FakeResponse::json(200, it->second);
  }

  FakeResponse handle(const FakeRequest& r) {
    std::lock_guard lock(mutex_);
    FakeResponse out = answer(r);
    if (per_window_ > 0) {
      long long now = std::time(nullptr);
      long long window = now - now % window_seconds_;
      if (window != window_) {
        window_ = window;
        used_ = 0;
      }
      if (++used_ > per_window_) {
        ++over_budget_;
        out = message(403, "API rate limit exceeded");
      } else {
        ++answered_;
      }
      out.headers.push_back({"X-RateLimit-Limit", std::to_string(per_window_)});
      out.headers.push_back(
          {"X-RateLimit-Remaining", std::to_string(std::max(0, per_window_ - used_))});
      out.headers.push_back({"X-RateLimit-Reset", std::to_string(window_ + window_seconds_)});
    }
    return out;
  }

  FakeResponse answer(const FakeRequest& r) {
    if (!app_id_.empty()) {
      if (r.path.rfind("/app/", 0) == 0 || r.path == "/app") return app_call(r);
      std::string auth = r.header("authorization");
      auto token = tokens_.find(auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : "");
      if (token == tokens_.end() || token->second <= std::time(nullptr))
        return message(401, "Bad credentials");
    }
    if (!authorization_.empty() && r.header("authorization") != authorization_)
      return message(401, "Bad credentials");
    if (r.path.size() > 6 && r.path.rfind("/hooks") != std::string::npos) return hook_call(r);
    if (r.method != "GET") return message(404, "Not Found");
    if (r.path == "/search/repositories") {
      searches_.push_back(decoded(r.query_param("q")));
      return search(searches_.back());
    }
    if (failure_ != Failure::none && failures_left_ != 0) {
      if (failures_left_ > 0) --failures_left_;
      switch (failure_) {
        case Failure::not_found:
          return message(404, "Not Found");
        case Failure::unauthorized:
          return message(401, "Bad credentials");
        case Failure::server_error:
          return message(500, "Server Error");
        case Failure::rate_limited: {
          auto resp = message(403, "API rate limit exceeded");
          resp.headers = {
              {"X-RateLimit-Limit", "5000"},
              {"X-RateLimit-Remaining", "0"},
              {"X-RateLimit-Reset", std::to_string(std::time(nullptr) + reset_in_seconds_)}};
          return resp;
        }
        case Failure::none:
          break;
      }
    }
    auto it = objects_.find(r.path);
    if (it == objects_.end()) return message(404, "Not Found");
    auto found = FakeResponse::json(200, it->second);
    found.delay = delay_;
    return found;
  }

  // GET|POST .../hooks, PATCH .../hooks/{id}
  FakeResponse hook_call(const FakeRequest& r) {
    if (hooks_status_) return message(hooks_status_, "Hook call refused");
    size_t at = r.path.rfind("/hooks");
    std::string base = r.path.substr(0, at + 6);
    std::string rest = r.path.substr(at + 6);
    auto& list = hooks_[base];
    if (rest.empty() && r.method == "GET") {
      size_t page = std::max(1, std::atoi(r.query_param("page").c_str()));
      size_t first = (page - 1) * hooks_page_, last = std::min(list.size(), first + hooks_page_);
      std::string out = "[";
      for (size_t i = first; i < last; ++i) out += (i > first ? "," : "") + list[i].listed();
      auto answer = FakeResponse::json(200, out + "]");
      if (last < list.size())
        answer.headers.push_back(
            {"Link", "<" + server_.url() + base + "?per_page=" + std::to_string(hooks_page_) +
                         "&page=" + std::to_string(page + 1) + ">; rel=\"next\""});
      return answer;
    }
    rapidjson::Document body;
    body.Parse(r.body.c_str());
    if (!body.IsObject()) return message(400, "Problems parsing JSON");
    if (rest.empty() && r.method == "POST") {
      Hook h{next_hook_id_++, "", {}, "form", true, ""};
      apply(h, body);
      if (h.url.empty()) return message(422, "Validation Failed");
      list.push_back(h);
      return FakeResponse::json(201, h.listed());
    }
    if (r.method == "PATCH" && rest.size() > 1) {
      long id = std::atol(rest.c_str() + 1);
      for (auto& h : list)
        if (h.id == id) {
          apply(h, body);
          return FakeResponse::json(200, h.listed());
        }
    }
    return message(404, "Not Found");
  }

  static std::string decoded(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') {
        out.push_back(' ');
      } else if (s[i] == '%' && i + 2 < s.size() &&
                 std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
                 std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
        out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
        i += 2;
      } else {
        out.push_back(s[i]);
      }
    }
    return out;
  }

  FakeResponse search(const std::string& q) {
    auto lower = [](std::string s) {
      for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return s;
    };
    std::vector<std::string> terms;
    for (size_t at = 0; at < q.size();) {
      size_t end = q.find(' ', at);
      if (end == std::string::npos) end = q.size();
      if (end > at) terms.push_back(q.substr(at, end - at));
      at = end + 1;
    }
    std::string items;
    int count = 0;
    for (const auto& text : searchable_) {
      rapidjson::Document repo;
      repo.Parse(text.c_str());
      auto field = [&](const char* a, const char* b = nullptr) -> std::string {
        const rapidjson::Value* v = repo.HasMember(a) ? &repo[a] : nullptr;
        if (v && b) v = v->IsObject() && v->HasMember(b) ? &(*v)[b] : nullptr;
        return v && v->IsString() ? lower(v->GetString()) : "";
      };
      bool match = true;
      for (const auto& raw : terms) {
        std::string t = lower(raw);
        if (t == "in:name") continue;
        auto colon = t.find(':');
        std::string key = colon == std::string::npos ? "" : t.substr(0, colon);
        std::string value = colon == std::string::npos ? t : t.substr(colon + 1);
        if (key == "org" || key == "user") {
          match &= field("owner", "login") == value;
        } else if (key == "is") {
          match &= field("visibility") == value;
        } else if (key == "topic") {
          bool has = false;
          if (repo.HasMember("topics") && repo["topics"].IsArray())
            for (const auto& topic : repo["topics"].GetArray())
              has |= topic.IsString() && lower(topic.GetString()) == value;
          match &= has;
        } else {
          match &= field("name").find(value) != std::string::npos;
        }
      }
      if (!match) continue;
      items += (count++ ? "," : "") + text;
    }
    return FakeResponse::json(200, R"({"total_count":)" + std::to_string(count) +
                                       R"(,"incomplete_results":false,"items":[)" + items + "]}");
  }

  static void apply(Hook& h, const rapidjson::Value& body) {
    if (body.HasMember("active") && body["active"].IsBool()) h.active = body["active"].GetBool();
    if (body.HasMember("events") && body["events"].IsArray()) {
      h.events.clear();
      for (const auto& e : body["events"].GetArray())
        if (e.IsString()) h.events.push_back(e.GetString());
    }
    if (body.HasMember("config") && body["config"].IsObject()) {
      const auto& c = body["config"];
      if (c.HasMember("url") && c["url"].IsString()) h.url = c["url"].GetString();
      if (c.HasMember("content_type") && c["content_type"].IsString())
        h.content_type = c["content_type"].GetString();
      // A new config replaces the old one whole, secret included.
      h.secret = c.HasMember("secret") && c["secret"].IsString() ? c["secret"].GetString() : "";
    }
  }

  std::mutex mutex_;
  std::map<std::string, std::string> objects_;
  std::vector<std::string> searchable_, searches_;
  std::map<std::string, std::vector<Hook>> hooks_;
  long next_hook_id_ = 1;
  Failure failure_ = Failure::none;
  int failures_left_ = 0;
  int reset_in_seconds_ = 1;
  int hooks_status_ = 0;
  std::chrono::milliseconds delay_{0};
  std::string authorization_;
  std::string app_id_, public_key_, jwt_problem_;
  std::map<std::string, std::time_t> tokens_;
  std::chrono::seconds token_lifetime_{3600};
  int per_window_ = 0, used_ = 0, over_budget_ = 0, window_seconds_ = 1;
  size_t answered_ = 0;
  long long window_ = 0;
  size_t hooks_page_ = 100;
  FakeServer server_;  // last: it calls handle() and must stop before the state above goes
};

}  // namespace oceand::test
