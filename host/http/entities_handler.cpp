#include "http/entities_handler.hpp"

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/URI.h>

#include <charconv>
#include <limits>

#include "config/host_config.hpp"
#include "http/http_deps.hpp"
#include "http/responses.hpp"
#include "port/entity_store.hpp"

namespace oceand {

namespace {

bool to_size(const std::string& text, size_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

EntitiesHandler::EntitiesHandler(const EntitiesDeps& host, Listener listener)
    : host_(host), access_(host.config().admin_token, listener, host.config().admin_listen) {}

void EntitiesHandler::handleRequest(Poco::Net::HTTPServerRequest& request,
                                    Poco::Net::HTTPServerResponse& response) {
  if (request.getMethod() != "GET") return send_error(response, 405, "method not allowed");
  if (!access_.admit(request, response)) return;
  EntityStore* store = host_.entity_store();
  if (!store)
    return send_error(response, 404,
                      "no embedded catalog: port.applier is 'port', entities are in Port");
  Poco::URI uri;
  try {
    uri = Poco::URI(request.getURI());
  } catch (const std::exception&) {
    return send_error(response, 400, "malformed URI");
  }
  std::vector<std::string> segments;
  if (!path_segments(request.getURI(), segments)) return send_error(response, 400, "malformed URI");
  if (segments.size() < 2 || segments[0] != "api" || segments[1] != "entities")
    return send_error(response, 404, "no such route");
  try {
    if (segments.size() == 4) {
      auto entity = store->get(segments[2], segments[3]);
      if (!entity) return send_error(response, 404, "no such entity");
      return send_json(response, 200, "{\"ok\":true,\"entity\":" + *entity + "}");
    }
    if (segments.size() != 2) return send_error(response, 404, "no such route");
    list(*store, uri, response);
  } catch (const std::exception& e) {
    return send_error(response, 500, std::string("entity store: ") + e.what());
  }
}

// GET /api/entities: the blueprints, or one blueprint's entities a page at a time.
void EntitiesHandler::list(EntityStore& store, const Poco::URI& uri,
                           Poco::Net::HTTPServerResponse& response) {
  std::string blueprint;
  size_t limit = 100, offset = 0;
  for (const auto& [key, value] : uri.getQueryParameters()) {
    if (key == "blueprint") {
      blueprint = value;
    } else if (key == "limit") {
      if (!to_size(value, limit) || limit == 0 || limit > 10000)
        return send_error(response, 400, "limit: must be 1..10000");
    } else if (key == "offset") {
      // All digits but too large to count: past any end, an empty page.
      if (!to_size(value, offset)) {
        if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos)
          return send_error(response, 400, "offset: must be a number");
        offset = std::numeric_limits<size_t>::max();
      }
    }
  }
  if (blueprint.empty()) {
    std::string body = "{\"ok\":true,\"blueprints\":[";
    auto names = store.blueprints();
    for (size_t i = 0; i < names.size(); ++i) {
      if (i) body += ',';
      body += json_string(names[i]);
    }
    return send_json(response, 200, body + "]}");
  }
  const size_t total = store.count(blueprint);
  // Past the end: an empty page (SQLite would read an offset beyond INT64_MAX as negative).
  auto rows = offset >= total ? std::vector<std::string>{} : store.list(blueprint, limit, offset);
  std::string body = "{\"ok\":true,\"total\":" + std::to_string(total) + ",\"entities\":[";
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i) body += ',';
    body += rows[i];
  }
  return send_json(response, 200, body + "]}");
}

// The request target's path, split into decoded segments. Split before decoding: an identifier
// may hold a '/' (sent as %2F), which Poco's decoded path would take for a separator. False when
// a segment does not decode.
bool EntitiesHandler::path_segments(const std::string& target, std::vector<std::string>& segments) {
  std::string raw = target.substr(0, target.find('?'));
  size_t at = 0;
  while (at < raw.size()) {
    size_t slash = raw.find('/', at);
    if (slash == std::string::npos) slash = raw.size();
    if (slash > at) {
      std::string segment;
      try {
        Poco::URI::decode(raw.substr(at, slash - at), segment);
      } catch (const std::exception&) {
        return false;
      }
      segments.push_back(std::move(segment));
    }
    at = slash + 1;
  }
  return true;
}

}  // namespace oceand
