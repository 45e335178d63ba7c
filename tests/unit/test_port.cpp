// The Port side: the embedded entity store, the Port REST applier against a fake Port, and whole
// events ending as entities in either.
#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include <ctime>
#include <future>
#include <thread>

#include "config/host_config.hpp"
#include "core/metrics.hpp"
#include "fakes/fake_port.hpp"
#include "mapping/port_app_config.hpp"
#include "ocean/sdk.hpp"
#include "plugins/generation.hpp"
#include "port/catalog_sink.hpp"
#include "port/entity_store.hpp"
#include "port/port_applier.hpp"
#include "port/port_client.hpp"
#include "queue/dead_letters.hpp"
#include "support/test_host.hpp"

using namespace oceand;
using namespace oceand::test;

namespace {

MappedEntity entity(const std::string& blueprint, const std::string& id,
                    const std::string& properties = "{}", const std::string& relations = "{}") {
  return {blueprint, id,
          R"({"identifier":")" + id + R"(","blueprint":")" + blueprint + R"(","title":"T )" + id +
              R"(","properties":)" + properties + R"(,"relations":)" + relations + "}"};
}

EntityChanges upserts(std::vector<MappedEntity> entities, bool merge = true) {
  EntityChanges c;
  c.upserts = std::move(entities);
  c.options.merge = merge;
  c.origin = "test";
  return c;
}

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  return d;
}

// Applies and waits for the outcome with a deadline.
ApplyOutcome apply_now(Applier& applier, EntityChanges changes,
                       std::chrono::seconds deadline = std::chrono::seconds(20)) {
  auto promise = std::make_shared<std::promise<ApplyOutcome>>();
  auto future = promise->get_future();
  applier.apply(std::move(changes),
                [promise](ApplyOutcome o) { promise->set_value(std::move(o)); });
  if (future.wait_for(deadline) != std::future_status::ready)
    return ApplyOutcome::failed("no outcome within the deadline");
  return future.get();
}

struct PortRig {
  FakePort fake;
  Metrics metrics;
  PortClient client;
  PortApplier applier;
  explicit PortRig(PortApplierSettings settings = {},
                   std::chrono::milliseconds timeout = std::chrono::seconds(10))
      : client(PortSettings{fake.url(), "id", "secret", timeout}, metrics),
        applier(client, fast(settings), metrics) {}
  static PortApplierSettings fast(PortApplierSettings s) {
    s.initial_retry_delay_seconds = std::min(s.initial_retry_delay_seconds, 0.05);
    return s;
  }
};

}  // namespace

TEST_CASE("entity store: merge lays new properties over old ones, no merge replaces, delete") {
  TempDir dir;
  EntityStore store((dir.path() / "sub" / "entities.db").string());
  EntityChanges first = upserts({entity("service", "a", R"({"x":1,"y":2})", R"({"team":"t1"})")});
  store.write(first);
  store.write(upserts({entity("service", "a", R"({"y":3,"z":4})")}));
  auto a = parse(*store.get("service", "a"));
  CHECK(a["properties"]["x"].GetInt() == 1);
  CHECK(a["properties"]["y"].GetInt() == 3);
  CHECK(a["properties"]["z"].GetInt() == 4);
  CHECK(std::string(a["relations"]["team"].GetString()) == "t1");
  CHECK(a.HasMember("createdAt"));
  CHECK(a.HasMember("updatedAt"));

  store.write(upserts({entity("service", "a", R"({"only":true})")}, /*merge=*/false));
  a = parse(*store.get("service", "a"));
  CHECK_FALSE(a["properties"].HasMember("x"));
  CHECK(a["properties"]["only"].GetBool());

  store.write(upserts({entity("service", "b"), entity("other", "c")}));
  CHECK(store.count("service") == 2);
  CHECK(store.list("service", 10, 0).size() == 2);
  CHECK(store.list("service", 1, 1).size() == 1);
  CHECK(store.blueprints() == std::vector<std::string>{"other", "service"});

  EntityChanges del;
  del.deletions = {entity("service", "a"), entity("service", "never-existed")};
  store.write(del);
  CHECK_FALSE(store.get("service", "a"));
  CHECK(store.count("service") == 1);
}

