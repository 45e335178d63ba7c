#pragma once

namespace oceand {

// Why a task failed or was set aside. The label is the one word metrics
// (oceand_tasks_total{outcome}), log lines (reason=) and dead letters (reason) use for it
// (docs/reliability.md lists them).
enum class TaskReason {
  none,
  plugin_error,
  timed_out,
  shutdown,
  apply_failed,
  failed,
  retries_exhausted,
  host_error,
  no_route,
  duplicate,
  authentication_failed,
  invalid_payload,
};

constexpr const char* label(TaskReason reason) {
  switch (reason) {
    case TaskReason::none:
      return "";
    case TaskReason::plugin_error:
      return "plugin_error";
    case TaskReason::timed_out:
      return "timed_out";
    case TaskReason::shutdown:
      return "shutdown";
    case TaskReason::apply_failed:
      return "apply_failed";
    case TaskReason::failed:
      return "failed";
    case TaskReason::retries_exhausted:
      return "retries_exhausted";
    case TaskReason::host_error:
      return "host error";  // documented with the space
    case TaskReason::no_route:
      return "no_route";
    case TaskReason::duplicate:
      return "duplicate";
    case TaskReason::authentication_failed:
      return "authentication_failed";
    case TaskReason::invalid_payload:
      return "invalid_payload";
  }
  return "";
}

// What became of an event (oceand_events_processed_total{outcome}, the log line's outcome=).
// handed_over: a shared queue gave the event to another instance (this one's lease ran out), which
// runs it again; nothing of it was applied here.
enum class EventOutcome { ok, failed, unsupported, noop, duplicate, rejected, handed_over };

constexpr const char* label(EventOutcome outcome) {
  switch (outcome) {
    case EventOutcome::ok:
      return "ok";
    case EventOutcome::failed:
      return "failed";
    case EventOutcome::unsupported:
      return "unsupported";
    case EventOutcome::noop:
      return "noop";
    case EventOutcome::duplicate:
      return "duplicate";
    case EventOutcome::rejected:
      return "rejected";
    case EventOutcome::handed_over:
      return "handed_over";
  }
  return "";
}

}  // namespace oceand
