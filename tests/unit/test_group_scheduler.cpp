#include <doctest/doctest.h>

#include "processing/event_job.hpp"
#include "processing/group_scheduler.hpp"

using namespace oceand;

namespace {
JobPtr job(uint64_t id) {
  auto e = std::make_shared<Event>();
  e->id = id;
  return std::make_shared<EventJob>(e);
}
}  // namespace

TEST_CASE("one job per group at a time, in order; other groups are not blocked") {
  GroupScheduler s;
  s.add("a", job(1));
  s.add("a", job(2));
  s.add("b", job(3));
  auto first = s.next(std::chrono::milliseconds(0));
  auto second = s.next(std::chrono::milliseconds(0));
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->event->id == 1);
  CHECK(second->event->id == 3);  // job 2 waits behind job 1
  CHECK_FALSE(s.next(std::chrono::milliseconds(0)));
  CHECK(s.scheduled() == 3);
  // A retry of job 1 keeps group a held.
  s.resume(first);
  auto again = s.next(std::chrono::milliseconds(0));
  REQUIRE(again);
  CHECK(again->event->id == 1);
  CHECK_FALSE(s.next(std::chrono::milliseconds(0)));
  s.finish("a");
  auto third = s.next(std::chrono::milliseconds(0));
  REQUIRE(third);
  CHECK(third->event->id == 2);
  s.finish("a");
  s.finish("b");
  CHECK(s.scheduled() == 0);
  CHECK(s.wait_below(1, std::chrono::milliseconds(0)));
}
