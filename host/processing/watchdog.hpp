#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "processing/event_job.hpp"

namespace oceand {

// One handle_event call the watchdog watches. Shared by the worker making the call and the
// watchdog, so that whichever comes first — the call returning, or the watchdog giving up on it —
// decides, and an abandoned worker that returns at last touches nothing but this.
struct WatchedCall {
  std::mutex mutex;
  bool returned = false;
  bool abandoned = false;
  // The processor instance the abandoned call still runs in, moved here from its job so that the
  // job (retried, finished, freed) never calls into it concurrently; destroyed by the abandoned
  // worker once the call returns, on that worker's thread.
  std::unique_ptr<ProcessorInstance> orphan;

  // Called by the worker when handle_event returned: false when the call was abandoned meanwhile
  // (the worker must then leave the job and the engine alone and end).
  bool finish();
};
using WatchedCallPtr = std::shared_ptr<WatchedCall>;

// Enforces max_event_processing_seconds: when a running handle_event passes its job's deadline the
// job is marked timed out and the processor's cancel hook is called from this thread. A call that
// ignores cancel for `grace` more is abandoned: its instance is taken from the job and the abandon
// handler replaces the worker, so capacity stays at event_workers_count.
class Watchdog {
 public:
  // The call of `job`'s task `task` made on thread `worker` was abandoned.
  using AbandonHandler =
      std::function<void(const JobPtr& job, size_t task, std::thread::id worker)>;

  explicit Watchdog(std::chrono::duration<double> grace = std::chrono::seconds(2));
  ~Watchdog();

  void set_abandon_handler(AbandonHandler handler) { abandon_handler_ = std::move(handler); }
  // Registers a call about to run on the calling thread, which has waited `cpu_wait_ns` for a CPU
  // so far (my_cpu_wait_ns(); -1: unknown); further waiting moves the call's deadline by at most
  // `allowance` in all. Returns a token for end().
  uint64_t begin(const JobPtr& job, ProcessorRun& run, size_t task, const WatchedCallPtr& call,
                 int64_t cpu_wait_ns, SteadyTime::duration allowance);
  // The call returned (and was not abandoned). Waits for a cancel in progress on it, so the
  // instance can be destroyed after.
  void end(uint64_t token);
  // Cancels every running call (shutdown): each job is marked as cut off by shutdown, not timed
  // out.
  void cancel_all();
  // Gives up on every call still running (shutdown, once the drain is over): no handler is called,
  // the workers in them are left to end by themselves. Returns how many there were.
  size_t abandon_all();
  void stop();

 private:
  struct Running {
    JobPtr job;
    ProcessorInstance* instance;
    size_t task;
    std::thread::id worker;
    pid_t tid;
    int64_t cpu_wait_ns;  // the worker's wait for a CPU, as of the last look (-1: unknown)
    SteadyTime::duration allowance;  // how much further that wait may move the deadlines
    WatchedCallPtr call;
    SteadyTime deadline;
    bool fired = false;
    SteadyTime abandon_at = SteadyTime::max();
  };
  void run();
  // True when the worker waited for a CPU since the last look long enough to move `at` (its
  // deadline, or the end of its grace) past `now`: that wait does not count.
  static bool postpone(Running& r, SteadyTime& at, SteadyTime now);
  void fire(Running& r, SteadyTime now);
  bool abandon(Running& r);

  const std::chrono::steady_clock::duration grace_;
  AbandonHandler abandon_handler_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<uint64_t, Running> running_;
  uint64_t next_token_ = 1;
  SteadyTime sleeping_until_ = SteadyTime::min();  // the deadline run() waits for, while it waits
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace oceand
