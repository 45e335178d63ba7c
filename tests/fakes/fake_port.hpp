#pragma once

// A fake of Port's REST API (https://api.getport.io) for the endpoints oceand calls, speaking
// Port's wire format: client-credentials tokens, bulk and single upserts with merge, bulk delete,
// and an integration's mapping. Tests script faults: expired tokens (401), 413, 429 with
// Retry-After, 5xx, slow answers, per-entity refusals, and a stall that holds every call until
// released.

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/json_text.hpp"
#include "fakes/fake_server.hpp"

namespace oceand::test {

class FakePort {
 public:
  struct Fault {
    std::string path_contains;  // which requests it hits
    int status = 500;
    int remaining = 1;        // how many requests it answers
    std::string retry_after;  // Retry-After header, when set
    std::chrono::milliseconds delay{0};
  };

  FakePort() : server_([this](const FakeRequest& r) { return handle(r); }, 16) {}
  ~FakePort() { release(); }  // before the server waits for its held handlers

  std::string url() const { return server_.url(); }
  FakeServer& server() { return server_; }

  // The next `count` requests whose path contains `path_contains` get `status`.
  void fail_next(const std::string& path_contains, int status, int count = 1,
                 const std::string& retry_after = "",
                 std::chrono::milliseconds delay = std::chrono::milliseconds(0)) {
    std::lock_guard lock(mutex_);
    faults_.push_back({path_contains, status, count, retry_after, delay});
  }
  // Forgets the faults fail_next scheduled and has not served yet.
  void clear_faults() {
    std::lock_guard lock(mutex_);
    faults_.clear();
  }
  // From now on each request fails at random: 429 (with Retry-After: 0), 500, or an answer later
  // than `slow`, with these probabilities; the rest succeed. Seeded, so runs repeat.
  void set_chaos(double p429, double p500, double p_slow, std::chrono::milliseconds slow,
                 unsigned seed = 42) {
    std::lock_guard lock(mutex_);
    chaos_ = {p429, p500, p_slow, slow};
    rng_.seed(seed);
  }
  void stop_chaos() {
    std::lock_guard lock(mutex_);
    chaos_ = {};
  }
  // Until release(), every request but the token's waits unanswered (Port stalled): the events
  // stay in progress, so tests can hold the queue full or kill oceand with calls in flight.
  void hold() {
    std::lock_guard lock(hold_mutex_);
    held_ = true;
  }
  void release() {
    {
      std::lock_guard lock(hold_mutex_);
      held_ = false;
    }
    hold_cv_.notify_all();
  }
  // Requests waiting in hold().
  int waiting() {
    std::lock_guard lock(hold_mutex_);
    return waiting_;
  }

  // Every token issued so far stops working: the next call with one gets 401.
  void expire_tokens() {
    std::lock_guard lock(mutex_);
    valid_tokens_.clear();
  }
  // Bulk upserts name this identifier in `errors` (422) and leave it out.
  void refuse_entity(const std::string& identifier) {
    std::lock_guard lock(mutex_);
    refused_.insert(identifier);
  }
  // Bulk deletions naming this identifier are refused as a whole (422 has_dependents), as Port
  // refuses an entity other entities depend on.
  void refuse_deletion(const std::string& identifier) {
    std::lock_guard lock(mutex_);
    refused_deletions_.insert(identifier);
  }
  // An entity some other exporter wrote (its $datasource).
  void put(const std::string& blueprint, const std::string& identifier,
           const std::string& datasource) {
    std::lock_guard lock(mutex_);
    entities_[{blueprint, identifier}] =
        "{\"identifier\":\"" + identifier + "\",\"blueprint\":\"" + blueprint + "\"}";
    datasources_[{blueprint, identifier}] = datasource;
  }
  // The $datasource Port recorded for an entity: the User-Agent that last wrote it.
  std::string datasource(const std::string& blueprint, const std::string& identifier) {
    std::lock_guard lock(mutex_);
    auto it = datasources_.find({blueprint, identifier});
    return it == datasources_.end() ? std::string() : it->second;
  }
  // Bulk requests with a body larger than this get 413.
  void set_max_bulk_bytes(size_t bytes) { max_bulk_bytes_ = bytes; }
  void set_integration_config(const std::string& identifier, const std::string& config_json) {
    std::lock_guard lock(mutex_);
    integrations_[identifier] = config_json;
  }

