#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/event.hpp"
#include "plugins/generation.hpp"
#include "plugins/plugin_event.hpp"
#include "plugins/processor_instance.hpp"
#include "processing/outcomes.hpp"
#include "processing/result_sink.hpp"

namespace oceand {

using SteadyTime = std::chrono::steady_clock::time_point;

// One processor instance made for this event.
struct ProcessorRun {
  explicit ProcessorRun(const ProcessorRef& r) : ref(&r), instance(r) {}
  const ProcessorRef* ref;
  ProcessorInstance instance;  // every call into the plugin goes through it
  enum class Gate {
    unchecked,
    passed,
    rejected_authentication,
    rejected_payload,
    plugin_error  // authenticate or validate_payload failed to answer (the plugin's bug)
  } gate = Gate::unchecked;
  std::string gate_error;
  bool routing_failed = false;  // a plugin_error task stands for it
};

// One (processor, resource) unit of work, with its own retry count.
struct Task {
  size_t processor = 0;  // index into EventJob::processors
  const ResourceMapping* resource = nullptr;
  unsigned attempts = 0;
  // `mapped`: its upserts are applied and its deletions wait until no task of the event can still
  // produce results (ResultSink, "Deletions wait").
  enum class State { pending, applying, mapped, done, dropped, failed } state = State::pending;
  SteadyTime due{};
  std::string error;
  TaskReason failure_reason = TaskReason::none;
  ApplyOutcome applied;     // set by the sink's completion while the task is `applying`
  DeferredApply deletions;  // the second phase of its last results, until it is started
};

// An event on its way through the workers: the generation it runs on, its processor instances and
// its tasks. Owned by the scheduler and the worker that runs it; never run by two threads at once.
struct EventJob {
  // Declared first so that it is released last: instances and the cache need the library loaded.
  std::shared_ptr<const Generation> generation;
  EventPtr event;
  std::string group;
  std::string plugin;  // the plugin serving it when dispatched (oceand_plugin_events_in_flight)
  const WebhookRoute* route = nullptr;
  const Integration* integration = nullptr;
  std::vector<ProcessorRun> processors;
  std::vector<Task> tasks;
  bool routed = false;  // tasks made (on a worker); admission (on the dispatcher) came first
  // Shared queue: another instance owns the event now; nothing more of it is applied here.
  std::atomic<bool> handed_over{false};
  // Whether the event's delivery id was claimed (EventQueue::claim_delivery) once a processor
  // authenticated it, or found claimed by another copy of the delivery.
  enum class Delivery { unclaimed, claimed, duplicate } delivery = Delivery::unclaimed;
  SteadyTime started{};
  SteadyTime deadline{};
  // The running worker's wait for a CPU (my_cpu_wait_ns) when it last moved `deadline` by it; -1:
  // unknown. Only that worker touches it; a worker taking the job over marks anew.
  int64_t cpu_wait_mark = -1;
  // How much further that wait may still move `deadline`: max_event_processing_seconds once more,
  // so a handler that spins forever on a crowded CPU is still cancelled, at twice the bound at
  // most.
  SteadyTime::duration cpu_wait_allowance{};
  std::atomic<bool> timed_out{false};
  std::atomic<bool> shutting_down{false};  // the timeout was shutdown's cancel, not the deadline
  // Completions still to come from the sink, plus one while a worker runs the job: whoever brings
  // it to zero moves the job on, so it is never run by two threads at once.
  std::atomic<int> outstanding{0};
  EventUpserts upserted;     // what its tasks upserted, for the deletions that wait for all of them
  PluginEvent plugin_event;  // what hooks see of it (the ABI view lives in plugins/)

  explicit EventJob(EventPtr e);
  ~EventJob();
  EventJob(const EventJob&) = delete;
  EventJob& operator=(const EventJob&) = delete;

  // The event of one hook call, told it is attempt `attempt` (0 for group_key).
  HookEvent hook_event(uint32_t attempt) { return {plugin_event, attempt}; }
  // Who calls into plugins for this job (crash marks, config_get).
  CallSite call_site() const;
  // Destroys processor instances and frees the plugin's cache (the generation stays pinned).
  void release_plugin_state();
  unsigned total_attempts() const;
};
using JobPtr = std::shared_ptr<EventJob>;

}  // namespace oceand
