#include "queue/pg_queue.hpp"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <random>

#include "core/log.hpp"
#include "queue/pg_event_row.hpp"
#include "queue/pg_schema.hpp"

namespace oceand {

namespace {

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Group keys as a text[] literal: each in its PostgreSQL text form (to_pg_text), quoted, quotes
// and backslashes escaped.
std::string group_array(const std::vector<std::string>& groups) {
  std::string out = "{";
  for (size_t i = 0; i < groups.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : to_pg_text(groups[i])) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

template <typename Int>
std::string int_array(const std::vector<Int>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(items[i]);
  }
  return out + "}";
}

// (id, fencing token) pairs as the two bigint[] parameters of an unnest.
std::vector<PgParam> id_fence_arrays(const std::vector<std::pair<uint64_t, int64_t>>& pairs) {
  std::vector<uint64_t> ids;
  std::vector<int64_t> fences;
  for (const auto& [id, fence] : pairs) ids.push_back(id), fences.push_back(fence);
  return {int_array(ids), int_array(fences)};
}

// A session frozen inside a transaction (SIGSTOP mid-send) would hold its locks and rows until it
// resumed: the server ends it after the hand-over time.
std::string idle_timeout(const PgQueueOptions& options) {
  return "SET idle_in_transaction_session_timeout = '" +
         std::to_string(static_cast<int>(options.handover_seconds * 1000)) + "ms'";
}

// Marks the lease of instance `id` as renewed now.
void register_instance(PgConnection& conn, const std::string& id) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  conn.exec("INSERT INTO oceand_instances(id, host, pid, seen_at) VALUES ($1, $2, $3, now())",
            {id, std::string(host), static_cast<int64_t>(::getpid())});
}

std::string new_instance_id() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::random_device random;
  char tag[9];
  std::snprintf(tag, sizeof tag, "%08x", random());
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" + tag;
}

// A push is accepted only when no authenticated delivery with its id was seen within the window.
const std::string kInsert =
    std::string("INSERT INTO oceand_events(") + PgEventRow::kColumns +
    ") SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE $9 = '' OR NOT EXISTS (SELECT 1 FROM "
    "oceand_deliveries WHERE key = $9 AND seen_at > now() - make_interval(secs => $10)) "
    "RETURNING seq";

// The oldest unclaimed events (below $3), in acceptance order among themselves.
const std::string kClaim =
    std::string(
        "UPDATE oceand_events SET owner = $1, fence = nextval('oceand_fence') "
        "WHERE seq IN (SELECT seq FROM oceand_events WHERE owner IS NULL AND seq < $3 "
        "ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED) "
        "AND EXISTS (SELECT 1 FROM oceand_instances WHERE id = $1) "
        "RETURNING seq, fence, ") +
    PgEventRow::kColumns;

// An admitted event may run once nothing earlier is ungrouped anywhere and no earlier event of its
// group is held by another instance (this instance's own earlier ones its scheduler orders).
const char* const kRunnable =
    "WITH frontier AS (SELECT coalesce(min(seq), 9223372036854775807) AS seq FROM oceand_events "
    "WHERE group_key IS NULL) "
    "SELECT h.seq FROM unnest($1::bigint[], $2::text[]) AS h(seq, grp), frontier "
    "WHERE h.seq < frontier.seq AND NOT EXISTS (SELECT 1 FROM oceand_events e WHERE "
    "e.group_key = h.grp AND e.seq < h.seq AND e.owner IS DISTINCT FROM $3) ORDER BY h.seq";

const char* const kSetGroups =
    "UPDATE oceand_events e SET group_key = h.grp FROM unnest($1::bigint[], $2::bigint[], "
    "$3::text[]) AS h(seq, fence, grp) WHERE e.seq = h.seq AND e.fence = h.fence";

// An event done with, by the instance whose claim (fencing token) it still carries.
const char* const kDeleteClaimed = "DELETE FROM oceand_events WHERE seq = $1 AND fence = $2";
// Back to be claimed again, in id order, and admitted again (its group decided anew).
const std::string kRelease =
    "UPDATE oceand_events SET owner = NULL, fence = NULL, group_key = NULL ";

constexpr size_t kClaimBatch = 64;
// Always a write (so its synchronous commit waits for the WAL to be flushed through it).
const char* const kFlush =
    "INSERT INTO oceand_flush(committer, at) VALUES ($1, now()) "
    "ON CONFLICT (committer) DO UPDATE SET at = excluded.at";
constexpr const char* kPushLock = "111542867059045";

}  // namespace

