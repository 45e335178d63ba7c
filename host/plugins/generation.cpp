#include "plugins/generation.hpp"

#include <set>

namespace oceand {

const Integration* Generation::integration(const std::string& identifier) const {
  auto it = integrations.find(identifier);
  return it == integrations.end() ? nullptr : &it->second;
}

const WebhookRoute* Generation::webhook_route(const std::string& integration,
                                              const std::string& path) const {
  auto it = routes_.find({integration, path});
  return it == routes_.end() ? nullptr : &it->second;
}

const WebhookRoute* Generation::resolve_webhook(const std::string& rest) const {
  // rest is "<identifier>/<path...>" or "<path...>" (no leading slash)
  auto slash = rest.find('/');
  if (slash != std::string::npos) {
    if (auto* r = webhook_route(rest.substr(0, slash), rest.substr(slash))) return r;
  }
  auto alias = aliases_.find("/" + rest);
  return alias == aliases_.end() ? nullptr : alias->second;
}

const DirectRouteRef* Generation::resolve_direct(const std::string& method,
                                                 const std::string& rest) const {
  auto slash = rest.find('/');
  if (slash != std::string::npos) {
    auto it = direct_.find({rest.substr(0, slash), method, rest.substr(slash)});
    if (it != direct_.end()) return &it->second;
  }
  auto alias = direct_aliases_.find({method, "/" + rest});
  return alias == direct_aliases_.end() ? nullptr : alias->second;
}

namespace {

// Whether the JSON object `json` has `key` among its top-level keys: a scan that tracks strings and
// depth (no recursion, nothing built), for a body not yet checked as JSON.
bool has_top_level_key(std::string_view json, std::string_view key) {
  int depth = 0;
  bool expect_key = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (c == '"') {
      const size_t start = i + 1;
      size_t end = start;
      while (end < json.size() && json[end] != '"') end += json[end] == '\\' ? 2 : 1;
      if (end >= json.size()) return false;
      if (depth == 1 && expect_key && json.substr(start, end - start) == key) return true;
      i = end;
      expect_key = false;
    } else if (c == '{' || c == '[') {
      ++depth;
      expect_key = c == '{' && depth == 1;
    } else if (c == '}' || c == ']') {
      --depth;
    } else if (c == ',' && depth == 1) {
      expect_key = true;
    }
  }
  return false;
}

}  // namespace

const WebhookRoute* Generation::claim(const std::string& rest,
                                      const std::function<bool(const std::string&)>& has_header,
                                      std::string_view json_body, std::string& why) const {
  auto it = shared_.find("/" + rest);
  if (it == shared_.end()) {
    why = "no such route";
    return nullptr;
  }
  std::vector<const WebhookRoute*> claimed;
  for (const WebhookRoute* route : it->second) {
    const Integration* in = integration(route->integration);
    if (!in || !in->plugin) continue;
    bool mine = false;
    for (const auto& h : in->plugin->sender_headers()) mine = mine || has_header(h);
    for (const auto& f : in->plugin->sender_body_fields())
      mine = mine || has_top_level_key(json_body, f);
    if (mine) claimed.push_back(route);
  }
  if (claimed.size() == 1) return claimed.front();
  why = claimed.empty() ? "no integration on " + it->first + " claims this request"
                        : "several integrations on " + it->first +
                              " claim this request: use /integration/<identifier>" + it->first;
  return nullptr;
}

bool Generation::path_exists(const std::string& rest) const {
  if (resolve_webhook(rest)) return true;
  auto slash = rest.find('/');
  for (const auto& [key, _] : direct_) {
    const auto& [integration, method, path] = key;
    if (slash != std::string::npos && integration == rest.substr(0, slash) &&
        path == rest.substr(slash))
      return true;
  }
  return direct_path_owners_.count("/" + rest) && direct_path_owners_.at("/" + rest) == 1;
}

void Generation::add_routes(const Integration& integration) {
  if (!integration.plugin) return;
  const auto& d = integration.plugin->descriptor();
  const std::string& id = integration.config.identifier;
  for (size_t i = 0; i < d.processor_count; ++i) {
    const auto& f = d.processors[i];
    auto& route = routes_[{id, f.route}];
    route.integration = id;
    route.path = f.route;
    route.processors.push_back(ProcessorRef{integration.plugin, &f, f.name});
  }
  std::set<std::string> paths;
  for (size_t i = 0; i < d.direct_route_count; ++i) {
    const auto& r = d.direct_routes[i];
    direct_[{id, r.method, r.path}] = DirectRouteRef{id, integration.plugin, &r};
    paths.insert(r.path);
  }
  for (const auto& p : paths) direct_path_owners_[p]++;
}

void Generation::index_aliases() {
  std::map<std::string, std::vector<const WebhookRoute*>> by_path;
  for (const auto& [key, route] : routes_) by_path[key.second].push_back(&route);
  aliases_.clear();
  shared_.clear();
  for (const auto& [path, routes] : by_path) {
    if (direct_path_owners_.count(path)) continue;
    if (routes.size() == 1)
      aliases_[path] = routes.front();
    else
      shared_[path] = routes;
  }
  direct_aliases_.clear();
  for (const auto& [key, ref] : direct_) {
    const auto& [integration, method, path] = key;
    if (direct_path_owners_[path] == 1 && !by_path.count(path))
      direct_aliases_[{method, path}] = &ref;
  }
}

}  // namespace oceand
