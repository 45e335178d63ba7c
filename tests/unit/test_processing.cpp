// Ocean's live-event behaviour list, against a real in-process host and the scripted test plugin.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "queue/dead_letters.hpp"
#include "support/test_host.hpp"

using namespace oceand;
using namespace oceand::test;

TEST_CASE("one matching processor makes one task per mapped resource of its kind") {
  TestHost t({"scripted"});
  auto r = t.post("/integration/scripted/webhook", R"({"id": 1})");
  CHECK(r.status == 200);
  CHECK(r.body == R"({"status":"ok"})");
  REQUIRE(t.wait_processed(1));
  CHECK(t.processed("scripted", "ok") == 1);
  CHECK(t.plugin_counter("handle_event") == 1);
  CHECK(t.plugin_counter("handle_event_thing") == 1);
  auto entries = t.sink().entries();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].kind == "thing");
  CHECK(entries[0].updated == std::vector<std::string>{R"({"id":1})"});
}

TEST_CASE("an event matching two kinds runs one task per kind") {
  TestHost t({"scripted"});
  CHECK(
      t.post("/integration/scripted/webhook", R"({"id": 2, "kinds": ["thing", "other"]})").status ==
      200);
  REQUIRE(t.wait_processed(1));
  CHECK(t.plugin_counter("handle_event_thing") == 1);
  CHECK(t.plugin_counter("handle_event_other") == 1);
  CHECK(t.sink().size() == 2);
}

TEST_CASE("no processor accepts: recorded as unsupported, the sender still gets 200") {
  TestHost t({"scripted"});
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 3, "mode": "none"})").status == 200);
  REQUIRE(t.wait_processed(1));
  CHECK(t.processed("scripted", "unsupported") == 1);
  CHECK(t.plugin_counter("handle_event") == 0);
  CHECK(t.sink().size() == 0);
}

TEST_CASE("two processors accept: both run") {
  TestHost t({"scripted"});
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 4, "both": true})").status == 200);
  REQUIRE(t.wait_processed(1));
  CHECK(t.plugin_counter("handle_event") == 1);
  CHECK(t.plugin_counter("second_handle_event") == 1);
  CHECK(t.sink().size() == 2);
  CHECK(t.processed("scripted", "ok") == 1);
}

TEST_CASE("a processor accepts but the mapping lacks its kind: no-op") {
  TestHost t({"scripted"});
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 5, "kinds": ["unmapped"]})").status ==
        200);
  REQUIRE(t.wait_processed(1));
  CHECK(t.processed("scripted", "noop") == 1);
  CHECK(t.plugin_counter("authenticate") == 0);
  CHECK(t.plugin_counter("handle_event") == 0);
}

TEST_CASE("authenticate false: dropped, handle_event never called, no retry") {
  TestHost t({"scripted"});
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 6, "mode": "reject_auth"})").status ==
        200);
  REQUIRE(t.wait_processed(1));
  CHECK(t.processed("scripted", "rejected") == 1);
  CHECK(t.plugin_counter("authenticate") == 1);
  CHECK(t.plugin_counter("validate_payload") == 0);
  CHECK(t.plugin_counter("handle_event") == 0);
  CHECK(t.host().dead_letters().size() == 0);
  CHECK(t.host().metrics().value("oceand_events_dropped_total",
                                 {{"integration", "scripted"},
                                  {"processor", "ScriptedProcessor"},
                                  {"reason", "authentication_failed"}}) == 1);
}

TEST_CASE("validate_payload false: dropped, handle_event never called") {
  TestHost t({"scripted"});
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 7, "mode": "invalid"})").status == 200);
  REQUIRE(t.wait_processed(1));
  CHECK(t.processed("scripted", "rejected") == 1);
  CHECK(t.plugin_counter("validate_payload") == 1);
  CHECK(t.plugin_counter("handle_event") == 0);
}

