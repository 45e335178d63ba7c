#include "processing/engine.hpp"

#include <sstream>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/thread_name.hpp"
#include "plugins/plugin_manager.hpp"
#include "plugins/processor_instance.hpp"
#include "processing/backoff.hpp"
#include "queue/crash_ledger.hpp"
#include "queue/dead_letters.hpp"
#include "queue/event_queue.hpp"

namespace oceand {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(SteadyTime t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

EventEngine::EventEngine(Settings settings, EventQueue& queue, DeadLetterStore& dead_letters,
                         PluginManager& plugins, ResultSink& sink, Metrics& metrics)
    : settings_(settings),
      queue_(queue),
      dead_letters_(dead_letters),
      plugins_(plugins),
      sink_(sink),
      metrics_(metrics) {}

EventEngine::~EventEngine() {
  if (running_) stop(std::chrono::seconds(0));
}

void EventEngine::start() {
  running_ = true;
  taking_ = true;
  dispatcher_ = std::thread([this] {
    name_this_thread("dispatcher");
    dispatch_loop();
  });
  for (int i = 0; i < settings_.workers; ++i)
    workers_.emplace_back([this] {
      name_this_thread("worker");
      worker_loop();
    });
  LOG_INFO("engine") << "started " << settings_.workers << " event worker(s)";
}

size_t EventEngine::in_flight() const {
  return queue_.depth();
}

size_t EventEngine::stop(std::chrono::duration<double> drain) {
  if (!running_.exchange(false)) return queue_.depth();
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(drain);
  {
    // Keep working until everything accepted is done or the drain time is up.
    std::unique_lock lock(progress_mutex_);
    progress_.wait_until(lock, deadline, [&] { return queue_.depth() == 0; });
    taking_ = false;
  }
  progress_.notify_all();
  watchdog_.cancel_all();
  retry_timer_.stop();
  scheduler_.close();
  if (dispatcher_.joinable()) dispatcher_.join();
  for (auto& w : workers_)
    if (w.joinable()) w.join();
  workers_.clear();
  {
    // From here a job finished off a worker releases its plugin state where it finishes.
    std::lock_guard lock(retired_mutex_);
    workers_gone_ = true;
  }
  release_retired();
  watchdog_.stop();
  size_t left = queue_.depth();
  if (left > 0) {
    LOG_WARN("engine") << left << " accepted event(s) not finished at shutdown"
                       << (queue_.backend() == "memory" ? " (memory queue: they are lost)"
                                                        : " (they resume at next start)");
  }
  return left;
}

void EventEngine::dispatch_loop() {
  const size_t limit = static_cast<size_t>(std::max(64, settings_.workers * 4));
  while (taking_) {
    if (!scheduler_.wait_below(limit, std::chrono::milliseconds(100))) continue;
    EventPtr event = queue_.pop(std::chrono::milliseconds(100));
    if (!event) {
      if (!queue_.is_open()) {  // closed and drained: nothing will come; wait for stop()
        std::unique_lock lock(progress_mutex_);
        progress_.wait_for(lock, std::chrono::milliseconds(100), [&] { return !taking_; });
      }
      continue;
    }
    if (quarantined(event)) continue;
    auto job = std::make_shared<EventJob>(event);
    job->generation = plugins_.current();
    job->group = group_key(*job, *job->generation);
    scheduler_.add(job->group, job);
  }
}

// An event that was running when a plugin crashed oceand crash_limit times goes to the dead letters
// before any plugin code sees it again (group_key included: it may be what crashes).
bool EventEngine::quarantined(const EventPtr& event) {
  if (!crash_ledger_) return false;
  auto entry = crash_ledger_->find(event->id);
  if (!entry || entry->crashes < settings_.crash_limit) return false;
  DeadLetter letter;
  letter.event = event;
  letter.reason = "crashed";
  letter.processor = entry->processor;
  letter.attempts = entry->crashes;
  letter.failed_at_ms = unix_ms();
  letter.error = "oceand crashed " + std::to_string(entry->crashes) + " times (" + entry->signal +
                 ") while plugin file " + entry->plugin + " ran processor " + entry->processor +
                 " for integration " + entry->integration +
                 " on this event; not run again until replayed";
  uint64_t id = dead_letters_.add(std::move(letter));
  metrics_.add("oceand_events_dead_lettered_total", {{"integration", event->integration}});
  metrics_.add("oceand_events_processed_total",
               {{"integration", event->integration}, {"outcome", "failed"}});
  LOG_ERROR("engine") << "event " << event->id << " integration=" << event->integration
                      << " processor=" << entry->processor << " plugin=" << entry->plugin
                      << " outcome=failed reason=crashed crashes=" << entry->crashes
                      << " dead_letter=" << id;
  queue_.complete(event->id);
  crash_ledger_->forget(event->id);
  {
    std::lock_guard lock(progress_mutex_);
  }
  progress_.notify_all();
  return true;
}

// The first processor on the route that gives a key groups the event (docs/plugin-authoring.md,
// "Ordering"). A group_key that fails costs only its own key: the event is then its own group and
// the failure is logged as the plugin's.
std::string EventEngine::group_key(EventJob& job, const Generation& generation) {
  const WebhookRoute* route = generation.webhook_route(job.event->integration, job.event->route);
  if (route) {
    CallSite site = job.call_site();
    site.config = generation.config.get();
    for (const auto& p : route->processors) {
      ocean_event e = job.abi_event(0);
      std::string error;
      std::string key = ProcessorInstance::group_key(p, site, e, error);
      if (!error.empty()) {
        LOG_ERROR("engine") << "event " << job.event->id << " integration="
                            << job.event->integration << " processor=" << p.name
                            << ": plugin failure in group_key: " << error
                            << " (the event is ordered on its own)";
        metrics_.add("oceand_plugin_failures_total",
                     {{"plugin", p.plugin->name()}, {"hook", "group_key"}});
        continue;
      }
      if (!key.empty()) return job.event->integration + '\n' + key;
    }
  }
  return "\x01" + std::to_string(job.event->id);  // no key: its own group
}

void EventEngine::worker_loop() {
  while (true) {
    if (has_retired_.load(std::memory_order_relaxed)) release_retired();
    JobPtr job = scheduler_.next(std::chrono::milliseconds(200));
    if (!job) {
      release_retired();
      if (!taking_) return;
      continue;
    }
    Step step;
    try {
      step = run(job);
    } catch (const std::exception& e) {
      LOG_ERROR("engine") << "event " << job->event->id << ": unexpected host error: " << e.what();
      for (auto& t : job->tasks)
        if (t.state == Task::State::pending) fail_task(*job, t, "host error", e.what());
      // Completions still outstanding resume the job; the last one finishes it.
      step = job->outstanding.fetch_sub(1) == 1 ? Step::finished : Step::applying;
    }
    if (step == Step::finished) {
      finish(job);
      continue;
    }
    if (step == Step::applying) continue;  // the sink's last completion resumes the job
    SteadyTime due = SteadyTime::max();
    for (const auto& t : job->tasks)
      if (t.state == Task::State::pending) due = std::min(due, t.due);
    retry_timer_.schedule(due, [this, job] { scheduler_.resume(job); });
  }
}

void EventEngine::route(EventJob& job) {
  job.routed = true;
  job.started = Clock::now();
  job.deadline =
      job.started + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(settings_.max_event_processing_seconds));
  auto current = plugins_.current();
  if (current != job.generation) {
    job.cache.release();  // made by the old generation's plugin, freed while it is still loaded
    job.generation = current;
  }
  const Generation& gen = *job.generation;
  job.integration = gen.integration(job.event->integration);
  job.route = gen.webhook_route(job.event->integration, job.event->route);
  if (!job.route || !job.integration) return;  // finish() dead-letters it: nothing serves it now

  const CallSite site = job.call_site();
  for (const auto& ref : job.route->processors) {
    ocean_event e = job.abi_event(1);
    size_t index = job.processors.size();
    job.processors.emplace_back(ref);
    ProcessorInstance& instance = job.processors.back().instance;
    std::string error;
    if (!instance.create(site, e, error)) {
      fail_routing(job, index, "create", error);
      continue;
    }
    HookAnswer accepts = instance.should_process(site, e, error);
    if (accepts == HookAnswer::no) {
      job.processors.pop_back();  // destroys the instance
      continue;
    }
    std::vector<std::string> kinds;
    if (accepts == HookAnswer::failed) {
      fail_routing(job, index, "should_process_event", error);
      continue;
    }
    if (instance.matching_kinds(site, e, kinds, error) != HookAnswer::yes) {
      fail_routing(job, index, "get_matching_kinds", error);
      continue;
    }
    for (const auto& kind : kinds) {
      for (const ResourceMapping* resource : job.integration->mapping->resources_of_kind(kind)) {
        Task t;
        t.processor = index;
        t.resource = resource;
        t.due = job.started;
        job.tasks.push_back(std::move(t));
      }
    }
  }
}

// A processor that could not take part in routing (create returned NULL, a hook failed or threw):
// one failed task stands for it, so the event is dead-lettered with the plugin's message.
void EventEngine::fail_routing(EventJob& job, size_t processor, const char* hook,
                               const std::string& error) {
  const ProcessorRef& ref = *job.processors[processor].ref;
  LOG_ERROR("engine") << "event " << job.event->id << " integration=" << job.event->integration
                      << " processor=" << ref.name << ": plugin failure in " << hook << ": "
                      << error;
  metrics_.add("oceand_plugin_failures_total", {{"plugin", ref.plugin->name()}, {"hook", hook}});
  Task t;
  t.processor = processor;
  job.tasks.push_back(std::move(t));
  fail_task(job, job.tasks.back(), "plugin_error", std::string(hook) + ": " + error);
}

EventEngine::Step EventEngine::run(const JobPtr& job_ptr) {
  EventJob& job = *job_ptr;
  job.outstanding.store(1);  // this worker's hold
  if (!job.routed) route(job);
  auto now = Clock::now();
  for (size_t i = 0; i < job.tasks.size(); ++i) {
    const Task& task = job.tasks[i];
    if (task.state != Task::State::pending || task.due > now) continue;
    if (!taking_ && !running_) break;
    run_task(job_ptr, i);
  }
  if (job.outstanding.fetch_sub(1) != 1) return Step::applying;
  for (auto& t : job.tasks)
    if (t.state == Task::State::applying) settle_apply(job, t);
  for (const auto& t : job.tasks)
    if (t.state == Task::State::pending) return Step::waiting;
  return Step::finished;
}

void EventEngine::fail_task(EventJob& job, Task& task, const std::string& reason,
                            const std::string& error) {
  task.state = Task::State::failed;
  task.failure_reason = reason;
  task.error = error;
  const std::string& processor =
      job.processors.empty() ? std::string() : job.processors[task.processor].ref->name;
  metrics_.add(
      "oceand_tasks_total",
      {{"integration", job.event->integration}, {"processor", processor}, {"outcome", reason}});
}

// Runs authenticate and validate_payload once per processor instance. False when the task is
// settled by them: dropped (the event is not for us) or failed (the plugin could not answer).
bool EventEngine::pass_gate(EventJob& job, Task& task) {
  ProcessorRun& run = job.processors[task.processor];
  const std::string& processor = run.ref->name;
  const std::string& integration = job.event->integration;
  if (run.gate == ProcessorRun::Gate::unchecked) {
    const CallSite site = job.call_site();
    ocean_event e = job.abi_event(task.attempts + 1);
    const char* hook = "authenticate";
    HookAnswer answer = run.instance.authenticate(site, e, run.gate_error);
    if (answer == HookAnswer::yes) {
      hook = "validate_payload";
      answer = run.instance.validate_payload(site, e, run.gate_error);
    }
    if (answer == HookAnswer::yes) {
      run.gate = ProcessorRun::Gate::passed;
    } else if (answer == HookAnswer::failed) {
      // A plugin bug is not a forged webhook: the event is dead-lettered with the plugin's message
      // and its delivery id still counts as delivered.
      run.gate = ProcessorRun::Gate::plugin_error;
      run.gate_error = std::string(hook) + ": " + run.gate_error;
      LOG_ERROR("engine") << "event " << job.event->id << " integration=" << integration
                          << " processor=" << processor << ": plugin failure in "
                          << run.gate_error;
      metrics_.add("oceand_plugin_failures_total",
                   {{"plugin", run.ref->plugin->name()}, {"hook", hook}});
    } else {
      run.gate = hook[0] == 'a' ? ProcessorRun::Gate::rejected_authentication
                                : ProcessorRun::Gate::rejected_payload;
      const char* why = hook[0] == 'a' ? "authentication_failed" : "invalid_payload";
      LOG_WARN("engine") << "event " << job.event->id << " integration=" << integration
                         << " processor=" << processor << ": " << why << ", dropped";
      metrics_.add("oceand_events_dropped_total",
                   {{"integration", integration}, {"processor", processor}, {"reason", why}});
    }
  }
  switch (run.gate) {
    case ProcessorRun::Gate::passed:
      return true;
    case ProcessorRun::Gate::plugin_error:
      fail_task(job, task, "plugin_error", run.gate_error);
      return false;
    default:
      task.state = Task::State::dropped;
      task.failure_reason = run.gate == ProcessorRun::Gate::rejected_authentication
                                ? "authentication_failed"
                                : "invalid_payload";
      return false;
  }
}

void EventEngine::run_task(const JobPtr& job_ptr, size_t index) {
  EventJob& job = *job_ptr;
  Task& task = job.tasks[index];
  ProcessorRun& run = job.processors[task.processor];
  if (!pass_gate(job, task)) return;

  if (Clock::now() >= job.deadline || job.timed_out) {
    fail_task(job, task, "timed_out", "max_event_processing_seconds passed before the attempt");
    return;
  }

  ++task.attempts;
  const CallSite site = job.call_site();
  ocean_event e = job.abi_event(task.attempts);
  ocean_resource resource{};
  resource.struct_size = sizeof resource;
  resource.kind = to_ocean(task.resource->kind);
  resource.config_json = to_ocean(task.resource->config_json);
  resource.index = task.resource->index;
  uint64_t token = watchdog_.begin(job, run);
  HandleResult handled = run.instance.handle(site, e, resource);
  watchdog_.end(token);

  if (job.timed_out) {
    std::string error = "timed out after " +
                        std::to_string(settings_.max_event_processing_seconds) + " s (cancelled)";
    run.instance.on_error(site, e, error);
    fail_task(job, task, "timed_out", error);
    return;
  }

  if (handled.kind == HandleResult::Kind::ok) {
    task.state = Task::State::applying;
    job.outstanding.fetch_add(1);
    auto done = [this, job_ptr, index](ApplyOutcome outcome) {
      job_ptr->tasks[index].applied = std::move(outcome);
      if (job_ptr->outstanding.fetch_sub(1) == 1) complete_applied(job_ptr);
    };
    try {
      sink_.apply(*job.integration, *task.resource, *job.event,
                  RawResults{std::move(handled.updated), std::move(handled.deleted)}, done);
    } catch (const std::exception& ex) {
      done(ApplyOutcome::failed(std::string("applying failed: ") + ex.what()));
    }
    return;
  }

  if (handled.kind == HandleResult::Kind::threw) {
    LOG_ERROR("engine") << "event " << job.event->id << " integration=" << job.event->integration
                        << " processor=" << run.ref->name
                        << ": plugin failure in handle_event: " << handled.error;
    metrics_.add("oceand_plugin_failures_total",
                 {{"plugin", run.ref->plugin->name()}, {"hook", "handle_event"}});
    run.instance.on_error(site, e, handled.error);
    fail_task(job, task, "plugin_error", "handle_event: " + handled.error);
    return;
  }

  ApplyOutcome outcome;
  outcome.kind = (handled.kind == HandleResult::Kind::retry || handled.http_retryable_failure)
                     ? ApplyOutcome::Kind::retry
                     : ApplyOutcome::Kind::failed;
  outcome.error = std::move(handled.error);
  if (outcome.error.empty()) outcome.error = handled.http_failure;
  if (outcome.error.empty())
    outcome.error = handled.kind == HandleResult::Kind::retry ? "processor asked for a retry"
                                                              : "processor failed";
  outcome.retry_after_seconds = handled.retry_after_seconds;
  run.instance.on_error(site, e, outcome.error);
  schedule_retry(job, task, outcome);
}

// The sink's last answer for a job, on the sender thread that got it. A job whose every change was
// applied is finished right here, which spares a worker's wake-up per event; one with a failure or
// a task still to run goes back to a worker, which tells the plugin (on_error) and retries.
void EventEngine::complete_applied(const JobPtr& job) {
  for (const auto& t : job->tasks) {
    bool applied =
        t.state == Task::State::applying && t.applied.kind == ApplyOutcome::Kind::applied;
    // A failed task is dead-lettered, which stays on the workers with the other failure paths.
    if (!applied && t.state != Task::State::done && t.state != Task::State::dropped) {
      scheduler_.resume(job);
      return;
    }
  }
  for (auto& t : job->tasks)
    if (t.state == Task::State::applying) settle_apply(*job, t);
  finish(job, false);
}

// The sink has answered for a task whose handle_event succeeded.
void EventEngine::settle_apply(EventJob& job, Task& task) {
  ApplyOutcome outcome = std::move(task.applied);
  task.applied = ApplyOutcome{};
  ProcessorRun& run = job.processors[task.processor];
  if (outcome.kind == ApplyOutcome::Kind::applied) {
    task.state = Task::State::done;
    metrics_.add(
        "oceand_tasks_total",
        {{"integration", job.event->integration}, {"processor", run.ref->name}, {"outcome", "ok"}});
    return;
  }
  task.state = Task::State::pending;
  if (run.instance.created()) {
    ocean_event e = job.abi_event(task.attempts);
    run.instance.on_error(job.call_site(), e, outcome.error);
  }
  if (outcome.kind == ApplyOutcome::Kind::failed) {
    fail_task(job, task, "apply_failed", outcome.error);
    return;
  }
  schedule_retry(job, task, outcome);
}

// After a retryable failure: the task waits for its next attempt, or fails when it may not.
void EventEngine::schedule_retry(EventJob& job, Task& task, const ApplyOutcome& outcome) {
  const ProcessorRun& run = job.processors[task.processor];
  const ocean_retry_policy& policy = run.ref->factory->retry;
  const std::string& processor = run.ref->name;
  const std::string& integration = job.event->integration;
  if (outcome.kind == ApplyOutcome::Kind::failed) {
    fail_task(job, task, "failed", outcome.error);
    return;
  }
  unsigned retry_number = task.attempts;  // the n-th retry follows the n-th attempt
  if (retry_number > policy.max_retries) {
    fail_task(job, task, "retries_exhausted", outcome.error);
    return;
  }
  double delay = retry_delay_seconds(policy, retry_number, outcome.retry_after_seconds);
  auto due = Clock::now() +
             std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(delay));
  if (due >= job.deadline) {
    fail_task(job, task, "timed_out",
              outcome.error + " (the next retry would pass max_event_processing_seconds)");
    return;
  }
  task.due = due;
  metrics_.add("oceand_task_retries_total",
               {{"integration", integration}, {"processor", processor}});
  LOG_INFO("engine") << "event " << job.event->id << " integration=" << integration
                     << " processor=" << processor << " attempt " << task.attempts
                     << " failed: " << outcome.error << "; retry " << retry_number << "/"
                     << policy.max_retries << " in " << delay << " s";
  if (retry_observer_) retry_observer_(job.event->id, processor, retry_number, delay);
}

