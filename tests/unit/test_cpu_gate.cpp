// The CPU gate: event workers computing at once are bounded (event_workers_on_cpu), those waiting
// for a third party are not.
#include <doctest/doctest.h>

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "core/cpu_gate.hpp"
#include "core/cpu_wait.hpp"
#include "fakes/fake_server.hpp"
#include "support/one_cpu.hpp"
#include "support/test_host.hpp"

using namespace oceand;
using namespace oceand::test;
using namespace std::chrono_literals;

TEST_CASE("cpu gate: at most `slots` threads hold a slot; the others wait their turn") {
  auto gate = std::make_shared<CpuGate>(2, 10s);
  std::atomic<int> inside{0}, most{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      CpuGate::Seat seat(gate);
      for (int i = 0; i < 50; ++i) {
        seat.take();
        CHECK(seat.holds_slot());
        int now = ++inside;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::yield();
        --inside;
        seat.give_back();
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(most.load() == 2);
  CHECK(gate->leases_expired() == 0);
}

TEST_CASE("cpu gate: a thread waiting outside gives its slot away and, back, goes first") {
  auto gate = std::make_shared<CpuGate>(1, 10s);
  auto a = std::make_shared<CpuGate::Seat>(gate);
  CpuGate::Seat b(gate), c(gate);
  std::mutex m;
  std::vector<std::string> order;
  std::atomic<bool> a_outside{false}, a_back{false};
  std::thread ta([&] {
    CpuGate::bind_this_thread(a);
    a->take();
    {
      CpuGate::OutsideWait outside;  // a third party's answer: the slot is free meanwhile
      a_outside = true;
      while (!a_back) std::this_thread::yield();
    }
    {
      std::lock_guard lock(m);
      order.push_back("a");
    }
    a->give_back();
    CpuGate::bind_this_thread(nullptr);
  });
  while (!a_outside) std::this_thread::yield();
  b.take();  // at once, though `a` is still in the middle of its work
  CHECK(b.holds_slot());
  std::thread tc([&] {
    c.take();  // new work: waits
    std::lock_guard lock(m);
    order.push_back("c");
    c.give_back();
  });
  REQUIRE(wait_until([&] { return gate->waiting() == 1; }));
  a_back = true;  // `a` returns and waits too, behind `c`
  REQUIRE(wait_until([&] { return gate->waiting() == 2; }));
  b.give_back();
  ta.join();
  tc.join();
  REQUIRE(order.size() == 2);
  CHECK(order[0] == "a");  // back from outside, with work half done: served first
  CHECK(gate->leases_expired() == 0);
}

TEST_CASE("cpu gate: a job past its lease stops counting when another wants the slot") {
  auto gate = std::make_shared<CpuGate>(1, 50ms);
  CpuGate::Seat stuck(gate), other(gate), next(gate);
  stuck.take();  // a plugin blocked on its own, never giving back
  REQUIRE(stuck.holds_slot());
  auto before = std::chrono::steady_clock::now();
  other.take();
  CHECK(std::chrono::steady_clock::now() - before >= 50ms);
  CHECK(other.holds_slot());  // the slot went on to a thread that computes
  CHECK(stuck.inside());
  CHECK_FALSE(stuck.holds_slot());  // still running, no longer counted
  CHECK(gate->leases_expired() == 1);
  stuck.give_back();  // returns nothing it no longer holds
  CHECK(other.holds_slot());
  // A holder that renews its lease at each new job keeps the slot as long as it works.
  std::thread waiter([&] { next.take(); });
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(20ms);
    other.renew();
  }
  CHECK(other.holds_slot());
  CHECK(gate->waiting() == 1);
  other.give_back();
  waiter.join();
  CHECK(next.holds_slot());
  CHECK(gate->leases_expired() == 1);
}

TEST_CASE("cpu gate: a forfeited seat frees its slot and takes no part after") {
  auto gate = std::make_shared<CpuGate>(1, 10s);
  CpuGate::Seat abandoned(gate), next(gate);
  abandoned.take();
  std::thread waiter([&] { next.take(); });
  REQUIRE(wait_until([&] { return gate->waiting() == 1; }));
  abandoned.forfeit();  // its worker was abandoned: the slot is free again, at once
  waiter.join();
  CHECK(next.holds_slot());
  abandoned.take();  // the abandoned thread comes back: it no longer takes part
  CHECK_FALSE(abandoned.inside());
  next.give_back();
  CHECK(gate->leases_expired() == 0);
}

TEST_CASE("cpu gate: usable_cpus counts the affinity mask, at least one") {
  cpu_set_t set;
  CPU_ZERO(&set);
  REQUIRE(::sched_getaffinity(0, sizeof set, &set) == 0);
  CHECK(CpuGate::usable_cpus() >= 1);
  CHECK(CpuGate::usable_cpus() <= static_cast<size_t>(CPU_COUNT(&set)));
}

namespace {

// A third party that holds each request until `want` are in flight at once (or 3 s passed), and
// remembers the most it saw.
class Rendezvous {
 public:
  explicit Rendezvous(int want)
      : want_(want), server_([this](const FakeRequest&) { return handle(); }, 16) {}
  std::string url() const { return server_.url() + "/answer"; }
  int most() const {
    std::lock_guard lock(mutex_);
    return most_;
  }

 private:
  FakeResponse handle() {
    std::unique_lock lock(mutex_);
    most_ = std::max(most_, ++in_flight_);
    cv_.notify_all();
    cv_.wait_for(lock, 3s, [&] { return most_ >= want_; });
    --in_flight_;
    return FakeResponse::json(200, "{}");
  }
  const int want_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  int in_flight_ = 0, most_ = 0;
  FakeServer server_;
};

std::string spin_event(int id) {
  return R"({"id": )" + std::to_string(id) + R"(, "mode": "spin", "spin_ms": 30})";
}

}  // namespace

TEST_CASE("processing: event_workers_on_cpu bounds the workers computing, not those waiting") {
  // 8 workers: one integration may hold 6 of them (max_concurrency, ¾).
  SUBCASE("one computing at a time, however many workers") {
    TestHost t({"scripted"}, "event_workers_count: 8\nevent_workers_on_cpu: 1\n");
    for (int i = 0; i < 8; ++i)
      REQUIRE(t.post("/integration/scripted/webhook", spin_event(i)).status == 200);
    REQUIRE(t.wait_processed(8));
    CHECK(t.processed("scripted", "ok") == 8);
    CHECK(t.plugin_counter("spin_overlap") == 0);
  }
  SUBCASE("the same events overlap when four may compute (the check above can fail)") {
    TestHost t({"scripted"}, "event_workers_count: 8\nevent_workers_on_cpu: 4\n");
    for (int i = 0; i < 8; ++i)
      REQUIRE(t.post("/integration/scripted/webhook", spin_event(i)).status == 200);
    REQUIRE(t.wait_processed(8));
    CHECK(t.plugin_counter("spin_overlap") > 0);
  }
  SUBCASE("workers waiting for a third party's answer hold no slot") {
    Rendezvous third_party(4);
    TestHost t({"scripted"}, "event_workers_count: 8\nevent_workers_on_cpu: 1\n");
    for (int i = 0; i < 4; ++i)
      REQUIRE(t.post("/integration/scripted/webhook", R"({"id": )" + std::to_string(i) +
                                                          R"(, "mode": "record", "record": ")" +
                                                          third_party.url() + R"("})")
                  .status == 200);
    REQUIRE(t.wait_processed(4));
    CHECK(t.processed("scripted", "ok") == 4);
    // All four were waiting on it at once, though one slot lets one compute.
    CHECK(third_party.most() == 4);
  }
}

