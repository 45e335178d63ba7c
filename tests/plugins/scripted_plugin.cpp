// A test plugin whose behaviour the test chooses per event, through the payload:
//   {"id": 1, "mode": "ok" | "retry" | "fail" | "throw" | "hang" | "reject_auth" | "invalid" |
//   "none" | "wait_latch" | "auth_throws" | "peek" | "record" | "spin" | "burn",
//    "succeed_on": 3, "kinds": ["thing"], "both": true, "key": "group-a", "delay_ms": 5}
// It counts every hook call through the host's metrics so tests can see what ran.
#include <ocean/sdk.hpp>

#include <time.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace {

// Set by SecondProcessor on an event with "release": true; a "wait_latch" event waits for it (up to
// 10 s), so a test can tell whether the two ran side by side or one after the other.
std::atomic<bool> g_latch{false};
// "spin" events inside handle_event right now: one that finds another there counts an overlap.
std::atomic<int> g_spinning{0};

std::string str(const rapidjson::Value& payload, const char* key, const char* fallback) {
  auto it = payload.FindMember(key);
  return it != payload.MemberEnd() && it->value.IsString() ? it->value.GetString() : fallback;
}

int num(const rapidjson::Value& payload, const char* key, int fallback) {
  auto it = payload.FindMember(key);
  return it != payload.MemberEnd() && it->value.IsInt() ? it->value.GetInt() : fallback;
}

class ScriptedProcessor : public ocean::WebhookProcessor {
 public:
  ScriptedProcessor() {
    max_retries = 3;
    initial_retry_delay_seconds = 0.05;
    exponential_base_seconds = 2.0;
    max_retry_delay_seconds = 0.15;
  }