TEST_CASE("a retryable failure twice then success: three attempts with the backoff delays") {
  TestHost t({"scripted"});
  RetryLog log;
  log.attach(t.host());
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 8, "mode": "retry", "succeed_on": 3})")
            .status == 200);
  REQUIRE(t.wait_processed(1));
  CHECK(t.processed("scripted", "ok") == 1);
  CHECK(t.plugin_counter("handle_event") == 3);
  CHECK(t.plugin_counter("on_error") == 2);
  // The scripted processor's policy: initial 0.05 s, base 2, max 0.15 s.
  auto delays = log.numbered();
  REQUIRE(delays.size() == 2);
  CHECK(delays[0].first == 1);
  CHECK(delays[0].second == doctest::Approx(0.05));
  CHECK(delays[1].first == 2);
  CHECK(delays[1].second == doctest::Approx(0.10));
  CHECK(t.sink().size() == 1);
}

TEST_CASE("retries exhausted: failed, dead-lettered, on_error on every failure") {
  TestHost t({"scripted"});
  RetryLog log;
  log.attach(t.host());
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 9, "mode": "fail"})").status == 200);
  REQUIRE(t.wait_processed(1));
  CHECK(t.processed("scripted", "failed") == 1);
  CHECK(t.plugin_counter("handle_event") == 4);
  // A counter of events moves once however many attempts the event took.
  CHECK(t.plugin_counter("handled_events") == 1);  // the first attempt and max_retries = 3
  CHECK(t.plugin_counter("on_error") == 4);
  auto delays = log.numbered();
  REQUIRE(delays.size() == 3);
  CHECK(delays[2].second == doctest::Approx(0.15));  // 0.2 capped at max_retry_delay_seconds
  // The outcome is counted before the dead letter is written (a commit, on the sqlite queue).
  REQUIRE(wait_until([&] { return t.host().dead_letters().size() == 1; }));
  auto letters = t.host().dead_letters().list(10);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].reason == "retries_exhausted");
  CHECK(letters[0].attempts == 4);
  CHECK(letters[0].error.find("always failing") != std::string::npos);
  CHECK(t.host().metrics().value("oceand_events_dead_lettered_total",
                                 {{"integration", "scripted"}}) == 1);
}

TEST_CASE("a handler past max_event_processing_seconds is cancelled") {
  TestHost t({"scripted"}, "max_event_processing_seconds: 0.3\n");
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 10, "mode": "hang"})").status == 200);
  REQUIRE(t.wait_processed(1));
  CHECK(t.plugin_counter("cancel") == 1);
  CHECK(t.plugin_counter("saw_cancel") == 1);
  CHECK(t.processed("scripted", "failed") == 1);
  // The outcome is counted before the dead letter is written (a commit, on the sqlite queue).
  REQUIRE(wait_until([&] { return t.host().dead_letters().size() == 1; }));
  auto letters = t.host().dead_letters().list(10);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].reason == "timed_out");
}

TEST_CASE("a C++ exception in a processor is reported, not propagated") {
  TestHost t({"scripted"});
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 11, "mode": "throw"})").status == 200);
  REQUIRE(t.wait_processed(1));
  CHECK(t.processed("scripted", "failed") == 1);
  CHECK(t.plugin_counter("handle_event") == 1);  // not retryable: one attempt
  CHECK(t.plugin_counter("on_error") == 1);
  // The outcome is counted before the dead letter is written (a commit, on the sqlite queue).
  REQUIRE(wait_until([&] { return t.host().dead_letters().size() == 1; }));
  auto letters = t.host().dead_letters().list(10);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].error.find("processor bug") != std::string::npos);
  CHECK(t.get("/health").status == 200);
  // The host goes on processing.
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 12})").status == 200);
  REQUIRE(t.wait_processed(2));
  CHECK(t.processed("scripted", "ok") == 1);
}

TEST_CASE("events of one group run one at a time in arrival order; groups run in parallel") {
  TestHost t({"scripted"}, "event_workers_count: 4\n");
  const int per_group = 25;
  const char* groups[] = {"a", "b", "c", "d"};
  for (int i = 0; i < per_group; ++i)
    for (const char* g : groups)
      REQUIRE(t.post("/integration/scripted/webhook", std::string(R"({"id": )") +
                                                          std::to_string(i) + R"(, "key": ")" + g +
                                                          R"(", "delay_ms": 1})")
                  .status == 200);
  REQUIRE(t.wait_processed(per_group * 4));
  std::map<std::string, std::vector<int>> seen;
  for (const auto& e : t.sink().entries()) {
    const std::string& body = e.updated.at(0);
    auto key = body.substr(body.find("\"key\":\"") + 7, 1);
    int id = std::stoi(body.substr(body.find("\"id\":") + 5));
    seen[key].push_back(id);
  }
  for (const char* g : groups) {
    REQUIRE(seen[g].size() == per_group);
    CHECK(std::is_sorted(seen[g].begin(), seen[g].end()));
  }
}

