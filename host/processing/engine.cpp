#include "processing/engine.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <unordered_set>

#include "core/clock.hpp"
#include "core/cpu_wait.hpp"
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

// How long one job may hold a CPU slot before it stops counting against event_workers_on_cpu
// (CpuGate): far longer than a webhook's processing takes on a busy machine, short enough that a
// plugin blocking on its own delays the others only that once.
constexpr std::chrono::milliseconds kCpuGateLease{250};

constexpr const char* kOwnershipUnknown =
    "the shared queue cannot confirm that this instance still owns the event";

using Clock = std::chrono::steady_clock;

double seconds_since(SteadyTime t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// On the worker running `job`: what it waited for a CPU since the job's mark moves the job's
// deadline, within its allowance. Workers yield the CPU to ingress (event_workers_policy), and
// waiting for a turn is not taking too long, so max_event_processing_seconds counts the rest.
void count_out_cpu_wait(EventJob& job) {
  const int64_t now = my_cpu_wait_ns();
  const auto waited = cpu_wait_between(job.cpu_wait_mark, now, job.cpu_wait_allowance);
  job.deadline += waited;
  job.cpu_wait_allowance -= waited;
  job.cpu_wait_mark = now;
}

}  // namespace

EventEngine::EventEngine(Settings settings, EventQueue& queue, DeadLetterStore& dead_letters,
                         PluginManager& plugins, ResultSink& sink, Metrics& metrics)
    : settings_(settings),
      queue_(queue),
      dead_letters_(dead_letters),
      plugins_(plugins),
      sink_(sink),
      metrics_(metrics),
      watchdog_(std::chrono::duration<double>(settings_.abandon_grace_seconds)) {
  if (settings_.max_concurrency) scheduler_.set_concurrency_limit(settings_.max_concurrency);
  if (settings_.on_cpu > 0) cpu_gate_ = std::make_shared<CpuGate>(settings_.on_cpu, kCpuGateLease);
  watchdog_.set_abandon_handler([this](const JobPtr& job, size_t task, std::thread::id worker) {
    on_abandoned(job, task, worker);
  });
}

EventEngine::~EventEngine() {
  if (running_) stop(std::chrono::seconds(0));
}

// A worker thread; `first` runs before it takes jobs (the rest of an abandoned worker's job).
void EventEngine::spawn_worker(std::function<void()> first) {
  auto ended = std::make_shared<std::atomic<bool>>(false);
  auto seat = cpu_gate_ ? std::make_shared<CpuGate::Seat>(cpu_gate_) : nullptr;
  std::lock_guard lock(workers_mutex_);
  workers_.push_back(Worker{std::thread([this, ended, seat, first = std::move(first)] {
                              name_this_thread("worker");
                              lower_priority();
                              CpuGate::bind_this_thread(seat);
                              if (first) first();
                              worker_loop(seat.get());
                              {
                                std::lock_guard done(workers_mutex_);
                                ended->store(true);
                              }
                              workers_cv_.notify_all();
                            }),
                            ended, seat});
}

// The watchdog gave up on a handle_event that ignored cancel. The stuck thread is detached (it ends
// by itself if the call ever returns, touching only its WatchedCall), a new worker takes its place
// and first does what the stuck one would have: fail the task and carry the job on.
void EventEngine::on_abandoned(const JobPtr& job, size_t task, std::thread::id worker) {
  const ProcessorRun& run = job->processors[job->tasks[task].processor];
  metrics_.add("oceand_workers_abandoned_total",
               {{"integration", job->event->integration}, {"plugin", run.ref->plugin->name()}});
  OCEAND_LOG_ERROR("engine") << "event " << job->event->id
                             << " integration=" << job->event->integration
                             << " processor=" << run.ref->name
                             << " plugin=" << run.ref->plugin->file()
                             << ": handle_event ignored cancel for "
                             << settings_.abandon_grace_seconds
                             << " s past max_event_processing_seconds; its worker is abandoned and "
                                "replaced";
  {
    std::lock_guard lock(workers_mutex_);
    for (auto it = workers_.begin(); it != workers_.end(); ++it) {
      if (it->thread.get_id() != worker) continue;
      // Its slot goes to the others now: the stuck call may never return.
      if (it->seat) it->seat->forfeit();
      it->thread.detach();
      workers_.erase(it);
      break;
    }
    if (workers_gone_) return;  // shutting down: nobody carries the job on; it stays queued
  }
  spawn_worker([this, job, task] {
    const bool shutdown = job->shutting_down.load();
    fail_task(*job, job->tasks[task], shutdown ? TaskReason::shutdown : TaskReason::timed_out,
              shutdown
                  ? "cancelled by shutdown; the handler did not return"
                  : "timed out after " + std::to_string(settings_.max_event_processing_seconds) +
                        " s; the handler ignored cancel and was abandoned");
    job->cpu_wait_mark = my_cpu_wait_ns();  // this worker's, from here on
    after_run(job, run_from(job, task + 1));
    scheduler_.release(job->event->integration);
  });
}