void EventEngine::retire(const JobPtr& job) {
  bool backlog = false;
  {
    std::lock_guard lock(retired_mutex_);
    if (!workers_gone_) {
      retired_.push_back(job);
      has_retired_.store(true, std::memory_order_relaxed);
      // Busy workers come by often; idle ones sleep until woken, so a backlog wakes one.
      backlog = retired_.size() % 64 == 0;
      if (!backlog) return;
    }
  }
  if (backlog)
    scheduler_.wake_idle();
  else  // shutting down: no worker is left to release it
    job->release_plugin_state();
}

void EventEngine::release_retired() {
  std::vector<JobPtr> jobs;
  {
    std::lock_guard lock(retired_mutex_);
    jobs.swap(retired_);
    has_retired_.store(false, std::memory_order_relaxed);
  }
  for (auto& job : jobs) job->release_plugin_state();
}

void EventEngine::finish(const JobPtr& job, bool on_worker) {
  const Event& event = *job->event;
  std::string outcome = "ok";
  std::string processor, reason, error;
  unsigned attempts = job->total_attempts();
  if (!job->route || !job->integration) {
    outcome = "failed";
    reason = "no_route";
    error = "no loaded plugin serves " + event.integration + event.route + " any more";
  } else if (job->processors.empty()) {
    outcome = "unsupported";
  } else if (job->tasks.empty()) {
    outcome = "noop";
  } else {
    bool any_done = false, any_dropped = false, unauthenticated = false;
    for (const auto& t : job->tasks) {
      if (t.state == Task::State::failed && outcome != "failed") {
        outcome = "failed";
        processor = job->processors[t.processor].ref ? job->processors[t.processor].ref->name : "";
        reason = t.failure_reason;
        error = t.error;
      }
      any_done |= t.state == Task::State::done;
      any_dropped |= t.state == Task::State::dropped;
      unauthenticated |=
          t.state == Task::State::dropped && t.failure_reason == "authentication_failed";
    }
    // A delivery that failed authentication did not count: its genuine redelivery must get through.
    // (A plugin that failed to answer is not a failed authentication: its delivery id stays.)
    if (unauthenticated && !any_done) queue_.forget_delivery(event);
    if (outcome != "failed" && any_dropped && !any_done) outcome = "rejected";
  }
  if (outcome == "failed" && reason == "timed_out" && !taking_) {
    // Cancelled by shutdown, not by its own deadline: it stays in the queue and, with the durable
    // queue, runs again at the next start (at-least-once), instead of becoming a dead letter.
    LOG_WARN("engine") << "event " << event.id << " integration=" << event.integration
                       << " interrupted by shutdown after " << attempts
                       << " attempt(s): left unfinished in the queue";
    std::string group = job->group;
    if (on_worker)
      job->release_plugin_state();
    else
      retire(job);
    scheduler_.finish(group);
    return;
  }
  if (outcome == "failed") {
    DeadLetter letter;
    letter.event = job->event;
    letter.reason = reason;
    letter.error = error;
    letter.processor = processor;
    letter.attempts = attempts;
    letter.failed_at_ms = unix_ms();
    uint64_t id = dead_letters_.add(std::move(letter));
    metrics_.add("oceand_events_dead_lettered_total", {{"integration", event.integration}});
    LOG_DEBUG("engine") << "event " << event.id << " stored as dead letter " << id;
  }
  double duration = job->routed ? seconds_since(job->started) : 0;
  metrics_.add("oceand_events_processed_total",
               {{"integration", event.integration}, {"outcome", outcome}});
  metrics_.observe("oceand_event_processing_seconds", {{"integration", event.integration}},
                   duration);
  metrics_.observe("oceand_event_end_to_end_seconds", {{"integration", event.integration}},
                   seconds_since(event.accepted));
  {
    std::ostringstream line;
    line << "event " << event.id << " integration=" << event.integration
         << " route=" << event.route;
    for (size_t i = 0; i < job->processors.size(); ++i)
      line << (i ? "," : " processor=") << job->processors[i].ref->name;
    line << " outcome=" << outcome << " attempts=" << attempts
         << " duration_ms=" << static_cast<long>(duration * 1000);
    if (!event.delivery_id.empty()) line << " delivery=" << event.delivery_id;
    if (!error.empty()) line << " reason=" << reason << " error=\"" << error << "\"";
    if (outcome == "failed")
      Log::write(LogLevel::error, "engine", line.str());
    else
      Log::write(LogLevel::info, "engine", line.str());
  }
  std::string group = job->group;
  if (on_worker)
    job->release_plugin_state();
  else
    retire(job);
  queue_.complete(event.id);
  if (crash_ledger_) crash_ledger_->forget(event.id);
  scheduler_.finish(group);
  { std::lock_guard lock(progress_mutex_); }  // a waiter between its check and its wait sees this
  progress_.notify_all();
}

}  // namespace oceand
