#include "queue/sqlite_queue.hpp"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <stdexcept>
#include <unordered_set>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/thread_name.hpp"
#include "queue/file_lock.hpp"
#include "queue/sqlite_db.hpp"
#include "queue/stored_event.hpp"

namespace oceand {

namespace {

// Old delivery ids are pruned at most this often, inside a group commit.
constexpr int64_t kPruneEveryMs = 1000;
// Completions alone are written at most this long after the first of them, or once this many are
// waiting, instead of an fsync each: a lost completion only runs its event again (at-least-once),
// and while events arrive, completions ride along with their commits anyway.
constexpr auto kCompletionDelay = std::chrono::milliseconds(50);
constexpr size_t kCompletionBatch = 256;
// SQLite's own checkpoint runs inside the commit that finds the WAL past 1,000 pages, and that
// commit's pushers wait for it to copy them all back into the database. Here the commit that finds
// the WAL past kCheckpointFrames asks a thread of its own to copy it back; the first commit after
// that pass copies only what was written meanwhile, so the next commit starts the WAL over from
// the top. If the WAL still reaches kWalLimitFrames, commits checkpoint inline as SQLite would.
constexpr int kCheckpointFrames = 1000;
constexpr int kWalLimitFrames = 16000;
// The WAL file is cut back to this size when it restarts after growing past it.
constexpr int64_t kWalKeepBytes = 64ll << 20;
// After a failed write the committer waits this long before retrying completions alone, so a full
// disk does not turn into a busy loop.
constexpr auto kRetryAfterFailure = std::chrono::milliseconds(100);

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  integration TEXT NOT NULL, route TEXT NOT NULL, delivery_id TEXT NOT NULL,
  received_at_ms INTEGER NOT NULL, headers BLOB NOT NULL, body BLOB NOT NULL,
  payload BLOB NOT NULL, deflated INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries(key TEXT PRIMARY KEY, seen_at_ms INTEGER NOT NULL,
  event_id INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_by_time ON deliveries(seen_at_ms);
CREATE TABLE IF NOT EXISTS space_probe(b BLOB);
CREATE TABLE IF NOT EXISTS dictionaries(id INTEGER PRIMARY KEY, bytes BLOB NOT NULL);
)";
// How often the committer looks for dictionaries no row needs any more.
constexpr auto kDictionarySweepEvery = std::chrono::seconds(1);
// Dictionaries the page-in keeps at hand; past this many it starts over.
constexpr size_t kReadDictionaries = 64;

// Reading a dictionary failed (not: it is missing). Unlike a damaged row, which is dropped, this
// ends the page-in like any failed read, to be tried again.
struct DictionaryReadFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// How often an idle committer checks that queue.path is still its file, and, with the disk full,
// whether space is back.
constexpr auto kHealthCheckEvery = std::chrono::seconds(1);
// Once the queue is empty, free pages past this many are given back to the filesystem, a slice at
// a time (files created before auto_vacuum was set keep their size until a VACUUM).
constexpr int64_t kKeepFreePages = 1024;
constexpr int64_t kVacuumSlicePages = 4096;

// Files written before deliveries were claimed by event (they recorded every delivery at push)
// gain the column; their rows keep event 0, which no event claims again.
bool add_claim_column(SqliteDb& db) {
  Statement columns(db, "SELECT 1 FROM pragma_table_info('deliveries') WHERE name = 'event_id'");
  if (!columns.step())
    db.exec("ALTER TABLE deliveries ADD COLUMN event_id INTEGER NOT NULL DEFAULT 0");
  return true;
}

}  // namespace

struct SqliteQueue::PendingPush {
  explicit PendingPush(StoredEvent s) : stored(std::move(s)) {}
  StoredEvent stored;
  PushResult result = PushResult::full;
  bool done = false;
  // Set for push_async: called with the result instead of waking a waiting pusher.
  EventQueue::PushDone on_done;
  // Each pusher waits on its own: one shared condition would wake every connection waiting for a
  // later commit too, and those wake-ups were a large part of a durable ingest's CPU.
  std::condition_variable committed;
};

// The committer thread's connection and statements: the only writer of the events table.
class SqliteQueue::Writer {
 public:
  Writer(const std::string& path, const std::string& synchronous)
      : db(path, synchronous),
        schema_ready((db.exec(kSchema), add_claim_column(db))),
        insert_event(db, (std::string("INSERT INTO events(id, ") + StoredEvent::kColumns +
                          ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
                             .c_str()),
        insert_delivery(
            db, "INSERT OR REPLACE INTO deliveries(key, seen_at_ms, event_id) VALUES (?, ?, ?)"),
        insert_dictionary(db, "INSERT OR IGNORE INTO dictionaries(id, bytes) VALUES (?, ?)"),
        delete_dictionary(db, "DELETE FROM dictionaries WHERE id = ?"),
        delete_earlier_dictionaries(db, "DELETE FROM dictionaries WHERE id < ?"),
        delete_event(db, "DELETE FROM events WHERE id = ?"),
        prune_deliveries(db, "DELETE FROM deliveries WHERE seen_at_ms < ?") {}

  SqliteDb db;
  bool schema_ready;
  Statement insert_event;
  Statement insert_delivery;
  Statement insert_dictionary;
  Statement delete_dictionary;
  Statement delete_earlier_dictionaries;
  Statement delete_event;
  Statement prune_deliveries;
  int64_t last_prune_ms = 0;
  // Dictionaries this process committed to the file and has not deleted, each with the id of the
  // last row committed against it. Those of an earlier process have ids below
  // first_dictionary_id, and rows up to earlier_rows_through at most.
  std::unordered_map<uint64_t, uint64_t> stored_dictionaries;
  uint64_t first_dictionary_id = 1;
  std::optional<uint64_t> earlier_rows_through;  // set while the file holds such dictionaries
  std::chrono::steady_clock::time_point last_dictionary_sweep{};
};

SqliteQueue::SqliteQueue(SqliteQueueOptions options)
    : options_(std::move(options)),
      // Clamped to a century so that any configured window converts to milliseconds safely.
      dedupe_window_ms_(static_cast<int64_t>(
          std::clamp(options_.dedupe_window_seconds, 0.0, 100.0 * 365 * 86400) * 1000)) {
  open_store();
  committer_ = std::thread([this] {
    name_this_thread("committer");
    commit_loop();
  });
  checkpointer_ = std::thread([this] {
    name_this_thread("checkpointer");
    checkpoint_loop();
  });
}

void SqliteQueue::open_store() {
  lock_ = std::make_unique<ExclusiveFileLock>(options_.path + ".lock");
  writer_ = std::make_unique<Writer>(options_.path, options_.synchronous);
  SqliteDb& db = writer_->db;
  // A file with damaged pages would otherwise open "ready" and fail every write (or lose rows):
  // refused at start with what SQLite found.
  {
    Statement check(db, "PRAGMA quick_check(5)");
    std::string found;
    while (check.step()) found += (found.empty() ? "" : "; ") + check.text(0);
    if (found != "ok")
      throw StoreError(
          options_.path + " is damaged (" + found +
          "): restore it from a backup, or move it aside to start with an empty queue");
  }
  {
    Statement vacuum(db, "PRAGMA auto_vacuum");
    incremental_vacuum_ = vacuum.step() && vacuum.int64(0) == 2;
    if (!incremental_vacuum_) {
      OCEAND_LOG_INFO("queue")
          << options_.path
          << " was created without auto_vacuum: it keeps its size after a backlog "
             "drains (see docs/operations.md, Queue files)";
    }
  }
  struct stat st {};
  if (::stat(options_.path.c_str(), &st) == 0) {
    file_device_ = st.st_dev;
    file_inode_ = st.st_ino;
  }
  db.exec(("PRAGMA journal_size_limit=" + std::to_string(kWalKeepBytes)).c_str());
  // Replaces SQLite's automatic checkpoint for this connection (see kCheckpointFrames).
  sqlite3_wal_hook(db.handle(), &SqliteQueue::on_wal_commit, this);
  checkpoint_db_ = std::make_unique<SqliteDb>(options_.path, options_.synchronous);

  Statement last(db,
                 "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),"
                 " coalesce((SELECT max(id) FROM events), 0)), (SELECT count(*) FROM events)");
  last.step();
  committed_through_ = static_cast<uint64_t>(last.int64(0));
  {
    Statement dictionaries(db, "SELECT coalesce(max(id), 0), count(*) FROM dictionaries");
    dictionaries.step();
    const auto first_id = static_cast<uint64_t>(dictionaries.int64(0)) + 1;
    dictionaries_ = std::make_unique<BodyDictionaries>(first_id);
    writer_->first_dictionary_id = first_id;
    if (dictionaries.int64(1) > 0) writer_->earlier_rows_through = committed_through_;
  }
  next_id_ = committed_through_ + 1;
  depth_ = waiting_ = static_cast<size_t>(last.int64(1));
  // Nothing is in the window yet: with a backlog the first pop pages in from the oldest row.
  loaded_through_ = waiting_ > 0 ? 0 : committed_through_;

  dedupe_db_ = std::make_unique<SqliteDb>(options_.path, options_.synchronous);
  dedupe_lookup_ = std::make_unique<Statement>(
      *dedupe_db_, "SELECT event_id FROM deliveries WHERE key = ? AND seen_at_ms >= ?");
  page_db_ = std::make_unique<SqliteDb>(options_.path, options_.synchronous);
  page_select_ =
      std::make_unique<Statement>(*page_db_, (std::string("SELECT id, ") + StoredEvent::kColumns +
                                              " FROM events WHERE id > ? ORDER BY id LIMIT ?")
                                                 .c_str());
  dictionary_select_ =
      std::make_unique<Statement>(*page_db_, "SELECT bytes FROM dictionaries WHERE id = ?");
  if (waiting_ > 0) {
    OCEAND_LOG_INFO("queue") << options_.path << ": " << waiting_
                             << " unfinished event(s) resume in arrival order";
  }
}

SqliteQueue::~SqliteQueue() {
  {
    std::lock_guard lock(mutex_);
    open_ = false;
    stopping_ = true;
  }
  commit_cv_.notify_all();
  ready_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
  {
    std::lock_guard lock(checkpoint_mutex_);
    checkpoint_stopping_ = true;
  }
  checkpoint_cv_.notify_all();
  if (checkpointer_.joinable()) checkpointer_.join();
}

int SqliteQueue::on_wal_commit(void* queue, sqlite3* db, const char* name, int frames) {
  auto* self = static_cast<SqliteQueue*>(queue);
  bool finish = false, request = false;
  {
    std::lock_guard lock(self->checkpoint_mutex_);
    // Only the committer's connection writes, so a frame count below the last one means this
    // commit started the WAL over from the top.
    if (frames < self->last_wal_frames_) {
      std::lock_guard stats(self->mutex_);
      ++self->stats_.wal_restarts;
    }
    self->last_wal_frames_ = frames;
    if (self->checkpoint_finished_) {
      // The background pass copied all but the frames written while it ran: copy those here, so
      // that the next commit finds the WAL fully copied back and starts it over from the top.
      self->checkpoint_finished_ = false;
      finish = true;
    } else if (frames >= kWalLimitFrames) {
      finish = true;  // the background passes fall behind: as SQLite itself would
    } else if (frames >= kCheckpointFrames && !self->checkpoint_due_ &&
               !self->checkpoint_running_) {
      self->checkpoint_due_ = request = true;
    }
  }
  if (request) self->checkpoint_cv_.notify_one();
  if (finish) {
    // PASSIVE never waits for readers.
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    std::lock_guard lock(self->mutex_);
    ++self->stats_.checkpoints;
  }
  return SQLITE_OK;
}

void SqliteQueue::checkpoint_loop() {
  std::unique_lock lock(checkpoint_mutex_);
  while (true) {
    checkpoint_cv_.wait(lock, [&] { return checkpoint_stopping_ || checkpoint_due_; });
    if (checkpoint_stopping_) return;
    checkpoint_due_ = false;
    checkpoint_running_ = true;
    lock.unlock();
    // PASSIVE: copies what it can without blocking the committer or the readers; SQLITE_BUSY only
    // means another checkpoint is running, and the next request tries again.
    int rc = sqlite3_wal_checkpoint_v2(checkpoint_db_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                       nullptr, nullptr);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      OCEAND_LOG_WARN("queue") << options_.path << ": WAL checkpoint failed: "
                               << sqlite3_errmsg(checkpoint_db_->handle());
    }
    {
      std::lock_guard stats(mutex_);
      ++stats_.checkpoints;
    }
    lock.lock();
    checkpoint_running_ = false;
    checkpoint_finished_ = rc == SQLITE_OK;
  }
}

std::string SqliteQueue::delivery_key(const Event& event) const {
  if (event.delivery_id.empty() || dedupe_window_ms_ <= 0) return {};
  return event.integration + '\n' + event.delivery_id;
}

std::optional<uint64_t> SqliteQueue::claimant(const std::string& key) {
  if (auto it = claims_in_commit_.find(key); it != claims_in_commit_.end()) return it->second;
  std::optional<uint64_t> found;
  try {
    dedupe_lookup_->bind(1, key).bind(2, unix_ms() - dedupe_window_ms_);
    if (dedupe_lookup_->step()) found = static_cast<uint64_t>(dedupe_lookup_->int64(0));
    dedupe_lookup_->reset();
  } catch (const StoreError& e) {
    dedupe_lookup_->reset();
    // Unreadable: accept rather than lose the event; at worst it is processed twice.
    OCEAND_LOG_ERROR("queue") << "delivery id lookup failed: " << e.what();
  }
  return found;
}

PushResult SqliteQueue::push(const EventPtr& event) {
  if (!is_open()) return PushResult::closed;
  std::string key = delivery_key(*event);
  if (!key.empty()) {
    std::lock_guard lock(dedupe_mutex_);
    if (claimant(key)) return PushResult::duplicate;
  }
  // Encoding and compressing happen here, on the pushing thread, in parallel with other pushers.
  PendingPush pending{StoredEvent(event, options_.compress_bodies, dictionaries_.get())};

  std::unique_lock lock(mutex_);
  PushResult refused = !open_                           ? PushResult::closed
                       : file_lost_                     ? PushResult::unavailable
                       : depth_ >= options_.max_pending ? PushResult::full
                                                        : PushResult::accepted;
  if (refused != PushResult::accepted) return refused;
  ++depth_;
  pending_.push_back(&pending);
  commit_cv_.notify_one();
  pending.committed.wait(lock, [&] { return pending.done; });
  return pending.result;
}

void SqliteQueue::push_async(const EventPtr& event, PushDone done) {
  if (!is_open()) return done(PushResult::closed);
  std::string key = delivery_key(*event);
  if (!key.empty()) {
    std::lock_guard lock(dedupe_mutex_);
    if (claimant(key)) return done(PushResult::duplicate);
  }
  auto pending = std::make_unique<PendingPush>(
      StoredEvent(event, options_.compress_bodies, dictionaries_.get()));
  pending->on_done = std::move(done);
  std::unique_lock lock(mutex_);
  PushResult refused = !open_                           ? PushResult::closed
                       : file_lost_                     ? PushResult::unavailable
                       : depth_ >= options_.max_pending ? PushResult::full
                                                        : PushResult::accepted;
  if (refused != PushResult::accepted) {
    lock.unlock();
    return pending->on_done(refused);
  }
  ++depth_;
  pending_.push_back(pending.release());
  commit_cv_.notify_one();
}

void SqliteQueue::answer_async(std::unique_lock<std::mutex>& lock) {
  if (answered_.empty()) return;
  std::vector<PendingPush*> answered;
  answered.swap(answered_);
  lock.unlock();
  for (PendingPush* p : answered) {
    std::unique_ptr<PendingPush> owned(p);
    owned->on_done(owned->result);
  }
  lock.lock();
}

bool SqliteQueue::claim_delivery(const Event& event) {
  std::string key = delivery_key(event);
  if (key.empty()) return true;
  {
    // Held across the lookup and the set, so two events of one delivery cannot both claim it; the
    // committer drops a claim from the set only after its row is committed.
    std::lock_guard lock(dedupe_mutex_);
    // 0: recorded at acceptance by an oceand older than claims, which refused every later copy,
    // so the queued event holding that id is the one that was accepted: it takes the claim over.
    if (auto owner = claimant(key); owner && *owner != 0) return *owner == event.id;
    claims_in_commit_.emplace(key, event.id);
  }
  {
    // Written with the next commit; the event's completion, which always comes later, is written
    // in that commit or a later one.
    std::lock_guard lock(mutex_);
    claimed_.push_back({std::move(key), event.id});
  }
  commit_cv_.notify_one();
  return true;
}

void SqliteQueue::commit_loop() {
  std::vector<PendingPush*> batch;
  std::vector<uint64_t> completed;
  std::vector<ClaimedDelivery> claimed;
  bool last_failed = false;
  std::unique_lock lock(mutex_);
  while (true) {
    if (last_failed) {
      commit_cv_.wait_for(lock, kRetryAfterFailure, [&] { return stopping_ || !pending_.empty(); });
    } else {
      bool work = commit_cv_.wait_for(lock, kHealthCheckEvery, [&] {
        return stopping_ || !pending_.empty() || !completed_.empty() || !claimed_.empty();
      });
      if (work && pending_.empty())
        commit_cv_.wait_for(lock, kCompletionDelay, [&] {
          return stopping_ || !pending_.empty() || completed_.size() >= kCompletionBatch;
        });
    }
    // Before anything is written: is queue.path still this queue's file? A deleted or replaced
    // file would take the writes into an inode nobody will read again.
    if (!file_lost_ && !same_file()) lose_file();
    if (file_lost_) {
      for (PendingPush* p : pending_) p->stored.event()->id = 0;
      std::vector<PendingPush*> refused;
      refused.swap(pending_);
      completed_.clear();
      claimed_.clear();
      publish(refused, false, PushResult::unavailable);
      answer_async(lock);
      if (stopping_) return;
      continue;
    }
    if (pending_.empty() && completed_.empty() && claimed_.empty()) {
      if (stopping_) return;
      if (!disk_full_ && !write_failing_) {
        const bool empty = depth_ == 0;
        lock.unlock();
        forget_dictionaries();
        if (empty) give_space_back();
        lock.lock();
      }
      if (disk_full_ || write_failing_) {
        lock.unlock();
        bool back = space_is_back();
        lock.lock();
        if (back) writes_succeed();
      }
      last_failed = false;
      continue;
    }
    // A failing disk at shutdown: the unwritten completions only mean those events run again.
    if (stopping_ && last_failed && pending_.empty()) return;
    batch.swap(pending_);
    completed.swap(completed_);
    claimed.swap(claimed_);
    uint64_t first_id = next_id_;
    for (PendingPush* p : batch) p->stored.event()->id = next_id_++;
    lock.unlock();

    bool disk_full = false;
    bool committed = write(batch, completed, claimed, disk_full);
    if (committed) forget_dictionaries();

    if (committed && !claimed.empty()) {
      std::lock_guard dedupe(dedupe_mutex_);
      for (const auto& c : claimed) claims_in_commit_.erase(c.key);
    }
    lock.lock();
    // Deleted between the check above and the commit: what was just written went into an inode
    // nobody will read again, so none of it may be answered 200.
    if (committed && !same_file()) {
      lose_file();
      publish(batch, false, PushResult::unavailable);
      answer_async(lock);
      batch.clear();
      completed.clear();
      claimed.clear();
      continue;
    }
    if (committed && (disk_full_ || write_failing_)) writes_succeed();
    if (!committed) {
      disk_full_ = disk_full;
      write_failing_ = !disk_full;
      next_id_ = first_id;  // nothing of the batch exists: its ids are free again
      completed_.insert(completed_.begin(), completed.begin(), completed.end());
      claimed_.insert(claimed_.begin(), claimed.begin(), claimed.end());
    }
    completed.clear();
    claimed.clear();
    size_t arrived =
        publish(batch, committed, disk_full_ ? PushResult::disk_full : PushResult::unavailable);
    batch.clear();
    last_failed = !committed;
    for (size_t i = 0; i < arrived; ++i) ready_cv_.notify_one();
    answer_async(lock);
  }
}

bool SqliteQueue::write(std::vector<PendingPush*>& batch, const std::vector<uint64_t>& completed,
                        const std::vector<ClaimedDelivery>& claimed, bool& disk_full) {
  Writer& w = *writer_;
  std::vector<uint64_t> new_dictionaries;
  try {
    int64_t now = unix_ms();
    Transaction tx(w.db);
    for (PendingPush* p : batch) {
      // A row's dictionary is in the file before the row, in the same transaction.
      if (const auto& d = p->stored.dictionary()) {
        auto [it, added] = w.stored_dictionaries.try_emplace(d->id(), 0);
        if (added) {
          new_dictionaries.push_back(d->id());
          w.insert_dictionary.bind(1, static_cast<int64_t>(d->id())).bind_blob(2, d->bytes()).run();
        }
        it->second = p->stored.event()->id;
      }
      w.insert_event.bind(1, static_cast<int64_t>(p->stored.event()->id));
      p->stored.bind(w.insert_event, 2);
      w.insert_event.run();
    }
    for (const auto& c : claimed)
      w.insert_delivery.bind(1, c.key).bind(2, now).bind(3, static_cast<int64_t>(c.event_id)).run();
    for (uint64_t id : completed) w.delete_event.bind(1, static_cast<int64_t>(id)).run();
    if (dedupe_window_ms_ > 0 && now - w.last_prune_ms >= kPruneEveryMs) {
      w.prune_deliveries.bind(1, now - dedupe_window_ms_).run();
      w.last_prune_ms = now;
    }
    tx.commit();
    return true;
  } catch (const StoreError& e) {
    // Rolled back: the next row that refers to them stores them again.
    // (The last rows of the others stay as they were: a later id only delays their deletion.)
    for (uint64_t id : new_dictionaries) w.stored_dictionaries.erase(id);
    disk_full = e.disk_full();
    OCEAND_LOG_ERROR_LIMITED("queue", "commit failed")
        << "group commit of " << batch.size() << " event(s) and " << completed.size()
        << " completion(s) failed: " << e.what()
        << (batch.empty() ? "" : "; the senders get 503 and retry");
    return false;
  }
}

void SqliteQueue::lose_file() {
  file_lost_ = true;
  OCEAND_LOG_ERROR("queue")
      << options_.path
      << " was deleted or replaced while oceand ran: no event is accepted (503) "
         "until oceand is restarted; events it held and did not finish are lost "
         "with it";
}

void SqliteQueue::writes_succeed() {
  OCEAND_LOG_INFO("queue") << options_.path
                           << (disk_full_ ? ": there is space on the disk again"
                                          : ": writing succeeds again");
  disk_full_ = false;
  write_failing_ = false;
}

size_t SqliteQueue::publish(std::vector<PendingPush*>& batch, bool committed, PushResult refusal) {
  if (committed) {
    ++stats_.commits;
    stats_.events_committed += batch.size();
  }
  for (PendingPush* p : batch) {
    if (p->on_done) {
      answered_.push_back(p);  // called back by answer_async, outside the lock
    } else {
      p->done = true;
      // Under the lock, so the pusher cannot return and free `p` before this call.
      p->committed.notify_one();
    }
    const EventPtr& event = p->stored.event();
    if (!committed) {
      event->id = 0;
      --depth_;
      p->result = refusal;
      continue;
    }
    p->result = PushResult::accepted;
    bool caught_up = loaded_through_ == committed_through_;
    committed_through_ = event->id;
    ++waiting_;
    size_t bytes = event->memory_bytes();
    // The window takes the event only when it holds everything before it; otherwise the event is
    // read from disk when pop reaches it.
    if (caught_up && window_.size() < options_.window_events &&
        window_bytes_ + bytes <= options_.window_bytes) {
      window_.push_back({event, bytes});
      window_bytes_ += bytes;
      loaded_through_ = event->id;
    }
  }
  return committed ? batch.size() : 0;
}

EventPtr SqliteQueue::pop(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  if (!ready_cv_.wait_for(lock, wait, [&] { return waiting_ > 0 || !open_; })) return nullptr;
  if (waiting_ == 0) return nullptr;
  if (window_.empty()) {
    lock.unlock();
    bool ok = page_in();
    lock.lock();
    // A failing disk: wait before the caller asks again, rather than spin on the error.
    if (!ok && window_.empty()) ready_cv_.wait_for(lock, wait, [&] { return stopping_; });
    if (window_.empty()) return nullptr;
  }
  EventPtr event = std::move(window_.front().event);
  window_bytes_ -= window_.front().bytes;
  window_.pop_front();
  --waiting_;
  return event;
}

bool SqliteQueue::page_in() {
  std::lock_guard page(page_mutex_);
  uint64_t after;
  size_t room_events, room_bytes;
  {
    std::lock_guard lock(mutex_);
    if (!window_.empty()) return true;  // another popper filled it
    after = loaded_through_;
    room_events = options_.window_events;
    room_bytes = options_.window_bytes;
  }
  std::deque<WindowEntry> read;
  size_t read_bytes = 0;
  std::vector<uint64_t> unreadable;
  uint64_t last = after;
  bool ok = true;
  try {
    page_select_->bind(1, static_cast<int64_t>(after)).bind(2, static_cast<int64_t>(room_events));
    while (page_select_->step()) {
      auto id = static_cast<uint64_t>(page_select_->int64(0));
      try {
        EventPtr event = StoredEvent::read(*page_select_, 1, id, [this](uint64_t dictionary) {
          return stored_dictionary(dictionary);
        });
        size_t bytes = event->memory_bytes();
        // Always at least one event, so one event larger than the window still moves.
        if (!read.empty() && read_bytes + bytes > room_bytes) break;
        last = id;
        read_bytes += bytes;
        read.push_back({std::move(event), bytes});
      } catch (const StoreError& e) {
        OCEAND_LOG_ERROR("queue") << options_.path << ": event " << id
                                  << " cannot be read back and is dropped: " << e.what();
        last = id;
        unreadable.push_back(id);
      }
    }
    page_select_->reset();
  } catch (const StoreError& e) {
    page_select_->reset();
    OCEAND_LOG_ERROR("queue") << "reading queued events failed: " << e.what();
    ok = false;
  } catch (const DictionaryReadFailed& e) {
    page_select_->reset();
    OCEAND_LOG_ERROR("queue") << "reading queued events failed: " << e.what();
    ok = false;
  }
  std::lock_guard lock(mutex_);
  ++stats_.page_ins;
  loaded_through_ = std::max(loaded_through_, last);
  waiting_ -= std::min(waiting_, unreadable.size());
  depth_ -= std::min(depth_, unreadable.size());
  completed_.insert(completed_.end(), unreadable.begin(), unreadable.end());
  if (!unreadable.empty()) commit_cv_.notify_one();
  for (auto& entry : read) {
    window_bytes_ += entry.bytes;
    window_.push_back(std::move(entry));
  }
  return ok;
}

void SqliteQueue::complete(uint64_t id) {
  {
    std::lock_guard lock(mutex_);
    if (depth_ > 0) --depth_;
    completed_.push_back(id);
    // The committer needs waking only to start its delay, or to end it early.
    if (completed_.size() != 1 && completed_.size() != kCompletionBatch) return;
  }
  commit_cv_.notify_one();
}

size_t SqliteQueue::depth() const {
  std::lock_guard lock(mutex_);
  return depth_;
}

size_t SqliteQueue::waiting() const {
  std::lock_guard lock(mutex_);
  return waiting_;
}

void SqliteQueue::close() {
  {
    std::lock_guard lock(mutex_);
    open_ = false;
  }
  ready_cv_.notify_all();
}

bool SqliteQueue::same_file() const {
  struct stat st {};
  if (::stat(options_.path.c_str(), &st) != 0) return false;
  return static_cast<uint64_t>(st.st_dev) == file_device_ &&
         static_cast<uint64_t>(st.st_ino) == file_inode_;
}

void SqliteQueue::forget_dictionaries() {
  Writer& w = *writer_;
  auto now = std::chrono::steady_clock::now();
  if (now - w.last_dictionary_sweep < kDictionarySweepEvery) return;
  w.last_dictionary_sweep = now;
  // The current ones stay whatever their rows: the next events refer to them (a trickle of events
  // would otherwise store a dictionary again with each).
  const std::vector<uint64_t> current = dictionaries_->current_ids();
  std::unordered_set<uint64_t> keep(current.begin(), current.end());
  const bool candidates = w.earlier_rows_through ||
                          std::any_of(w.stored_dictionaries.begin(), w.stored_dictionaries.end(),
                                      [&](const auto& entry) { return !keep.count(entry.first); });
  if (!candidates) return;
  try {
    // A dictionary may go once every row up to the last one against it is gone: what the file
    // holds decides, not a count kept beside it.
    Statement oldest(w.db, "SELECT coalesce(min(id), 9223372036854775807) FROM events");
    oldest.step();
    const auto first_waiting = static_cast<uint64_t>(oldest.int64(0));
    oldest.reset();
    std::vector<uint64_t> gone;
    for (const auto& [id, last_row] : w.stored_dictionaries)
      if (!keep.count(id) && last_row < first_waiting) gone.push_back(id);
    const bool earlier_gone = w.earlier_rows_through && *w.earlier_rows_through < first_waiting;
    if (gone.empty() && !earlier_gone) return;
    Transaction tx(w.db);
    for (uint64_t id : gone) w.delete_dictionary.bind(1, static_cast<int64_t>(id)).run();
    if (earlier_gone)
      w.delete_earlier_dictionaries.bind(1, static_cast<int64_t>(w.first_dictionary_id)).run();
    tx.commit();
    // A row committed from now on that refers to one of these stores it again.
    for (uint64_t id : gone) w.stored_dictionaries.erase(id);
    if (earlier_gone) w.earlier_rows_through.reset();
  } catch (const StoreError& e) {
    OCEAND_LOG_WARN_LIMITED("queue", "dictionaries")
        << options_.path
        << ": deleting unused dictionaries failed (tried again later): " << e.what();
  }
}

std::shared_ptr<const CompressionDictionary> SqliteQueue::stored_dictionary(uint64_t id) {
  if (auto it = read_dictionaries_.find(id); it != read_dictionaries_.end()) return it->second;
  bool found = false;
  std::string bytes;
  try {
    dictionary_select_->bind(1, static_cast<int64_t>(id));
    found = dictionary_select_->step();
    if (found) bytes = dictionary_select_->text(0);
    dictionary_select_->reset();
  } catch (const StoreError& e) {
    dictionary_select_->reset();
    throw DictionaryReadFailed(std::string("reading dictionary ") + std::to_string(id) +
                               " failed: " + e.what());
  }
  if (!found) throw StoreError("its dictionary " + std::to_string(id) + " is not in the file");
  if (read_dictionaries_.size() >= kReadDictionaries) read_dictionaries_.clear();
  auto dictionary = std::make_shared<const CompressionDictionary>(id, std::string_view(), bytes);
  read_dictionaries_.emplace(id, dictionary);
  return dictionary;
}

void SqliteQueue::give_space_back() {
  if (!incremental_vacuum_) return;
  try {
    Statement free_pages(writer_->db, "PRAGMA freelist_count");
    const int64_t before = free_pages.step() ? free_pages.int64(0) : 0;
    free_pages.reset();
    if (before > kKeepFreePages) {
      const int64_t pages = std::min(before - kKeepFreePages, kVacuumSlicePages);
      Statement vacuum(writer_->db,
                       ("PRAGMA incremental_vacuum(" + std::to_string(pages) + ")").c_str());
      while (vacuum.step()) {
      }
      const int64_t left = free_pages.step() ? free_pages.int64(0) : 0;
      free_pages.reset();
      std::lock_guard lock(mutex_);
      stats_.pages_released += static_cast<uint64_t>(std::max<int64_t>(0, before - left));
      shrink_pending_ = true;
    }
  } catch (const StoreError& e) {
    OCEAND_LOG_WARN_LIMITED("queue", "vacuum")
        << options_.path << ": giving free pages back failed: " << e.what();
    return;
  }
  if (!shrink_pending_) return;
  // The file shrinks when a checkpoint copies back the whole WAL holding the vacuum: tried at
  // every idle pass until one does (the background checkpointer may hold it busy once).
  int in_wal = 0, copied = 0;
  int rc = sqlite3_wal_checkpoint_v2(writer_->db.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                     &in_wal, &copied);
  if (rc == SQLITE_OK && in_wal == copied) shrink_pending_ = false;
}

bool SqliteQueue::space_is_back() {
  try {
    Transaction tx(writer_->db);
    writer_->db.exec("INSERT INTO space_probe VALUES (zeroblob(65536)); DELETE FROM space_probe");
    tx.commit();
    return true;
  } catch (const StoreError&) {
    return false;
  }
}

std::string SqliteQueue::problem() const {
  std::lock_guard lock(mutex_);
  if (file_lost_) return "the queue file " + options_.path + " was deleted or replaced";
  if (disk_full_) return "the disk holding " + options_.path + " is full";
  if (write_failing_) return "writing " + options_.path + " fails (see the log)";
  return {};
}

bool SqliteQueue::is_open() const {
  std::lock_guard lock(mutex_);
  return open_;
}

SqliteQueue::Stats SqliteQueue::stats() const {
  std::lock_guard lock(mutex_);
  Stats s = stats_;
  s.window_events = window_.size();
  s.window_bytes = window_bytes_;
  return s;
}

}  // namespace oceand
