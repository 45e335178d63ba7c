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
  for (const auto& [path, routes] : by_path)
    if (routes.size() == 1 && !direct_path_owners_.count(path)) aliases_[path] = routes.front();
  direct_aliases_.clear();
  for (const auto& [key, ref] : direct_) {
    const auto& [integration, method, path] = key;
    if (direct_path_owners_[path] == 1 && !by_path.count(path))
      direct_aliases_[{method, path}] = &ref;
  }
}

}  // namespace oceand
