#pragma once

#include <string>

#include "core/event.hpp"

namespace oceand {

class Statement;

// An event's columns as both the queue and the dead letters store them:
//   integration, route, delivery_id, received_at_ms, headers, body, payload, deflated
// (`deflated` holds the BodyCodec of body and payload.)
// Encoding (and compression) happens on the caller's thread, so the single writer thread only
// binds.
class StoredEvent {
 public:
  static constexpr const char* kColumns =
      "integration, route, delivery_id, received_at_ms, headers, body, payload, deflated";
  static constexpr int kColumnCount = 8;

  // `compress`: LZ4 for body and payload together at least 512 bytes.
  StoredEvent(EventPtr event, bool compress);
  // Binds the columns to parameters first .. first + kColumnCount - 1.
  void bind(Statement& statement, int first) const;
  // Reads the columns from result columns first .. ; `id` becomes the event's id. The steady
  // `accepted` time cannot outlive the process that took the event: it is set to now.
  static EventPtr read(const Statement& statement, int first, uint64_t id);

  const EventPtr& event() const { return event_; }

 private:
  EventPtr event_;
  std::string headers_;
  bool compressed_ = false;
  std::string body_;     // compressed body when compressed_
  std::string payload_;  // compressed payload when compressed_
};

}  // namespace oceand
