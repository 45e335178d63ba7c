#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace oceand {

struct EventJob;
using JobPtr = std::shared_ptr<EventJob>;

// Per-resource ordering: jobs with the same group key run one at a time, in the order they were
// added; different groups run in parallel. A group stays held from the moment its head job is
// handed to a worker until finish() — through retries too — so no later event of the same
// resource can overtake an earlier one, and nothing can expire and hand a job out twice.
class GroupScheduler {
 public:
  void add(const std::string& group, JobPtr job);
  // A ready job, or null after `wait` or once closed and empty.
  JobPtr next(std::chrono::milliseconds wait);
  // A job of a held group is ready to run again (its retry is due).
  void resume(JobPtr job);
  // The job is done: the next job of its group (if any) becomes ready.
  void finish(const std::string& group);
  // Jobs added and not finished.
  size_t scheduled() const;
  size_t ready() const;
  // Makes one waiting next() return null even though nothing is ready: the engine has work for an
  // idle worker that is not a job.
  void wake_idle();
  // Waits until fewer than `limit` jobs are scheduled; false on timeout.
  bool wait_below(size_t limit, std::chrono::milliseconds wait);
  void close();

 private:
  mutable std::mutex mutex_;
  std::condition_variable ready_cv_;
  std::condition_variable capacity_cv_;
  std::deque<JobPtr> ready_;
  std::unordered_map<std::string, std::deque<JobPtr>>
      waiting_;  // groups held, with their queued jobs
  size_t scheduled_ = 0;
  bool closed_ = false;
  bool woken_ = false;
};

}  // namespace oceand
