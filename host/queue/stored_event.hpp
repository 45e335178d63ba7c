#pragma once

#include <string>

#include "queue/event.hpp"

namespace oceand {

class Statement;

// An event's columns as both the queue and the dead letters store them:
//   integration, route, delivery_id, received_at_ms, headers, body, payload, deflated
// Encoding (and compression) happens on the caller's thread, so the single writer thread only
// binds.
class StoredEvent {
 public:
  static constexpr const char* kColumns =
      "integration, route, delivery_id, received_at_ms, headers, body, payload, deflated";
  static constexpr int kColumnCount = 8;

  StoredEvent(EventPtr event, bool deflate);
  // Binds the columns to parameters first .. first + kColumnCount - 1.
  void bind(Statement& statement, int first) const;
  // Reads the columns from result columns first .. ; `id` becomes the event's id. The steady
  // `accepted` time cannot outlive the process that took the event: it is set to now.
  static EventPtr read(const Statement& statement, int first, uint64_t id);

  const EventPtr& event() const { return event_; }

 private:
  EventPtr event_;
  std::string headers_;
  bool deflated_ = false;
  std::string body_;     // deflated body when deflated_
  std::string payload_;  // deflated payload when deflated_
};

}  // namespace oceand