struct PgQueue::PendingPush {
  EventPtr event;
  std::vector<PgParam> params;
  PushResult result = PushResult::unavailable;
  PushDone on_done;
};

PgQueue::PgQueue(PgQueueOptions options)
    // The pool's writes (claims, groups, completions, delivery ids) may be lost by a crash of the
    // server, never an accepted event (the committer's own connection commits synchronously): at
    // worst an event runs again. So they do not wait for the server's disk.
    : options_(std::move(options)),
      pool_(options_.url, 12, "SET synchronous_commit = off; " + idle_timeout(options_)),
      instance_id_(new_instance_id()),
      flush_key_(instance_id_) {
  {
    PgPool::Lease conn = pool_.borrow();
    migrate_pg_schema(*conn);
    register_instance(*conn, instance_id_);
    lease_renewed_ns_ = steady_ns();
    PgRows count = conn->exec("SELECT count(*) FROM oceand_events");
    depth_ = static_cast<size_t>(count.int64(0, 0));
  }
  committer_ = std::thread([this] { commit_loop(); });
  maintainer_ = std::thread([this] { maintain_loop(); });
}

PgQueue::~PgQueue() {
  {
    std::lock_guard lock(mutex_);
    open_ = false;
    stopping_ = true;
  }
  commit_cv_.notify_all();
  ready_cv_.notify_all();
  maintain_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
  if (maintainer_.joinable()) maintainer_.join();
  // Leave at once instead of after a lease: the others take what this instance still held.
  try {
    PgPool::Lease conn = pool_.borrow();
    std::lock_guard lock(instance_mutex_);
    conn->exec_script("BEGIN");
    // Completions not yet written go first: those events were applied and must not run again.
    for (const auto& [id, fence] : unfinished_) conn->exec(kDeleteClaimed, {id, fence});
    conn->exec(kRelease + "WHERE owner = $1", {instance_id_});
    conn->exec("DELETE FROM oceand_instances WHERE id = $1", {instance_id_});
    conn->exec("DELETE FROM oceand_flush WHERE committer = $1", {flush_key_});
    conn->exec_script("COMMIT");
  } catch (const std::exception& e) {
    OCEAND_LOG_WARN("queue") << "could not hand this instance's events over at shutdown ("
                             << e.what() << "): the others take them once its lease runs out";
  }
}

std::string PgQueue::delivery_key(const Event& event) const {
  if (event.delivery_id.empty() || options_.dedupe_window_seconds <= 0) return {};
  return to_pg_text(event.integration + '\n' + event.delivery_id);
}

PushResult PgQueue::push(const EventPtr& event) {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  PushResult result = PushResult::unavailable;
  push_async(event, [&](PushResult r) {
    std::lock_guard lock(m);
    result = r;
    done = true;
    cv.notify_one();
  });
  std::unique_lock lock(m);
  cv.wait(lock, [&] { return done; });
  return result;
}

void PgQueue::push_async(const EventPtr& event, PushDone done) {
  auto pending = std::make_unique<PendingPush>();
  pending->event = event;
  pending->params = PgEventRow::params(*event, options_.compress_bodies);
  pending->params.emplace_back(delivery_key(*event));
  pending->params.emplace_back(std::to_string(options_.dedupe_window_seconds));
  pending->on_done = std::move(done);
  std::unique_lock lock(mutex_);
  PushResult refused = !open_ ? PushResult::closed
                       : depth_ + pushed_since_count_ >= options_.max_pending
                           ? PushResult::full
                           : PushResult::accepted;
  if (refused != PushResult::accepted) {
    lock.unlock();
    return pending->on_done(refused);
  }
  pending_.push_back(pending.release());
  commit_cv_.notify_one();
}

