#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/event.hpp"
#include "queue/compression_dictionary.hpp"

namespace oceand {

// Which dictionary each integration's bodies are compressed against (CompressionDictionary): the
// first body compressed, joined by later ones unlike it — after kPoorBeforeRenewal events that
// compressed to more than kPoorEighths eighths of their size, the next such event's body joins it
// as its newest part (a new dictionary, with a new id; the old one lives on in what used it).
// Shared by the threads that push; each compresses outside the lock.
class BodyDictionaries {
 public:
  static constexpr size_t kPoorEighths = 1;
  static constexpr size_t kPoorBeforeRenewal = 64;
  // Below this, LZ4's framing costs more than it saves.
  static constexpr size_t kMinCompressible = 512;

  // Dictionaries are numbered from `first_id` (a durable queue continues after the ids it stored).
  explicit BodyDictionaries(uint64_t first_id = 1) : next_id_(first_id) {}

  struct Compressed {
    std::string body;
    std::string payload;                                      // empty when the event's payload is
    std::shared_ptr<const CompressionDictionary> dictionary;  // null: LZ4 alone
  };
  // `event`'s body and payload compressed against its integration's dictionary; nullopt when they
  // are too small or would not shrink.
  std::optional<Compressed> compress(const Event& event);
  // Forgets every integration's dictionary; the next events start over.
  void clear();
  // The ids of the dictionaries events are compressed against now.
  std::vector<uint64_t> current_ids();

 private:
  struct Current {
    std::shared_ptr<const CompressionDictionary> dictionary;
    size_t poor = 0;        // events that did not resemble it
    bool renewing = false;  // one pusher at a time may renew it
  };
  std::mutex mutex_;
  std::unordered_map<std::string, Current> current_;  // by integration
  std::atomic<uint64_t> next_id_;
};

}  // namespace oceand
