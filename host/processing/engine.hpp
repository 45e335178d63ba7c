#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/cpu_gate.hpp"
#include "core/recent_failures.hpp"
#include "processing/event_job.hpp"
#include "processing/group_scheduler.hpp"
#include "processing/result_sink.hpp"
#include "processing/retry_timer.hpp"
#include "processing/watchdog.hpp"

namespace oceand {

class EventQueue;
class DeadLetterStore;
class CrashLedger;
class Metrics;
class PluginManager;

// Takes events from the queue in arrival order, orders them per resource, and runs each through
// routing, authentication, validation and handle_event on `workers` threads, with retries on a
// timer and a deadline per event.
class EventEngine {
 public:
  struct Settings {
    int workers = 4;
    // How much lower the workers' CPU priority is than the rest of the host (event_workers_nice):
    // on a saturated machine, accepting webhooks comes first and processing catches up after.
    int nice = 0;
    // event_workers_policy "idle": the workers (and the dispatcher) run under SCHED_IDLE, which a
    // waking ingress thread preempts at once; a nice level alone lets a worker finish its slice
    // first, and a webhook's path wakes several threads in turn.
    bool idle = false;
    // How many workers may compute at once (event_workers_on_cpu); a worker waiting for a third
    // party's answer does not count. 0: no limit.
    size_t on_cpu = 0;
    double max_event_processing_seconds = 90;
    unsigned crash_limit = 2;  // plugins.crash_limit
    // How long a handler may ignore cancel past its deadline before its worker is abandoned.
    double abandon_grace_seconds = 2;
    // Workers one integration may hold (integrations.<id>.max_concurrency); unset: no limit.
    std::function<int(const std::string&)> max_concurrency;
  };
  // Observers for tests and metrics: a retry was scheduled (event id, n-th retry, delay seconds).
  using RetryObserver = std::function<void(uint64_t event_id, const std::string& processor,
                                           unsigned n, double delay)>;

  EventEngine(Settings settings, EventQueue& queue, DeadLetterStore& dead_letters,
              PluginManager& plugins, ResultSink& sink, Metrics& metrics);
  ~EventEngine();

  void set_retry_observer(RetryObserver observer) { retry_observer_ = std::move(observer); }
  // Events that were running when plugins crashed the process (durable queue only); set before
  // start(). An event found there crash_limit times is dead-lettered, never run.
  void set_crash_ledger(CrashLedger* ledger) { crash_ledger_ = ledger; }
  // The newest events that ended failed, rejected or crashed.
  const RecentFailures& recent_failures() const { return recent_failures_; }
  void start();
  // Stops taking events from the queue, lets in-flight work finish for up to `drain`, then cancels
  // what still runs. Returns the number of accepted events left unfinished.
  size_t stop(std::chrono::duration<double> drain);
  // Events accepted and not yet finished (queued, ordered, running or waiting for a retry).
  size_t in_flight() const;

 private:
  // What became of a job a worker ran: `abandoned` means the worker's call was given up on by the
  // watchdog (another worker carries the job on) and the worker must end without touching it.
  enum class Step { finished, waiting, applying, abandoned };

  void dispatch_loop();
  // The calling worker or dispatcher: event_workers_nice and event_workers_policy.
  void lower_priority();
  void release_held();
  void admit_claimed();
  size_t unfinished_here() const;
  [[nodiscard]] bool may_apply(EventJob& job, const ApplyDone& done);
  JobPtr admitted(EventPtr event);
  void hold(JobPtr job);
  [[nodiscard]] bool quarantined(const EventPtr& event);
  void worker_loop(CpuGate::Seat* seat);
  std::string admit(EventJob& job);
  static std::string own_group(const EventJob& job);
  Step run(const JobPtr& job);
  Step run_from(const JobPtr& job, size_t first_task);
  void after_run(const JobPtr& job, Step step);
  void spawn_worker(std::function<void()> first = {});
  void on_abandoned(const JobPtr& job, size_t task, std::thread::id worker);
  void route(EventJob& job);
  [[nodiscard]] bool run_task(const JobPtr& job, size_t index);
  void settle_handled(const JobPtr& job, size_t index, const HookEvent& event,
                      HandleResult handled);
  void apply_results(const JobPtr& job, size_t index, HandleResult handled);
  Step host_error(const JobPtr& job, const std::exception& e);
  [[nodiscard]] bool pass_gate(EventJob& job, Task& task);
  void fail_routing(EventJob& job, size_t processor, const char* hook, const std::string& error);
  void plugin_failure(const EventJob& job, const ProcessorRef& ref, const char* hook,
                      const std::string& error, const char* then = "");
  ApplyDone completion(const JobPtr& job, size_t task);
  Step settle(const JobPtr& job);
  void settle_apply(EventJob& job, Task& task);
  void schedule_retry(EventJob& job, Task& task, const ApplyOutcome& outcome);
  void complete_applied(const JobPtr& job);
  struct Verdict {
    EventOutcome outcome = EventOutcome::ok;
    TaskReason reason = TaskReason::none;
    std::string processor, error;
  };
  Verdict verdict_of(const EventJob& job) const;
  void finish(const JobPtr& job, bool on_worker = true);
  // False when the store could not keep the letter.
  bool dead_letter(const JobPtr& job, const Verdict& verdict, unsigned attempts);
  void give_back(const JobPtr& job, const Verdict& verdict, bool on_worker);
  void log_finished(const EventJob& job, const Verdict& verdict, unsigned attempts,
                    double duration) const;
  void release(const JobPtr& job, bool on_worker);
  void retire(const JobPtr& job);
  void release_retired();
  void fail_task(EventJob& job, Task& task, TaskReason reason, const std::string& error);

  Settings settings_;
  EventQueue& queue_;
  DeadLetterStore& dead_letters_;
  RecentFailures recent_failures_;
  PluginManager& plugins_;
  ResultSink& sink_;
  Metrics& metrics_;
  RetryObserver retry_observer_;
  CrashLedger* crash_ledger_ = nullptr;

  GroupScheduler scheduler_;
  // Shared queue: admitted events waiting for the cluster's order (dispatcher only).
  std::vector<JobPtr> held_;
  std::atomic<size_t> held_count_{0};
  RetryTimer retry_timer_;
  Watchdog watchdog_;
  std::atomic<bool> running_{false};
  std::atomic<bool> taking_{false};
  // Signalled when an event finishes and when the engine stops taking events: stop() waits on it
  // for the drain, the dispatcher for the end once the queue is closed and empty.
  std::mutex progress_mutex_;
  std::condition_variable progress_;
  // Jobs finished on a Port sender thread: their processor instances and plugin caches are released
  // by the next worker that comes by, since plugin hooks run on worker threads.
  std::mutex retired_mutex_;
  std::vector<JobPtr> retired_;
  std::atomic<bool> has_retired_{false};
  bool workers_gone_ = false;
  std::thread dispatcher_;
  // Workers, with a flag each sets as it ends: shutdown joins those that ended within the drain
  // and leaves the rest (stuck in a plugin) detached. Replaced workers are detached at once.
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> ended;
    std::shared_ptr<CpuGate::Seat> seat;  // null without a gate
  };
  std::shared_ptr<CpuGate> cpu_gate_;  // null: settings_.on_cpu is 0
  std::mutex workers_mutex_;
  std::condition_variable workers_cv_;
  std::vector<Worker> workers_;
};

}  // namespace oceand