void PgQueue::commit_loop() {
  std::unique_ptr<PgConnection> conn;
  std::vector<PendingPush*> batch;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      commit_cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping, and every push answered
      batch.swap(pending_);
    }
    size_t accepted = 0;
    try {
      if (!conn || !conn->usable()) {
        conn = std::make_unique<PgConnection>(options_.url);
        // Frozen, it would hold the push lock of every instance.
        conn->exec_script(idle_timeout(options_));
      }
      // The whole transaction in one round trip. One committer at a time across the cluster (the
      // advisory lock), so that ids (bigserial) follow commit order: an event is never committed,
      // and claimed, before one with a smaller id that could be of its group (acceptance order is
      // commit order). Group commit keeps this to one lock per batch.
      std::vector<PgConnection::Statement> statements;
      statements.reserve(batch.size() + 3);
      // The lock is held only until COMMIT, which does not wait for the disk (a commit becomes
      // visible at once), so the instances' disk waits overlap instead of queueing behind the
      // lock. The statement after it commits synchronously: its commit record comes later in the
      // WAL, so its return means the batch is on disk too — only then are the pushers answered.
      statements.push_back({"BEGIN", {}});
      statements.push_back({"SET LOCAL synchronous_commit = off", {}});
      statements.push_back({std::string("SELECT pg_advisory_xact_lock(") + kPushLock + ")", {}});
      for (PendingPush* p : batch) statements.push_back({kInsert, std::move(p->params)});
      statements.push_back({"COMMIT", {}});
      statements.push_back({kFlush, {flush_key_}});
      std::vector<PgRows> results = conn->exec_pipelined(statements);
      for (size_t i = 0; i < batch.size(); ++i) {
        PendingPush* p = batch[i];
        const PgRows& inserted = results[i + 3];
        p->result = inserted.size() == 1 ? PushResult::accepted : PushResult::duplicate;
        if (inserted.size() == 1) p->event->id = static_cast<uint64_t>(inserted.int64(0, 0));
      }
      for (PendingPush* p : batch) accepted += p->result == PushResult::accepted;
      set_problem("");
    } catch (const std::exception& e) {
      // Nothing of the batch counts as accepted: its senders are answered 503 and send again.
      // (A COMMIT whose answer was lost may have stored them: at worst an event runs twice.)
      for (PendingPush* p : batch) p->result = PushResult::unavailable;
      if (conn && conn->usable() == false) conn.reset();
      if (conn) {
        try {
          conn->exec_script("ROLLBACK");
        } catch (...) {
          conn.reset();
        }
      }
      set_problem(std::string("PostgreSQL cannot store events: ") + e.what());
      OCEAND_LOG_ERROR_LIMITED("queue", "pg push failed")
          << "could not store " << batch.size() << " event(s) in PostgreSQL ("
          << redact_pg_url(options_.url) << "): " << e.what() << "; answered 503";
    }
    pushed_since_count_ += accepted;
    for (PendingPush* p : batch) {
      std::unique_ptr<PendingPush> owned(p);
      owned->on_done(owned->result);
    }
    batch.clear();
    if (accepted > 0) ready_cv_.notify_all();  // pop claims what was just committed here
  }
}

EventPtr PgQueue::pop(std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (!window_.empty()) {
        EventPtr event = std::move(window_.front());
        window_.pop_front();
        return event;
      }
      if (!open_) return nullptr;
    }
    try {
      claim_more();
    } catch (const std::exception& e) {
      set_problem(std::string("PostgreSQL cannot hand out events: ") + e.what());
      OCEAND_LOG_ERROR_LIMITED("queue", "pg claim failed")
          << "could not claim events from PostgreSQL: " << e.what();
    }
    std::unique_lock lock(mutex_);
    if (!window_.empty()) continue;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline || !open_) return nullptr;
    // Events pushed here wake this at once; those pushed on other instances are found by the next
    // claim, at most 50 ms later.
    ready_cv_.wait_for(lock, std::min<std::chrono::steady_clock::duration>(
                                 deadline - now, std::chrono::milliseconds(50)));
  }
}

void PgQueue::claim_more() {
  int64_t below = LLONG_MAX;
  size_t limit = kClaimBatch;
  {
    std::lock_guard lock(mutex_);
    if (fences_.size() >= options_.max_claimed) {
      // At the cap: only events older than every one held here, which nobody holds.
      below = static_cast<int64_t>(fences_.rbegin()->first);
    } else {
      limit = std::min(limit, options_.max_claimed - fences_.size());
    }
  }
  const std::string owner = instance_id();
  if (!lease_fresh()) return;  // a claim this instance might not keep
  std::lock_guard claiming(claim_mutex_);
  PgPool::Lease conn = pool_.borrow();
  PgRows rows = conn->exec(kClaim, {owner, static_cast<int64_t>(limit), below});
  std::vector<std::pair<EventPtr, int64_t>> claimed;
  for (int r = 0; r < rows.size(); ++r) {
    uint64_t seq = static_cast<uint64_t>(rows.int64(r, 0));
    try {
      claimed.emplace_back(PgEventRow::read(rows, r, 2, seq), rows.int64(r, 1));
    } catch (const std::exception& e) {
      // Claimed and never grouped, it would hold back every later event of the cluster: it is
      // taken out of the queue, loudly (a damaged row, or one a newer oceand wrote).
      OCEAND_LOG_ERROR("queue") << "event " << seq << " in PostgreSQL cannot be read (" << e.what()
                                << "); removed from oceand_events so the queue moves on";
      try {
        conn->exec(kDeleteClaimed, {seq, rows.int64(r, 1)});
      } catch (const std::exception&) {
        // Left claimed: the stray sweep returns it, and it is met here again.
      }
    }
  }
  std::sort(claimed.begin(), claimed.end(),
            [](const auto& a, const auto& b) { return a.first->id < b.first->id; });
  std::lock_guard lock(mutex_);
  for (auto& [event, fence] : claimed) {
    fences_[event->id] = fence;
    window_.push_back(std::move(event));
  }
}

