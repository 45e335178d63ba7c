// Measures the durable queue: N threads pushing one payload, then one thread draining.
//   oceand_queue_bench [--threads N] [--events M] [--sync FULL|NORMAL] [--plain]
//                      [--payload FILE] [--dir DIR]
// Prints one line per phase; docs/reliability.md quotes its numbers.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "queue/sqlite_queue.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  int threads = 8, events = 20000;
  std::string sync = "FULL",
              payload_file = OCEAN_CORPORA_DIR "/github/pull_request__opened.payload.json";
  std::string dir = (fs::temp_directory_path() / "oceand-queue-bench").string();
  bool compress = true;  // as oceand stores them
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--threads")
      threads = std::stoi(next());
    else if (a == "--events")
      events = std::stoi(next());
    else if (a == "--sync")
      sync = next();
    else if (a == "--plain")
      compress = false;
    else if (a == "--payload")
      payload_file = next();
    else if (a == "--dir")
      dir = next();
    else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  std::ifstream in(payload_file, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string payload = buffer.str();

  fs::remove_all(dir);
  fs::create_directories(dir);
  oceand::SqliteQueueOptions options;
  options.path = (fs::path(dir) / "queue.db").string();
  options.max_pending = static_cast<size_t>(events) + 1;
  options.synchronous = sync;
  options.compress_bodies = compress;
  oceand::SqliteQueue queue(options);

  auto start = Clock::now();
  std::atomic<int> next_index{0};
  std::vector<std::thread> pushers;
  for (int t = 0; t < threads; ++t) {
    pushers.emplace_back([&] {
      for (int i = next_index++; i < events; i = next_index++) {
        auto e = std::make_shared<oceand::Event>();
        e->integration = "github";
        e->route = "/webhook";
        e->body = payload;
        e->headers = {{"content-type", "application/json"}, {"x-github-event", "pull_request"}};
        e->delivery_id = "delivery-" + std::to_string(i);
        e->accepted = Clock::now();
        if (queue.push(e) != oceand::PushResult::accepted) std::abort();
      }
    });
  }
  for (auto& p : pushers) p.join();
  double push_s = std::chrono::duration<double>(Clock::now() - start).count();
  auto stats = queue.stats();
  uintmax_t file_bytes =
      fs::file_size(options.path) +
      (fs::exists(options.path + "-wal") ? fs::file_size(options.path + "-wal") : 0);
  std::printf(
      "push  sync=%s compress=%d threads=%d events=%d bytes=%zu: %.0f events/s, %.0f commits/s, "
      "%.1f events/commit, %.1f MB/s of bodies, db+wal %.0f MB\n",
      sync.c_str(), compress ? 1 : 0, threads, events, payload.size(), events / push_s,
      stats.commits / push_s, double(stats.events_committed) / double(stats.commits),
      events * double(payload.size()) / push_s / 1e6, file_bytes / 1e6);

  start = Clock::now();
  for (int i = 0; i < events; ++i) {
    auto e = queue.pop(std::chrono::seconds(5));
    if (!e) std::abort();
    queue.complete(e->id);
  }
  double pop_s = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("drain pop+complete: %.0f events/s, %llu page-ins\n", events / pop_s,
              static_cast<unsigned long long>(queue.stats().page_ins));
  return 0;
}