TEST_CASE("processing: a handler that blocks on its own holds its CPU turn only for its lease") {
  // One turn, taken by an event whose handler spins until cancelled (never calling the host); its
  // deadline is far away. The events after it still run: the turn's lease (250 ms) ran out.
  TestHost t({"scripted"},
             "event_workers_count: 8\nevent_workers_on_cpu: 1\nmax_event_processing_seconds: 60\n");
  REQUIRE(t.post("/integration/scripted/webhook", R"({"id": 100, "mode": "hang"})").status == 200);
  REQUIRE(wait_until([&] { return t.plugin_counter("handle_event") >= 1; }));
  for (int i = 0; i < 4; ++i)
    REQUIRE(
        t.post("/integration/scripted/webhook", R"({"id": )" + std::to_string(i) + "}").status ==
        200);
  REQUIRE(wait_until([&] { return t.processed("scripted", "ok") >= 4; }));
  // ... while the blocked one is still at it.
  CHECK(t.plugin_counter("saw_cancel") == 0);
  CHECK(t.plugin_counter("never_cancelled") == 0);
}

TEST_CASE("config: event_workers_on_cpu is 0 (one per CPU) or a count, and needs a restart") {
  CHECK(load_host_config(std::nullopt, {}).event_workers_on_cpu == 0);
  CHECK(load_host_config(std::nullopt, {"OCEAN__EVENT_WORKERS_ON_CPU=3"}).event_workers_on_cpu ==
        3);
  CHECK_THROWS_WITH_AS(load_host_config(std::nullopt, {"OCEAN__EVENT_WORKERS_ON_CPU=-1"}),
                       doctest::Contains("event_workers_on_cpu: must be 0..4096"), ConfigError);
  HostConfig before, after;
  after.event_workers_on_cpu = 2;
  auto changes = start_only_changes(before, after);
  CHECK(std::find(changes.begin(), changes.end(), "event_workers_on_cpu") != changes.end());
}

