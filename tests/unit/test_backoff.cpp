#include <doctest/doctest.h>

#include "processing/backoff.hpp"

using oceand::retry_delay_seconds;

TEST_CASE("retry delays follow min(initial * base^(n-1), max)") {
  oceand::RetryPolicy defaults{3, 1.0, 30.0, 2.0};
  CHECK(retry_delay_seconds(defaults, 1) == doctest::Approx(1.0));
  CHECK(retry_delay_seconds(defaults, 2) == doctest::Approx(2.0));
  CHECK(retry_delay_seconds(defaults, 3) == doctest::Approx(4.0));
  CHECK(retry_delay_seconds(defaults, 5) == doctest::Approx(16.0));
  CHECK(retry_delay_seconds(defaults, 6) == doctest::Approx(30.0));
  CHECK(retry_delay_seconds(defaults, 1000) == doctest::Approx(30.0));
  CHECK(retry_delay_seconds(defaults, 1, 7.5) == doctest::Approx(7.5));  // Retry-After raises it
  CHECK(retry_delay_seconds(defaults, 3, 0.5) == doctest::Approx(4.0));  // never lowers it
  oceand::RetryPolicy flat{3, 0.5, 10.0, 1.0};
  CHECK(retry_delay_seconds(flat, 4) == doctest::Approx(0.5));
}
