#pragma once

#include <string>
#include <vector>

#include "core/mapped_entity.hpp"
#include "core/results.hpp"

namespace oceand {

// The request options Ocean derives from the top level of port-app-config.
struct ApplyOptions {
  bool merge = true;                   // enableMergeEntity
  bool create_missing_related = true;  // createMissingRelatedEntities
  bool delete_dependents = true;       // deleteDependentEntities (Ocean: true)
};

// Entities one processor result turned into, to be written to the catalog together.
struct EntityChanges {
  std::vector<MappedEntity> upserts;
  std::vector<MappedEntity> deletions;
  ApplyOptions options;
  std::string origin;  // "<integration> event <id>" or "<integration> register_raw", for logs
  // The integration's Ocean User-Agent (port/port_client.hpp ocean_user_agent): Port attributes
  // entities to the integration by it. Changes of different integrations never share a request.
  std::string user_agent;
};

// Writes entities to a catalog: the embedded store or Port. `done` is called exactly once, from any
// thread (possibly before apply returns), with `applied` once every change is written, or `failed`
// with the catalog's error once retrying is over. After stop() no completion is called: the events
// they belong to stay unfinished in the queue.
class Applier {
 public:
  virtual ~Applier() = default;
  virtual void apply(EntityChanges changes, ApplyDone done) = 0;
  virtual void stop() {}
  virtual std::string name() const = 0;
};

}  // namespace oceand
