#include "http/status_page.hpp"

#include <charconv>
#include <ctime>
#include <sstream>

#include <Poco/URI.h>

#include "config/host_config.hpp"
#include "core/metrics.hpp"
#include "core/rate_window.hpp"
#include "core/recent_failures.hpp"
#include "http/dead_letter_admin.hpp"
#include "http/http_deps.hpp"
#include "http/responses.hpp"
#include "ocean/plugin_abi.h"
#include "plugins/plugin_manager.hpp"
#include "plugins/reload_report.hpp"
#include "queue/dead_letters.hpp"
#include "queue/event_queue.hpp"

namespace oceand {

namespace {

constexpr size_t kLettersShown = 100;

std::string html(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string utc(int64_t ms) {
  if (ms <= 0) return "-";
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return text;
}

std::string fixed(double value, int decimals = 1) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(decimals);
  out << value;
  return out.str();
}

uint64_t digits(const std::string& text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() ? value : 0;
}

// What an action's code (and its numbers) says on the page; "" for none or an unknown code.
std::string notice_text(const std::string& done, uint64_t id, uint64_t event) {
  const std::string n = std::to_string(id);
  if (done == "reloaded") return "Reloaded: generation " + n;
  if (done == "reload_failed") return "Reload failed: the old generation keeps serving (see below)";
  if (done == "deleted") return "Deleted dead letter " + n;
  if (done == "replayed") return "Replayed dead letter " + n + " as event " + std::to_string(event);
  if (done == "missing") return "No dead letter " + n;
  if (done == "queue_refused")
    return "The queue refused the replay (full or closed); dead letter " + n + " is kept";
  return {};
}

// A button: a form posting to `action`, usable without script.
std::string button(const std::string& action, const std::string& label, const std::string& name) {
  return "<form method=\"post\" action=\"" + html(action) + "\"><button type=\"submit\" name=\"" +
         html(name) + "\">" + html(label) + "</button></form>";
}

constexpr const char* kStyle = R"(
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1b1f24;background:#fff}
h1{font-size:1.4rem;margin:0 0 .3rem}h2{font-size:1.1rem;margin:1.6rem 0 .4rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25rem .5rem;
border-bottom:1px solid #d8dee4;vertical-align:top}th{background:#f6f8fa}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.notice{background:#ddf4ff;border:1px solid #54aeff;padding:.4rem .6rem}
form{display:inline;margin:0 .2rem 0 0}code{font-size:12px}td.error{max-width:40rem;
overflow-wrap:anywhere}dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
dt{font-weight:600}dd{margin:0})";

}  // namespace

bool StatusPage::serve(const std::string& path, Poco::Net::HTTPServerRequest& request,
                       Poco::Net::HTTPServerResponse& response) {
  const std::string& method = request.getMethod();
  if (path == "/") {
    if (method != "GET" && method != "HEAD") {
      response.set("Allow", "GET, HEAD");
      send_error(response, 405, "method not allowed");
      return true;
    }
    // The notice is made here from a code and numbers, never from text in the URL: a link
    // elsewhere must not be able to make this trusted page say something.
    std::string done;
    uint64_t id = 0, event = 0;
    try {
      for (const auto& [key, value] : Poco::URI(request.getURI()).getQueryParameters()) {
        if (key == "done") done = value;
        if (key == "id") id = digits(value);
        if (key == "event") event = digits(value);
      }
    } catch (const std::exception&) {
    }
    render(notice_text(done, id, event), response);
    return true;
  }
  if (path.rfind("/status/", 0) == 0) {
    if (method != "POST") {
      response.set("Allow", "POST");
      send_error(response, 405, "method not allowed");
      return true;
    }
    act(path, request, response);
    return true;
  }
  return false;
}

void StatusPage::act(const std::string& path, Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) {
  // Cross-site form posts carry the other site's Origin (and Sec-Fetch-Site: cross-site).
  const std::string origin = request.get("Origin", "");
  const std::string site = request.get("Sec-Fetch-Site", "");
  if ((!origin.empty() && origin != "http://" + request.getHost()) ||
      (!site.empty() && site != "same-origin" && site != "none"))
    return send_error(response, 403, "the status page's buttons work only from the page itself");

  std::string done;
  uint64_t id = 0, event = 0;
  if (path == "/status/reload") {
    ReloadReport report = host_.reload();
    done = report.ok ? "reloaded" : "reload_failed";
    id = report.generation;
  } else {
    std::vector<std::string> segments;
    Poco::URI(path).getPathSegments(segments);
    bool numbered = segments.size() == 4 && segments[1] == "dead-letters";
    if (numbered) {
      auto [end, ec] =
          std::from_chars(segments[2].data(), segments[2].data() + segments[2].size(), id);
      numbered = ec == std::errc() && end == segments[2].data() + segments[2].size();
    }
    if (!numbered || (segments[3] != "replay" && segments[3] != "delete"))
      return send_error(response, 404, "no such route");
    DeadLetterAdmin letters(host_.dead_letters(), host_.queue());
    if (segments[3] == "delete") {
      done = letters.remove_one(id) ? "deleted" : "missing";
    } else {
      switch (letters.replay_one(id, event)) {
        case DeadLetterAdmin::Replayed::ok:
          done = "replayed";
          break;
        case DeadLetterAdmin::Replayed::missing:
          done = "missing";
          break;
        case DeadLetterAdmin::Replayed::queue_refused:
          done = "queue_refused";
          break;
      }
    }
  }
  // Post/redirect/get: a browser refresh does not press the button again.
  response.setStatus(Poco::Net::HTTPResponse::HTTP_SEE_OTHER);
  response.set("Location",
               "/?done=" + done + "&id=" + std::to_string(id) + "&event=" + std::to_string(event));
  response.setContentLength(0);
  response.send();
}

void StatusPage::render(const std::string& notice, Poco::Net::HTTPServerResponse& response) {
  auto generation = host_.plugins().current();
  std::string page;
  page.reserve(16384);
  render_header(page, notice, generation.get());
  render_integrations(page, generation.get());
  render_plugin_files(page, generation.get());
  render_queue(page);
  render_failures(page);
  render_dead_letters(page);
  response.set("Cache-Control", "no-store");
  // No script runs on this page, and it is never framed.
  response.set("Content-Security-Policy",
               "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
               "frame-ancestors 'none'");
  response.set("X-Content-Type-Options", "nosniff");
  send_text(response, 200, page, "text/html; charset=utf-8");
}

// The head, readiness, the versions and where webhooks come in, and the last action's notice.
void StatusPage::render_header(std::string& page, const std::string& notice,
                               const Generation* generation) {
  const HostConfig& config = host_.config();
  const std::string unready = host_.unready_reason();
  page +=
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width\"><title>oceand status</title>"
      "<style>";
  page += kStyle;
  page += "</style></head><body><header><h1>oceand " OCEAND_VERSION "</h1><p id=\"readiness\">";
  page += unready.empty() ? "<span class=\"ok\">ready</span>"
                          : "<span class=\"bad\">not ready</span>: " + html(unready);
  page += " &middot; plugin ABI " + std::to_string(OCEAN_ABI_VERSION_MAJOR) + "." +
          std::to_string(OCEAN_ABI_VERSION_MINOR) + " &middot; generation " +
          std::to_string(generation ? generation->number : 0) + " &middot; webhooks on " +
          html(config.server.host) + ":" + std::to_string(host_.port()) +
          " &middot; <a href=\"/\">refresh</a></p></header>";
  if (!notice.empty()) page += "<p class=\"notice\" role=\"status\">" + html(notice) + "</p>";
}

void StatusPage::render_integrations(std::string& page, const Generation* generation) {
  // Integrations, and what serves them.
  page +=
      "<section id=\"integrations\"><h2>Integrations</h2><table><thead><tr><th>Integration"
      "</th><th>Plugin</th><th>State</th><th>Mapping</th><th>Resources</th></tr></thead>"
      "<tbody>";
  if (generation)
    for (const auto& [id, integration] : generation->integrations) {
      const bool loaded = integration.plugin != nullptr;
      page +=
          "<tr><td>" + html(id) +
          (integration.config.implicit ? " <small>(implicit)</small>" : "") + "</td><td>" +
          html(integration.config.plugin) + "</td><td class=\"" +
          (loaded ? "ok\">loaded" : "bad\">no plugin loaded") + "</td><td><code>" +
          html(integration.config.mapping_path.empty() ? "-" : integration.config.mapping_path) +
          "</code></td><td>" + std::to_string(integration.mapping->resources.size()) + "</td></tr>";
    }
  page += "</tbody></table></section>";
}

// The files in plugins.dir (with their refusal reasons), the last reload, and its button.
void StatusPage::render_plugin_files(std::string& page, const Generation* generation) {
  page +=
      "<section id=\"plugins\"><h2>Plugin files</h2><table><thead><tr><th>File</th><th>Name"
      "</th><th>Version</th><th>ABI</th><th>State</th><th>Reason</th></tr></thead><tbody>";
  if (generation)
    for (const auto& f : generation->files)
      page += "<tr><td><code>" + html(f.file) + "</code></td><td>" + html(f.name) + "</td><td>" +
              html(f.version) + "</td><td>" + html(f.abi_version) + "</td><td class=\"" +
              (f.state == "loaded" ? "ok" : "bad") + "\">" + html(f.state) +
              "</td><td class=\"error\">" + html(f.error) + "</td></tr>";
  page += "</tbody></table><p>";
  ReloadReport last = host_.last_reload();
  if (last.at_ms == 0)
    page += "No reload since start. ";
  else
    page += "Last reload " + utc(last.at_ms) + ": " +
            (last.ok ? std::string("<span class=\"ok\">ok</span>")
                     : "<span class=\"bad\">failed</span> " + html(last.error)) +
            ". ";
  page += button("/status/reload", "Reload", "reload") + "</p></section>";
}

void StatusPage::render_queue(std::string& page) {
  const HostConfig& config = host_.config();
  // The queue and how fast it moves.
  Metrics& metrics = host_.metrics();
  std::map<std::string, double> totals{
      {"received", metrics.total("oceand_events_received_total")},
      {"processed", metrics.total("oceand_events_processed_total")},
      {"dead_lettered", metrics.total("oceand_events_dead_lettered_total")},
      {"rejected", metrics.total("oceand_ingress_rejected_total")}};
  RateWindow::Rates rates = host_.status_rates().rates(totals);
  page += "<section id=\"queue\"><h2>Queue</h2><dl><dt>Backend</dt><dd>" +
          html(host_.queue().backend()) +
          (config.queue.backend == "sqlite" ? " <code>" + html(config.queue.path) + "</code>"
                                            : std::string()) +
          "</dd><dt>Depth</dt><dd id=\"queue-depth\">" + std::to_string(host_.queue().depth()) +
          "</dd>";
  for (const auto& [key, label] : std::initializer_list<std::pair<const char*, const char*>>{
           {"received", "Received"},
           {"processed", "Processed"},
           {"dead_lettered", "Dead-lettered"},
           {"rejected", "Refused at the door"}})
    page += std::string("<dt>") + label + "</dt><dd>" + fixed(totals[key], 0) + " (" +
            fixed(rates.per_second[key], 2) + "/s)</dd>";
  page +=
      "</dl><p><small>Rates over the last " + fixed(rates.seconds, 0) + " s.</small></p></section>";
}

void StatusPage::render_failures(std::string& page) {
  page +=
      "<section id=\"failures\"><h2>Recent failures</h2><table><thead><tr><th>When</th><th>"
      "Event</th><th>Integration</th><th>Outcome</th><th>Reason</th><th>Error</th></tr>"
      "</thead><tbody>";
  for (const auto& f : host_.recent_failures().list())
    page += "<tr><td>" + utc(f.at_ms) + "</td><td>" + std::to_string(f.event_id) + "</td><td>" +
            html(f.integration) + "</td><td>" + html(f.outcome) + "</td><td>" + html(f.reason) +
            "</td><td class=\"error\">" + html(f.error) + "</td></tr>";
  page += "</tbody></table></section>";
}

// The newest dead letters, each with its replay and delete buttons.
void StatusPage::render_dead_letters(std::string& page) {
  DeadLetterStore& store = host_.dead_letters();
  const size_t count = store.size();
  page += "<section id=\"dead-letters\"><h2>Dead letters (<span id=\"dead-letter-count\">" +
          std::to_string(count) + "</span>)</h2>";
  if (count > kLettersShown)
    page += "<p>The newest " + std::to_string(kLettersShown) +
            " are shown; GET /admin/dead-letters pages through all.</p>";
  page +=
      "<table><thead><tr><th>Id</th><th>Failed</th><th>Integration</th><th>Reason</th><th>"
      "Processor</th><th>Attempts</th><th>Error</th><th></th></tr></thead><tbody>";
  for (const auto& d : store.list(kLettersShown)) {
    const std::string id = std::to_string(d.id);
    page += "<tr id=\"dead-letter-" + id + "\"><td><a href=\"/admin/dead-letters/" + id + "\">" +
            id + "</a></td><td>" + utc(d.failed_at_ms) + "</td><td>" + html(d.event->integration) +
            "</td><td>" + html(d.reason) + "</td><td>" + html(d.processor) + "</td><td>" +
            std::to_string(d.attempts) + "</td><td class=\"error\">" + html(d.error) + "</td><td>" +
            button("/status/dead-letters/" + id + "/replay", "Replay", "replay-" + id) +
            button("/status/dead-letters/" + id + "/delete", "Delete", "delete-" + id) +
            "</td></tr>";
  }
  page += "</tbody></table></section></body></html>\n";
}

}  // namespace oceand
