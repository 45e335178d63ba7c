#include "queue/pg_event_row.hpp"

#include "queue/event_codec.hpp"

namespace oceand {

namespace {

// As the SQLite queue: below this, LZ4's framing eats most of what it saves.
constexpr size_t kCompressFrom = 512;

}  // namespace

std::vector<PgParam> PgEventRow::params(const Event& e, bool compress) {
  const bool compressed = compress && e.body.size() + e.payload.size() >= kCompressFrom;
  std::vector<PgParam> p;
  p.reserve(kColumnCount);
  p.emplace_back(e.integration);
  p.emplace_back(e.route);
  p.emplace_back(to_pg_text(e.delivery_id));
  p.emplace_back(static_cast<int64_t>(e.received_at_ms));
  p.push_back(PgParam::bytes(encode_headers(e.headers)));
  p.push_back(PgParam::bytes(compressed ? compress_bytes(e.body) : e.body));
  p.push_back(
      PgParam::bytes(compressed && !e.payload.empty() ? compress_bytes(e.payload) : e.payload));
  p.emplace_back(static_cast<int64_t>(compressed ? BodyCodec::kLz4 : BodyCodec::kPlain));
  return p;
}

EventPtr PgEventRow::read(const PgRows& rows, int row, int first, uint64_t id) {
  auto e = std::make_shared<Event>();
  e->id = id;
  e->integration = rows.text(row, first);
  e->route = rows.text(row, first + 1);
  e->delivery_id = from_pg_text(rows.text(row, first + 2));
  e->received_at_ms = rows.int64(row, first + 3);
  e->headers = decode_headers(rows.bytes(row, first + 4));
  e->body = rows.bytes(row, first + 5);
  e->payload = rows.bytes(row, first + 6);
  decompress_bodies(e->body, e->payload, static_cast<BodyCodec>(rows.int64(row, first + 7)));
  e->accepted = std::chrono::steady_clock::now();
  return e;
}

}  // namespace oceand