  std::optional<std::string> entity(const std::string& blueprint, const std::string& identifier) {
    std::lock_guard lock(mutex_);
    auto it = entities_.find({blueprint, identifier});
    if (it == entities_.end()) return std::nullopt;
    return it->second;
  }
  // A property of a stored entity as JSON text ("" when absent).
  std::string property(const std::string& blueprint, const std::string& identifier,
                       const std::string& name) {
    auto e = entity(blueprint, identifier);
    if (!e) return {};
    rapidjson::Document d;
    d.Parse(e->c_str());
    if (!d.IsObject() || !d.HasMember("properties") || !d["properties"].IsObject()) return {};
    auto& props = d["properties"];
    auto m = props.FindMember(name.c_str());
    return m == props.MemberEnd() ? std::string() : json_text(m->value);
  }
  size_t entity_count(const std::string& blueprint) {
    std::lock_guard lock(mutex_);
    size_t n = 0;
    for (const auto& [key, _] : entities_) n += key.first == blueprint;
    return n;
  }
  int tokens_issued() const { return tokens_issued_.load(); }
  // Upserts Port accepted per identifier (bulk or single), to see that nothing ran twice.
  int upserts_of(const std::string& identifier) {
    std::lock_guard lock(mutex_);
    auto it = upsert_counts_.find(identifier);
    return it == upsert_counts_.end() ? 0 : it->second;
  }
  // Sizes of the bulk upsert requests received, in entities.
  std::vector<size_t> bulk_sizes() {
    std::lock_guard lock(mutex_);
    return bulk_sizes_;
  }

 private:
  static FakeResponse error(int status, const std::string& code, const std::string& message) {
    return FakeResponse::json(
        status, "{\"ok\":false,\"error\":\"" + code + "\",\"message\":\"" + message + "\"}");
  }
  static std::vector<std::string> segments(const std::string& path) {
    std::vector<std::string> out;
    size_t pos = 1;
    while (pos <= path.size()) {
      size_t end = path.find('/', pos);
      if (end == std::string::npos) end = path.size();
      out.push_back(path.substr(pos, end - pos));
      pos = end + 1;
    }
    return out;
  }

  FakeResponse handle(const FakeRequest& r) {
    if (r.path != "/v1/auth/access_token") {
      std::unique_lock lock(hold_mutex_);
      ++waiting_;
      hold_cv_.wait(lock, [this] { return !held_; });
      --waiting_;
    }
    {
      std::lock_guard lock(mutex_);
      for (auto it = faults_.begin(); it != faults_.end(); ++it) {
        if (r.path.find(it->path_contains) == std::string::npos) continue;
        FakeResponse f = error(it->status, "scripted", "scripted fault");
        if (!it->retry_after.empty()) f.headers.emplace_back("Retry-After", it->retry_after);
        f.delay = it->delay;
        if (--it->remaining <= 0) faults_.erase(it);
        return f;
      }
      if (chaos_.p429 + chaos_.p500 + chaos_.p_slow > 0) {
        double roll = std::uniform_real_distribution<double>(0, 1)(rng_);
        if (roll < chaos_.p429) {
          FakeResponse f = error(429, "rate_limited", "chaos");
          f.headers.emplace_back("Retry-After", "0");
          return f;
        }
        if (roll < chaos_.p429 + chaos_.p500) return error(500, "internal", "chaos");
        if (roll < chaos_.p429 + chaos_.p500 + chaos_.p_slow) {
          FakeResponse f = error(503, "slow", "chaos: answered after the client gave up");
          f.delay = chaos_.slow;
          return f;
        }
      }
    }
    if (r.method == "POST" && r.path == "/v1/auth/access_token") return token(r);
    {
      std::string auth = r.header("authorization");
      std::lock_guard lock(mutex_);
      if (auth.rfind("Bearer ", 0) != 0 || !valid_tokens_.count(auth.substr(7)))
        return error(401, "invalid_token", "the access token is missing, invalid or expired");
    }
    auto seg = segments(r.path);
    // /v1/blueprints/{bp}/entities/bulk, /v1/blueprints/{bp}/entities,
    // /v1/blueprints/{bp}/bulk/entities/delete, /v1/integration/{id}
    if (r.method == "POST" && seg.size() == 5 && seg[1] == "blueprints" && seg[3] == "entities" &&
        seg[4] == "bulk")
      return bulk_upsert(seg[2], r);
    if (r.method == "POST" && seg.size() == 4 && seg[1] == "blueprints" && seg[3] == "entities")
      return single_upsert(seg[2], r);
    if (r.method == "POST" && r.path == "/v1/entities/search") return search(r);
    if (r.method == "POST" && seg.size() == 6 && seg[1] == "blueprints" && seg[3] == "bulk" &&
        seg[4] == "entities" && seg[5] == "delete")
      return bulk_delete(seg[2], r);
    if (r.method == "GET" && seg.size() == 3 && seg[1] == "integration") {
      std::lock_guard lock(mutex_);
      auto it = integrations_.find(seg[2]);
      if (it == integrations_.end()) return error(404, "not_found", "no such integration");
      return FakeResponse::json(200, "{\"ok\":true,\"integration\":{\"identifier\":\"" + seg[2] +
                                         "\",\"config\":" + it->second + "}}");
    }
    return error(404, "not_found", "no such route in the fake");
  }

