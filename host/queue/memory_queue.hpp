#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

#include "queue/event_queue.hpp"

namespace oceand {

// Ocean's behaviour: events live in memory only and are lost when the process ends.
class MemoryQueue final : public EventQueue {
 public:
  MemoryQueue(size_t max_pending, double dedupe_window_seconds);

  PushResult push(const EventPtr& event) override;
  EventPtr pop(std::chrono::milliseconds wait) override;
  void complete(uint64_t id) override;
  bool claim_delivery(const Event& event) override;
  size_t depth() const override;
  size_t waiting() const override;
  void close() override;
  bool is_open() const override;
  std::string backend() const override { return "memory"; }

 private:
  struct Claim {
    std::chrono::steady_clock::time_point at;
    uint64_t event_id;
  };
  std::string delivery_key(const Event& event) const;
  // The claim on `key` still inside the window, or null; drops claims that left it.
  const Claim* claimed(const std::string& key, std::chrono::steady_clock::time_point now);

  const size_t max_pending_;
  const std::chrono::duration<double> dedupe_window_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<EventPtr> waiting_;
  size_t depth_ = 0;
  uint64_t next_id_ = 1;
  bool open_ = true;
  std::unordered_map<std::string, Claim> delivered_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> delivered_order_;
};

}  // namespace oceand
