#include "port/catalog_sink.hpp"
#include "mapping/raw_samples.hpp"
#include "plugins/plugin_library.hpp"
#include "port/port_client.hpp"

#include <rapidjson/document.h>

#include <future>

#include "core/busy_marks.hpp"
#include "core/json_text.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "mapping/entity_mapper.hpp"
#include "plugins/generation.hpp"
#include "queue/event.hpp"

namespace oceand {

ApplyOptions CatalogSink::options_of(const PortAppConfig& mapping) {
  ApplyOptions options;
  options.merge = mapping.enable_merge_entity;
  options.create_missing_related = mapping.create_missing_related_entities;
  options.delete_dependents = mapping.delete_dependent_entities;
  return options;
}

void CatalogSink::drop_deletions_upserted_by(uint64_t event_id, MappingResult& mapped) {
  std::lock_guard lock(upserted_mutex_);
  auto [it, fresh] = upserted_.try_emplace(event_id);
  if (fresh) {
    upserted_order_.push_back(event_id);
    if (upserted_order_.size() > kEventsRemembered) {
      upserted_.erase(upserted_order_.front());
      upserted_order_.pop_front();
    }
  }
  auto& upserted = it->second;
  for (const auto& e : mapped.upserts) upserted.emplace(e.blueprint, e.identifier);
  std::erase_if(mapped.deletions, [&](const MappedEntity& e) {
    return upserted.count({e.blueprint, e.identifier}) > 0;
  });
}

void CatalogSink::map_and_apply(const Integration& integration, const ResourceMapping& resource,
                                const RawResults& results, std::string origin, ApplyDone done,
                                uint64_t event_id) {
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
  if (event_id != 0) drop_deletions_upserted_by(event_id, mapped);
  metrics_.add("oceand_entities_mapped_total", {{"integration", id}, {"op", "upsert"}},
               static_cast<double>(mapped.upserts.size()));
  metrics_.add("oceand_entities_mapped_total", {{"integration", id}, {"op", "delete"}},
               static_cast<double>(mapped.deletions.size()));
  if (mapped.skipped)
    metrics_.add("oceand_entities_skipped_total", {{"integration", id}},
                 static_cast<double>(mapped.skipped));
  LOG_DEBUG("mapping") << origin << " kind=" << resource.kind << ": " << mapped.upserts.size()
                       << " upsert(s), " << mapped.deletions.size() << " deletion(s)";
  EntityChanges changes;
  changes.upserts = std::move(mapped.upserts);
  changes.deletions = std::move(mapped.deletions);
  changes.options = integration.mapping ? options_of(*integration.mapping) : ApplyOptions{};
  changes.origin = std::move(origin);
  if (integration.plugin)
    changes.user_agent =
        ocean_user_agent(integration.plugin->name(), integration.plugin->version(), id);
  applier_.apply(std::move(changes), std::move(done));
}

void CatalogSink::apply(const Integration& integration, const ResourceMapping& resource,
                        const Event& event, RawResults results, ApplyDone done) {
  map_and_apply(integration, resource, results,
                integration.config.identifier + " event " + std::to_string(event.id),
                std::move(done), event.id);
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
    LOG_WARN("mapping") << integration.config.identifier << ": "
                        << (deletion ? "unregister_raw" : "register_raw") << " of kind '" << kind
                        << "', which no resource of the mapping selects: nothing to apply";
    return {};
  }
  std::vector<std::future<ApplyOutcome>> pending;
  for (const ResourceMapping* resource : resources) {
    auto promise = std::make_shared<std::promise<ApplyOutcome>>();
    pending.push_back(promise->get_future());
    map_and_apply(integration, *resource, raw,
                  integration.config.identifier + (deletion ? " unregister_raw" : " register_raw"),
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
