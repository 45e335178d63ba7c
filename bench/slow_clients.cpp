// The slow-client row of scripts/bench: oceand holding --idle connections that never send a byte
// and --trickling ones that send a request head one byte a second, while probes (GET /health)
// and signed webhooks arrive on fresh connections every --interval-ms. Prints one line:
// latency percentiles of both (connect to last byte of the answer), how many were answered 200,
// and how many of the slow connections oceand still held at the end.
//   oceand_slow_clients --port P --payload FILE --secret S [--idle 10000] [--trickling 500]
//                       [--seconds 20] [--interval-ms 10]
#include <poll.h>
#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <thread>

#include "bench_util.hpp"

namespace {

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Still open from the server's side: no EOF or error waiting to be read.
bool still_open(int fd) {
  char c;
  ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

int main(int argc, char** argv) {
  uint16_t port = 0;
  std::string payload_path, secret;
  int idle_count = 10000, trickling_count = 500, seconds = 20, interval_ms = 10;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--port")
      port = static_cast<uint16_t>(std::stoi(bench::flag_value(argc, argv, i)));
    else if (a == "--payload")
      payload_path = bench::flag_value(argc, argv, i);
    else if (a == "--secret")
      secret = bench::flag_value(argc, argv, i);
    else if (a == "--idle")
      idle_count = std::stoi(bench::flag_value(argc, argv, i));
    else if (a == "--trickling")
      trickling_count = std::stoi(bench::flag_value(argc, argv, i));
    else if (a == "--seconds")
      seconds = std::stoi(bench::flag_value(argc, argv, i));
    else if (a == "--interval-ms")
      interval_ms = std::stoi(bench::flag_value(argc, argv, i));
    else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  const std::string payload = bench::read_file(payload_path);

  std::vector<int> idle;
  for (int i = 0; i < idle_count; ++i) {
    int fd = connect_to(port);
    if (fd < 0) {
      std::cerr << "connect failed after " << i << " idle connections\n";
      return 1;
    }
    idle.push_back(fd);
  }
  const std::string head = "POST /integration/github/webhook HTTP/1.1\r\nHost: bench\r\nX-Slow: ";
  std::vector<int> trickling;
  for (int i = 0; i < trickling_count; ++i) trickling.push_back(connect_to(port));
  std::atomic<bool> done{false};
  std::atomic<int> reconnects{0};
  // One byte a second to each: the head never ends, so only oceand's request deadline ends them
  // (and then they come back).
  std::thread trickle([&] {
    std::vector<size_t> at(trickling.size(), 0);
    while (!done) {
      for (size_t i = 0; i < trickling.size(); ++i) {
        char byte = at[i] < head.size() ? head[at[i]] : 'a';
        if (::send(trickling[i], &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1) {
          ::close(trickling[i]);
          trickling[i] = connect_to(port);
          at[i] = 0;
          ++reconnects;
          continue;
        }
        ++at[i];
      }
      for (int s = 0; s < 10 && !done; ++s)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the trickle's pace
    }
  });

  std::vector<double> health_ms, webhook_ms;
  int health_ok = 0, webhook_ok = 0, sent = 0;
  const auto end = bench::Clock::now() + std::chrono::seconds(seconds);
  auto next = bench::Clock::now();
  while (bench::Clock::now() < end) {
    const bool probe = sent++ % 2 == 0;
    std::string body, request_head;
    if (probe) {
      request_head = "GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
    } else {
      body = payload;
      request_head =
          "POST /integration/github/webhook HTTP/1.1\r\nHost: bench\r\n"
          "Content-Type: application/json\r\nConnection: close\r\nX-GitHub-Delivery: "
          "slow-" +
          std::to_string(sent) +
          "\r\nX-Hub-Signature-256: sha256=" + bench::hmac_sha256_hex(secret, body) +
          "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    }
    const int64_t start = bench::now_ns();
    bench::Connection c(port);
    int status = c.request(request_head, body, nullptr);
    const double ms = static_cast<double>(bench::now_ns() - start) / 1e6;
    (probe ? health_ms : webhook_ms).push_back(ms);
    if (status == 200) ++(probe ? health_ok : webhook_ok);
    next += std::chrono::milliseconds(interval_ms);
    std::this_thread::sleep_until(next);  // the probes' pace
  }
  done = true;
  trickle.join();
  int idle_open = 0, trickling_open = 0;
  for (int fd : idle) idle_open += still_open(fd);
  for (int fd : trickling) trickling_open += fd >= 0 && still_open(fd);
  const size_t health_n = health_ms.size(), webhook_n = webhook_ms.size();
  std::printf(
      "health_n=%zu health_ok=%d health_p50_ms=%.2f health_p99_ms=%.2f health_max_ms=%.2f "
      "webhook_n=%zu webhook_ok=%d webhook_p50_ms=%.2f webhook_p99_ms=%.2f webhook_max_ms=%.2f "
      "idle_open=%d/%d trickling_open=%d/%d trickle_reconnects=%d\n",
      health_n, health_ok, bench::quantile(health_ms, 0.5), bench::quantile(health_ms, 0.99),
      bench::quantile(health_ms, 1.0), webhook_n, webhook_ok, bench::quantile(webhook_ms, 0.5),
      bench::quantile(webhook_ms, 0.99), bench::quantile(webhook_ms, 1.0), idle_open, idle_count,
      trickling_open, trickling_count, reconnects.load());
  for (int fd : idle) ::close(fd);
  for (int fd : trickling) ::close(fd);
  return 0;
}