TEST_CASE("entity store: an unusable path gives a clear error") {
  TempDir dir;
  write_file(dir.path() / "not-a-db", std::string(4096, 'x'));
  bool refused = false;
  try {
    EntityStore store((dir.path() / "not-a-db").string());
    store.write(upserts({entity("s", "a")}));
  } catch (const EntityStoreError& e) {
    refused = std::string(e.what()).find("not-a-db") != std::string::npos ||
              std::string(e.what()).find("entity store") != std::string::npos;
  }
  CHECK(refused);
}

TEST_CASE("port client: one token for many calls, a new one once after 401") {
  PortRig rig;
  CHECK(apply_now(rig.applier, upserts({entity("service", "a")})).kind ==
        ApplyOutcome::Kind::applied);
  CHECK(apply_now(rig.applier, upserts({entity("service", "b")})).kind ==
        ApplyOutcome::Kind::applied);
  CHECK(rig.fake.tokens_issued() == 1);

  rig.fake.expire_tokens();
  CHECK(apply_now(rig.applier, upserts({entity("service", "c")})).kind ==
        ApplyOutcome::Kind::applied);
  CHECK(rig.fake.tokens_issued() == 2);
  CHECK(rig.fake.entity("service", "c"));
  CHECK(rig.metrics.value("oceand_port_requests_total",
                          {{"endpoint", "bulk_upsert"}, {"status", "401"}}) == 1);
}

TEST_CASE("port client: wrong credentials fail the apply with Port's answer") {
  FakePort fake;
  Metrics metrics;
  PortClient client(PortSettings{fake.url(), "id", "wrong", std::chrono::seconds(5)}, metrics);
  PortApplier applier(client, {}, metrics);
  auto outcome = apply_now(applier, upserts({entity("service", "a")}));
  CHECK(outcome.kind == ApplyOutcome::Kind::failed);
  CHECK(outcome.error.find("401") != std::string::npos);
}

