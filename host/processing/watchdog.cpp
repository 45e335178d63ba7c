#include "processing/watchdog.hpp"

#include "core/log.hpp"
#include "core/thread_name.hpp"

namespace oceand {

Watchdog::Watchdog() : thread_([this] { run(); }) {}

Watchdog::~Watchdog() {
  stop();
}

uint64_t Watchdog::begin(EventJob& job, ProcessorRun& run) {
  uint64_t token;
  {
    std::lock_guard lock(mutex_);
    token = next_token_++;
    running_[token] = Running{&job, &run.instance, job.deadline};
    // The watchdog sleeps until the earliest deadline it knows; a later one needs no wake-up (every
    // call would otherwise switch to this thread and back).
    if (job.deadline >= sleeping_until_) return token;
  }
  changed_.notify_one();
  return token;
}

void Watchdog::end(uint64_t token) {
  std::lock_guard lock(mutex_);  // cancel runs under this lock, so it has returned once we hold it
  running_.erase(token);
}

void Watchdog::fire(Running& r) {
  if (r.fired) return;
  r.fired = true;
  r.job->timed_out.store(true);
  r.instance->cancel();
}

void Watchdog::cancel_all() {
  std::lock_guard lock(mutex_);
  for (auto& [_, r] : running_) fire(r);
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
    for (auto& [_, r] : running_) {
      if (r.fired) continue;
      if (r.deadline <= now) {
        LOG_WARN("engine") << "event " << r.job->event->id
                           << " passed max_event_processing_seconds: cancelling";
        fire(r);
      } else {
        next = std::min(next, r.deadline);
      }
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
