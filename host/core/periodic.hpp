#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "core/thread_name.hpp"

namespace oceand {

// Runs `task` on a thread of its own every `interval` (the first run one interval after start)
// until destroyed; the destructor wakes the wait and joins (after a run in progress ends).
class Periodic {
 public:
  Periodic(const char* name, std::chrono::milliseconds interval, std::function<void()> task)
      : interval_(interval), task_(std::move(task)), thread_([this, name] {
          name_this_thread(name);
          run();
        }) {}
  ~Periodic() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, interval_, [&] { return stopping_; })) {
      lock.unlock();
      task_();
      lock.lock();
    }
  }
  std::chrono::milliseconds interval_;
  std::function<void()> task_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the rest is ready
};

}  // namespace oceand
