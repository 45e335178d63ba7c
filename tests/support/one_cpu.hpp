#pragma once

#include <sched.h>

namespace oceand::test {

// The first CPU this process may run on, as a set of one: tests that crowd a CPU on purpose pin
// their threads to it.
inline cpu_set_t first_allowed_cpu() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  sched_getaffinity(0, sizeof(allowed), &allowed);
  int cpu = 0;
  while (cpu < CPU_SETSIZE - 1 && !CPU_ISSET(cpu, &allowed)) ++cpu;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  return one;
}

}  // namespace oceand::test
