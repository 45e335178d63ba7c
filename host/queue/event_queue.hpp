#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/event.hpp"

namespace oceand {

// disk_full: the store's disk (or file) is full; unavailable: the store cannot be written (its
// file was deleted or replaced, an I/O error): neither is the queue's max_pending.
enum class PushResult { accepted, duplicate, full, closed, disk_full, unavailable };

// Where accepted events wait, in arrival order, until they are fully processed. One interface for
// every backend (memory now; durable and shared backends implement the same contract):
//  - push returns `accepted` only once the event is as safe as the backend makes it;
//  - pop hands out each accepted event once, oldest first;
//  - complete removes an event for good (processed, or moved to the dead letters).
class EventQueue {
 public:
  virtual ~EventQueue() = default;

  // Assigns event->id. `duplicate`: an event with the same (integration, delivery id) was claimed
  // (see claim_delivery) within the dedupe window; `full`: max_pending events are waiting;
  // `closed`: shutting down.
  virtual PushResult push(const EventPtr& event) = 0;
  using PushDone = std::function<void(PushResult)>;
  // push without waiting for the result: `done` is called once with it, on the calling thread
  // when it is known at once (refusals, a backend that never waits), otherwise on the backend's
  // own thread once the event is as safe as push would have made it (a group commit). `done`
  // must not block: every other pusher's answer waits behind it. For an I/O loop that cannot
  // wait for a disk.
  virtual void push_async(const EventPtr& event, PushDone done) { done(push(event)); }
  // The oldest event not yet handed out, or null after `wait` or once closed.
  virtual EventPtr pop(std::chrono::milliseconds wait) = 0;
  virtual void complete(uint64_t id) = 0;
  // Called once the event passed authentication: from now on its delivery id counts as delivered.
  // False when another event already claimed the same (integration, delivery id) within the
  // window: this one is a redelivery and is not processed. Claiming again for the same event (it
  // runs again after a crash) answers true. Only authenticated deliveries are ever recorded, so a
  // forged delivery can neither suppress a genuine one nor fill the table.
  virtual bool claim_delivery(const Event& event) = 0;
  // Accepted and not yet completed.
  virtual size_t depth() const = 0;
  // Accepted and not yet handed out by pop.
  virtual size_t waiting() const = 0;
  // Stops accepting (push answers `closed`) and wakes pop.
  virtual void close() = 0;
  virtual bool is_open() const = 0;
  // Empty while the backend can store events; otherwise why not ("the disk is full", "the queue
  // file was deleted"). /ready answers 503 meanwhile.
  virtual std::string problem() const { return {}; }
  virtual std::string backend() const = 0;

  // Several oceand sharing one store (queue.backend: postgres) order events across instances: the
  // engine records the group it admitted each event into (set_group) and hands an event to its
  // workers only once runnable() says that no earlier event of its group is pending on another
  // instance. Backends of one process order nothing here: their engine's scheduler does it all.
  virtual bool shared() const { return false; }
  virtual void set_group(uint64_t id, const std::string& group) {}
  // Of `held` ((id, group), ascending ids, admitted on this instance): the ids no earlier pending
  // event blocks — one of the same group that another instance holds, or one not yet grouped.
  virtual std::vector<uint64_t> runnable(
      const std::vector<std::pair<uint64_t, std::string>>& held) {
    std::vector<uint64_t> ids;
    for (const auto& h : held) ids.push_back(h.first);
    return ids;
  }
  // Whether this instance still owns the event: a shared store hands the events of an instance
  // that stopped answering to the others, and only the owner may apply results
  // (docs/reliability.md, "Fencing"). `unknown`: the store cannot be asked now (apply later).
  enum class Ownership { owned, handed_over, unknown };
  virtual Ownership ownership(uint64_t id) { return Ownership::owned; }
  // What this instance last knew, without asking the store: false once the event went to another
  // instance (an instance that learns its lease ran out lets go of everything it held).
  virtual bool holds(uint64_t id) const { return true; }
  // The event could not be finished here and must run again, on whichever instance takes it
  // (a shared store: released for claiming; written as soon as the store can be reached).
  virtual void give_back(uint64_t id) {}
};

}  // namespace oceand