void EventEngine::lower_priority() {
  lower_this_thread_priority(settings_.nice);
  if (!settings_.idle || idle_this_thread()) return;
  static std::atomic<bool> told{false};
  if (!told.exchange(true)) {
    OCEAND_LOG_WARN("engine") << "event_workers_policy idle: SCHED_IDLE refused ("
                              << std::strerror(errno) << "); workers run at event_workers_nice";
  }
}

void EventEngine::start() {
  running_ = true;
  taking_ = true;
  dispatcher_ = std::thread([this] {
    name_this_thread("dispatcher");
    lower_priority();
    dispatch_loop();
  });
  for (int i = 0; i < settings_.workers; ++i) spawn_worker();
  OCEAND_LOG_INFO("engine") << "started " << settings_.workers << " event worker(s)";
}

size_t EventEngine::in_flight() const {
  return unfinished_here();
}

// A shared queue's depth counts every instance's events: this one's are those it claimed.
size_t EventEngine::unfinished_here() const {
  if (!queue_.shared()) return queue_.depth();
  return scheduler_.scheduled() + held_count_.load() + queue_.waiting();
}

size_t EventEngine::stop(std::chrono::duration<double> drain) {
  if (!running_.exchange(false)) return unfinished_here();
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(drain);
  {
    // Keep working until everything accepted is done or the drain time is up.
    std::unique_lock lock(progress_mutex_);
    progress_.wait_until(lock, deadline, [&] { return unfinished_here() == 0; });
    taking_ = false;
  }
  progress_.notify_all();
  watchdog_.cancel_all();
  retry_timer_.stop();
  scheduler_.close();
  if (dispatcher_.joinable()) dispatcher_.join();
  // Workers end once their calls return; a handler that ignores cancel past the grace is left
  // behind (detached), so shutdown stays bounded whatever a plugin does. Its event stays queued.
  {
    std::unique_lock lock(workers_mutex_);
    auto grace = std::chrono::duration<double>(settings_.abandon_grace_seconds);
    workers_cv_.wait_for(lock, grace, [&] {
      for (const auto& w : workers_)
        if (!w.ended->load()) return false;
      return true;
    });
    workers_gone_ = true;  // no replacement is started from here on
  }
  size_t stuck = watchdog_.abandon_all();
  {
    std::lock_guard lock(workers_mutex_);
    for (auto& w : workers_) {
      if (w.ended->load())
        w.thread.join();
      else
        w.thread.detach();
    }
    workers_.clear();
  }
  if (stuck > 0) {
    OCEAND_LOG_ERROR("engine") << stuck << " handler(s) ignored cancel at shutdown; left running";
  }
  {
    // From here a job finished off a worker releases its plugin state where it finishes.
    std::lock_guard lock(retired_mutex_);
    workers_gone_ = true;
  }
  release_retired();
  watchdog_.stop();
  size_t left = unfinished_here();
  if (left > 0) {
    OCEAND_LOG_WARN("engine") << left << " accepted event(s) not finished at shutdown"
                              << (queue_.backend() == "memory" ? " (memory queue: they are lost)"
                                  : queue_.shared()            ? " (other instances take them)"
                                                               : " (they resume at next start)");
  }
  return left;
}

void EventEngine::dispatch_loop() {
  const size_t limit = static_cast<size_t>(std::max(64, settings_.workers * 4));
  const bool shared = queue_.shared();
  size_t popped = 0;  // since the held events were last looked at
  while (taking_) {
    if (shared && !held_.empty() && popped == 0) release_held();
    if (!scheduler_.wait_below(limit, std::chrono::milliseconds(100))) {
      // Busy: still admit (and so group) what this instance already claimed, or its ungrouped
      // claims would hold back every later event of the cluster.
      if (shared) admit_claimed();
      continue;
    }
    // Held events are looked at again after a batch of pops, or after 20 ms without one.
    EventPtr event = queue_.pop(std::chrono::milliseconds(shared && !held_.empty() ? 20 : 100));
    if (shared && (!event || ++popped >= 32 || queue_.waiting() == 0)) popped = 0;
    if (!event) {
      if (!queue_.is_open()) {  // closed and drained: nothing will come; wait for stop()
        std::unique_lock lock(progress_mutex_);
        progress_.wait_for(lock, std::chrono::milliseconds(100), [&] { return !taking_; });
      }
      continue;
    }
    if (quarantined(event)) continue;
    JobPtr job = admitted(std::move(event));
    if (shared) {
      hold(std::move(job));
      continue;
    }
    const std::string& integration = job->event->integration;
    scheduler_.add(job->group, job, integration);
  }
  // Never handed to a worker: their instances are released; the events stay in the shared queue
  // for whichever instance claims them next.
  for (auto& job : held_) {
    if (!job->plugin.empty())
      metrics_.add("oceand_plugin_events_in_flight", {{"plugin", job->plugin}}, -1);
    retire(job);
  }
  held_.clear();
  held_count_.store(0);
}

// Events already claimed from the shared queue, admitted and held without claiming more.
void EventEngine::admit_claimed() {
  while (queue_.waiting() > 0) {
    EventPtr event = queue_.pop(std::chrono::milliseconds(0));
    if (!event) break;
    if (!quarantined(event)) hold(admitted(std::move(event)));
  }
  if (!held_.empty()) release_held();
}