  FakeResponse token(const FakeRequest& r) {
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    if (!d.IsObject() || !d.HasMember("clientId") || !d.HasMember("clientSecret") ||
        !d["clientId"].IsString() || std::string(d["clientSecret"].GetString()) != "secret")
      return error(401, "invalid_credentials", "bad client credentials");
    std::string t = "tok-" + std::to_string(++tokens_issued_);
    {
      std::lock_guard lock(mutex_);
      valid_tokens_.insert(t);
    }
    return FakeResponse::json(200, "{\"ok\":true,\"accessToken\":\"" + t +
                                       "\",\"expiresIn\":3600,\"tokenType\":\"Bearer\"}");
  }

  // POST /v1/entities/search with an "and" of rules on $blueprint (=), $identifier (= or in) and
  // $datasource (contains): the matching entities' identifier and blueprint.
  FakeResponse search(const FakeRequest& r) {
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    if (!d.IsObject() || !d.HasMember("rules") || !d["rules"].IsArray())
      return error(422, "invalid_request", "a search needs rules");
    std::lock_guard lock(mutex_);
    ++searches_;
    std::string found = "[";
    for (const auto& [key, _] : entities_) {
      bool all = true;
      for (const auto& rule : d["rules"].GetArray()) {
        std::string property = rule["property"].GetString(), op = rule["operator"].GetString();
        const auto& value = rule["value"];
        std::string subject = property == "$blueprint"    ? key.first
                              : property == "$identifier" ? key.second
                              : property == "$datasource" ? datasources_[key]
                                                          : std::string();
        if (op == "=")
          all = all && value.IsString() && subject == value.GetString();
        else if (op == "contains")
          all = all && value.IsString() && subject.find(value.GetString()) != std::string::npos;
        else if (op == "in") {
          bool any = false;
          for (const auto& v : value.GetArray())
            any = any || (v.IsString() && subject == v.GetString());
          all = all && any;
        } else {
          return error(422, "invalid_request", "unknown operator " + op);
        }
      }
      if (!all) continue;
      if (found.size() > 1) found += ',';
      found += "{\"identifier\":\"" + key.second + "\",\"blueprint\":\"" + key.first + "\"}";
    }
    return FakeResponse::json(200, "{\"ok\":true,\"entities\":" + found + "]}");
  }

 public:
  int searches() {
    std::lock_guard lock(mutex_);
    return searches_;
  }
  std::vector<std::string> user_agents() {
    std::lock_guard lock(mutex_);
    return user_agents_;
  }

 private:
  // Port's merge: with merge=true the new properties and relations are laid over the old ones.
  void store(const std::string& blueprint, const rapidjson::Value& entity, bool merge,
             const std::string& user_agent) {
    std::string id = entity["identifier"].GetString();
    auto key = std::make_pair(blueprint, id);
    ++upsert_counts_[id];
    datasources_[key] = user_agent;
    user_agents_.push_back(user_agent);
    auto old = entities_.find(key);
    if (!merge || old == entities_.end()) {
      entities_[key] = json_text(entity);
      return;
    }
    rapidjson::Document merged;
    merged.Parse(old->second.c_str());
    auto& a = merged.GetAllocator();
    for (auto m = entity.MemberBegin(); m != entity.MemberEnd(); ++m) {
      std::string name = m->name.GetString();
      if ((name == "properties" || name == "relations") && m->value.IsObject() &&
          merged.HasMember(m->name) && merged[m->name].IsObject()) {
        for (auto p = m->value.MemberBegin(); p != m->value.MemberEnd(); ++p) {
          if (merged[m->name].HasMember(p->name))
            merged[m->name][p->name].CopyFrom(p->value, a);
          else
            merged[m->name].AddMember(rapidjson::Value(p->name, a), rapidjson::Value(p->value, a),
                                      a);
        }
      } else if (merged.HasMember(m->name)) {
        merged[m->name].CopyFrom(m->value, a);
      } else {
        merged.AddMember(rapidjson::Value(m->name, a), rapidjson::Value(m->value, a), a);
      }
    }
    entities_[key] = json_text(merged);
  }

