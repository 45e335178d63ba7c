#include "processing/engine.hpp"

#include <sstream>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/thread_name.hpp"
#include "plugins/plugin_manager.hpp"
#include "processing/backoff.hpp"
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
    auto job = std::make_shared<EventJob>(event);
    job->generation = plugins_.current();
    job->group = group_key(*job, *job->generation);
    scheduler_.add(job->group, job);
  }
}

std::string EventEngine::group_key(EventJob& job, const Generation& generation) {
  const WebhookRoute* route = generation.webhook_route(job.event->integration, job.event->route);
  if (route) {
    for (const auto& p : route->processors) {
      auto fn = p.factory->vtable->group_key;
      if (!fn) continue;
      ocean_string_out out;
      ocean_event e = job.abi_event(0);
      CallContext context;
      context.config = generation.config.get();
      CallScope scope(context);
      fn(p.factory->factory_ctx, &e, &out);
      if (out.set && !out.value.empty()) return job.event->integration + '\n' + out.value;
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

  CallContext context;
  context.config = gen.config.get();
  CallScope scope(context);
  for (const auto& ref : job.route->processors) {
    const auto* vt = ref.factory->vtable;
    ocean_event e = job.abi_event(1);
    void* instance = vt->create(ref.factory->factory_ctx, &e);
    if (!instance) {
      LOG_ERROR("engine") << "event " << job.event->id << ": processor " << ref.name
                          << " could not be created";
      Task t;
      t.processor = job.processors.size();
      t.state = Task::State::failed;
      t.failure_reason = "failed";
      t.error = "processor " + ref.name + " could not be created";
      job.processors.push_back(ProcessorRun{&ref, nullptr});
      job.tasks.push_back(std::move(t));
      continue;
    }
    if (!vt->should_process_event(instance, &e)) {
      vt->destroy(instance);
      continue;
    }
    size_t index = job.processors.size();
    job.processors.push_back(ProcessorRun{&ref, instance});
    ocean_string_list kinds;
    if (vt->get_matching_kinds(instance, &e, &kinds) != OCEAN_STATUS_OK) {
      Task t;
      t.processor = index;
      t.state = Task::State::failed;
      t.failure_reason = "failed";
      t.error = "get_matching_kinds failed";
      job.tasks.push_back(std::move(t));
      continue;
    }
    for (const auto& kind : kinds.items) {
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

void EventEngine::run_task(const JobPtr& job_ptr, size_t index) {
  EventJob& job = *job_ptr;
  Task& task = job.tasks[index];
  ProcessorRun& run = job.processors[task.processor];
  const auto* vt = run.ref->factory->vtable;
  const std::string& processor = run.ref->name;
  const std::string& integration = job.event->integration;

  CallContext context;
  context.config = job.generation->config.get();
  CallScope scope(context);

  if (run.gate == ProcessorRun::Gate::unchecked) {
    ocean_event e = job.abi_event(task.attempts + 1);
    if (!vt->authenticate(run.instance, &e)) {
      run.gate = ProcessorRun::Gate::rejected_authentication;
    } else if (!vt->validate_payload(run.instance, &e)) {
      run.gate = ProcessorRun::Gate::rejected_payload;
    } else {
      run.gate = ProcessorRun::Gate::passed;
    }
    if (run.gate != ProcessorRun::Gate::passed) {
      const char* why = run.gate == ProcessorRun::Gate::rejected_authentication
                            ? "authentication_failed"
                            : "invalid_payload";
      LOG_WARN("engine") << "event " << job.event->id << " integration=" << integration
                         << " processor=" << processor << ": " << why << ", dropped";
      metrics_.add("oceand_events_dropped_total",
                   {{"integration", integration}, {"processor", processor}, {"reason", why}});
    }
  }
  if (run.gate != ProcessorRun::Gate::passed) {
    task.state = Task::State::dropped;
    task.failure_reason = run.gate == ProcessorRun::Gate::rejected_authentication
                              ? "authentication_failed"
                              : "invalid_payload";
    return;
  }

  if (Clock::now() >= job.deadline || job.timed_out) {
    fail_task(job, task, "timed_out", "max_event_processing_seconds passed before the attempt");
    return;
  }

  ++task.attempts;
  ocean_event e = job.abi_event(task.attempts);
  ocean_resource resource{};
  resource.struct_size = sizeof resource;
  resource.kind = to_ocean(task.resource->kind);
  resource.config_json = to_ocean(task.resource->config_json);
  resource.index = task.resource->index;
  ocean_results results;
  context.http_retryable_failure = false;
  uint64_t token = watchdog_.begin(job, run);
  ocean_status status = vt->handle_event(run.instance, &e, &resource, &results);
  watchdog_.end(token);

  if (job.timed_out) {
    std::string error = "timed out after " +
                        std::to_string(settings_.max_event_processing_seconds) + " s (cancelled)";
    if (vt->on_error) vt->on_error(run.instance, &e, to_ocean(error));
    fail_task(job, task, "timed_out", error);
    return;
  }

  if (status == OCEAN_STATUS_OK) {
    task.state = Task::State::applying;
    job.outstanding.fetch_add(1);
    auto done = [this, job_ptr, index](ApplyOutcome outcome) {
      job_ptr->tasks[index].applied = std::move(outcome);
      if (job_ptr->outstanding.fetch_sub(1) == 1) complete_applied(job_ptr);
    };
    try {
      sink_.apply(*job.integration, *task.resource, *job.event,
                  RawResults{std::move(results.updated), std::move(results.deleted)}, done);
    } catch (const std::exception& e) {
      done(ApplyOutcome::failed(std::string("applying failed: ") + e.what()));
    }
    return;
  }

  ApplyOutcome outcome;
  outcome.kind = (status == OCEAN_STATUS_RETRY || context.http_retryable_failure)
                     ? ApplyOutcome::Kind::retry
                     : ApplyOutcome::Kind::failed;
  outcome.error = results.error;
  if (outcome.error.empty()) outcome.error = context.http_failure;
  if (outcome.error.empty())
    outcome.error =
        status == OCEAN_STATUS_RETRY ? "processor asked for a retry" : "processor failed";
  outcome.retry_after_seconds = results.retry_after_seconds;
  if (vt->on_error) vt->on_error(run.instance, &e, to_ocean(outcome.error));
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
  if (run.instance && run.ref->factory->vtable->on_error) {
    CallContext context;
    context.config = job.generation->config.get();
    CallScope scope(context);
    ocean_event e = job.abi_event(task.attempts);
    run.ref->factory->vtable->on_error(run.instance, &e, to_ocean(outcome.error));
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
  scheduler_.finish(group);
  { std::lock_guard lock(progress_mutex_); }  // a waiter between its check and its wait sees this
  progress_.notify_all();
}

}  // namespace oceand
