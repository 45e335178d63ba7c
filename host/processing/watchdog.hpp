#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>

#include "processing/event_job.hpp"

namespace oceand {

// Enforces max_event_processing_seconds: when a running handle_event passes its job's deadline the
// job is marked timed out and the processor's cancel hook is called from this thread.
class Watchdog {
 public:
  Watchdog();
  ~Watchdog();

  // Registers a running call; returns a token for end().
  uint64_t begin(EventJob& job, ProcessorRun& run);
  // The call returned. Waits for a cancel in progress on it, so the instance can be destroyed
  // after.
  void end(uint64_t token);
  // Cancels every running call (shutdown).
  void cancel_all();
  void stop();

 private:
  struct Running {
    EventJob* job;
    ProcessorInstance* instance;
    SteadyTime deadline;
    bool fired = false;
  };
  void run();
  void fire(Running& r);

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<uint64_t, Running> running_;
  uint64_t next_token_ = 1;
  SteadyTime sleeping_until_ = SteadyTime::min();  // the deadline run() waits for, while it waits
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace oceand
