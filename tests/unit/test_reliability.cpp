// Issue 6's promises that need no restart: ordering per resource under load, every event applied
// through a faulty Port, dead letters filling and replaying, and metrics that agree with the load.
#include <doctest/doctest.h>

#include <random>
#include <regex>
#include <set>
#include <sstream>

#include "fakes/fake_port.hpp"
#include "queue/dead_letters.hpp"
#include "support/test_host.hpp"

using namespace oceand;
using namespace oceand::test;

TEST_CASE("ordering: 1,000 events over 20 keys with random delays on 4 workers") {
  TestHost t({"scripted"}, "event_workers_count: 4\n");
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> delay(0, 3);
  std::map<std::string, std::vector<int>> sent;
  for (int i = 0; i < 1000; ++i) {
    std::string key = "k" + std::to_string(i % 20);
    sent[key].push_back(i);
    auto r = t.post("/integration/scripted/webhook",
                    "{\"id\": " + std::to_string(i) + ", \"key\": \"" + key +
                        "\", \"delay_ms\": " + std::to_string(delay(rng)) + "}");
    REQUIRE(r.status == 200);
  }
  REQUIRE(t.wait_processed(1000));
  CHECK(t.processed("scripted", "ok") == 1000);

  // The sink sees each event once its handle_event is done, in the order they finished.
  std::map<std::string, std::vector<int>> done;
  std::vector<std::string> keys_in_finish_order;
  for (const auto& e : t.sink().entries()) {
    rapidjson::Document d;
    d.Parse(e.updated.at(0).c_str());
    std::string key = d["key"].GetString();
    done[key].push_back(d["id"].GetInt());
    keys_in_finish_order.push_back(key);
  }
  for (const auto& [key, ids] : sent) {
    CAPTURE(key);
    CHECK(done[key] == ids);  // every event once, in arrival order
  }
  // Groups ran beside one another: the finish order interleaves keys rather than running one
  // key's 50 events as a block.
  size_t switches = 0;
  for (size_t i = 1; i < keys_in_finish_order.size(); ++i)
    switches += keys_in_finish_order[i] != keys_in_finish_order[i - 1];
  CHECK(switches > 500);
}

TEST_CASE("faults: Port answers a random mix of 429, 500 and timeouts; every event is applied") {
  FakePort fake;
  fake.set_chaos(0.15, 0.15, 0.05, std::chrono::milliseconds(600));
  TestHost t({"example"},
             "port: {applier: port, base_url: " + fake.url() +
                 ", client_id: id, client_secret: secret, request_timeout_seconds: 0.3, "
                 "max_retries: 12}\n",
             std::string("  example:\n    mapping: ") + OCEAN_SOURCE_DIR +
                 "/config/example/port-app-config.yaml\n",
             TestHost::Results::applied);
  const int n = 200;
  for (int i = 0; i < n; ++i)
    REQUIRE(t.post("/integration/example/webhook", "{\"id\": " + std::to_string(i) + "}").status ==
            200);
  REQUIRE(t.wait_processed(n));
  CHECK(t.processed("example", "ok") == n);
  CHECK(fake.entity_count("example") == n);
  CHECK(t.host().dead_letters().size() == 0);
  double retried = t.host().metrics().total("oceand_port_retries_total");
  MESSAGE("Port requests retried: " << retried);
  CHECK(retried > 0);
}

TEST_CASE("a plugin that always fails fills the dead letters; replay puts them back") {
  TestHost t({"scripted"});
  for (int i = 0; i < 5; ++i)
    REQUIRE(t.post("/integration/scripted/webhook",
                   "{\"id\": " + std::to_string(i) + ", \"mode\": \"fail\"}")
                .status == 200);
  REQUIRE(wait_until([&] { return t.host().dead_letters().size() == 5; }));
  auto letters = t.host().dead_letters().list(10);
  for (const auto& l : letters) {
    CHECK(l.reason == "retries_exhausted");
    CHECK(l.attempts == 4);
    CHECK(l.error.find("always failing") != std::string::npos);
    CHECK(l.failed_at_ms >= l.event->received_at_ms);
  }
  auto r = t.post("/admin/dead-letters/" + std::to_string(letters[0].id) + "/replay", "");
  CHECK(r.status == 200);
  CHECK(t.host().dead_letters().size() == 4);
  REQUIRE(wait_until([&] { return t.host().dead_letters().size() == 5; }));  // fails again
  CHECK(t.post("/admin/dead-letters/999999/replay", "").status == 404);
}

