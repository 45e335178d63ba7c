#include "mapping/jq_guard.hpp"

#include <malloc.h>
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "core/thread_name.hpp"

extern "C" {
#include <jv.h>
}

namespace oceand {

namespace {

std::atomic<double> g_max_seconds{2};
std::atomic<size_t> g_max_bytes{512u << 20};
std::atomic<size_t> g_allocations{0};

// The state of one thread's evaluations, as a word: generation << 2 | phase. Only the evaluating
// thread moves idle -> running and running -> idle; whoever moves running -> halting (the
// watchdog, or the thread itself past its memory) calls jq_halt and then stores halted.
enum Phase : uint64_t { kIdle = 0, kRunning = 1, kHalting = 2, kHalted = 3 };

// The bound is on the CPU time the evaluation used, not on wall time: workers yield the CPU to
// ingress (event_workers_policy), and an evaluation waiting for its turn is not a runaway one.
int64_t cpu_ns(clockid_t clock) {
  timespec ts{};
  if (::clock_gettime(clock, &ts) != 0) return -1;
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

struct Slot {
  Slot() {
    if (::pthread_getcpuclockid(::pthread_self(), &clock) != 0) clock = CLOCK_MONOTONIC;
  }
  clockid_t clock;  // the owning thread's CPU-time clock, readable from the watchdog
  std::atomic<uint64_t> word{0};
  std::atomic<jq_state*> jq{nullptr};
  // The watchdog's own: the evaluation it last saw running, and the thread's CPU time then. Taken
  // when the watchdog first sees an evaluation rather than by the evaluation itself, which would
  // cost every evaluation a system call; what ran before that (at most one tick) is not counted.
  uint64_t seen_generation = 0;
  int64_t seen_cpu_ns = 0;
  std::atomic<int> stop{0};  // JqStop of the current evaluation
  // Bytes the current evaluation holds through jv_mem_* (alloc minus free, usable sizes); only
  // touched by the owning thread.
  long long held = 0;
};

// Moves `slot` from running (generation `word`) to halted, halting its jq; false when the
// evaluation ended (or was halted) first.
bool halt(Slot& slot, uint64_t word, JqStop why) {
  uint64_t expected = word;
  const uint64_t generation = word & ~uint64_t{3};
  if (!slot.word.compare_exchange_strong(expected, generation | kHalting)) return false;
  slot.stop.store(static_cast<int>(why));
  jq_state* jq = slot.jq.load();
  if (jq && !jq_halted(jq)) jq_halt(jq, jv_invalid(), jv_invalid());
  slot.word.store(generation | kHalted);
  return true;
}

class Registry {
 public:
  static Registry& get() {
    static Registry* r = new Registry();  // never destroyed: evaluations may run during exit
    return *r;
  }
  Slot* add() {
    auto* slot = new Slot();  // one per thread that ever evaluates; kept for the process
    std::lock_guard lock(mutex_);
    slots_.push_back(slot);
    start_locked();
    return slot;
  }
  // A thread inherits its creator's scheduling: started from the thread that sets the limits (at
  // start), not from the first evaluating one, a worker that yields the CPU (SCHED_IDLE).
  void start() {
    std::lock_guard lock(mutex_);
    start_locked();
  }

 private:
  void watch() {
    name_this_thread("jq-watchdog");
    std::unique_lock lock(mutex_);
    while (true) {
      const double limit = g_max_seconds.load();
      // A tick of a tenth of the limit (at most 100 ms): the bound holds to within 10 %.
      auto tick = std::chrono::duration<double>(std::min(0.1, limit / 10));
      cv_.wait_for(lock, tick);
      const auto limit_ns = static_cast<int64_t>(limit * 1e9);
      for (Slot* slot : slots_) {
        uint64_t word = slot->word.load();
        if ((word & 3) != kRunning) continue;
        const int64_t now = cpu_ns(slot->clock);
        if (now < 0) continue;
        const uint64_t generation = word & ~uint64_t{3};
        if (slot->seen_generation != generation) {
          slot->seen_generation = generation;
          slot->seen_cpu_ns = now;
          continue;
        }
        if (now - slot->seen_cpu_ns < limit_ns) continue;
        // The generation in `word` makes sure this is still the evaluation that started then.
        halt(*slot, word, JqStop::time);
      }
    }
  }

  void start_locked() {
    if (!thread_.joinable()) thread_ = std::thread([this] { watch(); });
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Slot*> slots_;
  std::thread thread_;
};

thread_local Slot* t_slot = nullptr;
thread_local bool t_evaluating = false;

Slot& my_slot() {
  if (!t_slot) t_slot = Registry::get().add();
  return *t_slot;
}

void account(long long delta) {
  if (!t_evaluating) return;
  Slot& slot = *t_slot;
  slot.held += delta;
  if (delta > 0 && slot.held > static_cast<long long>(g_max_bytes.load())) {
    uint64_t word = slot.word.load();
    if ((word & 3) == kRunning) halt(slot, word, JqStop::memory);
  }
}

}  // namespace

void set_jq_limits(const JqLimits& limits) {
  g_max_seconds.store(limits.max_seconds);
  g_max_bytes.store(limits.max_bytes);
  Registry::get().start();
}

JqLimits jq_limits() {
  return JqLimits{g_max_seconds.load(), g_max_bytes.load()};
}

JqEvaluation::JqEvaluation(jq_state* jq) {
  Slot& slot = my_slot();
  slot.jq.store(jq);
  slot.stop.store(0);
  slot.held = 0;
  const uint64_t generation = (slot.word.load() & ~uint64_t{3}) + 4;
  slot.word.store(generation | kRunning);
  t_evaluating = true;
}

JqEvaluation::~JqEvaluation() {
  end();
}

JqStop JqEvaluation::end() {
  if (ended_) return stop_;
  ended_ = true;
  t_evaluating = false;
  Slot& slot = *t_slot;
  uint64_t word = slot.word.load();
  if ((word & 3) == kRunning &&
      slot.word.compare_exchange_strong(word, (word & ~uint64_t{3}) | kIdle)) {
    stop_ = JqStop::none;
  } else {
    // A halt is under way or done: wait for it to finish before the jq_state is used again.
    while ((slot.word.load() & 3) == kHalting) std::this_thread::yield();
    stop_ = static_cast<JqStop>(slot.stop.load());
    slot.word.store((slot.word.load() & ~uint64_t{3}) | kIdle);
  }
  slot.jq.store(nullptr);
  return stop_;
}

std::string jq_stop_message(JqStop stop) {
  switch (stop) {
    case JqStop::time: {
      std::ostringstream text;
      text << "stopped: ran longer than mapping.max_eval_seconds (" << g_max_seconds.load()
           << " s)";
      return text.str();
    }
    case JqStop::memory:
      return "stopped: held more than mapping.max_eval_memory_mb (" +
             std::to_string(g_max_bytes.load() >> 20) + " MiB)";
    default:
      return {};
  }
}

size_t jq_allocations_seen() {
  return g_allocations.load(std::memory_order_relaxed);
}

}  // namespace oceand

// libjq's allocator, defined here so that every allocation libjq makes (it calls these through its
// PLT) is counted against the evaluation running on this thread. Same contract as libjq's own: out
// of memory is fatal (libjq cannot recover from a NULL here either).
extern "C" {

__attribute__((visibility("default"))) void* jv_mem_alloc(size_t size) {
  void* p = std::malloc(size);
  if (!p) std::abort();
  oceand::g_allocations.fetch_add(1, std::memory_order_relaxed);
  oceand::account(static_cast<long long>(malloc_usable_size(p)));
  return p;
}

__attribute__((visibility("default"))) void* jv_mem_alloc_unguarded(size_t size) {
  void* p = std::malloc(size);
  if (p) oceand::account(static_cast<long long>(malloc_usable_size(p)));
  return p;
}

__attribute__((visibility("default"))) void* jv_mem_calloc(size_t nmemb, size_t size) {
  void* p = std::calloc(nmemb, size);
  if (!p) std::abort();
  oceand::account(static_cast<long long>(malloc_usable_size(p)));
  return p;
}

__attribute__((visibility("default"))) void* jv_mem_calloc_unguarded(size_t nmemb, size_t size) {
  void* p = std::calloc(nmemb, size);
  if (p) oceand::account(static_cast<long long>(malloc_usable_size(p)));
  return p;
}

__attribute__((visibility("default"))) char* jv_mem_strdup(const char* s) {
  size_t n = std::strlen(s) + 1;
  char* p = static_cast<char*>(jv_mem_alloc(n));
  std::memcpy(p, s, n);
  return p;
}

__attribute__((visibility("default"))) char* jv_mem_strdup_unguarded(const char* s) {
  size_t n = std::strlen(s) + 1;
  char* p = static_cast<char*>(jv_mem_alloc_unguarded(n));
  if (p) std::memcpy(p, s, n);
  return p;
}

__attribute__((visibility("default"))) void jv_mem_free(void* p) {
  if (p) oceand::account(-static_cast<long long>(malloc_usable_size(p)));
  std::free(p);
}

__attribute__((visibility("default"))) void* jv_mem_realloc(void* p, size_t size) {
  long long before = p ? static_cast<long long>(malloc_usable_size(p)) : 0;
  void* q = std::realloc(p, size);
  if (!q && size) std::abort();
  oceand::account(static_cast<long long>(q ? malloc_usable_size(q) : 0) - before);
  return q;
}

}  // extern "C"