JobPtr EventEngine::admitted(EventPtr event) {
  auto job = std::make_shared<EventJob>(std::move(event));
  job->generation = plugins_.current();
  job->group = admit(*job);
  return job;
}

// Shared queue: the event's group goes to the store, and the job waits for the cluster's order.
void EventEngine::hold(JobPtr job) {
  queue_.set_group(job->event->id, job->group);
  held_.push_back(std::move(job));
  held_count_.store(held_.size());
}

// Shared queue: held events go to the scheduler once no earlier event of their group is pending on
// another instance, in id order; once one of a group must wait, every later one of it waits too
// (the scheduler then orders what this instance holds of the group).
void EventEngine::release_held() {
  std::sort(held_.begin(), held_.end(),
            [](const JobPtr& a, const JobPtr& b) { return a->event->id < b->event->id; });
  std::vector<std::pair<uint64_t, std::string>> ask;
  ask.reserve(held_.size());
  for (const auto& job : held_) ask.emplace_back(job->event->id, job->group);
  std::vector<uint64_t> cleared = queue_.runnable(ask);
  std::unordered_set<uint64_t> may_run(cleared.begin(), cleared.end());
  std::unordered_set<std::string> waiting_groups;
  std::vector<JobPtr> still;
  for (auto& job : held_) {
    // This instance's lease ran out meanwhile: the event is another's. It finishes at once,
    // handed_over, without its handlers running beside the new owner's.
    if (!queue_.holds(job->event->id)) job->handed_over = true;
    if (job->handed_over || (!waiting_groups.count(job->group) && may_run.count(job->event->id))) {
      const std::string& integration = job->event->integration;
      const std::string group = job->group;
      scheduler_.add(group, std::move(job), integration);
    } else {
      waiting_groups.insert(job->group);
      still.push_back(std::move(job));
    }
  }
  held_.swap(still);
  held_count_.store(held_.size());
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
  recent_failures_.add(
      {letter.failed_at_ms, event->id, event->integration, "crashed", "crashed", letter.error});
  uint64_t id = dead_letters_.add(std::move(letter));
  metrics_.add("oceand_events_dead_lettered_total", {{"integration", event->integration}});
  metrics_.add("oceand_events_processed_total",
               {{"integration", event->integration}, {"outcome", "failed"}});
  OCEAND_LOG_ERROR("engine") << "event " << event->id << " integration=" << event->integration
                             << " processor=" << entry->processor << " plugin=" << entry->plugin
                             << " outcome=failed reason=crashed crashes=" << entry->crashes
                             << " dead_letter=" << id;
  queue_.complete(event->id);
  crash_ledger_->forget(event->id);
  { std::lock_guard lock(progress_mutex_); }
  progress_.notify_all();
  return true;
}

// Admission, on the dispatcher: the processors on the event's route are created and asked whether
// they want it (should_process_event), and the event is grouped by the ones that do — the first of
// them, in registration order, that gives a key (docs/plugin-authoring.md, "Ordering"). A processor
// that declines does not order the event. Hooks that fail cost their processor's part of the event
// (a plugin_error task); a group_key that fails costs only its key.
std::string EventEngine::admit(EventJob& job) {
  const Generation& gen = *job.generation;
  job.integration = gen.integration(job.event->integration);
  job.route = gen.webhook_route(job.event->integration, job.event->route);
  if (job.integration && job.integration->plugin) {
    job.plugin = job.integration->plugin->name();
    metrics_.add("oceand_plugin_events_in_flight", {{"plugin", job.plugin}}, 1);
  }
  if (!job.route || !job.integration) return own_group(job);  // finish() dead-letters it
  const CallSite site = job.call_site();
  for (const auto& ref : job.route->processors) {
    HookEvent e = job.hook_event(1);
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
    if (accepts == HookAnswer::failed) fail_routing(job, index, "should_process_event", error);
  }
  for (const auto& run : job.processors) {
    if (!run.instance.created() || run.routing_failed) continue;
    HookEvent e = job.hook_event(0);
    std::string error;
    std::string key = ProcessorInstance::group_key(*run.ref, site, e, error);
    if (!error.empty()) {
      plugin_failure(job, *run.ref, "group_key", error, " (the event is ordered on its own)");
      continue;
    }
    if (!key.empty()) return job.event->integration + '\n' + key;
  }
  return own_group(job);
}

std::string EventEngine::own_group(const EventJob& job) {
  return "\x01" + std::to_string(job.event->id);  // no key: its own group
}

void EventEngine::worker_loop(CpuGate::Seat* seat) {
  while (true) {
    if (has_retired_.load(std::memory_order_relaxed)) release_retired();
    JobPtr job;
    if (seat) {
      // The slot first, then a job that is there now: a worker waiting for a slot holds no job
      // (nor its group), and one that keeps its slot from job to job wakes nobody — handing the
      // slot over after every job would wake a thread per job, and a woken thread gets the CPU
      // ahead of its priority.
      seat->take();
      job = scheduler_.next(std::chrono::milliseconds(0));
      if (!job) {
        seat->give_back();  // idle: no slot while waiting for work
        // next() may have taken a wake_idle meant for an idle worker: do what it asks.
        release_retired();
      }
    }
    if (!job) {
      job = scheduler_.next(std::chrono::milliseconds(200));
      if (!job) {
        release_retired();
        if (!taking_) return;
        continue;
      }
      if (seat) seat->take();  // work came to an idle worker
    }
    if (seat) seat->renew();
    Step step = run(job);
    if (step == Step::abandoned) {  // another worker carries the job on; this one ends
      if (seat) seat->give_back();
      return;
    }
    after_run(job, step);
    scheduler_.release(job->event->integration);
    // A job that outlived its lease lost the slot: the worker queues again. And a worker back
    // from a third party's answer with its job half done goes before new jobs.
    if (seat && (!seat->holds_slot() || seat->others_returning())) seat->give_back();
  }
}

