#include "http/admin_handler.hpp"

#include <chrono>
#include <iterator>

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/URI.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "config/host_config.hpp"
#include "core/json_text.hpp"
#include "core/metrics.hpp"
#include "http/dead_letter_admin.hpp"
#include "http/dry_run.hpp"
#include "http/http_deps.hpp"
#include "http/responses.hpp"
#include "http/status_page.hpp"
#include "mapping/raw_samples.hpp"
#include "plugins/plugin_manager.hpp"
#include "plugins/reload_report.hpp"
#include "queue/dead_letters.hpp"
#include "queue/event_queue.hpp"

namespace oceand {

namespace {
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void kv(JsonWriter& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
}
}  // namespace

AdminHandler::AdminHandler(const AdminDeps& host, Listener listener)
    : host_(host),
      listener_(listener),
      access_(host.config().admin_token, listener, host.config().admin_listen) {}

void AdminHandler::handleRequest(Poco::Net::HTTPServerRequest& request,
                                 Poco::Net::HTTPServerResponse& response) {
  std::string uri = request.getURI();
  std::string path = uri.substr(0, uri.find('?'));
  const std::string& method = request.getMethod();
  if (probe(path, method, response)) return;
  // The status page lives on the admin listener only, behind the same door as /admin/*.
  const bool page = listener_ == Listener::admin && (path == "/" || path.rfind("/status/", 0) == 0);
  if (path.rfind("/admin/", 0) != 0 && !page) return send_error(response, 404, "no such route");
  if (!access_.admit(request, response)) return;
  if (page && StatusPage(host_).serve(path, request, response)) return;
  if (path == "/admin/plugins") {
    if (method != "GET") return send_error(response, 405, "method not allowed");
    return plugins(response);
  }
  if (path == "/admin/reload") {
    if (method != "POST") return send_error(response, 405, "method not allowed");
    return reload(response);
  }
  if (path.rfind("/admin/integrations/", 0) == 0) {
    constexpr std::string_view kPrefix = "/admin/integrations/", kSuffix = "/dry-run";
    const bool dry_run = path.size() > kPrefix.size() + kSuffix.size() &&
                         path.compare(path.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0;
    if (dry_run) {
      if (method != "POST") return send_error(response, 405, "method not allowed");
      std::string id(path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size()));
      return this->dry_run(id, request, response);
    }
  }
  if (path == "/admin/dead-letters" || path.rfind("/admin/dead-letters/", 0) == 0) {
    Poco::URI uri;
    try {
      uri = Poco::URI(request.getURI());
    } catch (const std::exception&) {
      return send_error(response, 400, "malformed URI");
    }
    DeadLetterAdmin letters(host_.dead_letters(), host_.queue());
    if (letters.serve(method, uri, response)) return;
  }
  send_error(response, 404, "no such route");
}

// /health, /ready and /metrics, on both listeners and without a token; false for other paths.
bool AdminHandler::probe(const std::string& path, const std::string& method,
                         Poco::Net::HTTPServerResponse& response) {
  if (path == "/health") {
    if (method != "GET" && method != "HEAD")
      send_error(response, 405, "method not allowed");
    else
      send_json(response, 200, "{\"status\":\"ok\"}");
    return true;
  }
  if (path == "/ready") {
    if (method != "GET" && method != "HEAD")
      send_error(response, 405, "method not allowed");
    else if (host_.ready())
      send_json(response, 200, "{\"status\":\"ready\"}");
    else
      send_json(
          response, 503,
          "{\"status\":\"not ready\",\"reason\":" + json_string(host_.unready_reason()) + "}");
    return true;
  }
  if (path == "/metrics") {
    if (method != "GET")
      send_error(response, 405, "method not allowed");
    else
      send_text(response, 200, host_.metrics().render(),
                "text/plain; version=0.0.4; charset=utf-8");
    return true;
  }
  return false;
}

// POST /admin/integrations/<id>/dry-run (http/dry_run.hpp).
void AdminHandler::dry_run(const std::string& id, Poco::Net::HTTPServerRequest& request,
                           Poco::Net::HTTPServerResponse& response) {
  auto generation = host_.plugins().current();
  if (!generation) return send_error(response, 503, "no plugin generation loaded");
  auto it = generation->integrations.find(id);
  if (it == generation->integrations.end())
    return send_error(response, 404, "no integration '" + id + "'");
  std::string body(std::istreambuf_iterator<char>(request.stream()), {});
  DryRun(it->second, &host_.raw_samples()).serve(body, response);
}

static void write_files(JsonWriter& w, const std::vector<PluginFileStatus>& files) {
  w.StartArray();
  for (const auto& f : files) {
    w.StartObject();
    kv(w, "file", f.file);
    kv(w, "sha256", f.sha256);
    kv(w, "name", f.name);
    kv(w, "version", f.version);
    kv(w, "abi_version", f.abi_version);
    kv(w, "state", f.state);
    kv(w, "error", f.error);
    w.Key("generation");
    w.Uint64(f.generation);
    w.EndObject();
  }
  w.EndArray();
}

static void write_names(JsonWriter& w, const char* key, const std::vector<std::string>& names) {
  w.Key(key);
  w.StartArray();
  for (const auto& n : names) w.String(n.c_str(), static_cast<rapidjson::SizeType>(n.size()));
  w.EndArray();
}

// A reload's report, as /admin/reload answers it and /admin/plugins shows the last one.
static void write_reload(JsonWriter& w, const ReloadReport& r, bool with_files) {
  w.StartObject();
  kv(w, "status", r.ok ? "ok" : "error");
  w.Key("generation");
  w.Uint64(r.generation);
  if (!r.ok) kv(w, "message", r.error);
  w.Key("at_ms");
  w.Int64(r.at_ms);
  w.Key("duration_ms");
  w.Double(r.seconds * 1000);
  write_names(w, "added", r.added);
  write_names(w, "changed", r.changed);
  write_names(w, "removed", r.removed);
  write_names(w, "ignored", r.ignored);
  if (with_files) {
    w.Key("plugins");
    write_files(w, r.files);
  }
  w.EndObject();
}

void AdminHandler::plugins(Poco::Net::HTTPServerResponse& response) {
  auto gen = host_.plugins().current();
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  w.Key("generation");
  w.Uint64(gen ? gen->number : 0);
  w.Key("plugins");
  write_files(w, gen ? gen->files : std::vector<PluginFileStatus>{});
  ReloadReport last = host_.last_reload();
  w.Key("last_reload");
  if (last.at_ms == 0)
    w.Null();
  else
    write_reload(w, last, /*with_files=*/!last.ok);
  w.Key("integrations");
  w.StartArray();
  if (gen) {
    for (const auto& [id, in] : gen->integrations) {
      w.StartObject();
      kv(w, "identifier", id);
      kv(w, "plugin", in.config.plugin);
      w.Key("loaded");
      w.Bool(in.plugin != nullptr);
      kv(w, "mapping", in.config.mapping_path);
      w.Key("resources");
      w.Uint64(in.mapping->resources.size());
      w.EndObject();
    }
  }
  w.EndArray();
  w.EndObject();
  send_json(response, 200, std::string(buffer.GetString(), buffer.GetSize()));
}

void AdminHandler::reload(Poco::Net::HTTPServerResponse& response) {
  ReloadReport report = host_.reload();
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  write_reload(w, report, /*with_files=*/true);
  send_json(response, report.ok ? 200 : 500, std::string(buffer.GetString(), buffer.GetSize()));
}

}  // namespace oceand