  bool should_process_event(const ocean::WebhookEvent& event) override {
    ocean::metric_add("should_process_event");
    return str(event.payload(), "mode", "ok") != "none";
  }
  std::vector<std::string> get_matching_kinds(const ocean::WebhookEvent& event) override {
    std::vector<std::string> kinds;
    auto it = event.payload().FindMember("kinds");
    if (it != event.payload().MemberEnd() && it->value.IsArray()) {
      for (const auto& k : it->value.GetArray())
        if (k.IsString()) kinds.emplace_back(k.GetString());
    } else {
      kinds.emplace_back("thing");
    }
    return kinds;
  }
  bool authenticate(const rapidjson::Value& payload, const ocean::Headers&,
                    std::string_view) override {
    ocean::metric_add("authenticate");
    // A plugin bug (or an outage of what it checks against), not a forged delivery.
    if (str(payload, "mode", "ok") == "auth_throws")
      throw std::runtime_error("secret store unreachable");
    return str(payload, "mode", "ok") != "reject_auth";
  }
  bool validate_payload(const rapidjson::Value& payload) override {
    ocean::metric_add("validate_payload");
    return str(payload, "mode", "ok") != "invalid";
  }
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig& resource) override {
    ocean::metric_add("handle_event");
    count_event("handled_events");
    ocean::metric_add("handle_event_" + std::string(resource.kind()));
    if (int delay = num(payload, "delay_ms", 0); delay > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    std::string mode = str(payload, "mode", "ok");
    int succeed_on = num(payload, "succeed_on", 0);
    if (mode == "retry" && (succeed_on == 0 || static_cast<int>(event().attempt()) < succeed_on))
      throw ocean::RetryableError("transient failure on attempt " +
                                  std::to_string(event().attempt()));
    if (mode == "fail") throw ocean::RetryableError("always failing");
    if (mode == "throw") throw std::logic_error("processor bug");
    if (mode == "wait_latch") {
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (!g_latch.load() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      ocean::metric_add(g_latch.load() ? "latch_seen" : "latch_missed");
    }
    if (mode == "peek") {
      // Reaches for integration "peek"'s webhook_secret and catalog (never its own), and reads
      // its own "answer" (set in the config under an alias); counters say what it got.
      std::string other = str(payload, "peek", "");
      ocean::metric_add(ocean::integration_config(other, "webhook_secret") ? "peek_read"
                                                                           : "peek_refused");
      ocean::metric_add(ocean::register_raw(other, "thing", R"([{"id":"stolen"}])")
                            ? "raw_other_ok"
                            : "raw_other_refused");
      auto answer = event().config("answer");
      ocean::metric_add(answer ? "answer_" + *answer : "answer_missing");
    }
    if (mode == "record") {
      // Reports the event to a recorder (a test's fake third party) and maps what it answers, so
      // a test sees when and in which order events ran: {"record": url, "key": k, "n": 3}.
      std::string url = str(payload, "record", "") + "?key=" + str(payload, "key", "") +
                        "&n=" + std::to_string(num(payload, "n", 0));
      ocean::http::Response answer = ocean::http::get(url);
      if (answer.status != 200)
        throw ocean::RetryableError("recorder answered " + std::to_string(answer.status) + " " +
                                    answer.error);
    }
    if (mode == "spin") {
      // Computes for "spin_ms" without calling the host, as a CPU-bound plugin does.
      if (g_spinning.fetch_add(1) > 0) ocean::metric_add("spin_overlap");
      auto until =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(num(payload, "spin_ms", 20));
      while (std::chrono::steady_clock::now() < until) {
      }
      g_spinning.fetch_sub(1);
    }
    if (mode == "burn") {
      // Uses "cpu_ms" of CPU time (however long that takes to get), unless cancelled first.
      auto cpu_ms = [] {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
      };
      const double until = cpu_ms() + num(payload, "cpu_ms", 5);
      while (cpu_ms() < until) {
        if (cancelled()) {
          ocean::metric_add("burn_cancelled");
          return {};
        }
      }
      ocean::metric_add("burn_done");
    }
    if (mode == "hang") {
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (!cancelled() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
      ocean::metric_add(cancelled() ? "saw_cancel" : "never_cancelled");
      return {};
    }
    ocean::WebhookEventRawResults results;
    results.add_updated(payload);
    return results;
  }
  void on_error(const std::string&) override { ocean::metric_add("on_error"); }
  void cancel() override {
    ocean::metric_add("cancel");
    WebhookProcessor::cancel();
  }
  std::string group_key(const ocean::WebhookEvent& event) override {
    return str(event.payload(), "key", "");
  }
};

// Accepts only events with "both": true, to show two processors on one route. Its ordering key is
// "key2" when the payload has one.
class SecondProcessor : public ScriptedProcessor {
 public:
  std::string group_key(const ocean::WebhookEvent& event) override {
    std::string key2 = str(event.payload(), "key2", "");
    return key2.empty() ? ScriptedProcessor::group_key(event) : key2;
  }
  bool should_process_event(const ocean::WebhookEvent& event) override {
    auto it = event.payload().FindMember("both");
    return it != event.payload().MemberEnd() && it->value.IsTrue();
  }
  ocean::WebhookEventRawResults handle_event(const rapidjson::Value& payload,
                                             const ocean::ResourceConfig&) override {
    ocean::metric_add("second_handle_event");
    auto release = payload.FindMember("release");
    if (release != payload.MemberEnd() && release->value.IsTrue()) g_latch.store(true);
    ocean::WebhookEventRawResults results;
    results.add_updated(payload);
    return results;
  }
};

}  // namespace

OCEAN_PLUGIN("scripted", "0.1.0") {
  plugin.add_processor<ScriptedProcessor>("/webhook");
  plugin.add_processor<SecondProcessor>("/webhook");
  plugin.config_key("answer", "what mode peek reports", {.aliases = {"theAnswer"}});
  plugin.config_key("refuse", "when set, validate_config refuses the integration with it");
  plugin.validate_config([](std::string_view integration) -> std::string {
    auto refuse = ocean::integration_config(integration, "refuse");
    return refuse ? "told to refuse: " + *refuse : std::string();
  });
  plugin.on_start([](const ocean::InstanceInfo& instance) {
    ocean::metric_add("on_start");
    if (instance.base_url == "http://on-start.test") ocean::metric_add("on_start_saw_base_url");
    return true;
  });
}