TEST_CASE("port applier: concurrent upserts are batched per blueprint, at most 20 per request") {
  PortRig rig;
  std::vector<std::future<ApplyOutcome>> outcomes;
  for (int i = 0; i < 50; ++i) {
    auto promise = std::make_shared<std::promise<ApplyOutcome>>();
    outcomes.push_back(promise->get_future());
    rig.applier.apply(upserts({entity(i % 2 ? "odd" : "even", "e" + std::to_string(i))}),
                      [promise](ApplyOutcome o) { promise->set_value(std::move(o)); });
  }
  for (auto& f : outcomes) {
    REQUIRE(f.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
    CHECK(f.get().kind == ApplyOutcome::Kind::applied);
  }
  CHECK(rig.fake.entity_count("odd") == 25);
  CHECK(rig.fake.entity_count("even") == 25);
  auto sizes = rig.fake.bulk_sizes();
  size_t total = 0;
  for (size_t s : sizes) {
    CHECK(s <= 20);
    total += s;
  }
  CHECK(total == 50);
  CHECK(sizes.size() < 50);  // really batched across events
}

TEST_CASE(
    "port applier: two writes of one identifier in a batch merge as Port would (last wins without "
    "merge)") {
  for (bool merge : {true, false}) {
    CAPTURE(merge);
    PortApplierSettings settings;
    settings.linger = std::chrono::milliseconds(200);  // both writes land in one batch
    PortRig rig(settings);
    auto p1 = std::make_shared<std::promise<ApplyOutcome>>();
    auto p2 = std::make_shared<std::promise<ApplyOutcome>>();
    auto f1 = p1->get_future(), f2 = p2->get_future();
    // Two resource blocks filling different properties of one entity (Ocean sends both).
    rig.applier.apply(upserts({entity("service", "a", R"({"a":1,"v":1})", R"({"r1":"x"})")}, merge),
                      [p1](ApplyOutcome o) { p1->set_value(o); });
    rig.applier.apply(upserts({entity("service", "a", R"({"b":2,"v":2})", R"({"r2":"y"})")}, merge),
                      [p2](ApplyOutcome o) { p2->set_value(o); });
    REQUIRE(f1.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    REQUIRE(f2.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    CHECK(f1.get().kind == ApplyOutcome::Kind::applied);
    CHECK(f2.get().kind == ApplyOutcome::Kind::applied);
    CHECK(rig.fake.property("service", "a", "v") == "2");
    CHECK(rig.fake.property("service", "a", "b") == "2");
    CHECK(rig.fake.property("service", "a", "a") == (merge ? "1" : ""));
    CHECK(rig.fake.bulk_sizes() == std::vector<size_t>{1});
    CHECK(rig.fake.upserts_of("a") == 1);
  }
}

TEST_CASE("port applier: a deletion Port refuses fails its own event; the rest of the batch goes") {
  PortApplierSettings settings;
  settings.linger = std::chrono::milliseconds(200);
  PortRig rig(settings);
  REQUIRE(apply_now(rig.applier, upserts({entity("service", "a"), entity("service", "b"),
                                          entity("service", "c")}))
              .kind == ApplyOutcome::Kind::applied);
  rig.fake.refuse_deletion("b");
  std::vector<std::future<ApplyOutcome>> outcomes;
  for (const char* id : {"a", "b", "c"}) {
    auto p = std::make_shared<std::promise<ApplyOutcome>>();
    outcomes.push_back(p->get_future());
    EntityChanges del;
    del.deletions = {entity("service", id)};
    rig.applier.apply(std::move(del), [p](ApplyOutcome o) { p->set_value(o); });
  }
  for (auto& f : outcomes)
    REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(outcomes[0].get().kind == ApplyOutcome::Kind::applied);
  auto refused = outcomes[1].get();
  CHECK(refused.kind == ApplyOutcome::Kind::failed);
  CHECK(refused.error.find("has_dependents") != std::string::npos);
  CHECK(outcomes[2].get().kind == ApplyOutcome::Kind::applied);
  CHECK_FALSE(rig.fake.entity("service", "a"));
  CHECK(rig.fake.entity("service", "b"));
  CHECK_FALSE(rig.fake.entity("service", "c"));
}

TEST_CASE("port applier: deletions touch only the integration's own entities, found by search") {
  PortRig rig;
  const std::string ours = ocean_user_agent("GitHub", "1.2.0", "my-github");
  CHECK(ours == "port-ocean/github/1.2.0/my-github/exporter");
  EntityChanges write = upserts({entity("service", "mine")});
  write.user_agent = ours;
  REQUIRE(apply_now(rig.applier, write).kind == ApplyOutcome::Kind::applied);
  CHECK(rig.fake.datasource("service", "mine") == ours);
  // The same identifiers, written by another exporter and another integration of the same type.
  rig.fake.put("service", "theirs", "port-ocean/jira/0.1/my-jira/exporter");
  rig.fake.put("service", "sibling", "port-ocean/github/1.2.0/other-github/exporter");
  EntityChanges del;
  del.deletions = {entity("service", "mine"), entity("service", "theirs"),
                   entity("service", "sibling"), entity("service", "absent")};
  del.user_agent = ours;
  CHECK(apply_now(rig.applier, del).kind == ApplyOutcome::Kind::applied);
  CHECK_FALSE(rig.fake.entity("service", "mine"));
  CHECK(rig.fake.entity("service", "theirs"));
  CHECK(rig.fake.entity("service", "sibling"));
  CHECK(rig.fake.searches() == 1);
  // Every write carried the integration's User-Agent.
  for (const auto& r : rig.fake.server().requests())
    if (r.path.rfind("/v1/blueprints/", 0) == 0 || r.path == "/v1/entities/search")
      CHECK(r.header("user-agent") == ours);
}

namespace {
// What the sink handed to the catalog.
class RecordingApplier : public Applier {
 public:
  void apply(EntityChanges changes, ApplyDone done) override {
    std::lock_guard lock(mutex);
    for (auto& e : changes.upserts) upserted.push_back(e.identifier);
    for (auto& e : changes.deletions) deleted.push_back(e.identifier);
    done(ApplyOutcome::applied());
  }
  std::string name() const override { return "recording"; }
  std::mutex mutex;
  std::vector<std::string> upserted, deleted;
};
}  // namespace

TEST_CASE(
    "catalog sink: a deletion of an entity another resource of the event upserts is dropped") {
  // Two resources of one kind: open pull requests go to A, closed ones to B. An open PR's event
  // upserts through A, and B's selector says "delete": Ocean drops that deletion.
  auto mapping = std::make_shared<PortAppConfig>(parse_port_app_config(R"(resources:
  - kind: pr
    selector: {query: '.state == "open"'}
    port: {entity: {mappings: {identifier: .id, blueprint: '"pr"'}}}
  - kind: pr
    selector: {query: '.state == "closed"'}
    port: {entity: {mappings: {identifier: .id, blueprint: '"pr"'}}}
)",
                                                                       "test"));
  Integration integration;
  integration.config.identifier = "github";
  integration.mapping = mapping;
  Metrics metrics;
  RecordingApplier applier;
  CatalogSink sink(applier, metrics);
  Event event;
  event.id = 41;
  // What EventEngine does: every task's apply first (upserts go, deletions wait), then the waiting
  // deletions once no task can add upserts.
  auto run_event = [&](const RawResults& results) {
    EventUpserts upserted;
    std::vector<DeferredApply> waiting;
    for (const auto& resource : mapping->resources) {
      DeferredApply deletions =
          sink.apply(integration, resource, event, results, upserted, [](ApplyOutcome) {});
      if (deletions) waiting.push_back(std::move(deletions));
    }
    for (auto& deletions : waiting) deletions([](ApplyOutcome) {});
  };
  run_event({{R"({"id":"7","state":"open"})"}, {}});
  CHECK(applier.upserted == std::vector<std::string>{"7"});
  CHECK(applier.deleted.empty());
  // Another event closing it: A's selector now says "delete", B upserts it. A comes first, and
  // its deletion waits for B, which covers it: dropped. Nothing is deleted, so with
  // deleteDependentEntities no dependent is lost either.
  event.id = 42;
  applier.upserted.clear();
  run_event({{R"({"id":"7","state":"closed"})"}, {}});
  CHECK(applier.upserted == std::vector<std::string>{"7"});
  CHECK(applier.deleted.empty());
  // An explicit deletion (the plugin's `deleted` list) of an entity no resource upserts still goes.
  event.id = 43;
  applier.upserted.clear();
  run_event({{}, {R"({"id":"8","state":"open"})"}});
  CHECK(applier.upserted.empty());
  CHECK(applier.deleted == std::vector<std::string>{"8", "8"});
}

TEST_CASE("port applier: 408 is retried; x-ratelimit-reset is waited for as Retry-After is") {
  PortRig rig;
  rig.fake.fail_next("/entities/bulk", 408, 1);
  CHECK(apply_now(rig.applier, upserts({entity("service", "a")})).kind ==
        ApplyOutcome::Kind::applied);
  CHECK(parse_retry_after("2") == 2);
  const double epoch = static_cast<double>(std::time(nullptr)) + 30;
  const double until_epoch = parse_retry_after(std::to_string(static_cast<long>(epoch)));
  CHECK(until_epoch > 28);
  CHECK(until_epoch <= 31);
  CHECK(parse_retry_after("1000000") == 0);  // a moment long past
}

TEST_CASE("port applier: Ocean's batch settings bound the requests") {
  PortApplierSettings settings;
  settings.batch_max_entities = 3;
  settings.linger = std::chrono::milliseconds(200);
  PortRig rig(settings);
  std::vector<MappedEntity> many;
  for (int i = 0; i < 7; ++i) many.push_back(entity("service", "e" + std::to_string(i)));
  CHECK(apply_now(rig.applier, upserts(many)).kind == ApplyOutcome::Kind::applied);
  auto sizes = rig.fake.bulk_sizes();
  CHECK(*std::max_element(sizes.begin(), sizes.end()) <= 3);
  auto config =
      load_host_config(std::nullopt, {"OCEAN__UPSERT_ENTITIES_BATCH_MAX_LENGTH=7",
                                      "OCEAN__UPSERT_ENTITIES_BATCH_MAX_SIZE_IN_BYTES=4096",
                                      "OCEAN__DELETE_ENTITIES_MAX_BATCH_SIZE=1000"});
  CHECK(config.port.upsert_batch_max_length == 7);
  CHECK(config.port.upsert_batch_max_bytes == 4096);
  CHECK(config.port.delete_batch_max_size == 1000);
  CHECK_THROWS_AS(load_host_config(std::nullopt, {"OCEAN__UPSERT_ENTITIES_BATCH_MAX_LENGTH=0"}),
                  ConfigError);
}

TEST_CASE("port applier: 413 falls back to one request per entity") {
  PortRig rig;
  rig.fake.set_max_bulk_bytes(150);  // two entities do not fit, one does
  auto outcome = apply_now(rig.applier, upserts({entity("service", "a"), entity("service", "b")}));
  CHECK(outcome.kind == ApplyOutcome::Kind::applied);
  CHECK(rig.fake.entity("service", "a"));
  CHECK(rig.fake.entity("service", "b"));
  CHECK(rig.fake.server().count("POST", "/v1/blueprints/service/entities/bulk") == 1);
  size_t singles = 0;
  for (const auto& r : rig.fake.server().requests())
    singles += r.path == "/v1/blueprints/service/entities";
  CHECK(singles == 2);
}

TEST_CASE("port applier: 429 waits at least as long as Retry-After says") {
  PortRig rig;
  rig.fake.fail_next("/entities/bulk", 429, 1, "1");
  auto start = std::chrono::steady_clock::now();
  auto outcome = apply_now(rig.applier, upserts({entity("service", "a")}));
  auto waited = std::chrono::steady_clock::now() - start;
  CHECK(outcome.kind == ApplyOutcome::Kind::applied);
  CHECK(waited >= std::chrono::milliseconds(1000));
  CHECK(rig.fake.server().count("POST", "/v1/blueprints/service/entities/bulk") == 2);
  CHECK(rig.metrics.value("oceand_port_retries_total", {{"operation", "bulk upsert"}}) == 1);
}

TEST_CASE("port applier: a batch waiting for its retry does not hold back new ones") {
  // One sender, which sleeps until the retry is due; a full batch and a lingering one that come in
  // meanwhile must wake it, not wait the 30 s.
  PortApplierSettings settings;
  settings.max_concurrent_requests = 1;
  settings.batch_max_entities = 2;
  PortRig rig(settings);
  rig.fake.fail_next("/entities/bulk", 429, 1, "30");
  auto waiting = std::make_shared<std::promise<ApplyOutcome>>();
  rig.applier.apply(upserts({entity("service", "a")}),
                    [waiting](ApplyOutcome o) { waiting->set_value(std::move(o)); });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (rig.fake.server().count("POST", "/v1/blueprints/service/entities/bulk") < 1 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(rig.fake.server().count("POST", "/v1/blueprints/service/entities/bulk") == 1);

  auto full = apply_now(rig.applier, upserts({entity("service", "b"), entity("service", "c")}),
                        std::chrono::seconds(10));
  CHECK(full.kind == ApplyOutcome::Kind::applied);
  auto lingering =
      apply_now(rig.applier, upserts({entity("service", "d")}), std::chrono::seconds(10));
  CHECK(lingering.kind == ApplyOutcome::Kind::applied);
  CHECK(rig.fake.entity("service", "b"));
  CHECK(rig.fake.entity("service", "d"));
  CHECK_FALSE(rig.fake.entity("service", "a"));  // still waiting for its retry
}

TEST_CASE("port applier: 500 and timeouts are retried; a lasting 500 fails with Port's error") {
  PortApplierSettings settings;
  settings.max_retries = 2;
  PortRig rig(settings, std::chrono::milliseconds(300));
  rig.fake.fail_next("/entities/bulk", 500, 1);
  rig.fake.fail_next("/entities/bulk", 200, 1, "", std::chrono::milliseconds(1000));  // too slow
  CHECK(apply_now(rig.applier, upserts({entity("service", "a")})).kind ==
        ApplyOutcome::Kind::applied);
  CHECK(rig.fake.entity("service", "a"));

  rig.fake.fail_next("/entities/bulk", 503, 100);
  auto outcome = apply_now(rig.applier, upserts({entity("service", "b")}));
  CHECK(outcome.kind == ApplyOutcome::Kind::failed);
  CHECK(outcome.error.find("HTTP 503") != std::string::npos);
  CHECK(outcome.error.find("after 3 attempts") != std::string::npos);
  CHECK_FALSE(rig.fake.entity("service", "b"));
}

TEST_CASE("port applier: a per-entity error fails only the event whose entity Port refused") {
  PortApplierSettings settings;
  settings.linger = std::chrono::milliseconds(100);  // same batch
  PortRig rig(settings);
  rig.fake.refuse_entity("bad");
  auto pg = std::make_shared<std::promise<ApplyOutcome>>();
  auto pb = std::make_shared<std::promise<ApplyOutcome>>();
  auto good = pg->get_future(), bad = pb->get_future();
  rig.applier.apply(upserts({entity("service", "good")}),
                    [pg](ApplyOutcome o) { pg->set_value(o); });
  rig.applier.apply(upserts({entity("service", "bad")}),
                    [pb](ApplyOutcome o) { pb->set_value(o); });
  REQUIRE(good.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  REQUIRE(bad.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(good.get().kind == ApplyOutcome::Kind::applied);
  auto refused = bad.get();
  CHECK(refused.kind == ApplyOutcome::Kind::failed);
  CHECK(refused.error.find("Port refused entity service/bad") != std::string::npos);
  CHECK(rig.fake.bulk_sizes() == std::vector<size_t>{2});
}

TEST_CASE("port applier: bulk delete; deleting what is gone succeeds") {
  PortRig rig;
  REQUIRE(apply_now(rig.applier, upserts({entity("service", "a"), entity("service", "b")})).kind ==
          ApplyOutcome::Kind::applied);
  EntityChanges del;
  del.deletions = {entity("service", "a"), entity("service", "gone")};
  del.options.delete_dependents = true;
  CHECK(apply_now(rig.applier, del).kind == ApplyOutcome::Kind::applied);
  CHECK_FALSE(rig.fake.entity("service", "a"));
  CHECK(rig.fake.entity("service", "b"));
  auto requests = rig.fake.server().requests();
  auto it = std::find_if(requests.begin(), requests.end(), [](const FakeRequest& r) {
    return r.path == "/v1/blueprints/service/bulk/entities/delete";
  });
  REQUIRE(it != requests.end());
  CHECK(it->query_param("delete_dependents") == "true");
  CHECK(parse(it->body)["entities"].Size() == 2);
}

TEST_CASE("config: the port applier needs client credentials") {
  TempDir dir;
  write_file(dir.path() / "o.yaml", "port: {applier: port}\n");
  CHECK_THROWS_AS(load_host_config((dir.path() / "o.yaml").string(), {}), ConfigError);
  CHECK_NOTHROW(load_host_config((dir.path() / "o.yaml").string(),
                                 {"OCEAN__PORT__CLIENT_ID=a", "OCEAN__PORT__CLIENT_SECRET=b"}));
}

namespace {

const std::string kItemsSecret = "items-secret";

// `secret`: the integration's webhook_secret, which also opens the direct route.
std::string example_integration(bool with_mapping = true, const std::string& secret = "") {
  std::string yaml = "  example:\n    plugin: example\n";
  if (!secret.empty()) yaml += "    config: {webhook_secret: " + secret + "}\n";
  if (with_mapping)
    yaml +=
        std::string("    mapping: ") + OCEAN_SOURCE_DIR + "/config/example/port-app-config.yaml\n";
  return yaml;
}

std::string port_yaml(const FakePort& fake) {
  return "port: {applier: port, base_url: " + fake.url() +
         ", client_id: id, client_secret: secret, request_timeout_seconds: 5}\n";
}

}  // namespace

TEST_CASE("end to end: a webhook to the example plugin ends as the entity in Port") {
  FakePort fake;
  TestHost t({"example"}, port_yaml(fake), example_integration(), TestHost::Results::applied);
  auto r = t.post("/integration/example/webhook", R"({"id": 7, "title": "seven", "status": "ok"})");
  CHECK(r.status == 200);
  REQUIRE(wait_until([&] { return fake.entity("example", "7").has_value(); }));
  auto e = parse(*fake.entity("example", "7"));
  CHECK(std::string(e["title"].GetString()) == "seven");
  CHECK(std::string(e["properties"]["status"].GetString()) == "ok");
  auto upsert = fake.server().requests();
  auto it = std::find_if(upsert.begin(), upsert.end(), [](const FakeRequest& q) {
    return q.path == "/v1/blueprints/example/entities/bulk";
  });
  REQUIRE(it != upsert.end());
  CHECK(it->query_param("upsert") == "true");
  CHECK(it->query_param("merge") == "true");
  CHECK(it->query_param("create_missing_related_entities") == "true");

  CHECK(t.post("/integration/example/webhook", R"({"id": 7, "action": "deleted"})").status == 200);
  REQUIRE(wait_until([&] { return !fake.entity("example", "7").has_value(); }));
  REQUIRE(t.wait_processed(2));
  CHECK(t.processed("example", "ok") == 2);
}

TEST_CASE(
    "end to end: an entity one resource deletes and another upserts in one event is not deleted") {
  // Resource A keeps open items, B closed ones. Closing item 7 makes A's selector say "delete" and
  // B upsert it; A's task runs first. Ocean drops the deletion (any result of the event upserting
  // the entity covers it): no delete request may reach Port, or with deleteDependentEntities
  // (default true) everything that depends on 7 would be gone.
  FakePort fake;
  TempDir dir;
  write_file(dir.path() / "mapping.yaml", R"(resources:
  - kind: example
    selector: {query: '.status == "open"'}
    port: {entity: {mappings: {identifier: .id | tostring, blueprint: '"example"', properties: {open: 'true'}}}}
  - kind: example
    selector: {query: '.status == "closed"'}
    port: {entity: {mappings: {identifier: .id | tostring, blueprint: '"example"', properties: {closed: 'true'}}}}
)");
  TestHost t({"example"}, port_yaml(fake),
             "  example:\n    plugin: example\n    mapping: " +
                 (dir.path() / "mapping.yaml").string() + "\n",
             TestHost::Results::applied);
  CHECK(t.post("/integration/example/webhook", R"({"id": 7, "status": "open"})").status == 200);
  REQUIRE(t.wait_processed(1));
  REQUIRE(fake.entity("example", "7").has_value());
  CHECK(t.post("/integration/example/webhook", R"({"id": 7, "status": "closed"})").status == 200);
  REQUIRE(t.wait_processed(2));
  CHECK(t.processed("example", "ok") == 2);
  REQUIRE(fake.entity("example", "7").has_value());
  CHECK(fake.property("example", "7", "closed") == "true");
  CHECK(fake.property("example", "7", "open") == "true");  // merged, never deleted in between
  size_t deletes = 0;
  for (const auto& r : fake.server().requests())
    deletes += r.path.find("/entities/delete") != std::string::npos ||
               (r.method == "DELETE" && r.path.find("/entities/") != std::string::npos);
  CHECK(deletes == 0);
  // A plain deletion still goes, after the event's upserts (there are none here).
  CHECK(t.post("/integration/example/webhook", R"({"id": 7, "action": "deleted"})").status == 200);
  REQUIRE(wait_until([&] { return !fake.entity("example", "7").has_value(); }));
}

TEST_CASE("end to end: Port refusing the entity fails the event with Port's error") {
  FakePort fake;
  fake.refuse_entity("9");
  TestHost t({"example"}, port_yaml(fake), example_integration(), TestHost::Results::applied);
  CHECK(t.post("/integration/example/webhook", R"({"id": 9})").status == 200);
  REQUIRE(wait_until([&] { return t.host().dead_letters().size() == 1; }));
  auto letters = t.host().dead_letters().list(10);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].reason == "apply_failed");
  CHECK(letters[0].error.find("Port refused entity example/9") != std::string::npos);
  // Counted just after the dead letter is written (ASan's slowness once showed the gap).
  CHECK(wait_until([&] { return t.processed("example", "failed") == 1; }));
}

TEST_CASE("end to end: with no mapping file the mapping comes from Port") {
  FakePort fake;
  fake.set_integration_config("example", R"({"resources":[{"kind":"example",
    "selector":{"query":"true"},
    "port":{"entity":{"mappings":{"identifier":".id | tostring","blueprint":"\"fromPort\"",
    "properties":{"n":".n"}}}}}]})");
  TestHost t({"example"}, port_yaml(fake), example_integration(false), TestHost::Results::applied);
  CHECK(t.post("/integration/example/webhook", R"({"id": 1, "n": 42})").status == 200);
  REQUIRE(wait_until([&] { return fake.entity("fromPort", "1").has_value(); }));
  CHECK(fake.property("fromPort", "1", "n") == "42");
  CHECK(fake.server().count("GET", "/v1/integration/example") == 1);
}

