#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

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

  void apply(const Integration& integration, const ResourceMapping& resource, const Event& event,
             RawResults results, ApplyDone done) override;

  // A direct handler's register_raw / unregister_raw: maps `items` (a JSON array of objects) with
  // every resource of `kind` and applies the result, blocking until it is applied or `timeout`
  // passes. Returns an empty string on success, the error otherwise.
  std::string apply_raw(const Integration& integration, const std::string& kind,
                        const std::string& items_json, bool deletion,
                        std::chrono::milliseconds timeout);

  static ApplyOptions options_of(const PortAppConfig& mapping);

 private:
  void map_and_apply(const Integration& integration, const ResourceMapping& resource,
                     const RawResults& results, std::string origin, ApplyDone done,
                     uint64_t event_id = 0);
  // Ocean's rule across the resources of one event: a deletion of an entity any result of the
  // same event upserts is dropped. Drops such deletions from `mapped` and records its upserts.
  void drop_deletions_upserted_by(uint64_t event_id, MappingResult& mapped);

  Applier& applier_;
  Metrics& metrics_;
  RawSamples* samples_;
  // The entities (blueprint, identifier) each recent event upserted, the oldest forgotten first:
  // an event's tasks are mapped within seconds of each other.
  static constexpr size_t kEventsRemembered = 8192;
  std::mutex upserted_mutex_;
  std::unordered_map<uint64_t, std::set<std::pair<std::string, std::string>>> upserted_;
  std::deque<uint64_t> upserted_order_;
};

}  // namespace oceand
