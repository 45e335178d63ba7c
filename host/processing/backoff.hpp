#pragma once

#include <algorithm>
#include <cmath>

#include "plugins/processor_instance.hpp"

namespace oceand {

// Seconds to wait before the n-th retry (n = 1, 2, ...), Ocean's formula:
// min(initial * base^(n-1), max). A Retry-After the processor asked for raises it (never lowers).
inline double retry_delay_seconds(const RetryPolicy& policy, unsigned n,
                                  double retry_after_seconds = 0) {
  double delay =
      policy.initial_delay_seconds * std::pow(policy.exponential_base, n > 0 ? n - 1 : 0);
  if (!std::isfinite(delay)) delay = policy.max_delay_seconds;
  delay = std::min(delay, policy.max_delay_seconds);
  return std::max(delay, retry_after_seconds);
}

}  // namespace oceand