TEST_CASE("an event is grouped by the processors that accept it, not by one that declines") {
  TestHost t({"scripted"});
  // The first processor accepts this one and groups it under K; it then waits for the latch.
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1, "mode": "wait_latch", "key": "K"})")
            .status == 200);
  // The first processor declines this one (mode none), so its key K does not count: only the
  // second accepts it, and groups it under Z. Run beside the first, it opens the latch; grouped
  // under K it would wait for the first, which would miss the latch.
  CHECK(
      t.post("/integration/scripted/webhook",
             R"({"id": 2, "mode": "none", "both": true, "key": "K", "key2": "Z", "release": true})")
          .status == 200);
  REQUIRE(t.wait_processed(2));
  CHECK(t.plugin_counter("latch_seen", "scripted") == 1);
  CHECK(t.plugin_counter("latch_missed", "scripted") == 0);
}

TEST_CASE("the plain C plugin loads and runs") {
  TestHost t({"cplugin"});
  CHECK(t.post("/integration/cplugin/c-hook", R"({"x": 1})").status == 200);
  REQUIRE(t.wait_processed(1));
  CHECK(t.processed("cplugin", "ok") == 1);
  CHECK(t.plugin_counter("c_handled", "cplugin") == 1);
  auto entries = t.sink().entries();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].kind == "c-kind");
  // Built for ABI 1.0 (a 1.0-sized descriptor): served unchanged by this 1.1 host, with the 1.0
  // delivery-id headers.
  auto gen = t.host().plugins().current();
  CHECK(gen->plugins.at("cplugin")->abi_version() == "1.0");
  HeaderList headers{{"Content-Type", "application/json"}, {"X-GitHub-Delivery", "d-1"}};
  CHECK(t.post("/integration/cplugin/c-hook", R"({"x": 2})", headers).status == 200);
  CHECK(t.post("/integration/cplugin/c-hook", R"({"x": 2})", headers).status == 200);
  REQUIRE(wait_until([&] {
    return t.host().metrics().total("oceand_events_duplicate_total") == 1 &&
           t.processed("cplugin", "ok") == 2;
  }));
  CHECK(t.plugin_counter("c_handled", "cplugin") == 2);
}

TEST_CASE("a dead letter can be listed and replayed") {
  TestHost t({"scripted"});
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 13, "mode": "throw"})").status == 200);
  REQUIRE(t.wait_processed(1));
  REQUIRE(wait_until([&] { return t.host().dead_letters().size() == 1; }));
  auto list = t.get("/admin/dead-letters");
  CHECK(list.status == 200);
  CHECK(list.body.find("\"reason\":\"failed\"") != std::string::npos);
  auto letters = t.host().dead_letters().list(1);
  REQUIRE(letters.size() == 1);
  auto replay = t.post("/admin/dead-letters/" + std::to_string(letters[0].id) + "/replay", "");
  CHECK(replay.status == 200);
  REQUIRE(t.wait_processed(2));
  CHECK(t.plugin_counter("handle_event") == 2);
  CHECK(t.post("/admin/dead-letters/999/replay", "").status == 404);
}

TEST_CASE("shutdown drains work in flight before stopping") {
  auto t = std::make_unique<TestHost>(std::vector<std::string>{"scripted"});
  CHECK(t->post("/integration/scripted/webhook", R"({"id": 14, "delay_ms": 200})").status == 200);
  REQUIRE(wait_until([&] { return t->plugin_counter("handle_event") == 1; }));
  t->host().stop();
  CHECK(t->sink().size() == 1);
  CHECK(t->host().queue().depth() == 0);
}

TEST_CASE("on_start runs once per integration after load, with base_url") {
  TestHost t({"scripted"}, "base_url: http://on-start.test\n");
  REQUIRE(wait_until([&] { return t.plugin_counter("on_start_saw_base_url") == 1; }));
  CHECK(t.host().plugins().wait_for_starts(std::chrono::seconds(5)));
  CHECK(t.plugin_counter("on_start") == 1);
}
