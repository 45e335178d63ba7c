#include "processing/group_scheduler.hpp"

namespace oceand {

void GroupScheduler::add(const std::string& group, JobPtr job) {
  {
    std::lock_guard lock(mutex_);
    ++scheduled_;
    auto it = waiting_.find(group);
    if (it != waiting_.end()) {
      it->second.push_back(std::move(job));
      return;
    }
    waiting_.emplace(group, std::deque<JobPtr>());  // the group is now held by this job
    ready_.push_back(std::move(job));
  }
  ready_cv_.notify_one();
}

JobPtr GroupScheduler::next(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  if (!ready_cv_.wait_for(lock, wait, [&] { return !ready_.empty() || closed_ || woken_; }))
    return nullptr;
  if (ready_.empty()) {
    woken_ = false;
    return nullptr;
  }
  JobPtr job = std::move(ready_.front());
  ready_.pop_front();
  return job;
}

void GroupScheduler::resume(JobPtr job) {
  {
    std::lock_guard lock(mutex_);
    ready_.push_back(std::move(job));
  }
  ready_cv_.notify_one();
}

void GroupScheduler::finish(const std::string& group) {
  bool woke = false;
  {
    std::lock_guard lock(mutex_);
    if (scheduled_ > 0) --scheduled_;
    auto it = waiting_.find(group);
    if (it != waiting_.end()) {
      if (it->second.empty()) {
        waiting_.erase(it);
      } else {
        ready_.push_back(std::move(it->second.front()));
        it->second.pop_front();
        woke = true;
      }
    }
  }
  if (woke) ready_cv_.notify_one();
  capacity_cv_.notify_all();
}

size_t GroupScheduler::scheduled() const {
  std::lock_guard lock(mutex_);
  return scheduled_;
}

size_t GroupScheduler::ready() const {
  std::lock_guard lock(mutex_);
  return ready_.size();
}

bool GroupScheduler::wait_below(size_t limit, std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  return capacity_cv_.wait_for(lock, wait, [&] { return scheduled_ < limit || closed_; }) &&
         !closed_;
}

void GroupScheduler::wake_idle() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  ready_cv_.notify_one();
}

void GroupScheduler::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  ready_cv_.notify_all();
  capacity_cv_.notify_all();
}

}  // namespace oceand
