#pragma once

#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/results.hpp"

namespace oceand {

struct Integration;
struct ResourceMapping;
struct Event;

// The second phase of one task's results: its deletions, applied once every task of the event has
// produced its results (EventEngine calls it on a worker; `done` as for ResultSink::apply). Empty
// when the task deletes nothing.
using DeferredApply = std::function<void(ApplyDone done)>;

// What the sink remembers across the tasks of one event: the entities (blueprint, identifier)
// they upserted. Owned by the event's job, used by one thread at a time (the job's).
struct EventUpserts {
  std::set<std::pair<std::string, std::string>> entities;
};

// Where processor results go: mapping to entities and applying them to the catalog. Called on
// worker threads, concurrently for different events. `integration` and `resource` are valid only
// during the call; `done` is called exactly once, from any thread, possibly before apply returns,
// once every upsert is applied or has finally failed. Applying waits off the worker, so a worker
// never idles while Port answers.
//
// Deletions wait: Ocean drops a deletion of an entity that any result of the same event upserts,
// so a deletion can only be decided once all of the event's results are in. apply() records the
// upserts in `upserted` and returns the deletions as a DeferredApply, which drops those the
// event's upserts (by then all in `upserted`) cover. `upserted` outlives the returned callable.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  [[nodiscard]] virtual DeferredApply apply(const Integration& integration,
                                            const ResourceMapping& resource, const Event& event,
                                            RawResults results, EventUpserts& upserted,
                                            ApplyDone done) = 0;
};

}  // namespace oceand
