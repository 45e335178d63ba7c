#include "processing/group_scheduler.hpp"

namespace oceand {

void GroupScheduler::set_concurrency_limit(ConcurrencyLimit limit) {
  std::lock_guard lock(mutex_);
  limit_ = std::move(limit);
}

void GroupScheduler::add(const std::string& group, JobPtr job, const std::string& integration) {
  {
    std::lock_guard lock(mutex_);
    ++scheduled_;
    auto it = waiting_.find(group);
    if (it != waiting_.end()) {
      it->second.push_back(Entry{std::move(job), &integration});
      return;
    }
    waiting_.emplace(group, std::deque<Entry>());  // the group is now held by this job
    ready_.push_back(Entry{std::move(job), &integration});
  }
  ready_cv_.notify_one();
}

bool GroupScheduler::has_runnable() const {
  if (!limit_) return !ready_.empty();
  for (const auto& e : ready_) {
    auto it = running_.find(*e.integration);
    if (it == running_.end() || it->second < limit_(*e.integration)) return true;
  }
  return false;
}

JobPtr GroupScheduler::next(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  if (!ready_cv_.wait_for(lock, wait, [&] { return has_runnable() || closed_ || woken_; }))
    return nullptr;
  // The oldest ready job whose integration has a worker to spare; the ready list is short (the
  // dispatcher keeps at most a few times event_workers_count jobs scheduled).
  for (auto it = ready_.begin(); it != ready_.end(); ++it) {
    int& running = running_[*it->integration];
    if (limit_ && running >= limit_(*it->integration)) continue;
    ++running;
    JobPtr job = std::move(it->job);
    ready_.erase(it);
    return job;
  }
  woken_ = false;
  return nullptr;
}

void GroupScheduler::release(const std::string& integration) {
  {
    std::lock_guard lock(mutex_);
    auto it = running_.find(integration);
    if (it != running_.end() && --it->second <= 0) running_.erase(it);
  }
  // A job held back by its integration's limit may run now.
  if (limit_) ready_cv_.notify_one();
}

int GroupScheduler::running(const std::string& integration) const {
  std::lock_guard lock(mutex_);
  auto it = running_.find(integration);
  return it == running_.end() ? 0 : it->second;
}

void GroupScheduler::resume(JobPtr job, const std::string& integration) {
  {
    std::lock_guard lock(mutex_);
    ready_.push_back(Entry{std::move(job), &integration});
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
