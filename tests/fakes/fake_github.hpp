#pragma once

// A fake GitHub REST API on loopback. It answers GET for repositories, pull requests, issues,
// releases and workflow runs from objects it was given (normally the webhook payload's own
// objects, which is what GitHub would answer right after the event), keeps repository and
// organization webhooks in memory (list, create, update), and can be told to fail the way GitHub
// fails: 404, 403 rate limited, 401, 500.

#include <ctime>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/json_text.hpp"
#include "fakes/fake_server.hpp"

namespace oceand::test {

class FakeGithub {
 public:
  enum class Failure { none, not_found, rate_limited, unauthorized, server_error };

  FakeGithub() : server_([this](const FakeRequest& r) { return handle(r); }) {}

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
  void serve(const std::string& path, const std::string& json) {
    std::lock_guard lock(mutex_);
    objects_[path] = json;
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

  FakeResponse handle(const FakeRequest& r) {
    std::lock_guard lock(mutex_);
    if (!authorization_.empty() && r.header("authorization") != authorization_)
      return message(401, "Bad credentials");
    if (r.path.size() > 6 && r.path.rfind("/hooks") != std::string::npos) return hook_call(r);
    if (r.method != "GET") return message(404, "Not Found");
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
      std::string out = "[";
      for (size_t i = 0; i < list.size(); ++i) out += (i ? "," : "") + list[i].listed();
      return FakeResponse::json(200, out + "]");
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
  std::map<std::string, std::vector<Hook>> hooks_;
  long next_hook_id_ = 1;
  Failure failure_ = Failure::none;
  int failures_left_ = 0;
  int reset_in_seconds_ = 1;
  int hooks_status_ = 0;
  std::chrono::milliseconds delay_{0};
  std::string authorization_;
  FakeServer server_;  // last: it calls handle() and must stop before the state above goes
};

}  // namespace oceand::test
