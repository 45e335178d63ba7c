// The disk's commit latency, as a reference for the durable queue's p99: appends of BYTES followed
// by fdatasync, for SECONDS, into FILE (removed after). Prints one key=value line.
//   oceand_fsync_probe FILE SECONDS BYTES
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: oceand_fsync_probe FILE SECONDS BYTES\n");
    return 2;
  }
  const std::string path = argv[1];
  const double seconds = std::atof(argv[2]);
  const size_t bytes = static_cast<size_t>(std::atoll(argv[3]));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || bytes == 0 || seconds <= 0) {
    std::perror("oceand_fsync_probe");
    return 1;
  }
  std::vector<char> block(bytes, 'x');
  std::vector<double> ms;
  using Clock = std::chrono::steady_clock;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size())) {
      std::perror("write");
      return 1;
    }
    auto t0 = Clock::now();
    if (::fdatasync(fd) != 0) {
      std::perror("fdatasync");
      return 1;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  ::close(fd);
  ::unlink(path.c_str());
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))];
  };
  std::printf("fsyncs=%zu bytes_each=%zu p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", ms.size(), bytes,
              at(0.5), at(0.99), ms.back());
  return 0;
}
