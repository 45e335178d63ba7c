#include "plugins/processor_instance.hpp"

#include <cstddef>

#include "core/busy_marks.hpp"
#include "core/log.hpp"
#include "plugins/plugin_library.hpp"

namespace oceand {

namespace {

// Everything one hook call needs around it: the config_get context, the crash mark, the event lent.
class HookScope {
 public:
  HookScope(const ProcessorRef& ref, const CallSite& site, const ocean_event& event,
            const char* hook)
      : scope_(context_),
        mark_(
            BusyMark::What{site.event_id, site.integration, &ref.name, &ref.plugin->file(), hook}),
        lent_(&event) {
    context_.config = site.config;
  }
  CallContext& context() { return context_; }

 private:
  CallContext context_;
  CallScope scope_;
  BusyMark mark_;
  LentEvent lent_;
};

HookAnswer answer(bool value, const std::string& escaped) {
  if (!escaped.empty()) return HookAnswer::failed;
  return value ? HookAnswer::yes : HookAnswer::no;
}

// A yes/no hook in its ABI 1.1 form, when the plugin's vtable has it and set it.
using CheckedHook = ocean_answer (*)(void*, const ocean_event*, ocean_string_out*);
CheckedHook checked(const ocean_processor_vtable* v, CheckedHook ocean_processor_vtable::*hook) {
  return has_checked_hooks(v) ? v->*hook : nullptr;
}

}  // namespace

ProcessorInstance::~ProcessorInstance() {
  destroy();
}

ProcessorInstance::ProcessorInstance(ProcessorInstance&& other) noexcept
    : ref_(other.ref_), instance_(other.instance_) {
  other.instance_ = nullptr;
}

ProcessorInstance& ProcessorInstance::operator=(ProcessorInstance&& other) noexcept {
  if (this != &other) {
    destroy();
    ref_ = other.ref_;
    instance_ = other.instance_;
    other.instance_ = nullptr;
  }
  return *this;
}

std::string ProcessorInstance::group_key(const ProcessorRef& ref, const CallSite& site,
                                         const HookEvent& hook, std::string& error) {
  ocean_event event = hook.view();
  auto fn = ref.factory->vtable->group_key;
  if (!fn) return {};
  ocean_string_out out;
  HookScope scope(ref, site, event, "group_key");
  LentOutput lent(&out);
  error =
      call_guarded([&] { fn(ref.factory->factory_ctx, &event, lent.token<ocean_string_out>()); });
  if (!error.empty() || !out.set) return {};
  return out.value;
}

bool ProcessorInstance::create(const CallSite& site, const HookEvent& hook, std::string& error) {
  ocean_event event = hook.view();
  HookScope scope(*ref_, site, event, "create");
  void* made = nullptr;
  error = call_guarded(
      [&] { made = ref_->factory->vtable->create(ref_->factory->factory_ctx, &event); });
  if (!error.empty()) return false;
  if (!made) {
    error = "processor " + ref_->name + " could not be created";
    return false;
  }
  instance_ = made;
  return true;
}

HookAnswer ProcessorInstance::ask(const CallSite& site, ocean_event& event, const char* hook,
                                  bool (*fn)(void*, const ocean_event*), CheckedHook with_error,
                                  std::string& error) {
  HookScope scope(*ref_, site, event, hook);
  if (with_error) {
    ocean_answer said = OCEAN_ANSWER_ERROR;
    ocean_string_out message;
    {
      LentOutput lent(&message);
      error = call_guarded(
          [&] { said = with_error(instance_, &event, lent.token<ocean_string_out>()); });
    }
    if (!error.empty()) return HookAnswer::failed;
    if (said == OCEAN_ANSWER_YES) return HookAnswer::yes;
    if (said == OCEAN_ANSWER_NO) return HookAnswer::no;
    error = message.value.empty() ? std::string(hook) + " could not answer (no message)"
                                  : std::move(message.value);
    return HookAnswer::failed;  // OCEAN_ANSWER_ERROR, or a value the ABI does not define
  }
  bool yes = false;
  error = call_guarded([&] { yes = fn(instance_, &event); });
  return answer(yes, error);
}

HookAnswer ProcessorInstance::should_process(const CallSite& site, const HookEvent& hook,
                                             std::string& error) {
  ocean_event event = hook.view();
  const auto* v = ref_->factory->vtable;
  return ask(site, event, "should_process_event", v->should_process_event,
             checked(v, &ocean_processor_vtable::should_process_event_checked), error);
}

HookAnswer ProcessorInstance::matching_kinds(const CallSite& site, const HookEvent& hook,
                                             std::vector<std::string>& kinds, std::string& error) {
  ocean_event event = hook.view();
  HookScope scope(*ref_, site, event, "get_matching_kinds");
  ocean_string_list list;
  ocean_status status = OCEAN_STATUS_FAILED;
  {
    LentOutput lent(&list);
    error = call_guarded([&] {
      status = ref_->factory->vtable->get_matching_kinds(instance_, &event,
                                                         lent.token<ocean_string_list>());
    });
  }
  if (!error.empty()) return HookAnswer::failed;
  if (status != OCEAN_STATUS_OK) {
    error = "get_matching_kinds failed";
    return HookAnswer::failed;
  }
  kinds = std::move(list.items);
  return HookAnswer::yes;
}

HookAnswer ProcessorInstance::authenticate(const CallSite& site, const HookEvent& hook,
                                           std::string& error) {
  ocean_event event = hook.view();
  const auto* v = ref_->factory->vtable;
  return ask(site, event, "authenticate", v->authenticate,
             checked(v, &ocean_processor_vtable::authenticate_checked), error);
}

HookAnswer ProcessorInstance::validate_payload(const CallSite& site, const HookEvent& hook,
                                               std::string& error) {
  ocean_event event = hook.view();
  const auto* v = ref_->factory->vtable;
  return ask(site, event, "validate_payload", v->validate_payload,
             checked(v, &ocean_processor_vtable::validate_payload_checked), error);
}

HandleResult ProcessorInstance::handle(const CallSite& site, const HookEvent& hook,
                                       const ResourceMapping& mapping) {
  ocean_event event = hook.view();
  ocean_resource resource{};
  resource.struct_size = sizeof resource;
  resource.kind = to_ocean(mapping.kind);
  resource.config_json = to_ocean(mapping.config_json);
  resource.index = mapping.index;
  static const std::string no_settings = "{}";
  resource.app_config_json =
      to_ocean(mapping.app_config_json ? *mapping.app_config_json : no_settings);
  HookScope scope(*ref_, site, event, "handle_event");
  ocean_results results;
  ocean_status status = OCEAN_STATUS_FAILED;
  std::string escaped;
  {
    LentOutput lent(&results);
    escaped = call_guarded([&] {
      status = ref_->factory->vtable->handle_event(instance_, &event, &resource,
                                                   lent.token<ocean_results>());
    });
  }
  HandleResult out;
  out.http_retryable_failure = scope.context().http_retryable_failure;
  out.http_failure = std::move(scope.context().http_failure);
  out.rate_budget_wait_seconds = scope.context().rate_budget_wait_seconds;
  if (!escaped.empty()) {
    out.kind = HandleResult::Kind::threw;
    out.error = std::move(escaped);
    return out;
  }
  out.kind = status == OCEAN_STATUS_OK      ? HandleResult::Kind::ok
             : status == OCEAN_STATUS_RETRY ? HandleResult::Kind::retry
                                            : HandleResult::Kind::failed;
  out.updated = std::move(results.updated);
  out.deleted = std::move(results.deleted);
  out.error = std::move(results.error);
  out.retry_after_seconds = results.retry_after_seconds;
  return out;
}

void ProcessorInstance::on_error(const CallSite& site, const HookEvent& hook,
                                 const std::string& error) {
  ocean_event event = hook.view();
  auto fn = ref_->factory->vtable->on_error;
  if (!fn || !instance_) return;
  HookScope scope(*ref_, site, event, "on_error");
  std::string escaped = call_guarded([&] { fn(instance_, &event, to_ocean(error)); });
  if (!escaped.empty()) {
    OCEAND_LOG_ERROR("plugins") << "plugin " << ref_->plugin->name() << " processor " << ref_->name
                                << ": on_error failed: " << escaped;
  }
}

void ProcessorInstance::cancel() noexcept {
  auto fn = ref_->factory->vtable->cancel;
  if (!fn || !instance_) return;
  std::string escaped = call_guarded([&] { fn(instance_); });
  if (!escaped.empty()) {
    OCEAND_LOG_ERROR("plugins") << "plugin " << ref_->plugin->name() << " processor " << ref_->name
                                << ": cancel failed: " << escaped;
  }
}

void ProcessorInstance::destroy() noexcept {
  if (!instance_) return;
  void* instance = instance_;
  instance_ = nullptr;
  BusyMark mark(BusyMark::What{0, nullptr, &ref_->name, &ref_->plugin->file(), "destroy"});
  std::string escaped = call_guarded([&] { ref_->factory->vtable->destroy(instance); });
  if (!escaped.empty()) {
    OCEAND_LOG_ERROR("plugins") << "plugin " << ref_->plugin->name() << " processor " << ref_->name
                                << ": destroy failed: " << escaped;
  }
}

RetryPolicy ProcessorInstance::retry_policy(const ProcessorRef& ref) {
  const ocean_retry_policy& p = ref.factory->retry;
  return {p.max_retries, p.initial_retry_delay_seconds, p.max_retry_delay_seconds,
          p.exponential_base_seconds};
}

}  // namespace oceand