EventEngine::Step EventEngine::run(const JobPtr& job_ptr) {
  if (job_ptr->handed_over) return Step::finished;  // another instance runs it (release_held)
  job_ptr->outstanding.store(1);                    // this worker's hold
  try {
    if (!job_ptr->routed) route(*job_ptr);
  } catch (const std::exception& e) {
    return host_error(job_ptr, e);
  }
  job_ptr->cpu_wait_mark = my_cpu_wait_ns();  // this worker's, from here on
  return run_from(job_ptr, 0);
}

// A host failure (never a plugin's: those are caught at the door) fails what is left of the job.
EventEngine::Step EventEngine::host_error(const JobPtr& job, const std::exception& e) {
  OCEAND_LOG_ERROR("engine") << "event " << job->event->id
                             << ": unexpected host error: " << e.what();
  for (auto& t : job->tasks)
    if (t.state == Task::State::pending) fail_task(*job, t, TaskReason::host_error, e.what());
  // Completions still outstanding resume the job; the last one finishes it.
  return job->outstanding.fetch_sub(1) == 1 ? Step::finished : Step::applying;
}

// What a worker does with a job once run() returns.
void EventEngine::after_run(const JobPtr& job, Step step) {
  if (step == Step::finished) {
    finish(job);
    return;
  }
  if (step != Step::waiting) return;  // applying: the sink's last completion resumes the job
  SteadyTime due = SteadyTime::max();
  for (const auto& t : job->tasks)
    if (t.state == Task::State::pending) due = std::min(due, t.due);
  retry_timer_.schedule(due, [this, job] { scheduler_.resume(job, job->event->integration); });
}