namespace {

// A strict reading of the Prometheus text format (version 0.0.4): every line is a comment or
// `name{label="value",...} number`.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value;
};

std::vector<Sample> parse_prometheus(const std::string& text, std::vector<std::string>& errors) {
  static const std::regex sample_re(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? ([-+]?([0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?|\+Inf|-Inf|NaN))$)");
  static const std::regex label_re(R"(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)\"(,|$))");
  static const std::regex comment_re(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$)");
  std::vector<Sample> samples;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (!std::regex_match(line, comment_re)) errors.push_back(line);
      continue;
    }
    std::smatch m;
    if (!std::regex_match(line, m, sample_re)) {
      errors.push_back(line);
      continue;
    }
    Sample s{m[1], {}, 0};
    std::string labels = m[3];
    for (std::sregex_iterator it(labels.begin(), labels.end(), label_re), end; it != end; ++it)
      s.labels[(*it)[1]] = (*it)[2];
    std::string v = m[4];
    s.value = v == "+Inf" ? INFINITY : std::stod(v);
    samples.push_back(std::move(s));
  }
  return samples;
}

}  // namespace

TEST_CASE("/metrics parses as Prometheus text and agrees with what was sent") {
  TestHost t({"scripted"});
  for (int i = 0; i < 7; ++i)
    REQUIRE(t.post("/integration/scripted/webhook", "{\"id\": " + std::to_string(i) + "}").status ==
            200);
  REQUIRE(t.post("/integration/scripted/webhook", R"({"id": 100, "mode": "invalid"})").status ==
          200);
  REQUIRE(t.post("/integration/scripted/webhook", "not json").status == 400);
  REQUIRE(t.wait_processed(8));
  // An event is counted as processed just before it leaves the queue: wait for both.
  REQUIRE(wait_until([&] { return t.host().queue().depth() == 0; }));
  auto r = t.get("/metrics");
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type").find("text/plain; version=0.0.4") != std::string::npos);
  std::vector<std::string> errors;
  auto samples = parse_prometheus(r.body, errors);
  for (const auto& e : errors) FAIL_CHECK("not Prometheus text: " << e);
  auto value = [&](const std::string& name, std::map<std::string, std::string> labels) {
    for (const auto& s : samples)
      if (s.name == name && s.labels == labels) return s.value;
    return -1.0;
  };
  CHECK(value("oceand_events_received_total", {{"integration", "scripted"}}) == 8);
  CHECK(value("oceand_events_processed_total", {{"integration", "scripted"}, {"outcome", "ok"}}) ==
        7);
  CHECK(value("oceand_events_processed_total",
              {{"integration", "scripted"}, {"outcome", "rejected"}}) == 1);
  CHECK(value("oceand_ingress_rejected_total",
              {{"integration", "scripted"}, {"reason", "not_json"}}) == 1);
  CHECK(value("oceand_event_end_to_end_seconds_count", {{"integration", "scripted"}}) == 8);
  // Histogram buckets only grow, and +Inf holds every observation.
  double last = 0;
  for (const auto& s : samples) {
    if (s.name != "oceand_event_end_to_end_seconds_bucket") continue;
    CHECK(s.value >= last);
    last = s.value;
    if (s.labels.at("le") == "+Inf") CHECK(s.value == 8);
  }
  CHECK(value("oceand_queue_depth", {}) == 0);
  // What promtool's lint asks: every family has HELP right before its TYPE, and numbers are
  // written in their shortest form (le="0.0025", not "0.0025000000000000001").
  std::istringstream lines(r.body);
  std::string line, previous;
  size_t families = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      ++families;
      std::string name = line.substr(7, line.find(' ', 7) - 7);
      CHECK_MESSAGE(previous.rfind("# HELP " + name + " ", 0) == 0, "no HELP before " << line);
    }
    if (line.find("le=\"") != std::string::npos)
      CHECK_MESSAGE(line.find("00000000") == std::string::npos, "a long bucket bound: " << line);
    previous = line;
  }
  CHECK(families > 20);
  CHECK(r.body.find("le=\"0.0025\"") != std::string::npos);
}
