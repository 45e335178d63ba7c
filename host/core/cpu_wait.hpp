#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>

namespace oceand {

// How long a thread has waited for a CPU while it could run, in nanoseconds since it started (the
// second field of Linux's /proc/.../schedstat); -1 when the kernel does not keep it. Time limits
// that are meant for the work itself subtract it: a worker yields the CPU to ingress
// (event_workers_policy), and waiting its turn is not taking too long.
int64_t cpu_wait_ns(pid_t tid);  // any thread of this process: opens its file (rare use)
int64_t my_cpu_wait_ns();        // the calling thread: one read, the file kept open per thread

// What a thread waited for a CPU between two readings of it (`from`, then `to`; -1: unknown), at
// most `allowance`: how far that wait moves a deadline.
std::chrono::steady_clock::duration cpu_wait_between(int64_t from, int64_t to,
                                                     std::chrono::steady_clock::duration allowance);

}  // namespace oceand
