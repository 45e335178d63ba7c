#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "port/applier.hpp"
#include "processing/result_sink.hpp"

namespace oceand {

class Metrics;
class RawSamples;
struct Integration;
struct PortAppConfig;

// Turns processor results into entities with the integration's mapping (on the calling thread,
// where the compiled jq programs live) and hands them to the applier.
class CatalogSink final : public ResultSink {
 public:
  // `samples`: where the raw results it maps are kept for dry runs (none: not kept).
  CatalogSink(Applier& applier, Metrics& metrics, RawSamples* samples = nullptr)
      : applier_(applier), metrics_(metrics), samples_(samples) {}

  [[nodiscard]] DeferredApply apply(const Integration& integration, const ResourceMapping& resource,
                                    const Event& event, RawResults results, EventUpserts& upserted,
                                    ApplyDone done) override;

  // A direct handler's register_raw / unregister_raw: maps `items` (a JSON array of objects) with
  // every resource of `kind` and applies the result, blocking until it is applied or `timeout`
  // passes. Returns an empty string on success, the error otherwise.
  std::string apply_raw(const Integration& integration, const std::string& kind,
                        const std::string& items_json, bool deletion,
                        std::chrono::milliseconds timeout);

  static ApplyOptions options_of(const PortAppConfig& mapping);

 private:
  // Maps `results` on the calling thread (where the compiled jq programs live), counts what it
  // made and stamps the integration's request options.
  EntityChanges map(const Integration& integration, const ResourceMapping& resource,
                    const RawResults& results, std::string origin, uint64_t event_id);
  void count_deletions(const std::string& integration, size_t n);

  Applier& applier_;
  Metrics& metrics_;
  RawSamples* samples_;
};

}  // namespace oceand