void PgQueue::complete(uint64_t id) {
  int64_t fence = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = fences_.find(id);
    if (it == fences_.end()) return;  // handed over: the new owner completes it
    fence = it->second;
  }
  // The claim stays known (in fences_) until its row is gone: the stray sweep returns rows this
  // instance owns and does not know, and would hand a finished event out to run again.
  bool deleted = false;
  try {
    PgPool::Lease conn = pool_.borrow();
    PgRows rows = conn->exec(kDeleteClaimed, {id, fence});
    deleted = true;
    if (rows.affected() == 0)
      OCEAND_LOG_WARN("queue") << "event " << id
                               << " was handed to another instance before it completed here";
  } catch (const std::exception& e) {
  }
  {
    std::lock_guard lock(mutex_);
    fences_.erase(id);
    if (!deleted) unfinished_.emplace_back(id, fence);  // written again by the maintainer
  }
  decrement_depth();
}

void PgQueue::decrement_depth() {
  size_t d = depth_.load();
  while (d > 0 && !depth_.compare_exchange_weak(d, d - 1)) {
  }
}

bool PgQueue::holds(uint64_t id) const {
  std::lock_guard lock(mutex_);
  return fences_.count(id) != 0;
}

void PgQueue::give_back(uint64_t id) {
  std::lock_guard lock(mutex_);
  auto it = fences_.find(id);
  if (it == fences_.end()) return;
  given_back_.emplace_back(id, it->second);
  fences_.erase(it);
  maintain_cv_.notify_all();
}

std::string PgQueue::instance_id() {
  std::lock_guard lock(instance_mutex_);
  return instance_id_;
}

void PgQueue::release_strays(PgConnection& conn) {
  std::lock_guard claiming(claim_mutex_);
  std::vector<uint64_t> known;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, fence] : fences_) known.push_back(id);
    for (const auto& [id, fence] : unfinished_) known.push_back(id);
    for (const auto& [id, fence] : given_back_) known.push_back(id);
  }
  const std::string owner = instance_id();
  int64_t released = conn.exec(kRelease + "WHERE owner = $1 AND NOT (seq = ANY($2::bigint[]))",
                               {owner, int_array(known)})
                         .affected();
  if (released > 0)
    OCEAND_LOG_WARN("queue") << released
                             << " event(s) claimed by this instance without its knowing (a claim "
                                "whose answer was lost) went back to be claimed again";
}

bool PgQueue::claim_delivery(const Event& event) {
  std::string key = delivery_key(event);
  if (key.empty()) return true;
  try {
    PgPool::Lease conn = pool_.borrow();
    // The claim goes to this event unless another event claimed the id within the window.
    PgRows rows = conn->exec(
        "INSERT INTO oceand_deliveries(key, event_seq, seen_at) VALUES ($1, $2, now()) "
        "ON CONFLICT (key) DO UPDATE SET event_seq = excluded.event_seq, seen_at = now() "
        "WHERE oceand_deliveries.event_seq = excluded.event_seq OR "
        "oceand_deliveries.seen_at <= now() - make_interval(secs => $3) RETURNING 1",
        {key, event.id, std::to_string(options_.dedupe_window_seconds)});
    return rows.size() == 1;
  } catch (const std::exception& e) {
    // Unknown: process rather than lose it; at worst a redelivery runs twice.
    OCEAND_LOG_ERROR_LIMITED("queue", "pg delivery claim failed")
        << "delivery id claim failed: " << e.what();
    return true;
  }
}

size_t PgQueue::depth() const {
  return depth_ + pushed_since_count_;
}

size_t PgQueue::waiting() const {
  std::lock_guard lock(mutex_);
  return window_.size();
}

