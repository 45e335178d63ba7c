#include "port/catalog_sink.hpp"
#include "mapping/raw_samples.hpp"
#include "plugins/plugin_library.hpp"
#include "port/port_client.hpp"

#include <rapidjson/document.h>

#include <future>

#include "core/busy_marks.hpp"
#include "core/event.hpp"
#include "core/json_text.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "mapping/entity_mapper.hpp"
#include "plugins/generation.hpp"

namespace oceand {

ApplyOptions CatalogSink::options_of(const PortAppConfig& mapping) {
  ApplyOptions options;
  options.merge = mapping.enable_merge_entity;
  options.create_missing_related = mapping.create_missing_related_entities;
  options.delete_dependents = mapping.delete_dependent_entities;
  return options;
}

EntityChanges CatalogSink::map(const Integration& integration, const ResourceMapping& resource,
                               const RawResults& results, std::string origin, uint64_t event_id) {
  const std::string& id = integration.config.identifier;
  if (samples_) samples_->record(id, resource.kind, results);
  MappingResult mapped;
  {
    // libjq runs in this process: a mapping that crashes it (libjq 1.6 has known aborts the jq 1.8
    // layer cannot all fence off) is recorded like a plugin crash, so its event is dead-lettered
    // after plugins.crash_limit crashes instead of crash-looping oceand.
    static const std::string kMapper = "libjq (mapping)";
    BusyMark mark(BusyMark::What{event_id, &id, &resource.kind, &kMapper, "mapping"});
    mapped = EntityMapper::map(resource, results, id);
  }
  metrics_.add("oceand_entities_mapped_total", {{"integration", id}, {"op", "upsert"}},
               static_cast<double>(mapped.upserts.size()));
  if (mapped.skipped)
    metrics_.add("oceand_entities_skipped_total", {{"integration", id}},
                 static_cast<double>(mapped.skipped));
  OCEAND_LOG_DEBUG("mapping") << origin << " kind=" << resource.kind << ": "
                              << mapped.upserts.size() << " upsert(s), " << mapped.deletions.size()
                              << " deletion(s)";
  EntityChanges changes;
  changes.upserts = std::move(mapped.upserts);
  changes.deletions = std::move(mapped.deletions);
  changes.options = integration.mapping ? options_of(*integration.mapping) : ApplyOptions{};
  changes.origin = std::move(origin);
  if (integration.plugin)
    changes.user_agent =
        ocean_user_agent(integration.plugin->name(), integration.plugin->version(), id);
  return changes;
}

void CatalogSink::count_deletions(const std::string& integration, size_t n) {
  metrics_.add("oceand_entities_mapped_total", {{"integration", integration}, {"op", "delete"}},
               static_cast<double>(n));
}

DeferredApply CatalogSink::apply(const Integration& integration, const ResourceMapping& resource,
                                 const Event& event, RawResults results, EventUpserts& upserted,
                                 ApplyDone done) {
  const std::string& id = integration.config.identifier;
  EntityChanges changes =
      map(integration, resource, results, id + " event " + std::to_string(event.id), event.id);
  for (const auto& e : changes.upserts) upserted.entities.emplace(e.blueprint, e.identifier);
  // The deletions leave with the second phase; this one carries the upserts alone.
  EntityChanges deletions;
  deletions.deletions = std::move(changes.deletions);
  changes.deletions.clear();
  if (!deletions.deletions.empty()) {
    deletions.options = changes.options;
    deletions.origin = changes.origin;
    deletions.user_agent = changes.user_agent;
  }
  if (changes.upserts.empty())
    done(ApplyOutcome::applied());
  else
    applier_.apply(std::move(changes), std::move(done));
  if (deletions.deletions.empty()) return {};
  return [this, id, &upserted, deletions = std::move(deletions)](ApplyDone done) mutable {
    std::erase_if(deletions.deletions, [&](const MappedEntity& e) {
      return upserted.entities.count({e.blueprint, e.identifier}) > 0;
    });
    count_deletions(id, deletions.deletions.size());
    if (deletions.deletions.empty()) {
      done(ApplyOutcome::applied());
      return;
    }
    applier_.apply(std::move(deletions), std::move(done));
  };
}

std::string CatalogSink::apply_raw(const Integration& integration, const std::string& kind,
                                   const std::string& items_json, bool deletion,
                                   std::chrono::milliseconds timeout) {
  rapidjson::Document doc;
  doc.Parse(items_json.data(), items_json.size());
  if (doc.HasParseError() || !doc.IsArray()) return "items must be a JSON array of objects";
  RawResults raw;
  for (const auto& item : doc.GetArray()) {
    if (!item.IsObject()) return "items must be a JSON array of objects";
    (deletion ? raw.deleted : raw.updated).push_back(json_text(item));
  }
  if (!integration.mapping) return "integration has no mapping";
  auto resources = integration.mapping->resources_of_kind(kind);
  if (resources.empty()) {
    OCEAND_LOG_WARN("mapping") << integration.config.identifier << ": "
                               << (deletion ? "unregister_raw" : "register_raw") << " of kind '"
                               << kind
                               << "', which no resource of the mapping selects: nothing to apply";
    return {};
  }
  std::vector<std::future<ApplyOutcome>> pending;
  for (const ResourceMapping* resource : resources) {
    auto promise = std::make_shared<std::promise<ApplyOutcome>>();
    pending.push_back(promise->get_future());
    EntityChanges changes =
        map(integration, *resource, raw,
            integration.config.identifier + (deletion ? " unregister_raw" : " register_raw"), 0);
    count_deletions(integration.config.identifier, changes.deletions.size());
    applier_.apply(std::move(changes),
                   [promise](ApplyOutcome outcome) { promise->set_value(std::move(outcome)); });
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto& f : pending) {
    if (f.wait_until(deadline) != std::future_status::ready)
      return "not applied within " + std::to_string(timeout.count() / 1000) + " s";
    ApplyOutcome outcome = f.get();
    if (outcome.kind != ApplyOutcome::Kind::applied) return outcome.error;
  }
  return {};
}

}  // namespace oceand
