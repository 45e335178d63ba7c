#pragma once

#include <pthread.h>

namespace oceand {

// Names the calling thread as `top -H`, `perf` and gdb show it (at most 15 characters), so that an
// operator can tell the connection threads from the workers and the Port senders.
inline void name_this_thread(const char* name) {
  pthread_setname_np(pthread_self(), name);
}

}  // namespace oceand