TEST_CASE("config: event_workers_policy is idle or normal, and needs a restart") {
  CHECK(load_host_config(std::nullopt, {}).event_workers_policy == "idle");
  CHECK(
      load_host_config(std::nullopt, {"OCEAN__EVENT_WORKERS_POLICY=normal"}).event_workers_policy ==
      "normal");
  CHECK_THROWS_WITH_AS(
      load_host_config(std::nullopt, {"OCEAN__EVENT_WORKERS_POLICY=batch"}),
      doctest::Contains("event_workers_policy: 'batch' is not one of idle, normal"), ConfigError);
  HostConfig before, after;
  after.event_workers_policy = "normal";
  auto changes = start_only_changes(before, after);
  CHECK(std::find(changes.begin(), changes.end(), "event_workers_policy") != changes.end());
}

TEST_CASE("processing: a worker's wait for a CPU does not count against its event's deadline") {
  // Workers yield the CPU to ingress (SCHED_IDLE). Here the host's threads share one CPU with a
  // thread that spins at the normal policy for 1.5 s, so a handler that needs 20 ms of CPU gets
  // well under half of them meanwhile (a SCHED_IDLE thread gets ≈ 3/1027 of a busy CPU) and
  // finishes only once the spinner stops; its event's deadline (1 s) must not cut it off: waiting
  // for the CPU is not taking too long (up to the bound once more).
  REQUIRE(my_cpu_wait_ns() >= 0);  // the kernel keeps the figure (schedstat)
  cpu_set_t saved;
  REQUIRE(pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) == 0);
  const cpu_set_t one = first_allowed_cpu();
  // Threads inherit the affinity of the thread that starts them: the host's, and the spinner.
  REQUIRE(pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0);
  std::atomic<bool> done{false};
  std::thread spinner;
  double took = 0;
  {
    TestHost t({"scripted"}, "max_event_processing_seconds: 1\n");
    auto started = std::chrono::steady_clock::now();
    spinner = std::thread([&] {
      while (!done.load() && std::chrono::steady_clock::now() - started < 1500ms) {
      }
    });
    REQUIRE(t.post("/integration/scripted/webhook", R"({"id": 1, "mode": "burn", "cpu_ms": 20})")
                .status == 200);
    CHECK(wait_until([&] { return t.plugin_counter("burn_done") + t.plugin_counter("cancel") > 0; },
                     60s));
    took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    done = true;
    spinner.join();
    CHECK(t.wait_processed(1));
    CAPTURE(took);
    CHECK(took > 1.0);                          // the handler really was held past the deadline...
    CHECK(t.plugin_counter("burn_done") == 1);  // ...and finished its work
    CHECK(t.plugin_counter("cancel") == 0);
    CHECK(t.processed("scripted", "ok") == 1);
  }
  pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
}
