#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "queue/body_dictionaries.hpp"
#include "queue/event_queue.hpp"

struct sqlite3;

namespace oceand {

class ExclusiveFileLock;
class SqliteDb;
class Statement;
class StoredEvent;

struct SqliteQueueOptions {
  std::string path = "var/queue.db";
  size_t max_pending = 100000;
  double dedupe_window_seconds = 3600;
  // FULL: a commit survives power loss (one fsync per group commit). NORMAL: survives a process
  // crash only. See docs/reliability.md for the measured cost.
  std::string synchronous = "FULL";
  // LZ4 on stored bodies: ≈ 15 µs per 28 KB event buys ≈ 6× fewer bytes through the WAL and the
  // checkpoints, which is what bounds a durable ingest (docs/reliability.md).
  bool compress_bodies = true;
  // The read-ahead window: at most this many events, or this many bytes (or one event when that
  // one is larger), are held in memory.
  size_t window_events = 256;
  size_t window_bytes = 8u << 20;
};

// The durable queue: one SQLite file in WAL mode. push() returns `accepted` only after the event's
// row is committed; concurrent pushes share one transaction (group commit), written by one
// committer thread. Pending events stay on disk; only a bounded read-ahead window is held in memory
// and pop() pages in more as it drains. Completions are deleted in the next group commit, so an
// event whose completion was not yet written runs again after a crash (at-least-once). Delivery ids
// are stored with their time and the event that claimed them, so deduplication survives a restart.
class SqliteQueue final : public EventQueue {
 public:
  // Throws StoreError (naming the file) when the database cannot be opened or is not ours.
  explicit SqliteQueue(SqliteQueueOptions options);
  ~SqliteQueue() override;

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
  std::string backend() const override { return "sqlite"; }

  struct Stats {
    uint64_t commits = 0;           // transactions written
    uint64_t events_committed = 0;  // pushes made durable by them
    uint64_t page_ins = 0;          // reads from disk into the window
    uint64_t checkpoints = 0;       // WAL checkpoints run beside the committer
    uint64_t wal_restarts = 0;      // commits that found the WAL started over from the top
    uint64_t pages_released = 0;    // free pages given back by incremental_vacuum
    size_t window_events = 0;
    size_t window_bytes = 0;  // event bytes held in memory by the queue
  };
  Stats stats() const;

 private:
  struct PendingPush;
  class Writer;
  struct WindowEntry {
    EventPtr event;
    size_t bytes;  // as counted when it entered the window
  };

  void open_store();
  // False once queue.path no longer names the file this queue opened (deleted, replaced).
  bool same_file() const;
  // With the disk full and nothing to write, one small transaction tells when space is back.
  bool space_is_back();
  // With the queue empty: free pages above a small reserve go back to the filesystem.
  void give_space_back();
  // Committer, at most once a second: deletes the stored dictionaries no row refers to any more
  // (all rows up to the last one against it are gone) and no pusher compresses against now.
  void forget_dictionaries();
  // A stored dictionary by id, for page_in (under page_mutex_).
  std::shared_ptr<const CompressionDictionary> stored_dictionary(uint64_t id);
  struct ClaimedDelivery {
    std::string key;
    uint64_t event_id;
  };
  std::string delivery_key(const Event& event) const;
  // The event that claimed `key` within the window, if any. Under dedupe_mutex_.
  std::optional<uint64_t> claimant(const std::string& key);
  void commit_loop();
  bool write(std::vector<PendingPush*>& batch, const std::vector<uint64_t>& completed,
             const std::vector<ClaimedDelivery>& claimed, bool& disk_full);
  // Answers the batch's pushers; the number of events that became waiting.
  // `refusal`: what the pushers of a batch that was not committed are answered.
  size_t publish(std::vector<PendingPush*>& batch, bool committed, PushResult refusal);
  // Under mutex_ (released meanwhile): gives the asynchronous pushers published since the last
  // call their results, and frees their pushes.
  void answer_async(std::unique_lock<std::mutex>& lock);
  void lose_file();       // under mutex_: queue.path is no longer this queue's file, for good
  void writes_succeed();  // under mutex_: a write went through after failures
  bool page_in();         // false when reading failed
  static int on_wal_commit(void* queue, sqlite3* db, const char* name, int frames);
  void checkpoint_loop();

  const SqliteQueueOptions options_;
  const int64_t dedupe_window_ms_;
  std::unique_ptr<ExclusiveFileLock> lock_;
  std::unique_ptr<Writer> writer_;  // committer thread only
  // What pushers compress bodies against; each dictionary is stored with the first commit of a
  // row that refers to it.
  std::unique_ptr<BodyDictionaries> dictionaries_;

  // Dedupe lookups from pushing and claiming threads: claims still being committed, then the
  // deliveries table.
  std::mutex dedupe_mutex_;
  std::unordered_map<std::string, uint64_t> claims_in_commit_;
  std::unique_ptr<SqliteDb> dedupe_db_;
  std::unique_ptr<Statement> dedupe_lookup_;

  // Page-in from popping threads.
  std::mutex page_mutex_;
  std::unique_ptr<SqliteDb> page_db_;
  std::unique_ptr<Statement> page_select_;
  std::unique_ptr<Statement> dictionary_select_;
  std::unordered_map<uint64_t, std::shared_ptr<const CompressionDictionary>> read_dictionaries_;

  mutable std::mutex mutex_;
  std::condition_variable commit_cv_;     // committer: work arrived
  std::condition_variable ready_cv_;      // poppers: an event is waiting
  std::vector<PendingPush*> pending_;     // pushes waiting for the next group commit
  std::vector<PendingPush*> answered_;    // asynchronous pushes published, to be called back
  std::vector<uint64_t> completed_;       // completions waiting to be deleted
  std::vector<ClaimedDelivery> claimed_;  // claims waiting to be written
  std::deque<WindowEntry> window_;        // events with ids in (last popped, loaded_through_]
  size_t window_bytes_ = 0;
  uint64_t next_id_ = 1;
  uint64_t committed_through_ = 0;  // highest committed id
  uint64_t loaded_through_ = 0;     // highest id in the window or already popped
  size_t depth_ = 0;
  size_t waiting_ = 0;
  uint64_t file_device_ = 0, file_inode_ = 0;  // of queue.path when it was opened
  bool disk_full_ = false;                     // the last write failed with SQLITE_FULL
  bool incremental_vacuum_ = false;            // the file was created with auto_vacuum=INCREMENTAL
  bool shrink_pending_ = false;  // committer only: a vacuum waits for a full checkpoint
  bool write_failing_ = false;   // the last write failed for another reason than a full disk
  bool file_lost_ = false;       // queue.path was deleted or replaced: for good
  bool open_ = true;
  bool stopping_ = false;
  Stats stats_;
  std::thread committer_;

  // WAL checkpoints: requested by the committer's commits, run on their own connection.
  std::mutex checkpoint_mutex_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_due_ = false;
  bool checkpoint_running_ = false;
  bool checkpoint_finished_ = false;  // a background pass ended; the committer copies the rest
  int last_wal_frames_ = 0;           // the WAL's frame count after the previous commit
  bool checkpoint_stopping_ = false;
  std::unique_ptr<SqliteDb> checkpoint_db_;
  std::thread checkpointer_;
};

}  // namespace oceand