void PgQueue::close() {
  {
    std::lock_guard lock(mutex_);
    open_ = false;
  }
  ready_cv_.notify_all();
}

bool PgQueue::is_open() const {
  std::lock_guard lock(mutex_);
  return open_;
}

std::string PgQueue::problem() const {
  std::lock_guard lock(mutex_);
  return problem_;
}

void PgQueue::set_problem(const std::string& problem) {
  std::lock_guard lock(mutex_);
  if (problem_.empty() && !problem.empty())
    OCEAND_LOG_ERROR("queue") << problem;
  else if (!problem_.empty() && problem.empty())
    OCEAND_LOG_INFO("queue") << "PostgreSQL is reachable again";
  problem_ = problem;
}

void PgQueue::set_group(uint64_t id, const std::string& group) {
  std::lock_guard lock(mutex_);
  groups_.emplace_back(id, group);
}

void PgQueue::flush_groups(PgConnection& conn) {
  std::vector<uint64_t> ids;
  std::vector<int64_t> fences;
  std::vector<std::string> groups;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, group] : groups_) {
      auto it = fences_.find(id);
      if (it == fences_.end()) continue;
      ids.push_back(id);
      fences.push_back(it->second);
      groups.push_back(std::move(group));
    }
    groups_.clear();
  }
  if (ids.empty()) return;
  try {
    conn.exec(kSetGroups, {int_array(ids), int_array(fences), group_array(groups)});
  } catch (...) {
    std::lock_guard lock(mutex_);  // kept for the next try
    for (size_t i = 0; i < ids.size(); ++i) groups_.emplace_back(ids[i], std::move(groups[i]));
    throw;
  }
}

std::vector<uint64_t> PgQueue::runnable(const std::vector<std::pair<uint64_t, std::string>>& held) {
  std::vector<uint64_t> ids;
  const std::string owner = instance_id();
  try {
    PgPool::Lease conn = pool_.borrow();
    flush_groups(*conn);
    if (held.empty()) return ids;
    std::vector<uint64_t> seqs;
    std::vector<std::string> groups;
    for (const auto& [id, group] : held) {
      seqs.push_back(id);
      groups.push_back(group);
    }
    PgRows rows = conn->exec(kRunnable, {int_array(seqs), group_array(groups), owner});
    for (int r = 0; r < rows.size(); ++r) ids.push_back(static_cast<uint64_t>(rows.int64(r, 0)));
  } catch (const std::exception& e) {
    OCEAND_LOG_ERROR_LIMITED("queue", "pg runnable failed")
        << "could not read the cluster's order from PostgreSQL: " << e.what();
  }
  return ids;
}

bool PgQueue::lease_fresh() const {
  const double age = static_cast<double>(steady_ns() - lease_renewed_ns_.load()) / 1e9;
  return age < options_.handover_seconds / 2;
}

EventQueue::Ownership PgQueue::ownership(uint64_t id) {
  int64_t fence = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = fences_.find(id);
    if (it == fences_.end()) return Ownership::handed_over;
    fence = it->second;
  }
  if (!lease_fresh()) return Ownership::unknown;
  try {
    PgPool::Lease conn = pool_.borrow();
    PgRows rows =
        conn->exec("SELECT 1 FROM oceand_events WHERE seq = $1 AND fence = $2", {id, fence});
    if (rows.size() == 1) return Ownership::owned;
  } catch (const std::exception&) {
    return Ownership::unknown;
  }
  std::lock_guard lock(mutex_);
  fences_.erase(id);
  return Ownership::handed_over;
}

void PgQueue::renew_lease(PgConnection& conn) {
  const std::string id = instance_id();
  const int64_t sent_at = steady_ns();  // the lease runs from before the statement left
  PgRows renewed = conn.exec("UPDATE oceand_instances SET seen_at = now() WHERE id = $1", {id});
  if (renewed.affected() == 1) {
    lease_renewed_ns_ = sent_at;
    return;
  }
  // The others declared this instance gone and took its events: everything it held is theirs.
  size_t dropped = 0;
  {
    std::lock_guard lock(mutex_);
    dropped = fences_.size();
    fences_.clear();
    window_.clear();
    groups_.clear();
    unfinished_.clear();
  }
  std::string fresh = new_instance_id();
  register_instance(conn, fresh);
  {
    std::lock_guard lock(instance_mutex_);
    instance_id_ = fresh;
  }
  lease_renewed_ns_ = steady_ns();
  OCEAND_LOG_WARN("queue") << "this instance's lease ran out (stopped or cut off from PostgreSQL "
                              "for longer than queue.handover_seconds): its "
                           << dropped
                           << " claimed event(s) went to other instances and are not applied "
                              "here; it goes on as instance "
                           << fresh;
}

