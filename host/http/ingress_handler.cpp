#include "http/ingress_handler.hpp"
#include "core/clock.hpp"
#include "core/text.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

#include "config/host_config.hpp"
#include "core/busy_marks.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "http/body_check.hpp"
#include "http/http_deps.hpp"
#include "http/inbound_request.hpp"
#include "http/outbound_response.hpp"
#include "http/responses.hpp"
#include "plugins/guarded_call.hpp"
#include "plugins/plugin_manager.hpp"
#include "queue/event_queue.hpp"

namespace oceand {

namespace {

constexpr std::string_view kPrefix = "/integration/";

enum class BodyKind { json, form, unsupported };

BodyKind body_kind(const Poco::Net::HTTPServerRequest& request) {
  if (!request.has("Content-Type")) return BodyKind::json;
  std::string type = lower(request.getContentType());
  type = type.substr(0, type.find(';'));
  type.erase(
      std::remove_if(type.begin(), type.end(), [](unsigned char c) { return std::isspace(c); }),
      type.end());
  if (type.empty() || type == "application/json" || type == "text/json" ||
      (type.size() > 5 && type.compare(type.size() - 5, 5, "+json") == 0))
    return BodyKind::json;
  if (type == "application/x-www-form-urlencoded") return BodyKind::form;
  return BodyKind::unsupported;
}

enum class BodyRead { ok, too_large };

// How many bytes behind a string's text are its own memory: is_json_object reads them as padding.
size_t spare(const std::string& text) {
  return text.capacity() - text.size();
}

// The whole body, taken from the request without a copy (the connection assembled it, with
// body_check_slack() bytes of spare capacity for the body check), refused past `limit`.
BodyRead read_body(Poco::Net::HTTPServerRequest& request, size_t limit, std::string& body) {
  if (auto* inbound = dynamic_cast<InboundRequest*>(&request)) {
    body = inbound->take_body();
  } else {
    std::istream& in = request.stream();
    char chunk[16384];
    while (in) {
      in.read(chunk, sizeof chunk);
      body.append(chunk, static_cast<size_t>(in.gcount()));
      if (body.size() > limit) break;
    }
  }
  return body.size() > limit ? BodyRead::too_large : BodyRead::ok;
}

void serve_direct(const IngressDeps& host, const Generation& gen, const DirectRouteRef& ref,
                  Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) {
  std::string body;
  switch (read_body(request, host.config().server.max_body_bytes, body)) {
    case BodyRead::ok:
      break;
    case BodyRead::too_large:
      response.setKeepAlive(false);
      send_error(response, 413, "body larger than server.max_body_bytes");
      return;
  }
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [k, v] : request) headers.emplace_back(lower(k), v);
  std::vector<ocean_header> abi_headers;
  for (const auto& [k, v] : headers) abi_headers.push_back({to_ocean(k), to_ocean(v)});
  ocean_string_out out;
  CallContext context;
  context.config = gen.config.get();
  CallScope scope(context);
  int32_t status = 500;
  std::string escaped;
  {
    BusyMark mark(
        BusyMark::What{0, &ref.integration, nullptr, &ref.plugin->file(), "direct_route"});
    LentOutput lent(&out);
    escaped = call_guarded([&] {
      status =
          ref.route->handle(ref.route->route_ctx, to_ocean(ref.integration), abi_headers.data(),
                            abi_headers.size(), to_ocean(body), lent.token<ocean_string_out>());
    });
  }
  if (!escaped.empty()) {
    OCEAND_LOG_ERROR_LIMITED("http", "direct route " + ref.integration + ref.route->path)
        << "direct route " << ref.integration << ref.route->path << ": plugin failure: " << escaped;
    host.metrics().add("oceand_plugin_failures_total",
                       {{"plugin", ref.plugin->name()}, {"hook", "direct_route"}});
    out.set = false;
    status = 500;
  } else if (status < 100 || status > 599) {
    OCEAND_LOG_ERROR_LIMITED("http", "direct route " + ref.integration + ref.route->path)
        << "direct route " << ref.integration << ref.route->path << " returned status " << status;
    status = 500;
  }
  host.metrics().add("oceand_direct_requests_total",
                     {{"integration", ref.integration}, {"status", std::to_string(status)}});
  send_json(response, status, out.set ? out.value : std::string("{\"status\":\"ok\"}"));
}

// The answer to a webhook once the queue has said what became of its event.
void answer_push(const IngressDeps& host, const std::string& integration, const std::string& route,
                 PushResult result, Poco::Net::HTTPServerResponse& response) {
  auto& metrics = host.metrics();
  auto refuse = [&](int status, std::string_view message, const char* reason,
                    const char* retry_after) {
    response.set("Retry-After", retry_after);
    metrics.add("oceand_ingress_rejected_total",
                {{"integration", integration}, {"reason", reason}});
    OCEAND_LOG_INFO_LIMITED("http", "refused " + integration + " " + reason)
        << "refused " << kv("integration", integration) << " " << kv("route", route)
        << " status=" << status << " reason=" << reason;
    send_error(response, status, message);
  };
  switch (result) {
    case PushResult::accepted:
      metrics.add("oceand_events_received_total", {{"integration", integration}});
      send_json(response, 200, "{\"status\":\"ok\"}");
      return;
    case PushResult::duplicate:
      metrics.add("oceand_events_duplicate_total", {{"integration", integration}});
      send_json(response, 200, "{\"status\":\"ok\"}");
      return;
    case PushResult::full:
      return refuse(503, "queue full: retry later", "queue_full", "1");
    case PushResult::closed:
      return refuse(503, "shutting down", "shutting_down", "5");
    case PushResult::disk_full:
      return refuse(503, "the disk holding the queue is full: retry later", "disk_full", "5");
    case PushResult::unavailable:
      return refuse(503, "the queue cannot store events: retry later", "queue_unavailable", "5");
  }
}

}  // namespace

