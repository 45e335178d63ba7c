// The smallest complete oceand plugin: copy this directory to start your own.
//
// It accepts any JSON object POSTed to /integration/example/webhook whose body has an "id", turns
// it into one raw result of kind "example", and deletes it instead when the body says "action":
// "deleted". A request without an "id" fails validation and is dropped.
//
// It also shows a legacy direct route (Ocean's ocean.router.post): POST /integration/example/items
// with {"upsert": [...], "delete": [...]} maps and applies the items at once through
// register_raw / unregister_raw, and answers when they are applied. No queue, no retry. A route
// that writes the catalog is never open: it answers 403 until the integration has a
// `webhook_secret`, and then only to requests signed with it (X-Hub-Signature-256).
#include <ocean/sdk.hpp>

namespace {

class ExampleProcessor : public ocean::WebhookProcessor {
 public:
  ExampleProcessor() {
    max_retries = 3;  // Ocean's defaults, spelled out so you can see where to change them
    initial_retry_delay_seconds = 1.0;
  }

  bool should_process_event(const ocean::WebhookEvent& event) override {
    return event.payload().IsObject();
  }

  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent&) override {
    return {"example"};
  }

  // With `config: {webhook_secret: ...}` set for the integration, require X-Hub-Signature-256.
  bool authenticate(const rapidjson::Value&, const ocean::Headers& headers,
                    std::string_view raw_body) override {
    auto secret = event().config("webhook_secret");
    if (!secret || secret->empty()) return true;
    auto signature = headers.get("x-hub-signature-256");
    return signature && ocean::verify_hmac_sha256(*secret, raw_body, *signature);
  }

  bool validate_payload(const rapidjson::Value& payload) override {
    auto id = payload.FindMember("id");
    return id != payload.MemberEnd() && (id->value.IsString() || id->value.IsNumber());
  }

  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig& resource) override {
    ocean::log_info("example event " + ocean::to_json(payload["id"]) + " for kind " +
                    std::string(resource.kind()));
    ocean::WebhookEventRawResults results;
    auto action = payload.FindMember("action");
    bool deleted = action != payload.MemberEnd() && action->value.IsString() &&
                   std::string_view(action->value.GetString()) == "deleted";
    if (deleted)
      results.add_deleted(payload);
    else
      results.add_updated(payload);
    return results;
  }

  // Events about the same id run one at a time, in arrival order.
  std::string group_key(const ocean::WebhookEvent& event) override {
    auto id = event.payload().FindMember("id");
    return id == event.payload().MemberEnd() ? std::string() : ocean::to_json(id->value);
  }
};

// The direct route's handler: answers 200 once every item is applied, 400 for a body it cannot
// use, 502 when applying failed (the host has logged why); 403 without a secret configured, 401
// for a request not signed with it.
int sync_items(std::string_view integration, const ocean::Headers& headers, std::string_view body,
               std::string& response) {
  auto secret = ocean::integration_config(integration, "webhook_secret");
  if (!secret || secret->empty()) {
    response =
        R"({"ok":false,"error":"this route is off until the integration has a )"
        R"(webhook_secret, and then takes only requests signed with it: X-Hub-Signature-256"})";
    return 403;
  }
  auto signature = headers.get("x-hub-signature-256");
  if (!signature || !ocean::verify_hmac_sha256(*secret, body, *signature)) {
    response = R"({"ok":false,"error":"missing or wrong X-Hub-Signature-256"})";
    return 401;
  }
  rapidjson::Document doc;
  if (!ocean::parse_json(doc, body) || !doc.IsObject()) {
    response = R"({"ok":false,"error":"expected a JSON object with upsert and delete arrays"})";
    return 400;
  }
  size_t applied = 0;
  for (const char* key : {"upsert", "delete"}) {
    auto items = doc.FindMember(key);
    if (items == doc.MemberEnd()) continue;
    if (!items->value.IsArray()) {
      response = std::string(R"({"ok":false,"error":")") + key + R"( must be an array"})";
      return 400;
    }
    std::string json = ocean::to_json(items->value);
    bool ok = std::string_view(key) == "upsert"
                  ? ocean::register_raw(integration, "example", json)
                  : ocean::unregister_raw(integration, "example", json);
    if (!ok) {
      response = R"({"ok":false,"error":"applying the items failed; see the oceand log"})";
      return 502;
    }
    applied += items->value.Size();
  }
  response = R"({"ok":true,"applied":)" + std::to_string(applied) + "}";
  return 200;
}

}  // namespace

OCEAN_PLUGIN("example", "1.0.0") {
  plugin.add_processor<ExampleProcessor>("/webhook");
  plugin.add_direct_route("POST", "/items", &sync_items);
  plugin.config_key("webhook_secret",
                    "when set, only requests signed with it (X-Hub-Signature-256) are taken",
                    {.secret = true});
}