  FakeResponse bulk_upsert(const std::string& blueprint, const FakeRequest& r) {
    if (r.body.size() > max_bulk_bytes_)
      return error(413, "payload_too_large", "request too large");
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    if (!d.IsObject() || !d.HasMember("entities") || !d["entities"].IsArray())
      return error(422, "invalid_request", "body must be {entities: [...]}");
    auto& list = d["entities"];
    if (list.Size() > 20) return error(422, "invalid_request", "at most 20 entities");
    bool merge = r.query_param("merge") == "true";
    std::string ok = "[", errors = "[";
    std::lock_guard lock(mutex_);
    bulk_sizes_.push_back(list.Size());
    for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
      const auto& e = list[i];
      std::string id = e.HasMember("identifier") && e["identifier"].IsString()
                           ? e["identifier"].GetString()
                           : "unknown";
      if (id == "unknown" || refused_.count(id)) {
        if (errors.size() > 1) errors += ',';
        errors += "{\"identifier\":\"" + id + "\",\"index\":" + std::to_string(i) +
                  ",\"statusCode\":422,\"error\":\"invalid_entity\",\"message\":\"refused by the "
                  "fake\"}";
        continue;
      }
      store(blueprint, e, merge, r.header("user-agent"));
      if (ok.size() > 1) ok += ',';
      ok += "{\"identifier\":\"" + id + "\",\"index\":" + std::to_string(i) + ",\"created\":true}";
    }
    return FakeResponse::json(207,
                              "{\"ok\":true,\"entities\":" + ok + "],\"errors\":" + errors + "]}");
  }

  FakeResponse single_upsert(const std::string& blueprint, const FakeRequest& r) {
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    if (!d.IsObject() || !d.HasMember("identifier") || !d["identifier"].IsString())
      return error(422, "invalid_request", "an entity needs an identifier");
    std::lock_guard lock(mutex_);
    if (refused_.count(d["identifier"].GetString()))
      return error(422, "invalid_entity", "refused by the fake");
    store(blueprint, d, r.query_param("merge") == "true", r.header("user-agent"));
    return FakeResponse::json(201, "{\"ok\":true,\"entity\":" + json_text(d) + "}");
  }

  FakeResponse bulk_delete(const std::string& blueprint, const FakeRequest& r) {
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    if (!d.IsObject() || !d.HasMember("entities") || !d["entities"].IsArray())
      return error(422, "invalid_request", "body must be {entities: [identifiers]}");
    std::string deleted = "[";
    std::lock_guard lock(mutex_);
    for (const auto& id : d["entities"].GetArray())
      if (id.IsString() && refused_deletions_.count(id.GetString()))
        return error(422, "has_dependents",
                     std::string("entity ") + id.GetString() + " has dependent entities");
    for (const auto& id : d["entities"].GetArray()) {
      if (!id.IsString()) continue;
      entities_.erase({blueprint, id.GetString()});
      if (deleted.size() > 1) deleted += ',';
      deleted += json_text(id);
    }
    return FakeResponse::json(200, "{\"ok\":true,\"deletedEntities\":" + deleted + "]}");
  }

  struct Chaos {
    double p429 = 0, p500 = 0, p_slow = 0;
    std::chrono::milliseconds slow{0};
  };
  std::mutex mutex_;
  Chaos chaos_;
  std::mt19937 rng_;
  std::vector<Fault> faults_;
  std::set<std::string> valid_tokens_;
  std::set<std::string> refused_;
  std::map<std::string, std::string> integrations_;
  std::map<std::pair<std::string, std::string>, std::string> entities_;
  std::map<std::string, int> upsert_counts_;
  std::map<std::pair<std::string, std::string>, std::string> datasources_;
  std::set<std::string> refused_deletions_;
  std::vector<std::string> user_agents_;
  int searches_ = 0;
  std::vector<size_t> bulk_sizes_;
  std::atomic<int> tokens_issued_{0};
  std::atomic<size_t> max_bulk_bytes_{1 << 20};
  std::mutex hold_mutex_;
  std::condition_variable hold_cv_;
  bool held_ = false;
  int waiting_ = 0;
  FakeServer server_;  // last: it calls handle() until it is destroyed first
};

}  // namespace oceand::test
