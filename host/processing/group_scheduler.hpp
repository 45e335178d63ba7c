#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
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
//
// Per-integration concurrency: a job is handed out only while its integration holds fewer workers
// than its limit, so one integration whose handlers hang cannot hold every worker. The worker
// gives the slot back with release() when it is done running the job (whatever the job's state).
class GroupScheduler {
 public:
  // The workers an integration may hold at once; unset: no limit.
  using ConcurrencyLimit = std::function<int(const std::string& integration)>;
  void set_concurrency_limit(ConcurrencyLimit limit);

  // `integration` must stay alive as long as the job (it is the job's own event's).
  void add(const std::string& group, JobPtr job, const std::string& integration);
  // A ready job whose integration is below its limit, or null after `wait` or once closed and
  // empty. The job holds one of its integration's slots until release().
  JobPtr next(std::chrono::milliseconds wait);
  void release(const std::string& integration);
  // Jobs being run by workers, for one integration.
  int running(const std::string& integration) const;
  // A job of a held group is ready to run again (its retry is due).
  void resume(JobPtr job, const std::string& integration);
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
  struct Entry {
    JobPtr job;
    const std::string* integration;
  };
  bool has_runnable() const;  // under mutex_

  mutable std::mutex mutex_;
  std::condition_variable ready_cv_;
  std::condition_variable capacity_cv_;
  std::deque<Entry> ready_;
  std::unordered_map<std::string, std::deque<Entry>>
      waiting_;  // groups held, with their queued jobs
  ConcurrencyLimit limit_;
  std::unordered_map<std::string, int> running_;  // workers held, by integration
  size_t scheduled_ = 0;
  bool closed_ = false;
  bool woken_ = false;
};

}  // namespace oceand
