// Containment (issue 16) on the real oceand binary, with the misbehaving fixture plugin
// (tests/plugins/misbehaving_plugin.cpp): a plugin that crashes the process, throws from any hook
// or keeps handles past their call costs its own events, never the host.
#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include <set>

#include "support/oceand_process.hpp"

using namespace oceand;
using namespace oceand::test;

namespace {

// The misbehaving plugin on a durable queue and the embedded catalog, in a temporary directory.
class Rig {
 public:
  // `plugins_yaml`: more keys of `plugins:`, e.g. "crash_limit: 1".
  // `properties`: the mapping's properties block (flow style).
  explicit Rig(const std::string& extra_yaml = "", const std::string& plugins_yaml = "",
               int workers = 2, const std::string& properties = "{n: .n}",
               const std::vector<std::string>& more_plugins = {}) {
    const fs::path& d = dir_.path();
    fs::create_directories(d / "plugins");
    fs::copy_file(plugin_file("misbehaving"), d / "plugins" / "misbehaving.so");
    for (const auto& p : more_plugins) fs::copy_file(plugin_file(p), d / "plugins" / (p + ".so"));
    write_file(d / "thing.yaml",
               "resources:\n  - kind: thing\n    selector: {query: \"true\"}\n    port:\n"
               "      entity:\n        mappings:\n          identifier: .id | tostring\n"
               "          blueprint: '\"thing\"'\n          properties: " +
                   properties + "\n");
    std::string yaml = "server: {host: 127.0.0.1, port: 0}\nlog_level: info\n";
    yaml += "event_workers_count: " + std::to_string(workers) + "\n";
    yaml += "plugins: {dir: " + (d / "plugins").string() +
            ", cache_dir: " + (d / "cache").string() +
            (plugins_yaml.empty() ? "" : ", " + plugins_yaml) + "}\n";
    yaml += "queue: {backend: sqlite, path: " + (d / "queue.db").string() + "}\n";
    yaml += "port: {applier: local, local_db: " + (d / "entities.db").string() + "}\n";
    yaml += "integrations:\n";
    for (const char* id : {"misbehaving", "other"})
      yaml += std::string("  ") + id +
              ":\n    plugin: misbehaving\n    mapping: " + (d / "thing.yaml").string() + "\n";
    yaml += extra_yaml;
    write_file(d / "oceand.yaml", yaml);
  }
  fs::path config() const { return dir_.path() / "oceand.yaml"; }
  fs::path log(int n) const { return dir_.path() / ("oceand-" + std::to_string(n) + ".log"); }
  const fs::path& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
};

std::string good(int n) {
  return R"({"id": "good-)" + std::to_string(n) + R"(", "n": )" + std::to_string(n) + "}";
}

size_t entity_total(ServingOceand& o) {
  auto r = o.get("/api/entities?blueprint=thing&limit=1");
  if (r.status != 200) return 0;
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  return d.HasMember("total") ? d["total"].GetUint64() : 0;
}

rapidjson::Document dead_letters(ServingOceand& o) {
  rapidjson::Document d;
  d.Parse(o.get("/admin/dead-letters").body.c_str());
  return d;
}

// Posts one event; true when answered 200 (stored), false when refused or cut off.
bool post(ServingOceand& o, const std::string& body,
          const std::string& integration = "misbehaving") {
  HttpResult r = o.post("/integration/" + integration + "/webhook", body, {});
  return r.status == 200;
}

// The whole crash loop: `crash` is what the poison event does in handle_event, `limit` the
// configured plugins.crash_limit (0: the default, 2).
void crash_loop(const std::string& crash, int limit, int signal_number, const char* signal_name) {
  Rig rig("", limit ? "crash_limit: " + std::to_string(limit) : "");
  // Restarted as many times as systemd would; never more than crash_limit + 1.
  const int allowed_starts = (limit ? limit : 2) + 1;
  std::vector<bool> accepted(50, false);
  int starts = 0;
  {
    ServingOceand first(rig.config(), rig.log(++starts));
    // The poison goes first, then the 50 good ones while it brings the process down. Its own 200
    // may lose the race with the crash it causes (stored, run and fatal before the answer is
    // written): what follows shows it was stored.
    post(first, R"({"id": "poison", "crash": ")" + crash + R"("})");
    for (int i = 0; i < 50; ++i) accepted[i] = post(first, good(i));
    REQUIRE(first.process().wait_exit(std::chrono::seconds(30)) == 128 + signal_number);
  }
  std::string log = read_file(rig.log(1));
  CHECK_MESSAGE(log.find(std::string("fatal ") + signal_name + " while a thread ran plugin=" +
                         (rig.dir() / "plugins" / "misbehaving.so").string() +
                         " integration=misbehaving processor=MisbehavingProcessor "
                         "hook=handle_event event=1") != std::string::npos,
                log);
  // Started again while the poison is still below the limit: it crashes oceand again, before or
  // after it listens (so the plain process is watched, not its port).
  while (starts < allowed_starts - 1) {
    OceandProcess again({"--config", rig.config().string()}, rig.log(++starts));
    REQUIRE(again.wait_exit(std::chrono::seconds(30)) == 128 + signal_number);
  }
  ServingOceand last(rig.config(), rig.log(++starts));
  CHECK(starts == allowed_starts);
  // The ones cut off by the crash are sent again, as a sender would; each id maps to one entity.
  for (int i = 0; i < 50; ++i)
    if (!accepted[i]) REQUIRE_MESSAGE(post(last, good(i)), read_file(rig.log(starts)));
  REQUIRE_MESSAGE(wait_until([&] { return entity_total(last) == 50; }, std::chrono::seconds(30)),
                  read_file(rig.log(starts)));
  auto letters = dead_letters(last);
  REQUIRE(letters["dead_letters"].Size() == 1);
  const auto& letter = letters["dead_letters"][0];
  CHECK(std::string(letter["reason"].GetString()) == "crashed");
  CHECK(letter["event_id"].GetUint64() == 1);
  CHECK(std::string(letter["integration"].GetString()) == "misbehaving");
  CHECK(std::string(letter["processor"].GetString()) == "MisbehavingProcessor");
  std::string error = letter["error"].GetString();
  CHECK(error.find("misbehaving.so") != std::string::npos);
  CHECK(error.find(signal_name) != std::string::npos);
  // The poison is not run again: the last process is still up and never ran it.
  CHECK(last.metric("oceand_plugin_about_to_crash_total") == 0);
  CHECK(read_file(rig.log(starts)).find("reason=crashed") != std::string::npos);
}

}  // namespace

