#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "queue/event_queue.hpp"
#include "queue/pg_connection.hpp"

namespace oceand {

struct PgQueueOptions {
  std::string url;  // libpq connection string or URI (queue.url)
  size_t max_pending = 100000;
  double dedupe_window_seconds = 3600;
  // How long an instance may go without renewing its lease before the others take its events over
  // (queue.handover_seconds). It stops applying results itself after half of it.
  double handover_seconds = 30;
  // Events this instance holds at once (claimed, not yet completed); events older than all of them
  // that nobody holds (an instance that died had them) are claimed past the cap, so no instance
  // waits forever for an event no one takes.
  size_t max_claimed = 1024;
  bool compress_bodies = true;
};

// The shared queue: events in PostgreSQL, taken by every oceand that points at the same database
// (docs/operations.md, "Running several instances"). push() answers `accepted` once the row is
// committed; concurrent pushes share one transaction, written by one committer thread. Each
// instance claims events in acceptance order (FOR UPDATE SKIP LOCKED), records the group the
// engine admits each into, and runs an event only once no earlier event of its group is pending
// elsewhere. A claim carries a fencing token: an instance whose lease ran out (it stopped, or lost
// the database) finds its claims handed over and neither applies nor completes those events.
class PgQueue final : public EventQueue {
 public:
  // Connects and creates or migrates the schema; throws PgError when the server cannot be reached
  // or the schema is newer than this oceand.
  explicit PgQueue(PgQueueOptions options);
  ~PgQueue() override;

  PushResult push(const EventPtr& event) override;
  void push_async(const EventPtr& event, PushDone done) override;
  EventPtr pop(std::chrono::milliseconds wait) override;
  void complete(uint64_t id) override;
  bool claim_delivery(const Event& event) override;
  size_t depth() const override;
  size_t waiting() const override;
  void close() override;
  bool is_open() const override;
  std::string problem() const override;
  std::string backend() const override { return "postgres"; }

  bool shared() const override { return true; }
  void set_group(uint64_t id, const std::string& group) override;
  std::vector<uint64_t> runnable(
      const std::vector<std::pair<uint64_t, std::string>>& held) override;
  Ownership ownership(uint64_t id) override;

  std::string instance_id();
  // Still held by this instance (no database round trip): false once its lease ran out and the
  // event went back to the others.
  bool holds(uint64_t id) const override;
  void give_back(uint64_t id) override;

 private:
  struct PendingPush;

  void commit_loop();
  bool write_batch(std::vector<PendingPush*>& batch);
  void maintain_loop();
  void renew_lease(PgConnection& conn);
  void claim_more();
  bool lease_fresh() const;
  void flush_groups(PgConnection& conn);
  void set_problem(const std::string& problem);
  // Rows claimed under this instance that it does not know it holds (a claim whose answer was
  // lost) go back to the others.
  void release_strays(PgConnection& conn);
  void decrement_depth();
  std::string delivery_key(const Event& event) const;

  const PgQueueOptions options_;
  PgPool pool_;
  std::string instance_id_;      // renewed when the lease was lost: a new claimant
  const std::string flush_key_;  // this process's row in oceand_flush
  std::mutex instance_mutex_;
  // Held by a claim from its statement until its events are in fences_, and by the stray sweep.
  std::mutex claim_mutex_;

  mutable std::mutex mutex_;
  std::condition_variable commit_cv_;  // committer: work arrived
  std::condition_variable ready_cv_;   // pop: an event was committed here, or closing
  std::vector<PendingPush*> pending_;
  std::deque<EventPtr> window_;         // claimed here, not yet popped
  std::map<uint64_t, int64_t> fences_;  // claimed here and not completed: id -> token
  std::vector<std::pair<uint64_t, int64_t>> unfinished_;  // completions to write again
  std::vector<std::pair<uint64_t, int64_t>> given_back_;  // events to release, not yet written
  std::vector<std::pair<uint64_t, std::string>> groups_;  // set_group, not yet written
  std::atomic<size_t> depth_{0};                          // pending cluster-wide, as last counted
  std::atomic<size_t> pushed_since_count_{0};
  std::atomic<int64_t> lease_renewed_ns_{0};  // steady clock
  std::string problem_;
  bool open_ = true;
  bool stopping_ = false;
  std::thread committer_;
  std::thread maintainer_;
  std::condition_variable maintain_cv_;
};

}  // namespace oceand
