#include "queue/memory_queue.hpp"

#include <utility>

#include "queue/event_codec.hpp"

namespace oceand {

namespace {

// Below this, LZ4's frame costs more than it saves.
constexpr size_t kMinCompressible = 512;

// In place: body and payload become LZ4 blocks, against `dictionary` when there is one, and the
// bytes as received move to `received_body` and `received_payload`. False (and the event
// untouched) when that would not make the event smaller.
bool compress_event(Event& event, const CompressionDictionary* dictionary,
                    std::string& received_body, std::string& received_payload) {
  if (event.body.size() + event.payload.size() < kMinCompressible) return false;
  auto compress = [&](const std::string& bytes) {
    return dictionary ? dictionary->compress(bytes) : compress_bytes(bytes);
  };
  std::string body = compress(event.body);
  std::string payload = event.payload.empty() ? std::string() : compress(event.payload);
  if (body.size() + payload.size() >= event.body.size() + event.payload.size()) return false;
  received_body = std::exchange(event.body, std::move(body));
  received_payload = std::exchange(event.payload, std::move(payload));
  return true;
}

}  // namespace

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
  bool may_renew = false;
  std::shared_ptr<const CompressionDictionary> dictionary;
  {
    std::lock_guard lock(mutex_);
    if (!open_) return PushResult::closed;
    if (!key.empty() && claimed(key, now)) return PushResult::duplicate;
    if (depth_ >= max_pending_) return PushResult::full;
    compress = plain_waiting_ >= kPlainEvents || plain_waiting_bytes_ + bytes > kPlainBytes;
    if (compress) {
      Dictionaries& d = dictionaries_[event->integration];
      dictionary = d.current;
      // One pusher at a time may renew it; the others go on with the current one (or none).
      may_renew = !d.renewing && (!d.current || d.poor >= kPoorBeforeRenewal);
      if (may_renew) d.renewing = true;
    }
  }
  // Outside the lock, so pushers compress in parallel and pop never waits for them. The event is
  // not in the queue yet: nothing else reads it meanwhile.
  const bool compressing = compress;
  bool poor = false;
  std::shared_ptr<const CompressionDictionary> renewed;
  if (compressing) {
    const size_t raw = event->body.size() + event->payload.size();
    std::string received_body, received_payload;
    compress = compress_event(*event, dictionary.get(), received_body, received_payload);
    const size_t stored = compress ? event->body.size() + event->payload.size() : raw;
    poor = raw >= kMinCompressible && stored * 8 > raw * kPoorEighths;
    if (compress) bytes = event->memory_bytes();
    // The body that did not resemble the dictionary joins it (as the newest part).
    if (may_renew && poor) {
      std::string_view sample = !compress                  ? event->payload_json()
                                : received_payload.empty() ? std::string_view(received_body)
                                                           : std::string_view(received_payload);
      renewed = std::make_shared<const CompressionDictionary>(
          dictionary ? dictionary->bytes() : std::string_view(), sample);
    }
  }
  {
    std::lock_guard lock(mutex_);
    if (compressing) {
      Dictionaries& d = dictionaries_[event->integration];
      if (renewed) {
        d.current = std::move(renewed);
        d.poor = 0;
      } else if (poor && dictionary && d.current == dictionary) {
        ++d.poor;
      }
      if (may_renew) d.renewing = false;
    }
    if (!compress) dictionary.reset();
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
  if (waiting_.size() == plain_waiting_ && !dictionaries_.empty()) dictionaries_.clear();
  lock.unlock();
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