TEST_CASE("containment: a plugin that segfaults on one event does not crash-loop oceand") {
  crash_loop("segv", 0, SIGSEGV, "SIGSEGV");
}

TEST_CASE("containment: a mapping that crashes libjq is quarantined like a plugin crash") {
  // libjq 1.6's own global match on non-ASCII text with an empty match reads past its buffer; the
  // jq 1.8 layer's match avoids it, but a mapping can still call the 1.6 builtin by name.
  Rig rig("", "crash_limit: 1", 2, R"({n: .n, t: '.t | _match_impl("a*"; "g"; false)'})");
  {
    ServingOceand first(rig.config(), rig.log(1));
    REQUIRE(post(first, R"({"id": "poison", "t": "aéaéaé"})"));
    REQUIRE(first.process().wait_exit(std::chrono::seconds(30)) > 128);
  }
  std::string log = read_file(rig.log(1));
  CHECK_MESSAGE(log.find("while a thread ran plugin=libjq (mapping) integration=misbehaving "
                         "processor=thing hook=mapping event=1") != std::string::npos,
                log);
  ServingOceand second(rig.config(), rig.log(2));
  REQUIRE(post(second, good(1)));
  REQUIRE_MESSAGE(wait_until([&] { return entity_total(second) == 1; }, std::chrono::seconds(30)),
                  read_file(rig.log(2)));
  auto letters = dead_letters(second);
  REQUIRE(letters["dead_letters"].Size() == 1);
  CHECK(std::string(letters["dead_letters"][0]["reason"].GetString()) == "crashed");
  CHECK(std::string(letters["dead_letters"][0]["error"].GetString()).find("libjq") !=
        std::string::npos);
}

TEST_CASE("containment: abort and std::terminate in a plugin are contained the same way") {
  SUBCASE("abort, crash_limit 1") {
    crash_loop("abort", 1, SIGABRT, "SIGABRT");
  }
  SUBCASE("std::terminate, crash_limit 3") {
    crash_loop("terminate", 3, SIGABRT, "SIGABRT");
  }
}

