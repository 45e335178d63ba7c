#pragma once

#include <memory>

#include "config/host_config.hpp"
#include "queue/dead_letters.hpp"
#include "queue/event_queue.hpp"

namespace oceand {

struct QueueStores {
  std::unique_ptr<EventQueue> queue;
  std::unique_ptr<DeadLetterStore> dead_letters;
};

// The queue and dead-letter store for `queue.backend`: memory, or sqlite at `queue.path` (its
// directory is created). Throws ConfigError naming queue.path when that file cannot be used.
QueueStores open_queue_stores(const QueueConfig& config);

}  // namespace oceand
