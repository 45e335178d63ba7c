#include "processing/retry_timer.hpp"

#include "core/thread_name.hpp"

namespace oceand {

RetryTimer::RetryTimer() : thread_([this] { run(); }) {}

RetryTimer::~RetryTimer() {
  stop();
}

void RetryTimer::schedule(Clock::time_point due, std::function<void()> callback) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    entries_.push(Entry{due, sequence_++, std::move(callback)});
  }
  changed_.notify_one();
}

void RetryTimer::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    while (!entries_.empty()) entries_.pop();
  }
  changed_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

size_t RetryTimer::pending() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void RetryTimer::run() {
  name_this_thread("retry-timer");
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (entries_.empty()) {
      changed_.wait(lock);
      continue;
    }
    auto due = entries_.top().due;
    if (Clock::now() < due) {
      changed_.wait_until(lock, due);
      continue;
    }
    auto callback = std::move(const_cast<Entry&>(entries_.top()).callback);
    entries_.pop();
    lock.unlock();
    callback();
    lock.lock();
  }
}

}  // namespace oceand
