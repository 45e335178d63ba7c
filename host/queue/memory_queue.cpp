#include "queue/memory_queue.hpp"

namespace oceand {

MemoryQueue::MemoryQueue(size_t max_pending, double dedupe_window_seconds)
    : max_pending_(max_pending), dedupe_window_(dedupe_window_seconds) {}

std::string MemoryQueue::delivery_key(const Event& event) const {
  if (event.delivery_id.empty() || dedupe_window_.count() <= 0) return {};
  return event.integration + '\n' + event.delivery_id;
}

const MemoryQueue::Claim* MemoryQueue::claimed(const std::string& key,
                                               std::chrono::steady_clock::time_point now) {
  while (!delivered_order_.empty() && now - delivered_order_.front().first > dedupe_window_) {
    auto it = delivered_.find(delivered_order_.front().second);
    if (it != delivered_.end() && it->second.at == delivered_order_.front().first)
      delivered_.erase(it);
    delivered_order_.pop_front();
  }
  auto it = delivered_.find(key);
  return it != delivered_.end() && now - it->second.at <= dedupe_window_ ? &it->second : nullptr;
}

PushResult MemoryQueue::push(const EventPtr& event) {
  auto now = std::chrono::steady_clock::now();
  std::string key = delivery_key(*event);
  {
    std::lock_guard lock(mutex_);
    if (!open_) return PushResult::closed;
    if (!key.empty() && claimed(key, now)) return PushResult::duplicate;
    if (depth_ >= max_pending_) return PushResult::full;
    event->id = next_id_++;
    waiting_.push_back(event);
    ++depth_;
  }
  ready_.notify_one();
  return PushResult::accepted;
}

bool MemoryQueue::claim_delivery(const Event& event) {
  std::string key = delivery_key(event);
  if (key.empty()) return true;
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  if (const Claim* claim = claimed(key, now)) return claim->event_id == event.id;
  delivered_[key] = Claim{now, event.id};
  delivered_order_.emplace_back(now, std::move(key));
  return true;
}

EventPtr MemoryQueue::pop(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  if (!ready_.wait_for(lock, wait, [&] { return !waiting_.empty() || !open_; })) return nullptr;
  if (waiting_.empty()) return nullptr;
  EventPtr e = std::move(waiting_.front());
  waiting_.pop_front();
  return e;
}

void MemoryQueue::complete(uint64_t) {
  std::lock_guard lock(mutex_);
  if (depth_ > 0) --depth_;
}

size_t MemoryQueue::depth() const {
  std::lock_guard lock(mutex_);
  return depth_;
}

size_t MemoryQueue::waiting() const {
  std::lock_guard lock(mutex_);
  return waiting_.size();
}

void MemoryQueue::close() {
  {
    std::lock_guard lock(mutex_);
    open_ = false;
  }
  ready_.notify_all();
}

bool MemoryQueue::is_open() const {
  std::lock_guard lock(mutex_);
  return open_;
}

}  // namespace oceand
