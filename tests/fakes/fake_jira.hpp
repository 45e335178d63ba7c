#pragma once

// A fake Jira Cloud REST API on loopback. It answers GET /rest/api/3/issue/{key},
// /rest/api/3/project/{key or id}, /rest/api/3/user?accountId=, /rest/api/3/version/{id},
// /rest/agile/1.0/board/{id} (and its paged /project list) and /rest/agile/1.0/sprint/{id} from
// objects it was given (normally the webhook payload's own object), keeps admin webhooks
// (/rest/webhooks/1.0/webhook: list, create, update) in memory, and can be told to fail the way
// Jira fails: 404, 429 with Retry-After, 401, 500.

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "core/json_text.hpp"
#include "fakes/fake_server.hpp"

namespace oceand::test {

class FakeJira {
 public:
  enum class Failure { none, not_found, rate_limited, unauthorized, server_error };

  FakeJira() : server_([this](const FakeRequest& r) { return handle(r); }) {}

  std::string url() const { return server_.url(); }
  FakeServer& server() { return server_; }

  // Serves the payload's objects (issue, project, user, version and mergedTo, board, sprint) at
  // their REST paths.
  void serve_payload(const std::string& payload_json) {
    rapidjson::Document d;
    d.Parse(payload_json.c_str());
    if (!d.IsObject()) return;
    for (const char* member :
         {"issue", "project", "user", "version", "mergedTo", "board", "sprint"})
      if (d.HasMember(member) && d[member].IsObject()) serve_object(member, json_text(d[member]));
  }
  // Serves one object as Jira returns it, at the path its kind is read from: `kind` is the
  // payload member naming it ("issue", "project", "user", "version", "board", "sprint"). A project
  // is served by key and by id.
  void serve_object(const std::string& kind, const std::string& json) {
    rapidjson::Document d;
    d.Parse(json.c_str());
    if (!d.IsObject()) return;
    auto text = [&](const char* name) -> std::string {
      if (!d.HasMember(name)) return "";
      if (d[name].IsString()) return d[name].GetString();
      if (d[name].IsUint64()) return std::to_string(d[name].GetUint64());
      return "";
    };
    auto at = [&](const std::string& prefix, const std::string& id) {
      if (!id.empty()) serve(prefix + id, json);
    };
    if (kind == "issue") at("/rest/api/3/issue/", text("key"));
    if (kind == "project") {
      at("/rest/api/3/project/", text("key"));
      at("/rest/api/3/project/", text("id"));
    }
    if (kind == "user") {
      at("/rest/api/3/user?accountId=", text("accountId"));
      at("/rest/api/3/user?key=", text("key"));  // Data Center's users
    }
    if (kind == "version" || kind == "mergedTo") at("/rest/api/3/version/", text("id"));
    if (kind == "board") at("/rest/agile/1.0/board/", text("id"));
    if (kind == "sprint") at("/rest/agile/1.0/sprint/", text("id"));
  }
  // GET /rest/agile/1.0/board/{id}/project answers these projects, at most `page_size` a page
  // whatever maxResults asks (Jira caps pages too).
  void serve_board_projects(unsigned long board, std::vector<std::string> project_jsons,
                            size_t page_size = 50) {
    std::lock_guard lock(mutex_);
    board_projects_[board] = std::move(project_jsons);
    page_size_ = page_size;
  }
  // The object at `path` is gone: its GET answers 404.
  void forget(const std::string& path) {
    std::lock_guard lock(mutex_);
    objects_.erase(path);
  }
  // A served issue that a search (`GET /rest/api/3/search/jql`, as Jira Cloud answers it) no
  // longer finds, as when it left the JQL's scope.
  void exclude_from_search(const std::string& key) {
    std::lock_guard lock(mutex_);
    excluded_.insert(key);
  }
  // Percent-decoded, as Jira reads it.
  static std::string decoded(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += s[i] == '+' ? ' ' : s[i];
      }
    }
    return out;
  }
  void serve(const std::string& path, const std::string& json) {
    std::lock_guard lock(mutex_);
    objects_[path] = json;
  }
  // Answers as Jira Data Center does: REST v2 paths (`/rest/api/2/...`, `/search`, users by
  // `key`); Cloud's v3 paths are 404. Objects are still served with the v3 paths above.
  void speak_data_center() {
    std::lock_guard lock(mutex_);
    data_center_ = true;
  }

  // The next `times` object GETs (all with -1) fail with `failure`; 429s ask for
  // `retry_after_seconds`.
  void fail(Failure failure, int times = -1, int retry_after_seconds = 1) {
    std::lock_guard lock(mutex_);
    failure_ = failure;
    failures_left_ = times;
    retry_after_ = retry_after_seconds;
  }
  // Answers object GETs only after `delay`, like a slow API.
  void delay_objects(std::chrono::milliseconds delay) {
    std::lock_guard lock(mutex_);
    delay_ = delay;
  }
  void require_authorization(const std::string& value) {
    std::lock_guard lock(mutex_);
    authorization_ = value;
  }

  struct Webhook {
    long id;
    std::string name, url, secret;
    std::vector<std::string> events;
  };
  std::vector<Webhook> webhooks() {
    std::lock_guard lock(mutex_);
    return webhooks_;
  }
  void add_webhook(const std::string& url, const std::vector<std::string>& events) {
    std::lock_guard lock(mutex_);
    webhooks_.push_back(Webhook{next_id_++, "existing", url, "", events});
  }

  size_t object_gets() const {
    size_t n = 0;
    for (const auto& r : server_.requests())
      if (r.method == "GET" &&
          (r.path.rfind("/rest/api/3/", 0) == 0 || r.path.rfind("/rest/agile/", 0) == 0))
        ++n;
    return n;
  }

 private:
  static FakeResponse error(int status, const std::string& text) {
    return FakeResponse::json(status, R"({"errorMessages":[")" + text + R"("],"errors":{}})");
  }

  std::string listed(const Webhook& w) const {
    rapidjson::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    std::string self = url() + "/rest/webhooks/1.0/webhook/" + std::to_string(w.id);
    d.AddMember("self", rapidjson::Value(self.c_str(), a), a);
    d.AddMember("name", rapidjson::Value(w.name.c_str(), a), a);
    d.AddMember("url", rapidjson::Value(w.url.c_str(), a), a);
    rapidjson::Value ev(rapidjson::kArrayType);
    for (const auto& e : w.events) ev.PushBack(rapidjson::Value(e.c_str(), a), a);
    d.AddMember("events", ev, a);
    d.AddMember("enabled", true, a);
    return json_text(d);
  }

  FakeResponse handle(const FakeRequest& r) {
    std::lock_guard lock(mutex_);
    if (!authorization_.empty() && r.header("authorization") != authorization_)
      return error(401, "Client must be authenticated to access this resource.");
    const std::string hooks = "/rest/webhooks/1.0/webhook";
    if (r.path.rfind(hooks, 0) == 0) return webhook_call(r, r.path.substr(hooks.size()));
    if (r.method != "GET") return error(405, "Method not allowed");
    if (failure_ != Failure::none && failures_left_ != 0) {
      if (failures_left_ > 0) --failures_left_;
      switch (failure_) {
        case Failure::not_found:
          return error(404, "Issue does not exist or you do not have permission to see it.");
        case Failure::unauthorized:
          return error(401, "Client must be authenticated to access this resource.");
        case Failure::server_error:
          return error(500, "Internal server error");
        case Failure::rate_limited: {
          auto resp = error(429, "Rate limit exceeded");
          resp.headers = {{"Retry-After", std::to_string(retry_after_)}};
          return resp;
        }
        case Failure::none:
          break;
      }
    }
    std::string path = r.path;
    if (data_center_) {
      const std::string v2 = "/rest/api/2/";
      if (path.rfind("/rest/api/3/", 0) == 0) return error(404, "Not found");
      if (path == "/rest/api/2/search") return search(decoded(r.query_param("jql")));
      if (path == "/rest/api/2/user")
        return object("/rest/api/3/user?key=" + decoded(r.query_param("key")));
      if (path.rfind(v2, 0) == 0) path = "/rest/api/3/" + path.substr(v2.size());
    } else if (r.path == "/rest/api/3/search/jql") {
      return search(decoded(r.query_param("jql")));
    }
    if (auto page = board_projects(r)) return *page;
    // Users are read by query: GET /rest/api/3/user?accountId=...
    if (path == "/rest/api/3/user") path += "?accountId=" + decoded(r.query_param("accountId"));
    return object(path);
  }

  FakeResponse object(const std::string& path) {
    auto it = objects_.find(path);
    if (it == objects_.end()) return error(404, "Not found");
    auto found = FakeResponse::json(200, it->second);
    found.delay = delay_;
    return found;
  }

  std::optional<FakeResponse> board_projects(const FakeRequest& r) {
    if (data_center_ && r.path.rfind("/rest/api/", 0) == 0) return std::nullopt;
    const std::string prefix = "/rest/agile/1.0/board/", suffix = "/project";
    if (r.path.rfind(prefix, 0) != 0 || r.path.size() <= prefix.size() + suffix.size() ||
        r.path.compare(r.path.size() - suffix.size(), suffix.size(), suffix) != 0)
      return std::nullopt;
    auto it = board_projects_.find(std::stoul(r.path.substr(prefix.size())));
    if (it == board_projects_.end()) return error(404, "Board does not exist");
    size_t start = r.query_param("startAt").empty() ? 0 : std::stoul(r.query_param("startAt"));
    size_t wanted =
        r.query_param("maxResults").empty() ? 50 : std::stoul(r.query_param("maxResults"));
    size_t end = std::min(it->second.size(), start + std::min(wanted, page_size_));
    std::string values;
    for (size_t i = start; i < end; ++i) values += (i > start ? "," : "") + it->second[i];
    return FakeResponse::json(200, R"({"maxResults": )" + std::to_string(page_size_) +
                                       R"(, "startAt": )" + std::to_string(start) +
                                       R"(, "isLast": )" +
                                       (end >= it->second.size() ? "true" : "false") +
                                       R"(, "values": [)" + values + "]}");
  }

  // Understands the one form the plugin sends: `(<scope>) AND key = <KEY>`.
  FakeResponse search(const std::string& jql) {
    size_t at = jql.rfind(" AND key = ");
    if (jql.empty() || jql[0] != '(' || at == std::string::npos)
      return error(400, "Error in the JQL Query");
    std::string key = jql.substr(at + 11);
    auto it = objects_.find("/rest/api/3/issue/" + key);
    std::string issues = it == objects_.end() || excluded_.count(key) ? "" : it->second;
    return FakeResponse::json(200, R"({"issues": [)" + issues + R"(], "isLast": true})");
  }

  FakeResponse webhook_call(const FakeRequest& r, const std::string& rest) {
    if (rest.empty() && r.method == "GET") {
      std::string out = "[";
      for (size_t i = 0; i < webhooks_.size(); ++i) out += (i ? "," : "") + listed(webhooks_[i]);
      return FakeResponse::json(200, out + "]");
    }
    rapidjson::Document body;
    body.Parse(r.body.c_str());
    if (!body.IsObject()) return error(400, "Invalid JSON");
    auto fill = [&](Webhook& w) {
      if (body.HasMember("name") && body["name"].IsString()) w.name = body["name"].GetString();
      if (body.HasMember("url") && body["url"].IsString()) w.url = body["url"].GetString();
      w.secret =
          body.HasMember("secret") && body["secret"].IsString() ? body["secret"].GetString() : "";
      w.events.clear();
      if (body.HasMember("events") && body["events"].IsArray())
        for (const auto& e : body["events"].GetArray())
          if (e.IsString()) w.events.push_back(e.GetString());
    };
    if (rest.empty() && r.method == "POST") {
      Webhook w{next_id_++, "", "", "", {}};
      fill(w);
      if (w.url.empty()) return error(400, "url is required");
      webhooks_.push_back(w);
      return FakeResponse::json(201, listed(w));
    }
    if (r.method == "PUT" && rest.size() > 1) {
      long id = std::atol(rest.c_str() + 1);
      for (auto& w : webhooks_)
        if (w.id == id) {
          fill(w);
          return FakeResponse::json(200, listed(w));
        }
    }
    return error(404, "Webhook not found");
  }

  std::mutex mutex_;
  bool data_center_ = false;
  std::map<std::string, std::string> objects_;
  std::set<std::string> excluded_;
  std::map<unsigned long, std::vector<std::string>> board_projects_;
  size_t page_size_ = 50;
  std::vector<Webhook> webhooks_;
  long next_id_ = 1;
  Failure failure_ = Failure::none;
  int failures_left_ = 0;
  int retry_after_ = 1;
  std::chrono::milliseconds delay_{0};
  std::string authorization_;
  FakeServer server_;  // last: it calls handle() and must stop before the state above goes
};

}  // namespace oceand::test
