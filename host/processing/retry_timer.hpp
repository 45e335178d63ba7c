#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace oceand {

// Runs callbacks at a due time on one timer thread, so that no worker ever sleeps to wait out a
// backoff. Callbacks must be short (they hand work back to the scheduler).
class RetryTimer {
 public:
  using Clock = std::chrono::steady_clock;

  RetryTimer();
  ~RetryTimer();
  void schedule(Clock::time_point due, std::function<void()> callback);
  // Drops everything not yet due and stops the thread.
  void stop();
  size_t pending() const;

 private:
  struct Entry {
    Clock::time_point due;
    uint64_t sequence;
    std::function<void()> callback;
    bool operator>(const Entry& other) const {
      return due != other.due ? due > other.due : sequence > other.sequence;
    }
  };
  void run();

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> entries_;
  uint64_t sequence_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace oceand
