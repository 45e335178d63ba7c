#pragma once

#include <vector>

#include "core/event.hpp"
#include "queue/pg_connection.hpp"

namespace oceand {

// An event's columns as the PostgreSQL queue and dead letters keep them:
//   integration, route, delivery_id, received_at_ms, headers, body, payload, codec
// (bodies LZ4-compressed as in the SQLite queue; codec is their BodyCodec).
struct PgEventRow {
  static constexpr const char* kColumns =
      "integration, route, delivery_id, received_at_ms, headers, body, payload, codec";
  static constexpr int kColumnCount = 8;

  // Encodes (and compresses) on the calling thread.
  static std::vector<PgParam> params(const Event& event, bool compress);
  // Reads the columns from result columns first ..; the event's id becomes `id`. Throws StoreError
  // when a stored body cannot be decoded.
  static EventPtr read(const PgRows& rows, int row, int first, uint64_t id);
};

}  // namespace oceand
