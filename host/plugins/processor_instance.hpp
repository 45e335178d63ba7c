#pragma once

#include <string>
#include <vector>

#include "ocean/plugin_abi.h"
#include "plugins/generation.hpp"
#include "plugins/guarded_call.hpp"
#include "plugins/host_api.hpp"
#include "plugins/plugin_event.hpp"

namespace oceand {

struct HostConfig;

// Who a call into a plugin is made for: the event (for the crash ledger and logs) and the
// configuration its generation serves (for config_get).
struct CallSite {
  uint64_t event_id = 0;
  const std::string* integration = nullptr;
  const HostConfig* config = nullptr;
};

// The answer of a yes/no hook, or the plugin's failure to give one (an exception escaped it).
enum class HookAnswer { yes, no, failed };

// A processor's retry policy (ABI ocean_retry_policy), as the engine schedules retries by it.
struct RetryPolicy {
  unsigned max_retries = 3;
  double initial_delay_seconds = 1.0;
  double max_delay_seconds = 30.0;
  double exponential_base = 2.0;
};

// What handle_event gave back.
struct HandleResult {
  enum class Kind { ok, retry, failed, threw } kind = Kind::failed;
  std::vector<std::string> updated, deleted;
  std::string error;  // the plugin's message, or what escaped it
  double retry_after_seconds = 0;
  bool http_retryable_failure = false;  // a 429/5xx/timeout answered one of its HTTP calls
  std::string http_failure;
  double rate_budget_wait_seconds = 0;  // > 0: a call was held back by its rate-limit budget
};

// The one door to a processor's vtable: every call the host makes into it is made here, with the
// call context (config_get), the crash mark (core/busy_marks.hpp), the lent handles
// (host_api.hpp), and a guard that turns an exception escaping the plugin — which the ABI forbids
// but a plugin written without the SDK can still throw — into the plugin's failure for that event
// instead of std::terminate for the host.
//
// Thread: one instance is called by one thread at a time (the worker running its event), except
// cancel(), which the watchdog calls from its own thread.
class ProcessorInstance {
 public:
  explicit ProcessorInstance(const ProcessorRef& ref) : ref_(&ref) {}
  ~ProcessorInstance();  // destroys the plugin's instance if still there
  ProcessorInstance(ProcessorInstance&& other) noexcept;
  ProcessorInstance& operator=(ProcessorInstance&& other) noexcept;
  ProcessorInstance(const ProcessorInstance&) = delete;
  ProcessorInstance& operator=(const ProcessorInstance&) = delete;

  // The ordering key the factory gives `event` (empty: none). Called without an instance.
  [[nodiscard]] static std::string group_key(const ProcessorRef& ref, const CallSite& site,
                                             const HookEvent& event, std::string& error);

  // create(); false with `error` set when the plugin returned NULL or threw.
  [[nodiscard]] bool create(const CallSite& site, const HookEvent& event, std::string& error);
  [[nodiscard]] HookAnswer should_process(const CallSite& site, const HookEvent& event,
                                          std::string& error);
  [[nodiscard]] HookAnswer matching_kinds(const CallSite& site, const HookEvent& event,
                                          std::vector<std::string>& kinds, std::string& error);
  [[nodiscard]] HookAnswer authenticate(const CallSite& site, const HookEvent& event,
                                        std::string& error);
  [[nodiscard]] HookAnswer validate_payload(const CallSite& site, const HookEvent& event,
                                            std::string& error);
  [[nodiscard]] HandleResult handle(const CallSite& site, const HookEvent& event,
                                    const ResourceMapping& resource);
  void on_error(const CallSite& site, const HookEvent& event, const std::string& error);
  // From another thread while handle() runs; must not block (the plugin's promise).
  void cancel() noexcept;
  void destroy() noexcept;

  const ProcessorRef& ref() const { return *ref_; }
  static RetryPolicy retry_policy(const ProcessorRef& ref);
  const std::string& name() const { return ref_->name; }
  bool created() const { return instance_ != nullptr; }

 private:
  // One of the yes/no hooks.
  // One of the yes/no hooks: its ABI 1.1 form (`with_error`) when the plugin has it, else `fn`.
  HookAnswer ask(const CallSite& site, ocean_event& event, const char* hook,
                 bool (*fn)(void*, const ocean_event*),
                 ocean_answer (*with_error)(void*, const ocean_event*, ocean_string_out*),
                 std::string& error);

  const ProcessorRef* ref_;
  void* instance_ = nullptr;
};

}  // namespace oceand
