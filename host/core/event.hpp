#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace oceand {

// One accepted webhook delivery, exactly as the ingress stored it.
struct Event {
  uint64_t id = 0;
  std::string integration;
  std::string route;
  std::string body;  // raw bytes as received (signatures are computed over these)
  std::string
      payload;  // the JSON payload when the body was a form; empty when the body is the JSON
  std::vector<std::pair<std::string, std::string>> headers;  // lower-cased names, arrival order
  std::string delivery_id;
  int64_t received_at_ms = 0;  // Unix epoch
  std::chrono::steady_clock::time_point accepted;

  std::string_view payload_json() const {
    return payload.empty() ? std::string_view(body) : std::string_view(payload);
  }
  size_t memory_bytes() const;
};

using EventPtr = std::shared_ptr<Event>;

}  // namespace oceand
