#include "http/dead_letter_admin.hpp"

#include <charconv>
#include <chrono>
#include <optional>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "http/responses.hpp"
#include "queue/dead_letters.hpp"
#include "queue/event_queue.hpp"

namespace oceand {

namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr size_t kDefaultPage = 100;
constexpr size_t kMaxPage = 10000;
// Bulk operations select from the store a page at a time.
constexpr size_t kBulkPage = 500;

std::optional<uint64_t> number(const std::string& text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

void text(JsonWriter& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
}

void write_letter(JsonWriter& w, const DeadLetter& d, bool whole) {
  w.StartObject();
  w.Key("id");
  w.Uint64(d.id);
  w.Key("event_id");
  w.Uint64(d.event->id);
  text(w, "integration", d.event->integration);
  text(w, "route", d.event->route);
  text(w, "delivery_id", d.event->delivery_id);
  text(w, "reason", d.reason);
  text(w, "error", d.error);
  text(w, "processor", d.processor);
  w.Key("attempts");
  w.Uint(d.attempts);
  w.Key("received_at_ms");
  w.Int64(d.event->received_at_ms);
  w.Key("failed_at_ms");
  w.Int64(d.failed_at_ms);
  if (whole) {
    // The request as it was accepted: what a replay sends through the plugin again.
    w.Key("headers");
    w.StartObject();
    for (const auto& [name, value] : d.event->headers) text(w, name.c_str(), value);
    w.EndObject();
    text(w, "body", d.event->body);
  }
  w.EndObject();
}

// The letter's event as a new one for the queue: a replay is deliberate, so its delivery id is
// cleared (never deduplicated away), and it is accepted now.
EventPtr replayed_event(const DeadLetter& letter) {
  auto event = std::make_shared<Event>(*letter.event);
  event->delivery_id.clear();
  event->accepted = std::chrono::steady_clock::now();
  return event;
}

// A filter from ?integration=&reason=&since=<unix ms>; every given field must match.
struct Filter {
  std::string integration, reason;
  int64_t since_ms = 0;
  bool matches(const DeadLetter& d) const {
    return (integration.empty() || d.event->integration == integration) &&
           (reason.empty() || d.reason == reason) && d.failed_at_ms >= since_ms;
  }
};

std::optional<Filter> filter_of(const Poco::URI& uri, std::string& error) {
  Filter f;
  for (const auto& [key, value] : uri.getQueryParameters()) {
    if (key == "integration") {
      f.integration = value;
    } else if (key == "reason") {
      f.reason = value;
    } else if (key == "since") {
      auto ms = number(value);
      if (!ms) {
        error = "since: milliseconds since the Unix epoch";
        return std::nullopt;
      }
      f.since_ms = static_cast<int64_t>(std::min<uint64_t>(*ms, INT64_MAX));
    } else {
      error = key + ": unknown filter (integration, reason, since)";
      return std::nullopt;
    }
  }
  return f;
}

// Takes every letter `filter` selects when the call starts, newest first, and hands each to
// `use` until it answers false. The selection is made first: a replayed event that fails again
// becomes a new letter meanwhile, and must not be replayed again by the same call.
template <class Use>
void take_matching(DeadLetterStore& letters, const Filter& filter, Use use) {
  std::vector<uint64_t> selected;
  for (size_t offset = 0;; offset += kBulkPage) {
    auto page = letters.list(kBulkPage, offset);
    if (page.empty()) break;
    for (const auto& d : page)
      if (filter.matches(d)) selected.push_back(d.id);
  }
  for (uint64_t id : selected) {
    auto letter = letters.take(id);  // gone meanwhile (deleted, replayed, dropped): skipped
    if (letter && !use(std::move(*letter))) return;
  }
}

}  // namespace

bool DeadLetterAdmin::serve(const std::string& method, const Poco::URI& uri,
                            Poco::Net::HTTPServerResponse& response) {
  std::vector<std::string> segments;
  uri.getPathSegments(segments);
  if (segments.size() < 2 || segments[0] != "admin" || segments[1] != "dead-letters") return false;
  auto allow = [&](const char* allowed) {
    if (method == allowed) return true;
    response.set("Allow", allowed);
    send_error(response, 405, "method not allowed");
    return false;
  };
  if (segments.size() == 2) {
    if (method == "DELETE") return remove_matching(uri, response), true;
    if (allow("GET")) list(uri, response);
    return true;
  }
  if (segments.size() == 3 && segments[2] == "replay") {
    if (allow("POST")) replay_matching(uri, response);
    return true;
  }
  if (segments.size() == 3 && segments[2] == "delete") {
    if (allow("POST")) remove_matching(uri, response);
    return true;
  }
  auto id = number(segments[2]);
  if (!id) return send_error(response, 400, "dead letter ids are numbers"), true;
  if (segments.size() == 3) {
    if (method == "DELETE") return remove(*id, response), true;
    if (allow("GET")) show(*id, response);
    return true;
  }
  if (segments.size() == 4 && segments[3] == "replay") {
    if (allow("POST")) replay(*id, response);
    return true;
  }
  return false;
}

void DeadLetterAdmin::list(const Poco::URI& uri, Poco::Net::HTTPServerResponse& response) {
  size_t limit = kDefaultPage, offset = 0;
  for (const auto& [key, value] : uri.getQueryParameters()) {
    auto n = number(value);
    if (key == "limit" && (!n || *n == 0 || *n > kMaxPage))
      return send_error(response, 400, "limit: must be 1..10000");
    if (key == "offset" && !n) return send_error(response, 400, "offset: must be a number");
    if (key == "limit") limit = static_cast<size_t>(*n);
    if (key == "offset") offset = static_cast<size_t>(std::min<uint64_t>(*n, SIZE_MAX));
  }
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  w.Key("total");
  w.Uint64(letters_.size());
  w.Key("offset");
  w.Uint64(offset);
  w.Key("dead_letters");
  w.StartArray();
  for (const auto& d : letters_.list(limit, offset)) write_letter(w, d, false);
  w.EndArray();
  w.EndObject();
  send_json(response, 200, std::string(buffer.GetString(), buffer.GetSize()));
}

void DeadLetterAdmin::show(uint64_t id, Poco::Net::HTTPServerResponse& response) {
  auto letter = letters_.get(id);
  if (!letter) return send_error(response, 404, "no such dead letter");
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  write_letter(w, *letter, true);
  send_json(response, 200, std::string(buffer.GetString(), buffer.GetSize()));
}

bool DeadLetterAdmin::remove_one(uint64_t id) {
  return letters_.take(id).has_value();
}

DeadLetterAdmin::Replayed DeadLetterAdmin::replay_one(uint64_t id, uint64_t& event_id) {
  auto letter = letters_.take(id);
  if (!letter) return Replayed::missing;
  auto event = replayed_event(*letter);
  if (queue_.push(event) != PushResult::accepted) {
    letters_.add(std::move(*letter));
    return Replayed::queue_refused;
  }
  event_id = event->id;
  return Replayed::ok;
}

void DeadLetterAdmin::remove(uint64_t id, Poco::Net::HTTPServerResponse& response) {
  if (!remove_one(id)) return send_error(response, 404, "no such dead letter");
  send_json(response, 200, "{\"status\":\"ok\",\"deleted\":1}");
}

void DeadLetterAdmin::replay(uint64_t id, Poco::Net::HTTPServerResponse& response) {
  uint64_t event_id = 0;
  switch (replay_one(id, event_id)) {
    case Replayed::missing:
      return send_error(response, 404, "no such dead letter");
    case Replayed::queue_refused:
      response.set("Retry-After", "1");
      return send_error(response, 503, "queue is full or closed; the dead letter is kept");
    case Replayed::ok:
      break;
  }
  send_json(response, 200, "{\"status\":\"ok\",\"event_id\":" + std::to_string(event_id) + "}");
}

void DeadLetterAdmin::replay_matching(const Poco::URI& uri,
                                      Poco::Net::HTTPServerResponse& response) {
  std::string error;
  auto filter = filter_of(uri, error);
  if (!filter) return send_error(response, 400, error);
  size_t replayed = 0;
  bool queue_refused = false;
  take_matching(letters_, *filter, [&](DeadLetter letter) {
    auto event = replayed_event(letter);
    if (queue_.push(event) != PushResult::accepted) {
      letters_.add(std::move(letter));
      queue_refused = true;
      return false;
    }
    ++replayed;
    return true;
  });
  std::string body = "{\"status\":\"" + std::string(queue_refused ? "partial" : "ok") +
                     "\",\"replayed\":" + std::to_string(replayed) + "}";
  if (queue_refused) {
    response.set("Retry-After", "1");
    return send_json(response, 503, body);
  }
  send_json(response, 200, body);
}

void DeadLetterAdmin::remove_matching(const Poco::URI& uri,
                                      Poco::Net::HTTPServerResponse& response) {
  std::string error;
  auto filter = filter_of(uri, error);
  if (!filter) return send_error(response, 400, error);
  size_t deleted = 0;
  take_matching(letters_, *filter, [&](DeadLetter) {
    ++deleted;
    return true;
  });
  send_json(response, 200, "{\"status\":\"ok\",\"deleted\":" + std::to_string(deleted) + "}");
}

}  // namespace oceand
