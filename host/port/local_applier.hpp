#pragma once

#include "port/applier.hpp"
#include "port/entity_store.hpp"

namespace oceand {

class Metrics;

// `port.applier: local`: writes straight into the embedded store, on the calling thread.
class LocalApplier final : public Applier {
 public:
  LocalApplier(EntityStore& store, Metrics& metrics) : store_(store), metrics_(metrics) {}
  void apply(EntityChanges changes, ApplyDone done) override;
  std::string name() const override { return "local"; }

 private:
  EntityStore& store_;
  Metrics& metrics_;
};

}  // namespace oceand
