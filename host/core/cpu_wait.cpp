#include "core/cpu_wait.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace oceand {

namespace {

// "<ns on a CPU> <ns waiting for one> <timeslices>\n"
int64_t read_wait(int fd) {
  char text[96];
  ssize_t n = ::pread(fd, text, sizeof(text) - 1, 0);
  if (n <= 0) return -1;
  text[n] = '\0';
  char* end = nullptr;
  std::strtoull(text, &end, 10);
  if (end == text || *end != ' ') return -1;
  const char* wait = end + 1;
  unsigned long long ns = std::strtoull(wait, &end, 10);
  if (end == wait) return -1;
  return static_cast<int64_t>(ns);
}

struct OwnFile {
  OwnFile() : fd(::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC)) {}
  ~OwnFile() {
    if (fd >= 0) ::close(fd);
  }
  int fd;
};

}  // namespace

int64_t cpu_wait_ns(pid_t tid) {
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/schedstat";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int64_t ns = read_wait(fd);
  ::close(fd);
  return ns;
}

int64_t my_cpu_wait_ns() {
  thread_local OwnFile own;
  return own.fd < 0 ? -1 : read_wait(own.fd);
}

std::chrono::steady_clock::duration cpu_wait_between(
    int64_t from, int64_t to, std::chrono::steady_clock::duration allowance) {
  if (from < 0 || to <= from) return {};
  return std::min<std::chrono::steady_clock::duration>(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::nanoseconds(to - from)),
      allowance);
}

}  // namespace oceand
