// Built twice (PLUGIN_VERSION 1 and 2) under one plugin name, so reload tests can replace v1 with a
// v2 whose work is visibly different: each version stamps its number on the raw results it makes
// and counts the events it handled as handled_v<N>.
#include <ocean/sdk.hpp>

#ifndef PLUGIN_VERSION
#define PLUGIN_VERSION 1
#endif

#define STRINGIFY2(x) #x
#define STRINGIFY(x) STRINGIFY2(x)

namespace {

class VersionedProcessor : public ocean::WebhookProcessor {
 public:
  bool should_process_event(const ocean::WebhookEvent& event) override {
    return event.payload().IsObject();
  }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"thing"};
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    return payload.HasMember("id") && payload["id"].IsInt64();
  }
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig&) override {
    ocean::metric_add("handled_v" STRINGIFY(PLUGIN_VERSION));
    ocean::WebhookEventRawResults results;
    results.updated_raw_results.push_back("{\"id\":" + std::to_string(payload["id"].GetInt64()) +
                                          ",\"version\":" STRINGIFY(PLUGIN_VERSION) "}");
    return results;
  }
};

}  // namespace

OCEAN_PLUGIN("versioned", STRINGIFY(PLUGIN_VERSION) ".0.0") {
  plugin.add_processor<VersionedProcessor>("/webhook");
}