TEST_CASE("end to end: a mapping edited in Port takes effect without a SIGHUP") {
  FakePort fake;
  auto mapping = [](const char* blueprint) {
    return std::string(R"({"resources":[{"kind":"example","selector":{"query":"true"},
      "port":{"entity":{"mappings":{"identifier":".id | tostring","blueprint":"\")") +
           blueprint + R"(\""}}}}]})";
  };
  fake.set_integration_config("example", mapping("before"));
  std::string yaml = port_yaml(fake);
  yaml.insert(yaml.rfind('}'), ", mapping_refresh_seconds: 0.2");
  TestHost t({"example"}, yaml, example_integration(false), TestHost::Results::applied);
  CHECK(t.post("/integration/example/webhook", R"({"id": 1})").status == 200);
  REQUIRE(wait_until([&] { return fake.entity("before", "1").has_value(); }));
  const uint64_t generation = t.host().plugins().current()->number;
  // Unchanged: read again, no reload.
  REQUIRE(wait_until([&] { return fake.server().count("GET", "/v1/integration/example") >= 3; }));
  CHECK(t.host().plugins().current()->number == generation);
  // Edited in Port: the next read reloads, and events map with the new mapping.
  fake.set_integration_config("example", mapping("after"));
  REQUIRE(wait_until([&] { return t.host().plugins().current()->number > generation; }));
  CHECK(t.post("/integration/example/webhook", R"({"id": 2})").status == 200);
  REQUIRE(wait_until([&] { return fake.entity("after", "2").has_value(); }));
}