// On a worker: the processors that accepted the event at admission say which kinds it concerns,
// and each kind's resources become tasks. The job keeps the generation it was admitted on: its
// processor instances belong to that generation's plugins.
void EventEngine::route(EventJob& job) {
  job.routed = true;
  job.started = Clock::now();
  job.deadline =
      job.started + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(settings_.max_event_processing_seconds));
  job.cpu_wait_allowance = job.deadline - job.started;
  if (!job.route || !job.integration) return;  // finish() dead-letters it: nothing serves it now
  const CallSite site = job.call_site();
  for (size_t index = 0; index < job.processors.size(); ++index) {
    ProcessorRun& run = job.processors[index];
    if (!run.instance.created() || run.routing_failed) continue;
    HookEvent e = job.hook_event(1);
    std::vector<std::string> kinds;
    std::string error;
    if (run.instance.matching_kinds(site, e, kinds, error) != HookAnswer::yes) {
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

// One line and one count for every hook a plugin failed to answer; `then` says what it costs.
void EventEngine::plugin_failure(const EventJob& job, const ProcessorRef& ref, const char* hook,
                                 const std::string& error, const char* then) {
  OCEAND_LOG_ERROR_LIMITED("engine",
                           "plugin failure " + job.event->integration + " " + ref.name + " " + hook)
      << "event " << job.event->id << " integration=" << job.event->integration
      << " processor=" << ref.name << ": plugin failure in " << hook << ": " << error << then;
  metrics_.add("oceand_plugin_failures_total", {{"plugin", ref.plugin->name()}, {"hook", hook}});
}

// A processor that could not take part in routing (create returned NULL, a hook failed or threw):
// one failed task stands for it, so the event is dead-lettered with the plugin's message.
void EventEngine::fail_routing(EventJob& job, size_t processor, const char* hook,
                               const std::string& error) {
  job.processors[processor].routing_failed = true;
  plugin_failure(job, *job.processors[processor].ref, hook, error);
  Task t;
  t.processor = processor;
  job.tasks.push_back(std::move(t));
  fail_task(job, job.tasks.back(), TaskReason::plugin_error, std::string(hook) + ": " + error);
}

// Runs the job's due tasks from `first_task` on, then gives up this worker's hold.
EventEngine::Step EventEngine::run_from(const JobPtr& job_ptr, size_t first_task) {
  EventJob& job = *job_ptr;
  try {
    auto now = Clock::now();
    for (size_t i = first_task; i < job.tasks.size(); ++i) {
      const Task& task = job.tasks[i];
      if (task.state != Task::State::pending || task.due > now) continue;
      if (!taking_ && !running_) break;
      if (!run_task(job_ptr, i)) return Step::abandoned;
    }
  } catch (const std::exception& e) {
    return host_error(job_ptr, e);
  }
  if (job.outstanding.fetch_sub(1) != 1) return Step::applying;
  return settle(job_ptr);
}

// Every completion is in (the caller brought `outstanding` to zero). Settles them; once no task can
// still produce results, sends the deletions that waited for them, which may finish the job here
// too when the applier answers at once.
EventEngine::Step EventEngine::settle(const JobPtr& job_ptr) {
  EventJob& job = *job_ptr;
  while (true) {
    for (auto& t : job.tasks)
      if (t.state == Task::State::applying) settle_apply(job, t);
    bool deleting = false;
    for (const auto& t : job.tasks) {
      if (t.state == Task::State::pending) return Step::waiting;
      deleting |= t.state == Task::State::mapped;
    }
    if (!deleting) return Step::finished;
    job.outstanding.store(1);  // this thread's hold while the deletions are handed over
    for (size_t i = 0; i < job.tasks.size(); ++i) {
      Task& t = job.tasks[i];
      if (t.state != Task::State::mapped) continue;
      t.state = Task::State::applying;
      job.outstanding.fetch_add(1);
      DeferredApply deletions = std::move(t.deletions);
      t.deletions = nullptr;
      ApplyDone done = completion(job_ptr, i);
      if (!may_apply(job, done)) continue;
      try {
        deletions(done);
      } catch (const std::exception& ex) {
        done(ApplyOutcome::failed(std::string("applying failed: ") + ex.what()));
      }
    }
    if (job.outstanding.fetch_sub(1) != 1) return Step::applying;
  }
}

// The sink's answer for one task; the last answer of a job moves it on.
ApplyDone EventEngine::completion(const JobPtr& job, size_t task) {
  return [this, job, task](ApplyOutcome outcome) {
    job->tasks[task].applied = std::move(outcome);
    if (job->outstanding.fetch_sub(1) == 1) complete_applied(job);
  };
}

void EventEngine::fail_task(EventJob& job, Task& task, TaskReason reason,
                            const std::string& error) {
  task.state = Task::State::failed;
  task.failure_reason = reason;
  task.error = error;
  const std::string& processor =
      job.processors.empty() ? std::string() : job.processors[task.processor].ref->name;
  metrics_.add("oceand_tasks_total", {{"integration", job.event->integration},
                                      {"processor", processor},
                                      {"outcome", label(reason)}});
}

// Runs authenticate and validate_payload once per processor instance. False when the task is
// settled by them: dropped (the event is not for us, or a redelivery) or failed (the plugin could
// not answer). The first authenticated processor claims the delivery id: only then does the id
// count as delivered, so a forged copy of a delivery never suppresses the genuine one.
bool EventEngine::pass_gate(EventJob& job, Task& task) {
  if (job.delivery == EventJob::Delivery::duplicate) {
    task.state = Task::State::dropped;
    task.failure_reason = TaskReason::duplicate;
    return false;
  }
  ProcessorRun& run = job.processors[task.processor];
  const std::string& processor = run.ref->name;
  const std::string& integration = job.event->integration;
  if (run.gate == ProcessorRun::Gate::unchecked) {
    const CallSite site = job.call_site();
    HookEvent e = job.hook_event(task.attempts + 1);
    bool at_authenticate = true;
    HookAnswer answer = run.instance.authenticate(site, e, run.gate_error);
    if (answer == HookAnswer::yes) {
      at_authenticate = false;
      answer = run.instance.validate_payload(site, e, run.gate_error);
    }
    const char* hook = at_authenticate ? "authenticate" : "validate_payload";
    if (answer == HookAnswer::yes) {
      run.gate = ProcessorRun::Gate::passed;
    } else if (answer == HookAnswer::failed) {
      // A plugin bug is not a forged webhook: the event is dead-lettered with the plugin's message
      // and its delivery id (kept with the letter, for replay). The id is not claimed: a forged
      // copy that trips the plugin must not suppress the genuine delivery.
      run.gate = ProcessorRun::Gate::plugin_error;
      plugin_failure(job, *run.ref, hook, run.gate_error);
      run.gate_error = std::string(hook) + ": " + run.gate_error;
    } else {
      run.gate = at_authenticate ? ProcessorRun::Gate::rejected_authentication
                                 : ProcessorRun::Gate::rejected_payload;
      const char* why = at_authenticate ? "authentication_failed" : "invalid_payload";
      // One per forged delivery: a flood of them must not flood the log.
      OCEAND_LOG_WARN_LIMITED("engine", std::string("dropped ") + integration + " " + why)
          << "event " << job.event->id << " integration=" << integration
          << " processor=" << processor << ": " << why << ", dropped";
      metrics_.add("oceand_events_dropped_total",
                   {{"integration", integration}, {"processor", processor}, {"reason", why}});
    }
  }
  switch (run.gate) {
    case ProcessorRun::Gate::passed:
      if (job.delivery == EventJob::Delivery::unclaimed) {
        job.delivery = queue_.claim_delivery(*job.event) ? EventJob::Delivery::claimed
                                                         : EventJob::Delivery::duplicate;
        if (job.delivery == EventJob::Delivery::duplicate) return pass_gate(job, task);
      }
      return true;
    case ProcessorRun::Gate::plugin_error:
      fail_task(job, task, TaskReason::plugin_error, run.gate_error);
      return false;
    default:
      task.state = Task::State::dropped;
      task.failure_reason = run.gate == ProcessorRun::Gate::rejected_authentication
                                ? TaskReason::authentication_failed
                                : TaskReason::invalid_payload;
      return false;
  }
}

// False when the call was abandoned by the watchdog: the caller then leaves the job alone.
bool EventEngine::run_task(const JobPtr& job_ptr, size_t index) {
  EventJob& job = *job_ptr;
  Task& task = job.tasks[index];
  ProcessorRun& run = job.processors[task.processor];
  if (!pass_gate(job, task)) return true;

  count_out_cpu_wait(job);
  if (Clock::now() >= job.deadline || job.timed_out) {
    fail_task(job, task, job.shutting_down ? TaskReason::shutdown : TaskReason::timed_out,
              job.shutting_down ? "cancelled by shutdown before the attempt"
                                : "max_event_processing_seconds passed before the attempt");
    return true;
  }

  ++task.attempts;
  const CallSite site = job.call_site();
  HookEvent e = job.hook_event(task.attempts);
  auto call = std::make_shared<WatchedCall>();
  uint64_t token =
      watchdog_.begin(job_ptr, run, index, call, job.cpu_wait_mark, job.cpu_wait_allowance);
  HandleResult handled = run.instance.handle(site, e, *task.resource);
  // Abandoned meanwhile: the job, and the engine itself, may be gone or run by another worker.
  if (!call->finish()) return false;
  watchdog_.end(token);
  count_out_cpu_wait(job);  // the watchdog judged the call the same way

  settle_handled(job_ptr, index, e, std::move(handled));
  return true;
}

// What handle_event's answer makes of the task: its results go to the sink, or it fails, or it
// waits for a retry.
void EventEngine::settle_handled(const JobPtr& job_ptr, size_t index, const HookEvent& e,
                                 HandleResult handled) {
  EventJob& job = *job_ptr;
  Task& task = job.tasks[index];
  ProcessorRun& run = job.processors[task.processor];
  const CallSite site = job.call_site();
  if (job.timed_out) {
    const bool shutdown = job.shutting_down;
    std::string error = shutdown ? "cancelled by shutdown"
                                 : "timed out after " +
                                       std::to_string(settings_.max_event_processing_seconds) +
                                       " s (cancelled)";
    run.instance.on_error(site, e, error);
    fail_task(job, task, shutdown ? TaskReason::shutdown : TaskReason::timed_out, error);
    return;
  }
  if (handled.kind == HandleResult::Kind::ok) {
    apply_results(job_ptr, index, std::move(handled));
    return;
  }
  if (handled.kind == HandleResult::Kind::threw) {
    plugin_failure(job, *run.ref, "handle_event", handled.error);
    run.instance.on_error(site, e, handled.error);
    fail_task(job, task, TaskReason::plugin_error, "handle_event: " + handled.error);
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
  if (handled.rate_budget_wait_seconds > 0 && outcome.kind == ApplyOutcome::Kind::retry) {
    outcome.rate_budget_wait = true;
    outcome.retry_after_seconds =
        std::max(outcome.retry_after_seconds, handled.rate_budget_wait_seconds);
  }
  run.instance.on_error(site, e, outcome.error);
  schedule_retry(job, task, outcome);
}

// Shared queue: whether this instance may still apply the event's results; when not, `done` is
// told so. Handed over (its lease ran out and another instance claimed the event): the task ends
// without applying anything (outcome handed_over, see verdict_of). Unknown (the store cannot be
// asked): it waits for the store, a second at a time.
bool EventEngine::may_apply(EventJob& job, const ApplyDone& done) {
  if (!queue_.shared()) return true;
  switch (queue_.ownership(job.event->id)) {
    case EventQueue::Ownership::owned:
      return true;
    case EventQueue::Ownership::handed_over:
      job.handed_over = true;
      done(ApplyOutcome::applied());
      return false;
    case EventQueue::Ownership::unknown:
      break;
  }
  done(ApplyOutcome::wait_for_store(kOwnershipUnknown, 1));
  return false;
}

// A successful handle_event's results to the sink: the task waits for its completion (which may
// come before this returns).
void EventEngine::apply_results(const JobPtr& job_ptr, size_t index, HandleResult handled) {
  EventJob& job = *job_ptr;
  Task& task = job.tasks[index];
  task.state = Task::State::applying;
  job.outstanding.fetch_add(1);
  ApplyDone done = completion(job_ptr, index);
  if (!may_apply(job, done)) return;
  try {
    task.deletions = sink_.apply(*job.integration, *task.resource, *job.event,
                                 RawResults{std::move(handled.updated), std::move(handled.deleted)},
                                 job.upserted, done);
  } catch (const std::exception& ex) {
    done(ApplyOutcome::failed(std::string("applying failed: ") + ex.what()));
  }
}

// The sink's last answer for a job, on the sender thread that got it. A job whose every change was
// applied is finished right here, which spares a worker's wake-up per event; one with a failure, a
// task still to run or deletions still to send goes back to a worker, which tells the plugin
// (on_error), retries and sends them.
void EventEngine::complete_applied(const JobPtr& job) {
  for (const auto& t : job->tasks) {
    bool applied = t.state == Task::State::applying &&
                   t.applied.kind == ApplyOutcome::Kind::applied && !t.deletions;
    // A failed task is dead-lettered, which stays on the workers with the other failure paths.
    if (!applied && t.state != Task::State::done && t.state != Task::State::dropped) {
      scheduler_.resume(job, job->event->integration);
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
    if (task.deletions) {
      task.state = Task::State::mapped;
      return;
    }
    task.state = Task::State::done;
    metrics_.add(
        "oceand_tasks_total",
        {{"integration", job.event->integration}, {"processor", run.ref->name}, {"outcome", "ok"}});
    return;
  }
  task.state = Task::State::pending;
  task.deletions = nullptr;  // a retry maps its results again
  if (run.instance.created()) {
    HookEvent e = job.hook_event(task.attempts);
    run.instance.on_error(job.call_site(), e, outcome.error);
  }
  if (outcome.kind == ApplyOutcome::Kind::failed) {
    fail_task(job, task, TaskReason::apply_failed, outcome.error);
    return;
  }
  schedule_retry(job, task, outcome);
}

// After a retryable failure: the task waits for its next attempt, or fails when it may not.
void EventEngine::schedule_retry(EventJob& job, Task& task, const ApplyOutcome& outcome) {
  const ProcessorRun& run = job.processors[task.processor];
  const RetryPolicy policy = ProcessorInstance::retry_policy(*run.ref);
  const std::string& processor = run.ref->name;
  const std::string& integration = job.event->integration;
  if (outcome.kind == ApplyOutcome::Kind::failed) {
    fail_task(job, task, TaskReason::failed, outcome.error);
    return;
  }
  if (outcome.store_wait || outcome.rate_budget_wait) {
    // Not the plugin's failure: its retries and deadline stay as they were.
    if (task.attempts > 0) --task.attempts;
    const auto wait = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(outcome.retry_after_seconds));
    task.due = Clock::now() + wait;
    job.deadline += wait;
    if (outcome.rate_budget_wait) {
      metrics_.add("oceand_task_rate_limit_waits_total",
                   {{"integration", integration}, {"processor", processor}});
      OCEAND_LOG_INFO_LIMITED("engine", "rate wait " + integration)
          << "event " << job.event->id << " integration=" << integration
          << " processor=" << processor << " waits for its rate-limit budget: " << outcome.error
          << "; runs again in " << outcome.retry_after_seconds << " s (no retry spent)";
      return;
    }
    OCEAND_LOG_WARN_LIMITED("engine", "store wait " + integration)
        << "event " << job.event->id << " integration=" << integration << ": " << outcome.error
        << "; runs again in " << outcome.retry_after_seconds << " s";
    return;
  }
  unsigned retry_number = task.attempts;  // the n-th retry follows the n-th attempt
  if (retry_number > policy.max_retries) {
    fail_task(job, task, TaskReason::retries_exhausted, outcome.error);
    return;
  }
  double delay = retry_delay_seconds(policy, retry_number, outcome.retry_after_seconds);
  auto due = Clock::now() +
             std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(delay));
  if (due >= job.deadline) {
    fail_task(job, task, TaskReason::timed_out,
              outcome.error + " (the next retry would pass max_event_processing_seconds)");
    return;
  }
  task.due = due;
  metrics_.add("oceand_task_retries_total",
               {{"integration", integration}, {"processor", processor}});
  OCEAND_LOG_INFO("engine") << "event " << job.event->id << " integration=" << integration
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

// What became of a finished job: its outcome, and for a failure the first failed task's processor,
// reason and error.
EventEngine::Verdict EventEngine::verdict_of(const EventJob& job) const {
  Verdict v;
  if (!job.route || !job.integration) {
    v.outcome = EventOutcome::failed;
    v.reason = TaskReason::no_route;
    v.error = "no loaded plugin serves " + job.event->integration + job.event->route + " any more";
    return v;
  }
  if (job.handed_over) return {EventOutcome::handed_over};
  if (job.processors.empty()) return {EventOutcome::unsupported};
  if (job.tasks.empty()) return {EventOutcome::noop};
  bool any_done = false, any_dropped = false;
  for (const auto& t : job.tasks) {
    if (t.state == Task::State::failed && v.outcome != EventOutcome::failed) {
      v.outcome = EventOutcome::failed;
      const ProcessorRef* ref = job.processors[t.processor].ref;
      v.processor = ref ? ref->name : "";
      v.reason = t.failure_reason;
      v.error = t.error;
    }
    any_done |= t.state == Task::State::done;
    any_dropped |= t.state == Task::State::dropped;
  }
  if (job.delivery == EventJob::Delivery::duplicate)
    v.outcome = EventOutcome::duplicate;
  else if (v.outcome != EventOutcome::failed && any_dropped && !any_done)
    v.outcome = EventOutcome::rejected;
  return v;
}

void EventEngine::finish(const JobPtr& job, bool on_worker) {
  const Event& event = *job->event;
  if (!job->plugin.empty())
    metrics_.add("oceand_plugin_events_in_flight", {{"plugin", job->plugin}}, -1);
  Verdict v = verdict_of(*job);
  const unsigned attempts = job->total_attempts();
  if (v.outcome == EventOutcome::failed && !taking_ &&
      (v.reason == TaskReason::timed_out || v.reason == TaskReason::shutdown)) {
    // Cancelled by shutdown, not by its own deadline: it stays in the queue and, with the durable
    // queue, runs again at the next start (at-least-once), instead of becoming a dead letter.
    OCEAND_LOG_WARN("engine") << "event " << event.id << " integration=" << event.integration
                              << " interrupted by shutdown after " << attempts
                              << " attempt(s): left unfinished in the queue";
    const std::string group = job->group;
    release(job, on_worker);
    scheduler_.finish(group);
    return;
  }
  if (v.outcome == EventOutcome::failed) {
    const auto owner = queue_.shared() ? queue_.ownership(event.id) : EventQueue::Ownership::owned;
    if (owner == EventQueue::Ownership::handed_over) {
      job->handed_over = true;  // not a dead letter: its new owner runs it again
      v = verdict_of(*job);
    } else if (owner == EventQueue::Ownership::unknown ||
               (!dead_letter(job, v, attempts) && queue_.shared())) {
      // Neither a dead letter nor a completion can be trusted now: it runs again, wherever.
      give_back(job, v, on_worker);
      return;
    }
  }
  if (v.outcome == EventOutcome::duplicate)
    metrics_.add("oceand_events_duplicate_total", {{"integration", event.integration}});
  if (v.outcome == EventOutcome::failed || v.outcome == EventOutcome::rejected)
    recent_failures_.add(
        {unix_ms(), event.id, event.integration, label(v.outcome), label(v.reason), v.error});
  const double duration = job->routed ? seconds_since(job->started) : 0;
  metrics_.add("oceand_events_processed_total",
               {{"integration", event.integration}, {"outcome", label(v.outcome)}});
  metrics_.observe("oceand_event_processing_seconds", {{"integration", event.integration}},
                   duration);
  metrics_.observe("oceand_event_end_to_end_seconds", {{"integration", event.integration}},
                   seconds_since(event.accepted));
  log_finished(*job, v, attempts, duration);
  const std::string group = job->group;
  const uint64_t id = event.id;
  release(job, on_worker);
  queue_.complete(id);
  if (crash_ledger_) crash_ledger_->forget(id);
  scheduler_.finish(group);                   // the next event of its group may run
  { std::lock_guard lock(progress_mutex_); }  // a waiter between its check and its wait sees this
  progress_.notify_all();
}

// Shared queue: a failed event that could be neither dead-lettered nor checked (the database is
// unreachable) is released to run again instead of being completed and lost.
void EventEngine::give_back(const JobPtr& job, const Verdict& v, bool on_worker) {
  const Event& event = *job->event;
  OCEAND_LOG_WARN("engine") << "event " << event.id << " integration=" << event.integration
                            << " failed (" << label(v.reason) << ": " << v.error
                            << ") while the shared queue could not be reached: given back to run "
                               "again rather than dead-lettered";
  const std::string group = job->group;
  release(job, on_worker);
  queue_.give_back(event.id);
  scheduler_.finish(group);
  { std::lock_guard lock(progress_mutex_); }
  progress_.notify_all();
}

bool EventEngine::dead_letter(const JobPtr& job, const Verdict& v, unsigned attempts) {
  DeadLetter letter;
  letter.event = job->event;
  letter.reason = label(v.reason);
  letter.error = v.error;
  letter.processor = v.processor;
  letter.attempts = attempts;
  letter.failed_at_ms = unix_ms();
  uint64_t id = dead_letters_.add(std::move(letter));
  if (id == 0) return false;  // the store failed (logged there)
  metrics_.add("oceand_events_dead_lettered_total", {{"integration", job->event->integration}});
  OCEAND_LOG_DEBUG("engine") << "event " << job->event->id << " stored as dead letter " << id;
  return true;
}

// The one line every finished event gets (docs/operations.md, "Logs").
void EventEngine::log_finished(const EventJob& job, const Verdict& v, unsigned attempts,
                               double duration) const {
  const Event& event = *job.event;
  std::ostringstream line;
  line << "event " << event.id << " " << kv("integration", event.integration) << " "
       << kv("route", event.route);
  std::string processors;
  for (size_t i = 0; i < job.processors.size(); ++i)
    processors += (i ? "," : "") + job.processors[i].ref->name;
  if (!processors.empty()) line << " " << kv("processor", processors);
  line << " outcome=" << label(v.outcome) << " attempts=" << attempts
       << " duration_ms=" << static_cast<long>(duration * 1000);
  // The delivery id is the sender's text, the error a plugin's or a server's: both quoted.
  if (!event.delivery_id.empty()) line << " " << kv("delivery", event.delivery_id);
  if (!v.error.empty()) line << " " << kv("reason", label(v.reason)) << " " << kv("error", v.error);
  Log::write(v.outcome == EventOutcome::failed ? LogLevel::error : LogLevel::info, "engine",
             line.str());
}

// The job is done with plugins: its instances and cache are released here on a worker, else by
// the next worker that comes by (a sender thread must not run plugin code).
void EventEngine::release(const JobPtr& job, bool on_worker) {
  if (on_worker)
    job->release_plugin_state();
  else
    retire(job);
}

}  // namespace oceand
