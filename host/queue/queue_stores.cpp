#include "queue/queue_stores.hpp"

#include <filesystem>

#include "core/log.hpp"
#include "queue/memory_queue.hpp"
#include "queue/pg_dead_letters.hpp"
#include "queue/pg_queue.hpp"
#include "queue/sqlite_db.hpp"
#include "queue/sqlite_dead_letters.hpp"
#include "queue/sqlite_queue.hpp"

namespace oceand {

namespace {

// See docs/reliability.md: FULL makes every accepted event survive power loss, and group commit
// keeps its cost to one fsync per batch of concurrent pushes.
constexpr const char* kSynchronous = "FULL";

}  // namespace

QueueStores open_queue_stores(const QueueConfig& config) {
  QueueStores stores;
  if (config.backend == "memory") {
    stores.queue = std::make_unique<MemoryQueue>(config.max_pending, config.dedupe_window_seconds);
    stores.dead_letters = std::make_unique<MemoryDeadLetters>(config.dead_letter_retention);
    return stores;
  }
  if (config.backend == "postgres") {
    try {
      PgQueueOptions options;
      options.url = config.url;
      options.max_pending = config.max_pending;
      options.dedupe_window_seconds = config.dedupe_window_seconds;
      options.handover_seconds = config.handover_seconds;
      auto queue = std::make_unique<PgQueue>(options);
      OCEAND_LOG_INFO("queue") << "shared queue and dead letters in PostgreSQL at "
                               << redact_pg_url(config.url) << " (instance " << queue->instance_id()
                               << ", queue.handover_seconds=" << config.handover_seconds << ")";
      stores.queue = std::move(queue);
      stores.dead_letters =
          std::make_unique<PgDeadLetters>(config.url, config.dead_letter_retention);
    } catch (const std::exception& e) {
      throw ConfigError("queue.url " + redact_pg_url(config.url) + ": " + e.what());
    }
    return stores;
  }
  try {
    std::filesystem::path parent = std::filesystem::path(config.path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    SqliteQueueOptions options;
    options.path = config.path;
    options.max_pending = config.max_pending;
    options.dedupe_window_seconds = config.dedupe_window_seconds;
    options.synchronous = kSynchronous;
    stores.queue = std::make_unique<SqliteQueue>(options);
    stores.dead_letters = std::make_unique<SqliteDeadLetters>(config.path, kSynchronous,
                                                              config.dead_letter_retention);
  } catch (const std::exception& e) {  // StoreError, or filesystem_error for the directory
    throw ConfigError("queue.path " + config.path + ": " + e.what());
  }
  OCEAND_LOG_INFO("queue") << "durable queue and dead letters in " << config.path
                           << " (SQLite WAL, synchronous=" << kSynchronous << ")";
  return stores;
}

}  // namespace oceand
