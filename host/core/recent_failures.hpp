#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace oceand {

// The newest events that ended badly (failed, rejected, crashed), for the status page: what an
// operator opening it wants first. Bounded; thread-safe.
class RecentFailures {
 public:
  struct Entry {
    int64_t at_ms = 0;  // Unix epoch
    uint64_t event_id = 0;
    std::string integration;
    std::string outcome;  // failed, rejected, crashed
    std::string reason;
    std::string error;
  };
  static constexpr size_t kKept = 50;

  void add(Entry entry) {
    std::lock_guard lock(mutex_);
    entries_.push_front(std::move(entry));
    if (entries_.size() > kKept) entries_.pop_back();
  }
  // Newest first.
  std::vector<Entry> list() const {
    std::lock_guard lock(mutex_);
    return {entries_.begin(), entries_.end()};
  }

 private:
  mutable std::mutex mutex_;
  std::deque<Entry> entries_;
};

}  // namespace oceand
