#include "processing/watchdog.hpp"

#include <unistd.h>

#include <algorithm>
#include <vector>

#include "core/cpu_wait.hpp"
#include "core/log.hpp"
#include "core/thread_name.hpp"

namespace oceand {

bool WatchedCall::finish() {
  std::unique_ptr<ProcessorInstance> orphan_left;
  {
    std::lock_guard lock(mutex);
    returned = true;
    if (!abandoned) return true;
    orphan_left = std::move(orphan);
  }
  orphan_left.reset();  // destroy(), on the thread that ran the instance's last hook
  return false;
}

Watchdog::Watchdog(std::chrono::duration<double> grace)
    : grace_(std::chrono::duration_cast<std::chrono::steady_clock::duration>(grace)),
      thread_([this] { run(); }) {}

Watchdog::~Watchdog() {
  stop();
}

uint64_t Watchdog::begin(const JobPtr& job, ProcessorRun& run, size_t task,
                         const WatchedCallPtr& call, int64_t cpu_wait_ns,
                         SteadyTime::duration allowance) {
  uint64_t token;
  {
    std::lock_guard lock(mutex_);
    token = next_token_++;
    running_[token] = Running{job,          &run.instance, task,      std::this_thread::get_id(),
                              ::gettid(),   cpu_wait_ns,   allowance, call,
                              job->deadline};
    // The watchdog sleeps until the earliest deadline it knows; a later one needs no wake-up (every
    // call would otherwise switch to this thread and back).
    if (job->deadline >= sleeping_until_) return token;
  }
  changed_.notify_one();
  return token;
}

void Watchdog::end(uint64_t token) {
  std::lock_guard lock(mutex_);  // cancel runs under this lock, so it has returned once we hold it
  running_.erase(token);
}

bool Watchdog::postpone(Running& r, SteadyTime& at, SteadyTime now) {
  if (r.cpu_wait_ns < 0) return false;
  const int64_t waited = cpu_wait_ns(r.tid);
  const auto extra = cpu_wait_between(r.cpu_wait_ns, waited, r.allowance);
  if (extra == SteadyTime::duration::zero() || at + extra <= now) return false;
  at += extra;
  r.allowance -= extra;
  r.cpu_wait_ns = waited;
  return true;
}

void Watchdog::fire(Running& r, SteadyTime now) {
  if (r.fired) return;
  r.fired = true;
  r.abandon_at = now + grace_;
  r.job->timed_out.store(true);
  r.instance->cancel();
}

// Under mutex_. True when the call was still running and is now abandoned.
bool Watchdog::abandon(Running& r) {
  std::lock_guard call_lock(r.call->mutex);
  if (r.call->returned) return false;
  r.call->orphan = std::make_unique<ProcessorInstance>(std::move(*r.instance));
  r.call->abandoned = true;
  return true;
}

void Watchdog::cancel_all() {
  std::lock_guard lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  for (auto& [_, r] : running_) {
    r.job->shutting_down.store(true);
    fire(r, now);
  }
}

size_t Watchdog::abandon_all() {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  for (auto& [_, r] : running_) {
    if (!abandon(r)) continue;
    ++n;
    OCEAND_LOG_ERROR("engine")
        << "event " << r.job->event->id << " integration=" << r.job->event->integration
        << " processor=" << r.instance->name()
        << ": handle_event ignored cancel at shutdown; left running, the event "
           "stays in the queue";
  }
  running_.clear();
  return n;
}

void Watchdog::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::run() {
  name_this_thread("watchdog");
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    auto now = std::chrono::steady_clock::now();
    SteadyTime next = SteadyTime::max();
    std::vector<uint64_t> given_up;
    for (auto& [token, r] : running_) {
      if (!r.fired && r.deadline <= now && !postpone(r, r.deadline, now)) {
        OCEAND_LOG_WARN("engine") << "event " << r.job->event->id
                                  << " passed max_event_processing_seconds: cancelling";
        fire(r, now);
      }
      if (r.fired && r.abandon_at <= now && !postpone(r, r.abandon_at, now)) {
        if (abandon(r)) given_up.push_back(token);
        continue;
      }
      next = std::min(next, r.fired ? r.abandon_at : r.deadline);
    }
    for (uint64_t token : given_up) {
      Running r = std::move(running_.at(token));
      running_.erase(token);
      if (abandon_handler_) abandon_handler_(r.job, r.task, r.worker);
    }
    sleeping_until_ = next;
    if (next == SteadyTime::max())
      changed_.wait(lock);
    else
      changed_.wait_until(lock, next);
    sleeping_until_ = SteadyTime::min();
  }
}

}  // namespace oceand
