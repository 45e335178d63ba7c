// A plugin that breaks every rule a plugin can break, on demand, written on the raw ABI (no SDK
// guards): the host must contain each misdeed to the event that asked for it. Route /webhook,
// kind "thing"; every good event is returned as one updated raw result. The payload chooses:
//   "throw": "<hook>"       throw std::runtime_error from that hook (group_key, create,
//                           should_process_event, get_matching_kinds, authenticate,
//                           validate_payload, handle_event)
//   "crash": "segv" | "abort" | "terminate"   bring the process down in handle_event
//   "keep": true            keep this call's results, kinds and event handles past the call
//   "use_kept": true        from a thread of the plugin's own, use the handles kept earlier
//   "hang": true            handle_event ignores cancel and never returns
//   "key": "k"              the ordering key
// Loading it runs code before any hook: with OCEAN_TEST_CONSTRUCTOR_MARK set, a static
// constructor creates that file (so a test can tell whether the host ran the library's code).
#include <fcntl.h>
#include <unistd.h>

#include <ocean/plugin_abi.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

__attribute__((constructor)) void mark_constructed() {
  if (const char* mark = std::getenv("OCEAN_TEST_CONSTRUCTOR_MARK")) {
    int fd = ::open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
  }
}

const ocean_host_api* g_api;

ocean_str str(const std::string& s) {
  return ocean_str{s.data(), s.size()};
}

// The payloads are small, flat, and written by the tests: a substring look-up is enough.
std::string field(const ocean_event* e, const char* name) {
  std::string payload(e->payload.ptr, e->payload.len);
  std::string key = std::string("\"") + name + "\":";
  auto at = payload.find(key);
  if (at == std::string::npos) return {};
  at += key.size();
  while (at < payload.size() && payload[at] == ' ') ++at;
  if (at < payload.size() && payload[at] == '"') {
    auto end = payload.find('"', at + 1);
    return payload.substr(at + 1, end - at - 1);
  }
  auto end = payload.find_first_of(",}", at);
  return payload.substr(at, end - at);
}

void maybe_throw(const ocean_event* e, const char* hook) {
  if (field(e, "throw") == hook) throw std::runtime_error(std::string("boom in ") + hook);
}

void count(const char* name) {
  g_api->metric_add(g_api->host, ocean_str{name, std::strlen(name)}, 1.0);
}

ocean_results* g_kept_results;
ocean_string_list* g_kept_kinds;
const ocean_event* g_kept_event;

void* create(void*, const ocean_event* e) {
  maybe_throw(e, "create");
  return std::malloc(1);
}
void destroy(void* p) {
  std::free(p);
}
bool should_process(void*, const ocean_event* e) {
  maybe_throw(e, "should_process_event");
  return true;
}
ocean_status kinds(void*, const ocean_event* e, ocean_string_list* out) {
  maybe_throw(e, "get_matching_kinds");
  if (field(e, "keep") == "true") g_kept_kinds = out;
  g_api->string_list_add(out, str("thing"));
  return OCEAN_STATUS_OK;
}
bool authenticate(void*, const ocean_event* e) {
  maybe_throw(e, "authenticate");
  return true;
}
bool validate(void*, const ocean_event* e) {
  maybe_throw(e, "validate_payload");
  return true;
}

void use_kept_handles() {
  // What a plugin that keeps handles does later, from its own thread. Each call must be refused.
  std::thread([] {
    g_api->results_add_updated(g_kept_results, str("{\"id\":\"ghost\"}"));
    g_api->results_set_error(g_kept_results, str("late"));
    g_api->results_set_retry_after(g_kept_results, 1);
    g_api->string_list_add(g_kept_kinds, str("late-kind"));
    if (g_api->event_cache_get(g_kept_event) == nullptr) count("stale_cache_refused");
    g_api->event_cache_set(g_kept_event, nullptr, nullptr);
    count("used_kept");
  }).join();
}

ocean_status handle(void*, const ocean_event* e, const ocean_resource*, ocean_results* out) {
  maybe_throw(e, "handle_event");
  std::string crash = field(e, "crash");
  if (crash == "segv") {
    count("about_to_crash");
    std::raise(SIGSEGV);
  } else if (crash == "abort") {
    std::abort();
  } else if (crash == "terminate") {
    std::terminate();
  }
  if (field(e, "hang") == "true") {
    count("hanging");
    while (true) std::this_thread::sleep_for(std::chrono::seconds(1));  // ignores cancel
  }
  if (field(e, "keep") == "true") {
    g_kept_results = out;
    g_kept_event = e;
  }
  if (field(e, "use_kept") == "true") use_kept_handles();
  g_api->results_add_updated(out, e->payload);
  count("handled");
  return OCEAN_STATUS_OK;
}

void group_key(void*, const ocean_event* e, ocean_string_out* out) {
  maybe_throw(e, "group_key");
  std::string key = field(e, "key");
  if (!key.empty()) g_api->string_out_set(out, str(key));
}

const ocean_processor_vtable vtable = {sizeof(ocean_processor_vtable),
                                       create,
                                       destroy,
                                       should_process,
                                       kinds,
                                       authenticate,
                                       validate,
                                       handle,
                                       nullptr,
                                       nullptr,
                                       group_key};

#ifndef TEST_INITIAL_DELAY
#define TEST_INITIAL_DELAY 0.05
#endif
#ifndef TEST_PLUGIN_NAME
#define TEST_PLUGIN_NAME "misbehaving"
#endif

const ocean_processor_factory factories[] = {
    {sizeof(ocean_processor_factory),
     "MisbehavingProcessor",
     "/webhook",
     {sizeof(ocean_retry_policy), 1, TEST_INITIAL_DELAY, TEST_INITIAL_DELAY, 2.0},
     &vtable,
     nullptr}};

// Deliveries are told apart as GitLab does (ABI 1.1), in the sender's own spelling.
const char* const delivery_headers[] = {"X-Gitlab-Event-UUID"};

const ocean_plugin_descriptor descriptor = {sizeof(ocean_plugin_descriptor),
                                            OCEAN_ABI_VERSION_MAJOR,
                                            OCEAN_ABI_VERSION_MINOR,
                                            TEST_PLUGIN_NAME,
                                            "1.0.0",
                                            factories,
                                            1,
                                            nullptr,
                                            nullptr,
                                            0,
                                            nullptr,
                                            delivery_headers,
                                            1};

}  // namespace

extern "C" OCEAN_EXPORT const ocean_plugin_descriptor* ocean_plugin_entry(
    const ocean_host_api* api) {
  g_api = api;
  return &descriptor;
}
