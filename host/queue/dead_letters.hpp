#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/event.hpp"

namespace oceand {

// An event that could not be processed, kept with why, for inspection and replay.
struct DeadLetter {
  uint64_t id = 0;
  EventPtr event;
  std::string reason;     // "retries exhausted", "failed", "timed out", "plugin gone", ...
  std::string error;      // the last error text
  std::string processor;  // which processor failed, when one did
  unsigned attempts = 0;
  int64_t failed_at_ms = 0;
};

class DeadLetterStore {
 public:
  virtual ~DeadLetterStore() = default;
  virtual uint64_t add(DeadLetter letter) = 0;
  // Newest first, skipping the `offset` newest.
  virtual std::vector<DeadLetter> list(size_t limit, size_t offset = 0) const = 0;
  virtual std::optional<DeadLetter> get(uint64_t id) const = 0;
  // Removes and returns the letter (for replay).
  virtual std::optional<DeadLetter> take(uint64_t id) = 0;
  virtual size_t size() const = 0;
};

// Keeps the newest `retention` letters in memory.
class MemoryDeadLetters final : public DeadLetterStore {
 public:
  explicit MemoryDeadLetters(size_t retention = 10000) : retention_(retention) {}
  uint64_t add(DeadLetter letter) override;
  std::vector<DeadLetter> list(size_t limit, size_t offset = 0) const override;
  std::optional<DeadLetter> get(uint64_t id) const override;
  std::optional<DeadLetter> take(uint64_t id) override;
  size_t size() const override;

 private:
  const size_t retention_;
  mutable std::mutex mutex_;
  std::deque<DeadLetter> letters_;
  uint64_t next_id_ = 1;
};

}  // namespace oceand
