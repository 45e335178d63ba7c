#include "queue/stored_event.hpp"

#include "queue/event_codec.hpp"
#include "queue/sqlite_db.hpp"

namespace oceand {

namespace {

// Below this, zlib's header and the size prefix eat most of what deflate saves.
constexpr size_t kDeflateFrom = 512;

}  // namespace

StoredEvent::StoredEvent(EventPtr event, bool deflate)
    : event_(std::move(event)), headers_(encode_headers(event_->headers)) {
  if (deflate && event_->body.size() + event_->payload.size() >= kDeflateFrom) {
    deflated_ = true;
    body_ = deflate_bytes(event_->body);
    payload_ = event_->payload.empty() ? std::string() : deflate_bytes(event_->payload);
  }
}

void StoredEvent::bind(Statement& s, int first) const {
  const Event& e = *event_;
  s.bind(first, e.integration);
  s.bind(first + 1, e.route);
  s.bind(first + 2, e.delivery_id);
  s.bind(first + 3, static_cast<int64_t>(e.received_at_ms));
  s.bind_blob(first + 4, headers_);
  s.bind_blob(first + 5, deflated_ ? std::string_view(body_) : std::string_view(e.body));
  s.bind_blob(first + 6, deflated_ ? std::string_view(payload_) : std::string_view(e.payload));
  s.bind(first + 7, static_cast<int64_t>(deflated_ ? 1 : 0));
}

EventPtr StoredEvent::read(const Statement& s, int first, uint64_t id) {
  auto e = std::make_shared<Event>();
  e->id = id;
  e->integration = s.text(first);
  e->route = s.text(first + 1);
  e->delivery_id = s.text(first + 2);
  e->received_at_ms = s.int64(first + 3);
  e->headers = decode_headers(s.text(first + 4));
  bool deflated = s.int64(first + 7) != 0;
  e->body = s.text(first + 5);
  e->payload = s.text(first + 6);
  if (deflated) {
    e->body = inflate_bytes(e->body);
    if (!e->payload.empty()) e->payload = inflate_bytes(e->payload);
  }
  e->accepted = std::chrono::steady_clock::now();
  return e;
}

}  // namespace oceand
