#pragma once

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

namespace oceand {

// Names the calling thread as `top -H`, `perf` and gdb show it (at most 15 characters), so that an
// operator can tell the connection threads from the workers and the Port senders.
inline void name_this_thread(const char* name) {
  pthread_setname_np(pthread_self(), name);
}

// Lowers the calling thread's CPU priority by `nice` (Linux priorities are per thread). Raising it
// back needs privileges, lowering never does; 0 leaves it as it is.
inline void lower_this_thread_priority(int nice) {
  if (nice > 0) (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice);
}

// Puts the calling thread under SCHED_IDLE: it runs only when no thread of the normal policy wants
// its CPU, and one that wakes takes the CPU from it at once. Needs no privilege (leaving it does);
// false when refused (a seccomp filter, say), the error in errno.
inline bool idle_this_thread() {
  sched_param param{};
  return ::sched_setscheduler(0, SCHED_IDLE, &param) == 0;  // 0: the calling thread
}

}  // namespace oceand