TEST_CASE("containment: an exception escaping any hook costs that event only") {
  Rig rig;
  ServingOceand o(rig.config(), rig.log(1));
  const char* hooks[] = {"group_key",          "create",       "should_process_event",
                         "get_matching_kinds", "authenticate", "validate_payload",
                         "handle_event"};
  int n = 0;
  for (const char* hook : hooks) {
    REQUIRE(post(o, R"({"id": "throws-)" + std::string(hook) + R"(", "throw": ")" + hook +
                        R"(", "key": "k"})"));
    REQUIRE(post(o, good(n++)));
  }
  // group_key's failure costs only the key: that event is ordered on its own and still applied.
  REQUIRE(wait_until([&] { return entity_total(o) == 8; }, std::chrono::seconds(20)));
  REQUIRE(wait_until([&] { return o.metric("oceand_queue_depth") == 0; }));
  CHECK(o.get("/api/entities/thing/throws-group_key").status == 200);
  auto letters = dead_letters(o);
  REQUIRE(letters["dead_letters"].Size() == 6);
  std::set<std::string> failed_hooks;
  for (const auto& l : letters["dead_letters"].GetArray()) {
    CHECK(std::string(l["reason"].GetString()) == "plugin_error");
    std::string error = l["error"].GetString();
    CHECK(error.find("boom in") != std::string::npos);
    failed_hooks.insert(error.substr(0, error.find(':')));
  }
  CHECK(failed_hooks == std::set<std::string>{"create", "should_process_event",
                                              "get_matching_kinds", "authenticate",
                                              "validate_payload", "handle_event"});
  std::string log = read_file(rig.log(1));
  CHECK(log.find("plugin failure in group_key") != std::string::npos);
  CHECK(log.find("unexpected host error") == std::string::npos);
  CHECK(o.metric("oceand_plugin_failures_total", {{"hook", "authenticate"}}) == 1);
  // None of them was taken for a forged delivery.
  CHECK(o.metric("oceand_events_dropped_total") == 0);
}

TEST_CASE("containment: handles kept past their call are refused, the host stays up") {
  Rig rig;
  ServingOceand o(rig.config(), rig.log(1));
  REQUIRE(post(o, R"({"id": "keeper", "keep": true, "key": "k"})"));
  REQUIRE(wait_until([&] { return entity_total(o) == 1; }));
  REQUIRE(post(o, R"({"id": "user", "use_kept": true, "key": "k"})"));
  REQUIRE(wait_until([&] { return entity_total(o) == 2; }));
  CHECK(o.metric("oceand_plugin_used_kept_total") == 1);
  CHECK(o.metric("oceand_plugin_stale_cache_refused_total") == 1);
  CHECK(o.get("/api/entities/thing/ghost").status == 404);
  CHECK(read_file(rig.log(1)).find("no longer valid") != std::string::npos);
  CHECK(o.get("/health").status == 200);
}

TEST_CASE("containment: handlers that ignore cancel do not starve other integrations") {
  // 4 workers; integration "misbehaving" may hold 3 of them (the default, three quarters).
  Rig rig("max_event_processing_seconds: 2\n", "", 4);
  ServingOceand o(rig.config(), rig.log(1));
  for (int i = 0; i < 4; ++i)
    REQUIRE(post(o, R"({"id": "hang-)" + std::to_string(i) + R"(", "hang": true})"));
  REQUIRE(wait_until([&] { return o.metric("oceand_plugin_hanging_total") == 3; }));
  // The fourth waits for one of its integration's 3 workers; all 4 are in flight for the plugin
  // (once the dispatcher has admitted the fourth, which may come just after the third hangs).
  CHECK(wait_until([&] {
    return o.metric("oceand_plugin_events_in_flight", {{"plugin", "misbehaving"}}) == 4;
  }));
  auto sent = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) REQUIRE(post(o, good(i), "other"));
  // All of the other integration's events within max_event_processing_seconds + 5 s.
  REQUIRE(wait_until([&] { return entity_total(o) == 20; }, std::chrono::seconds(7)));
  CHECK(std::chrono::steady_clock::now() - sent < std::chrono::seconds(7));
  // Each hung handler is abandoned (2 s deadline + 2 s grace) and its worker replaced: the fourth
  // hung event gets a worker too, and is abandoned in turn.
  REQUIRE_MESSAGE(wait_until([&] { return o.metric("oceand_workers_abandoned_total") == 4; },
                             std::chrono::seconds(30)),
                  read_file(rig.log(1)));
  REQUIRE(wait_until([&] { return dead_letters(o)["dead_letters"].Size() == 4; }));
  auto letters = dead_letters(o);
  for (const auto& l : letters["dead_letters"].GetArray()) {
    CHECK(std::string(l["reason"].GetString()) == "timed_out");
    CHECK(std::string(l["error"].GetString()).find("abandoned") != std::string::npos);
  }
  // Capacity is back to 4 workers (plus the 4 abandoned threads, still asleep in the plugin).
  for (int i = 20; i < 28; ++i) REQUIRE(post(o, good(i), i % 2 ? "other" : "misbehaving"));
  REQUIRE(wait_until([&] { return entity_total(o) == 28; }, std::chrono::seconds(10)));
  // An event leaves the queue just after its entity is applied.
  CHECK(wait_until([&] { return o.metric("oceand_queue_depth") == 0; }));
}