void PgQueue::maintain_loop() {
  const auto beat =
      std::chrono::duration<double>(std::clamp(options_.handover_seconds / 6, 0.1, 5.0));
  std::unique_ptr<PgConnection> conn;
  // Since when this instance has renewed its lease without a failure. It declares others gone only
  // after a whole hand-over time of that: after an outage of the database every lease looks old,
  // and the others must first get the chance to renew theirs.
  auto renewing_since = std::chrono::steady_clock::now();
  const auto handover_time = std::chrono::duration<double>(options_.handover_seconds);
  unsigned beats = 0;
  const std::string handover = std::to_string(options_.handover_seconds);
  while (true) {
    {
      std::unique_lock lock(mutex_);
      if (stopping_) return;
    }
    try {
      if (!conn || !conn->usable()) conn = std::make_unique<PgConnection>(options_.url);
      renew_lease(*conn);
      const bool may_reap = std::chrono::steady_clock::now() - renewing_since >= handover_time;
      // Instances whose lease ran out give their events back, ungrouped, to be claimed again in
      // order. (Every instance does this; the statements are idempotent.)
      conn->exec_script("BEGIN");
      PgRows gone = conn->exec(
          "DELETE FROM oceand_instances WHERE $2 AND seen_at < now() - make_interval(secs => $1) "
          "RETURNING id",
          {handover, may_reap ? "true" : "false"});
      int64_t released = 0;
      if (gone.size() > 0 || (may_reap && beats % 20 == 0)) {
        released = conn->exec(kRelease +
                              "WHERE owner IS NOT NULL AND NOT EXISTS "
                              "(SELECT 1 FROM oceand_instances i WHERE i.id = owner)")
                       .affected();
      }
      conn->exec_script("COMMIT");
      for (int r = 0; r < gone.size(); ++r)
        OCEAND_LOG_WARN("queue") << "instance " << gone.text(r, 0)
                                 << " renewed no lease for queue.handover_seconds=" << handover
                                 << ": its events go to the other instances";
      if (released > 0)
        OCEAND_LOG_WARN("queue") << released << " event(s) of instances gone are claimed again";
      std::vector<std::pair<uint64_t, int64_t>> retry, back;
      {
        std::lock_guard lock(mutex_);
        retry.swap(unfinished_);
        back.swap(given_back_);
      }
      try {
        if (!retry.empty()) {
          conn->exec(
              "DELETE FROM oceand_events e USING unnest($1::bigint[], $2::bigint[]) AS "
              "d(seq, fence) WHERE e.seq = d.seq AND e.fence = d.fence",
              id_fence_arrays(retry));
          retry.clear();
        }
        if (!back.empty()) {
          conn->exec(kRelease +
                         "FROM unnest($1::bigint[], $2::bigint[]) AS d(seq, fence) "
                         "WHERE oceand_events.seq = d.seq AND oceand_events.fence = d.fence",
                     id_fence_arrays(back));
          back.clear();
        }
      } catch (...) {
        std::lock_guard lock(mutex_);
        unfinished_.insert(unfinished_.end(), retry.begin(), retry.end());
        given_back_.insert(given_back_.end(), back.begin(), back.end());
        throw;
      }
      if (beats % 10 == 5) release_strays(*conn);
      PgRows count = conn->exec("SELECT count(*) FROM oceand_events");
      depth_ = static_cast<size_t>(count.int64(0, 0));
      pushed_since_count_ = 0;
      if (beats % 60 == 0)
        conn->exec(
            "DELETE FROM oceand_deliveries WHERE seen_at < now() - make_interval(secs => $1)",
            {std::to_string(options_.dedupe_window_seconds)});
      ++beats;
      set_problem("");
    } catch (const std::exception& e) {
      renewing_since = std::chrono::steady_clock::now();
      if (conn && !conn->usable()) conn.reset();
      if (conn) {
        try {
          conn->exec_script("ROLLBACK");
        } catch (...) {
          conn.reset();
        }
      }
      set_problem(std::string("PostgreSQL unreachable (") + redact_pg_url(options_.url) +
                  "): " + e.what());
    }
    std::unique_lock lock(mutex_);
    maintain_cv_.wait_for(lock, beat, [&] { return stopping_; });
  }
}

}  // namespace oceand