TEST_CASE("end to end: the default local applier; GET /api/entities shows the entity") {
  TestHost t({"example"}, "", example_integration(), TestHost::Results::applied);
  CHECK(t.post("/integration/example/webhook", R"({"id": 5, "title": "five"})").status == 200);
  REQUIRE(wait_until([&] { return t.get("/api/entities/example/5").status == 200; }));
  auto one = parse(t.get("/api/entities/example/5").body);
  CHECK(std::string(one["entity"]["title"].GetString()) == "five");
  auto list = parse(t.get("/api/entities?blueprint=example").body);
  CHECK(list["total"].GetInt() == 1);
  CHECK(list["entities"].Size() == 1);
  CHECK(parse(t.get("/api/entities").body)["blueprints"].Size() == 1);
  CHECK(t.get("/api/entities/example/404").status == 404);
  CHECK(t.get("/api/entities?blueprint=example&limit=0").status == 400);

  CHECK(t.post("/integration/example/webhook", R"({"id": 5, "action": "deleted"})").status == 200);
  REQUIRE(wait_until([&] { return t.get("/api/entities/example/5").status == 404; }));
}

// POSTs to the example plugin's direct route, signed with `secret` (none when empty).
HttpResult post_items(TestHost& t, const std::string& body, const std::string& secret) {
  HeaderList headers{{"Content-Type", "application/json"}};
  if (!secret.empty())
    headers.emplace_back("X-Hub-Signature-256", "sha256=" + ocean::hmac_sha256_hex(secret, body));
  return t.post("/integration/example/items", body, headers);
}

