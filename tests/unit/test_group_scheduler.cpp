#include <doctest/doctest.h>

#include "processing/event_job.hpp"
#include "processing/group_scheduler.hpp"

using namespace oceand;

namespace {
JobPtr job(uint64_t id, const std::string& integration = "x") {
  auto e = std::make_shared<Event>();
  e->id = id;
  e->integration = integration;
  return std::make_shared<EventJob>(e);
}
void add(GroupScheduler& s, const std::string& group, JobPtr j) {
  const std::string& integration = j->event->integration;
  s.add(group, std::move(j), integration);
}
}  // namespace

TEST_CASE("one job per group at a time, in order; other groups are not blocked") {
  GroupScheduler s;
  add(s, "a", job(1));
  add(s, "a", job(2));
  add(s, "b", job(3));
  auto first = s.next(std::chrono::milliseconds(0));
  auto second = s.next(std::chrono::milliseconds(0));
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->event->id == 1);
  CHECK(second->event->id == 3);  // job 2 waits behind job 1
  CHECK_FALSE(s.next(std::chrono::milliseconds(0)));
  CHECK(s.scheduled() == 3);
  // A retry of job 1 keeps group a held.
  s.resume(first, first->event->integration);
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

TEST_CASE("an integration holds at most its limit of workers; the others are not held back") {
  GroupScheduler s;
  s.set_concurrency_limit(
      [](const std::string& integration) { return integration == "a" ? 2 : 8; });
  for (uint64_t i = 1; i <= 4; ++i) add(s, "a" + std::to_string(i), job(i, "a"));
  add(s, "b1", job(5, "b"));
  auto one = s.next(std::chrono::milliseconds(0));
  auto two = s.next(std::chrono::milliseconds(0));
  auto three = s.next(std::chrono::milliseconds(0));
  REQUIRE(one);
  REQUIRE(two);
  REQUIRE(three);
  CHECK(one->event->id == 1);
  CHECK(two->event->id == 2);
  CHECK(three->event->id == 5);  // a's third job waits for one of a's slots; b's does not
  CHECK(s.running("a") == 2);
  CHECK_FALSE(s.next(std::chrono::milliseconds(0)));
  s.release("a");
  auto four = s.next(std::chrono::milliseconds(0));
  REQUIRE(four);
  CHECK(four->event->id == 3);
  CHECK(s.running("a") == 2);
  CHECK(s.running("b") == 1);
}
