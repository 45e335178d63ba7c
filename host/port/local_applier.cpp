#include "port/local_applier.hpp"

#include "core/log.hpp"
#include "core/metrics.hpp"

namespace oceand {

void LocalApplier::apply(EntityChanges changes, ApplyDone done) {
  try {
    store_.write(changes);
  } catch (const EntityStoreError& e) {
    // A full disk or a locked file may pass; the engine retries the task with backoff.
    OCEAND_LOG_ERROR("store") << changes.origin << ": " << e.what();
    done(ApplyOutcome::retry(e.what()));
    return;
  }
  metrics_.add("oceand_local_entities_total", {{"op", "upsert"}},
               static_cast<double>(changes.upserts.size()));
  metrics_.add("oceand_local_entities_total", {{"op", "delete"}},
               static_cast<double>(changes.deletions.size()));
  done(ApplyOutcome::applied());
}

}  // namespace oceand
