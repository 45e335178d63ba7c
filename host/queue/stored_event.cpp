#include "queue/stored_event.hpp"

#include "queue/event_codec.hpp"
#include "queue/sqlite_db.hpp"

namespace oceand {

namespace {

// Below this, the size prefix and LZ4's literal runs eat most of what compression saves.
constexpr size_t kCompressFrom = BodyDictionaries::kMinCompressible;

std::string against_dictionary(std::string_view bytes,
                               const StoredEvent::DictionaryLookup& dictionaries) {
  const uint64_t id = take_dictionary_id(bytes);
  if (!dictionaries) throw StoreError("a stored body needs a dictionary, and none is at hand");
  return dictionaries(id)->decompress(bytes);
}

}  // namespace

StoredEvent::StoredEvent(EventPtr event, bool compress, BodyDictionaries* dictionaries)
    : event_(std::move(event)), headers_(encode_headers(event_->headers)) {
  if (!compress || event_->body.size() + event_->payload.size() < kCompressFrom) return;
  compressed_ = true;
  if (!dictionaries) {
    body_ = compress_bytes(event_->body);
    payload_ = event_->payload.empty() ? std::string() : compress_bytes(event_->payload);
    return;
  }
  auto compressed = dictionaries->compress(*event_);
  compressed_ = compressed.has_value();
  if (!compressed_) return;
  dictionary_ = std::move(compressed->dictionary);
  if (!dictionary_) {
    body_ = std::move(compressed->body);
    payload_ = std::move(compressed->payload);
    return;
  }
  body_ = with_dictionary_id(dictionary_->id(), compressed->body);
  payload_ = event_->payload.empty() ? std::string()
                                     : with_dictionary_id(dictionary_->id(), compressed->payload);
}

void StoredEvent::bind(Statement& s, int first) const {
  const Event& e = *event_;
  s.bind(first, e.integration);
  s.bind(first + 1, e.route);
  s.bind(first + 2, e.delivery_id);
  s.bind(first + 3, static_cast<int64_t>(e.received_at_ms));
  s.bind_blob(first + 4, headers_);
  s.bind_blob(first + 5, compressed_ ? std::string_view(body_) : std::string_view(e.body));
  s.bind_blob(first + 6, compressed_ ? std::string_view(payload_) : std::string_view(e.payload));
  const BodyCodec codec = !compressed_  ? BodyCodec::kPlain
                          : dictionary_ ? BodyCodec::kLz4Dictionary
                                        : BodyCodec::kLz4;
  s.bind(first + 7, static_cast<int64_t>(codec));
}

EventPtr StoredEvent::read(const Statement& s, int first, uint64_t id,
                           const DictionaryLookup& dictionaries) {
  auto e = std::make_shared<Event>();
  e->id = id;
  e->integration = s.text(first);
  e->route = s.text(first + 1);
  e->delivery_id = s.text(first + 2);
  e->received_at_ms = s.int64(first + 3);
  e->headers = decode_headers(s.text(first + 4));
  auto codec = static_cast<BodyCodec>(s.int64(first + 7));
  e->body = s.text(first + 5);
  e->payload = s.text(first + 6);
  if (codec == BodyCodec::kLz4Dictionary) {
    e->body = against_dictionary(e->body, dictionaries);
    if (!e->payload.empty()) e->payload = against_dictionary(e->payload, dictionaries);
  } else {
    decompress_bodies(e->body, e->payload, codec);
  }
  e->accepted = std::chrono::steady_clock::now();
  return e;
}

}  // namespace oceand
