#pragma once

#include <cstddef>
#include <string>

extern "C" {
#include <jq.h>
}

namespace oceand {

// Bounds on one jq evaluation (mapping.max_eval_seconds, mapping.max_eval_memory_mb). libjq 1.6
// has no interrupt, so the bound is kept from outside the interpreter:
//  - time: a watchdog thread calls jq_halt() on an evaluation that runs past the limit; libjq
//    checks the halted flag before every instruction, so even a loop that allocates nothing
//    (`def f: f; f`, `last(range(1e12))`) stops within a tick;
//  - memory: oceand defines libjq's allocator entry points (jv_mem_alloc and friends, which libjq
//    calls through its PLT), counts what the evaluation on this thread holds, and halts it from the
//    same thread past the limit.
// Halting is done once per evaluation under a small state machine, so the watchdog never halts an
// evaluation that already ended nor twice (libjq asserts on a second jq_halt). What stays outside
// the bound: a single built-in that runs long inside one instruction without allocating (string
// repetition is the known one; docs/mapping.md says what is guarded against instead).
struct JqLimits {
  double max_seconds = 2;
  size_t max_bytes = 512u << 20;
};
// Set once at start (and on reload); read by every evaluation.
void set_jq_limits(const JqLimits& limits);
JqLimits jq_limits();

enum class JqStop { none, time, memory };

// One evaluation on this thread: begin before jq_start, end after the last jq_next.
class JqEvaluation {
 public:
  explicit JqEvaluation(jq_state* jq);
  ~JqEvaluation();
  // Ends the evaluation (waits for a halt in progress); what stopped it, if anything.
  JqStop end();
  JqEvaluation(const JqEvaluation&) = delete;
  JqEvaluation& operator=(const JqEvaluation&) = delete;

 private:
  bool ended_ = false;
  JqStop stop_ = JqStop::none;
};

// The error text an evaluation stopped by a bound yields (Ocean's error -> null).
std::string jq_stop_message(JqStop stop);

// For tests and the start-up self-check: allocations seen through the interposed allocator.
size_t jq_allocations_seen();

}  // namespace oceand
