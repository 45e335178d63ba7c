#pragma once

#include <string>

#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/URI.h>

namespace oceand {

class DeadLetterStore;
class EventQueue;

// /admin/dead-letters: list (paged), read one with its headers and body, delete one, replay one,
// and replay or delete every letter a filter selects (?integration=&reason=&since=<ms>).
class DeadLetterAdmin {
 public:
  DeadLetterAdmin(DeadLetterStore& letters, EventQueue& queue) : letters_(letters), queue_(queue) {}
  // Serves `path` (under /admin/dead-letters) and answers; false when the path is not its own.
  bool serve(const std::string& method, const Poco::URI& uri,
             Poco::Net::HTTPServerResponse& response);

  // The operations behind the answers, for the status page's buttons too.
  enum class Replayed { ok, missing, queue_refused };
  // Puts letter `id` back on the queue as a new event (its id in `event_id`).
  Replayed replay_one(uint64_t id, uint64_t& event_id);
  bool remove_one(uint64_t id);  // false: no such letter

 private:
  void list(const Poco::URI& uri, Poco::Net::HTTPServerResponse& response);
  void show(uint64_t id, Poco::Net::HTTPServerResponse& response);
  void remove(uint64_t id, Poco::Net::HTTPServerResponse& response);
  void replay(uint64_t id, Poco::Net::HTTPServerResponse& response);
  void replay_matching(const Poco::URI& uri, Poco::Net::HTTPServerResponse& response);
  void remove_matching(const Poco::URI& uri, Poco::Net::HTTPServerResponse& response);

  DeadLetterStore& letters_;
  EventQueue& queue_;
};

}  // namespace oceand