void IngressHandler::handleRequest(Poco::Net::HTTPServerRequest& request,
                                   Poco::Net::HTTPServerResponse& response) {
  std::string uri = request.getURI();
  std::string path = uri.substr(0, uri.find('?'));
  std::string rest = path.size() > kPrefix.size() ? path.substr(kPrefix.size()) : std::string();
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  auto generation = host_.plugins().current();
  auto refuse_route = [&](int status, std::string_view message, const char* reason) {
    refuse_unrouted(request, response, path, status, message, reason);
  };
  if (!generation || rest.empty()) {
    refuse_route(404, "no such route", "no_route");
    return;
  }
  const std::string& method = request.getMethod();
  if (const DirectRouteRef* direct = generation->resolve_direct(method, rest)) {
    serve_direct(host_, *generation, *direct, request, response);
    return;
  }
  const WebhookRoute* route = generation->resolve_webhook(rest);
  // A path several integrations share (/integration/webhook, where Ocean registers hooks): the
  // integration is the one whose plugin claims the request, known once the body is read.
  const bool shared = !route && generation->shared_path(rest);
  if (!route && !shared) {
    if (generation->path_exists(rest)) {
      refuse_route(405, "method not allowed", "method_not_allowed");
      return;
    }
    refuse_route(404, "no such route", "no_route");
    return;
  }
  auto& metrics = host_.metrics();
  std::string integration = route ? route->integration : std::string("unknown");
  std::string route_path = route ? route->path : "/" + rest;
  auto reject = [&](int status, std::string_view message, const char* reason) {
    metrics.add("oceand_ingress_rejected_total",
                {{"integration", integration}, {"reason", reason}});
    OCEAND_LOG_INFO_LIMITED("http", "refused " + integration + " " + reason)
        << "refused " << kv("integration", integration) << " " << kv("route", route_path)
        << " status=" << status << " reason=" << reason;
    send_error(response, status, message);
  };
  if (!admissible(method, response, reject)) return;
  auto event = std::make_shared<Event>();
  if (!read_payload(request, response, *event, reject)) return;

  if (shared) {
    std::string why;
    route = generation->claim(
        rest, [&](const std::string& header) { return request.has(header); },
        event->payload.empty() ? event->body : event->payload, why);
    if (!route) {
      refuse_route(404, why, "no_route");
      return;
    }
    integration = route->integration;
    route_path = route->path;
  }
  event->integration = integration;
  event->route = route->path;
  const Integration* in = generation->integration(integration);
  stamp(*event, request, in ? in->plugin.get() : nullptr);
  store(std::move(event), response);
}