TEST_CASE("legacy direct handler: register_raw and unregister_raw map and apply at once") {
  TestHost t({"example"}, "", example_integration(true, kItemsSecret), TestHost::Results::applied);
  auto r =
      post_items(t, R"({"upsert": [{"id": "a", "status": "new"}, {"id": "b"}]})", kItemsSecret);
  CHECK(r.status == 200);
  CHECK(r.body == R"({"ok":true,"applied":2})");
  // Synchronous: applied before the answer.
  CHECK(t.get("/api/entities/example/a").status == 200);
  CHECK(t.get("/api/entities/example/b").status == 200);

  r = post_items(t, R"({"delete": [{"id": "a"}]})", kItemsSecret);
  CHECK(r.status == 200);
  CHECK(t.get("/api/entities/example/a").status == 404);
  CHECK(t.get("/api/entities/example/b").status == 200);

  CHECK(post_items(t, R"([1, 2])", kItemsSecret).status == 400);
  CHECK(post_items(t, R"({"upsert": [1]})", kItemsSecret).status == 502);
}

TEST_CASE("legacy direct handler: the example route writes nothing unsigned, or without a secret") {
  {
    TestHost open({"example"}, "", example_integration(), TestHost::Results::applied);
    auto r = post_items(open, R"({"upsert": [{"id": "a"}]})", "");
    CHECK(r.status == 403);
    CHECK(r.body.find("webhook_secret") != std::string::npos);
    CHECK(post_items(open, R"({"upsert": [{"id": "a"}]})", "any").status == 403);
    CHECK(open.get("/api/entities/example/a").status == 404);
  }
  TestHost t({"example"}, "", example_integration(true, kItemsSecret), TestHost::Results::applied);
  CHECK(post_items(t, R"({"upsert": [{"id": "a"}]})", "").status == 401);
  CHECK(post_items(t, R"({"upsert": [{"id": "a"}]})", "wrong").status == 401);
  CHECK(t.get("/api/entities/example/a").status == 404);
  CHECK(post_items(t, R"({"upsert": [{"id": "a"}]})", kItemsSecret).status == 200);
  CHECK(t.get("/api/entities/example/a").status == 200);
}

TEST_CASE("legacy direct handler against Port: register_raw waits for Port") {
  FakePort fake;
  TestHost t({"example"}, port_yaml(fake), example_integration(true, kItemsSecret),
             TestHost::Results::applied);
  auto r = post_items(t, R"({"upsert": [{"id": "x"}]})", kItemsSecret);
  CHECK(r.status == 200);
  CHECK(fake.entity("example", "x").has_value());
  fake.refuse_entity("y");
  CHECK(post_items(t, R"({"upsert": [{"id": "y"}]})", kItemsSecret).status == 502);
}
