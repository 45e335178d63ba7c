#pragma once

#include <chrono>
#include <cstdint>

namespace oceand {

// Wall-clock milliseconds since the Unix epoch: the times oceand stores and shows.
inline int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace oceand