// A misrouted hook must leave a trace: counted (under integration="unknown", so senders cannot
// grow the label set) and logged, rate-limited, with the path it asked for.
void IngressHandler::refuse_unrouted(const Poco::Net::HTTPServerRequest& request,
                                     Poco::Net::HTTPServerResponse& response,
                                     const std::string& path, int status, std::string_view message,
                                     const char* reason) {
  host_.metrics().add("oceand_ingress_rejected_total",
                      {{"integration", "unknown"}, {"reason", reason}});
  OCEAND_LOG_INFO_LIMITED("http", std::string("refused ") + reason)
      << "refused " << request.getMethod() << " " << kv("path", path) << " status=" << status
      << " reason=" << reason;
  send_error(response, status, message);
}

// Webhooks come with POST, and only while oceand is accepting. False when refused.
bool IngressHandler::admissible(const std::string& method, Poco::Net::HTTPServerResponse& response,
                                const Reject& reject) {
  if (method != "POST") {
    response.set("Allow", "POST");
    reject(405, "webhooks are delivered with POST", "method_not_allowed");
    return false;
  }
  if (!host_.accepting()) {
    response.set("Retry-After", "5");
    reject(503, "shutting down", "shutting_down");
    return false;
  }
  return true;
}

// The body, checked: a JSON object, or a form whose `payload` field holds one (GitHub's form
// deliveries). False when refused (answered through `reject`).
bool IngressHandler::read_payload(Poco::Net::HTTPServerRequest& request,
                                  Poco::Net::HTTPServerResponse& response, Event& event,
                                  const Reject& reject) {
  BodyKind kind = body_kind(request);
  if (kind == BodyKind::unsupported) {
    reject(415, "unsupported content type: send application/json (or a form with a payload field)",
           "content_type");
    return false;
  }
  switch (read_body(request, host_.config().server.max_body_bytes, event.body)) {
    case BodyRead::ok:
      break;
    case BodyRead::too_large:
      response.setKeepAlive(false);
      reject(413, "body larger than server.max_body_bytes", "too_large");
      return false;
  }
  if (kind != BodyKind::form) {
    if (is_json_object(event.body, spare(event.body))) return true;
    reject(400, "body is not a JSON object", "not_json");
    return false;
  }
  auto payload = form_payload(event.body);
  if (!payload) {
    if (is_json_object(event.body, spare(event.body))) return true;
    reject(400, "form body has no payload field holding a JSON object", "not_json");
    return false;
  }
  if (!is_json_object(*payload, spare(*payload))) {
    reject(400, "the form's payload field is not a JSON object", "not_json");
    return false;
  }
  event.payload = std::move(*payload);
  return true;
}

// Headers (names lower-cased), the delivery id from the headers `plugin` names for it (ABI 1.1,
// in its order), and the times of arrival.
void IngressHandler::stamp(Event& event, const Poco::Net::HTTPServerRequest& request,
                           const PluginLibrary* plugin) {
  event.headers.reserve(request.size());
  for (const auto& [k, v] : request) event.headers.emplace_back(lower(k), v);
  if (plugin) {
    for (const auto& name : plugin->delivery_id_headers()) {
      auto it = std::find_if(event.headers.begin(), event.headers.end(),
                             [&](const auto& h) { return h.first == name; });
      if (it == event.headers.end() || it->second.empty()) continue;
      event.delivery_id = it->second.substr(0, 256);
      break;
    }
  }
  event.received_at_ms = unix_ms();
  event.accepted = std::chrono::steady_clock::now();
}

// Into the queue, and the answer once it is there.
void IngressHandler::store(EventPtr event, Poco::Net::HTTPServerResponse& response) {
  const std::string integration = event->integration;
  const std::string path = event->route;
  auto* deferrable = dynamic_cast<OutboundResponse*>(&response);
  if (!deferrable || !deferrable->can_defer()) {
    answer_push(host_, integration, path, host_.queue().push(event), response);
    return;
  }
  // The I/O loop does not wait for a group commit: the answer is given when the queue has
  // the event safe, by the queue's thread.
  host_.queue().push_async(event, [&host = host_, integration, path, deferrable,
                                   announce = deferrable->defer()](PushResult result) {
    answer_push(host, integration, path, result, *deferrable);
    announce();
  });
}

}  // namespace oceand
