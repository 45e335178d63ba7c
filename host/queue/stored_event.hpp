#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/event.hpp"
#include "queue/body_dictionaries.hpp"

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

  // `compress`: LZ4 for body and payload together at least 512 bytes, against the integration's
  // dictionary when `dictionaries` is given (whoever stores the row stores that dictionary too).
  StoredEvent(EventPtr event, bool compress, BodyDictionaries* dictionaries = nullptr);
  // Binds the columns to parameters first .. first + kColumnCount - 1.
  void bind(Statement& statement, int first) const;
  // The dictionary the row refers to (null for none).
  const std::shared_ptr<const CompressionDictionary>& dictionary() const { return dictionary_; }

  // Finds a dictionary by id for rows compressed against one; throws StoreError when it has none.
  using DictionaryLookup = std::function<std::shared_ptr<const CompressionDictionary>(uint64_t)>;
  // Reads the columns from result columns first .. ; `id` becomes the event's id. The steady
  // `accepted` time cannot outlive the process that took the event: it is set to now. Throws
  // StoreError for a damaged row, and for one that needs a dictionary `dictionaries` lacks
  // (whatever else `dictionaries` throws goes through).
  static EventPtr read(const Statement& statement, int first, uint64_t id,
                       const DictionaryLookup& dictionaries = {});

  const EventPtr& event() const { return event_; }

 private:
  EventPtr event_;
  std::string headers_;
  bool compressed_ = false;
  std::string body_;     // compressed body when compressed_ (the dictionary's id in front)
  std::string payload_;  // compressed payload when compressed_ (likewise)
  std::shared_ptr<const CompressionDictionary> dictionary_;
};

}  // namespace oceand