TEST_CASE("containment: shutdown is bounded whatever a handler does; its event stays queued") {
  Rig rig("max_wait_seconds_before_shutdown: 1\n");
  int starts = 0;
  {
    ServingOceand o(rig.config(), rig.log(++starts));
    REQUIRE(post(o, R"({"id": "stuck", "hang": true})"));
    REQUIRE(wait_until([&] { return o.metric("oceand_plugin_hanging_total") == 1; }));
    auto asked = std::chrono::steady_clock::now();
    o.process().signal(SIGTERM);
    // max_wait_seconds_before_shutdown + 2 s (the grace a handler gets to honour cancel), plus
    // closing the listeners on a busy machine; an unbounded shutdown would hit the 10 s.
    REQUIRE(o.process().wait_exit(std::chrono::seconds(10)) == 0);
    CHECK(std::chrono::steady_clock::now() - asked < std::chrono::milliseconds(4500));
  }
  std::string log = read_file(rig.log(1));
  CHECK(log.find("event 1 integration=misbehaving processor=MisbehavingProcessor: handle_event "
                 "ignored cancel at shutdown; left running, the event stays in the queue") !=
        std::string::npos);
  // The event was not lost: the next start has it again (and it hangs again).
  ServingOceand again(rig.config(), rig.log(++starts));
  REQUIRE(wait_until([&] { return again.metric("oceand_plugin_hanging_total") == 1; }));
  CHECK(dead_letters(again)["dead_letters"].Size() == 0);
}

TEST_CASE(
    "containment: the plugin names its delivery-id headers (ABI 1.1): a GitLab redelivery "
    "is processed once") {
  Rig rig;
  ServingOceand o(rig.config(), rig.log(1));
  HeaderList gitlab{{"Content-Type", "application/json"}, {"X-Gitlab-Event-UUID", "uuid-1"}};
  for (int i = 0; i < 2; ++i)
    CHECK(o.post("/integration/misbehaving/webhook", good(1), gitlab).status == 200);
  // Not one of this plugin's headers: no dedupe on it.
  HeaderList github{{"Content-Type", "application/json"}, {"X-GitHub-Delivery", "d-1"}};
  for (int i = 0; i < 2; ++i)
    CHECK(o.post("/integration/misbehaving/webhook", good(2), github).status == 200);
  REQUIRE(wait_until([&] {
    return o.metric("oceand_events_duplicate_total") == 1 &&
           o.metric("oceand_events_processed_total", {{"outcome", "ok"}}) == 3;
  }));
  CHECK(o.metric("oceand_plugin_handled_total") == 3);
}

TEST_CASE("containment: a mapping that never ends is stopped; the event and the host go on") {
  Rig rig("mapping: {max_eval_seconds: 0.5, max_eval_memory_mb: 64}\n", "", 2,
          "{n: .n, forever: 'def f: f; f', huge: 'def f: [f]; f'}");
  ServingOceand o(rig.config(), rig.log(1));
  REQUIRE(post(o, good(1)));
  REQUIRE(wait_until([&] { return entity_total(o) == 1; }, std::chrono::seconds(20)));
  auto entity = o.get("/api/entities/thing/good-1");
  REQUIRE(entity.status == 200);
  CHECK(entity.body.find(R"("forever":null)") != std::string::npos);
  CHECK(entity.body.find(R"("huge":null)") != std::string::npos);
  CHECK(entity.body.find(R"("n":1)") != std::string::npos);
  std::string log = read_file(rig.log(1));
  CHECK(log.find("integration misbehaving kind thing port.entity.mappings.properties.forever: jq "
                 "expression 'def f: f; f' stopped: ran longer than mapping.max_eval_seconds") !=
        std::string::npos);
  CHECK(log.find("port.entity.mappings.properties.huge: jq expression 'def f: [f]; f' stopped") !=
        std::string::npos);
  CHECK(o.get("/health").status == 200);
}

TEST_CASE("containment: retry delays past 24 h are refused at load, with the reason") {
  Rig rig("", "", 2, "{n: .n}", {"huge_delay"});
  ServingOceand o(rig.config(), rig.log(1));
  auto plugins = o.get("/admin/plugins");
  REQUIRE(plugins.status == 200);
  CHECK(plugins.body.find("86400 seconds (24 h)") != std::string::npos);
  CHECK(plugins.body.find("huge_delay.so") != std::string::npos);
  REQUIRE(post(o, good(1)));  // the good plugin beside it serves
  REQUIRE(wait_until([&] { return entity_total(o) == 1; }));
}
