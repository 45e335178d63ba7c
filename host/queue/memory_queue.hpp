#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "queue/body_dictionaries.hpp"
#include "queue/event_queue.hpp"

namespace oceand {

// Ocean's behaviour: events live in memory only and are lost when the process ends.
//
// A backlog is kept compact: the first kPlainEvents waiting events (at most kPlainBytes) wait as
// received, later ones with body and payload LZ4-compressed by the pushing thread and restored by
// pop. While processing keeps up nothing is compressed; when ingest outruns it, a growing backlog
// costs a few percent of its bodies' size — and fresh memory is what an I/O loop pays most for
// (docs/benchmarks.md, "ingest while processing"). Each integration's bodies are compressed
// against earlier ones of its own (CompressionDictionary): the first the backlog compressed,
// joined by later ones unlike it; a backlog that drained forgets them.
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

  static constexpr size_t kPlainEvents = 256;
  static constexpr size_t kPlainBytes = 8u << 20;
  // Bytes the waiting events hold (compressed ones as compressed), and how many are compressed.
  size_t waiting_bytes() const;
  size_t waiting_compressed() const;

 private:
  struct Waiting {
    EventPtr event;
    size_t bytes = 0;
    bool compressed = false;
    std::shared_ptr<const CompressionDictionary> dictionary;  // what a compressed event needs
  };
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
  std::deque<Waiting> waiting_;
  size_t plain_waiting_ = 0;        // events in waiting_ kept as received
  size_t plain_waiting_bytes_ = 0;  // and their bytes
  size_t waiting_bytes_ = 0;
  size_t depth_ = 0;
  uint64_t next_id_ = 1;
  bool open_ = true;
  BodyDictionaries dictionaries_;
  std::unordered_map<std::string, Claim> delivered_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> delivered_order_;
};

}  // namespace oceand
