#include "queue/memory_queue.hpp"

#include <utility>

#include "queue/event_codec.hpp"

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
  size_t bytes = event->memory_bytes();
  bool compress = false;
  {
    std::lock_guard lock(mutex_);
    if (!open_) return PushResult::closed;
    if (!key.empty() && claimed(key, now)) return PushResult::duplicate;
    if (depth_ >= max_pending_) return PushResult::full;
    compress = plain_waiting_ >= kPlainEvents || plain_waiting_bytes_ + bytes > kPlainBytes;
  }
  // Outside the lock, so pushers compress in parallel and pop never waits for them. The event is
  // not in the queue yet: nothing else reads it meanwhile.
  std::shared_ptr<const CompressionDictionary> dictionary;
  if (compress) {
    auto compressed = dictionaries_.compress(*event);
    compress = compressed.has_value();
    if (compress) {
      event->body = std::move(compressed->body);
      event->payload = std::move(compressed->payload);
      dictionary = std::move(compressed->dictionary);
      bytes = event->memory_bytes();
    }
  }
  {
    std::lock_guard lock(mutex_);
    // Checked again: the queue may have filled or closed while this pusher compressed.
    if (!open_) return PushResult::closed;
    if (depth_ >= max_pending_) return PushResult::full;
    event->id = next_id_++;
    waiting_.push_back(Waiting{event, bytes, compress, std::move(dictionary)});
    waiting_bytes_ += bytes;
    if (!compress) {
      ++plain_waiting_;
      plain_waiting_bytes_ += bytes;
    }
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
  Waiting w = std::move(waiting_.front());
  waiting_.pop_front();
  waiting_bytes_ -= w.bytes;
  if (!w.compressed) {
    --plain_waiting_;
    plain_waiting_bytes_ -= w.bytes;
  }
  // A drained backlog forgets its dictionaries (events still compressed hold theirs): the next
  // one starts from bodies of its own time.
  const bool drained = w.compressed && waiting_.size() == plain_waiting_;
  lock.unlock();
  if (drained) dictionaries_.clear();
  // Only this thread holds the event now. The blocks were written by this process from memory
  // nothing else writes, so they decode (a failure would be a bug, and throws).
  if (w.compressed) {
    auto restore = [&](std::string& bytes) {
      bytes = w.dictionary ? w.dictionary->decompress(bytes) : decompress_lz4(bytes, {});
    };
    restore(w.event->body);
    if (!w.event->payload.empty()) restore(w.event->payload);
  }
  return std::move(w.event);
}

size_t MemoryQueue::waiting_bytes() const {
  std::lock_guard lock(mutex_);
  return waiting_bytes_;
}

size_t MemoryQueue::waiting_compressed() const {
  std::lock_guard lock(mutex_);
  return waiting_.size() - plain_waiting_;
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
