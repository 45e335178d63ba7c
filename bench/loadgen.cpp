// oceand_loadgen: the end-to-end benchmark's load generator and the fakes it talks through, in one
// process so that send and apply times are taken on one clock and matched per event.
//
//   fake GitHub  GET /repos/{owner}/{repo}/pulls/{n}: the corpus pull request with number n and
//                id ID_BASE+n, rendered from a template (nothing stored), optionally after a delay
//   fake Port    access tokens and bulk upserts; records when each entity identifier was applied
//   load         POST /integration/github/webhook with a signed pull_request.opened payload whose
//                number is unique per event, open loop at --rate or closed loop (--rate 0) with at
//                most --window events between POST and applied
//
// It waits for oceand's /ready, runs the load, waits for the entities, and prints one line of
// key=value results. Optional: --reload-pid sends SIGHUPs during the load and measures how long
// until /admin/plugins shows the new generation; --rss-pid samples oceand's VmRSS.
#include <signal.h>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/ThreadPool.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <regex>
#include <thread>

#include "bench_util.hpp"

namespace {

using bench::now_ns;

constexpr int64_t kIdBase = 500000000;
// Placeholders written into the corpus payload before it becomes a template.
constexpr int64_t kNumberMark = 7770001777;
constexpr int64_t kIdMark = 8880001888;

struct Options {
  uint16_t target_port = 8000, github_port = 0, port_port = 0;
  int github_delay_ms = 0;
  double rate = 0;  // events/s; 0: closed loop
  int connections = 32;
  double duration_s = 10, warmup_s = 2, drain_s = 30, settle_s = 2;
  size_t max_events = 2000000;
  size_t window = 2000;  // closed loop: events between POST and applied
  size_t prewarm = 0;    // events sent and applied before the clock starts
  std::string secret = "bench-secret";
  std::string payload_file;
  std::string ports_file;
  pid_t reload_pid = 0;
  int reloads = 0;
  pid_t rss_pid = 0;
  bool fakes_only = false;
};

// --- state shared by the fakes and the load ---------------------------------------------------
struct Run {
  std::vector<std::atomic<int64_t>> sent_ns, applied_ns;
  std::atomic<size_t> applied{0}, posted{0}, ok{0}, refused{0}, broken{0}, late{0};
  std::atomic<size_t> github_gets{0}, port_bulks{0};
  std::string repo_name;  // identifiers are repo_name + id
  // Closed loop: senders wait here for room in the window; the fake Port wakes one per entity
  // applied (polling instead cost the generator a dozen thread switches per event).
  std::mutex window_mutex;
  std::condition_variable window_cv;
  size_t window_waiters = 0;
  explicit Run(size_t n) : sent_ns(n), applied_ns(n) {}

  void note_applied(size_t n) {
    std::lock_guard lock(window_mutex);
    for (size_t i = 0; i < n && i < window_waiters; ++i) window_cv.notify_one();
  }
};

// --- a fake HTTP peer: Poco's server with a pool large enough that every oceand worker can hold a
// keep-alive connection (the default pool has 16 threads, which would serialise 64 workers) ----
class Fake {
 public:
  using Handler = std::function<void(Poco::Net::HTTPServerRequest&, Poco::Net::HTTPServerResponse&,
                                     const std::string& body)>;
  Fake(uint16_t port, Handler handler) : pool_(8, 512), handler_(std::move(handler)) {
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", port), 1024);
    port_ = socket.address().port();
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(512);
    params->setMaxQueued(2048);
    params->setKeepAlive(true);
    params->setMaxKeepAliveRequests(1 << 30);
    params->setKeepAliveTimeout(Poco::Timespan(120, 0));
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(*this), pool_, socket, params);
    server_->start();
  }
  uint16_t port() const { return port_; }

 private:
  struct Handle : Poco::Net::HTTPRequestHandler {
    explicit Handle(Fake& f) : fake(f) {}
    void handleRequest(Poco::Net::HTTPServerRequest& in,
                       Poco::Net::HTTPServerResponse& out) override {
      std::string body;
      Poco::StreamCopier::copyToString(in.stream(), body);
      fake.handler_(in, out, body);
    }
    Fake& fake;
  };
  struct Factory : Poco::Net::HTTPRequestHandlerFactory {
    explicit Factory(Fake& f) : fake(f) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override {
      return new Handle(fake);
    }
    Fake& fake;
  };

  Poco::ThreadPool pool_;
  Handler handler_;
  uint16_t port_ = 0;
  std::unique_ptr<Poco::Net::HTTPServer> server_;
};

void send(Poco::Net::HTTPServerResponse& out, int status, const std::string& body) {
  out.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
  out.setContentType("application/json");
  out.setContentLength(static_cast<std::streamsize>(body.size()));
  out.send().write(body.data(), static_cast<std::streamsize>(body.size()));
}

std::string text(const rapidjson::Value& v) {
  rapidjson::StringBuffer b;
  rapidjson::Writer<rapidjson::StringBuffer> w(b);
  v.Accept(w);
  return {b.GetString(), b.GetSize()};
}

// The corpus pull_request.opened payload as two templates: the webhook body and the pull request
// GitHub's API would answer.
struct Templates {
  bench::NumberTemplate webhook, pull;
  std::string repo_name;
};

Templates make_templates(const std::string& payload) {
  rapidjson::Document d;
  d.Parse(payload.c_str());
  if (!d.IsObject() || !d.HasMember("pull_request"))
    throw std::runtime_error("the payload is not a pull_request event");
  auto& a = d.GetAllocator();
  auto& pr = d["pull_request"];
  if (d.HasMember("number")) d["number"].SetInt64(kNumberMark);
  pr["number"].SetInt64(kNumberMark);
  pr["id"].SetInt64(kIdMark);
  pr["state"].SetString("open");
  std::string title = "Bench pull request " + std::to_string(kNumberMark);
  pr["title"].SetString(title.c_str(), static_cast<rapidjson::SizeType>(title.size()), a);
  Templates t;
  t.repo_name = pr["head"]["repo"]["name"].GetString();
  std::vector<std::string> marks = {std::to_string(kNumberMark), std::to_string(kIdMark)};
  t.webhook = bench::NumberTemplate(text(d), marks);
  t.pull = bench::NumberTemplate(text(pr), marks);
  return t;
}

std::vector<std::string> values_for(int64_t number) {
  return {std::to_string(number), std::to_string(kIdBase + number)};
}

std::unique_ptr<Fake> fake_github(const Options& o, const Templates& t, Run& run) {
  return std::make_unique<Fake>(o.github_port, [&o, &t, &run](auto& in, auto& out, const auto&) {
    // /repos/{owner}/{repo}/pulls/{n}
    const std::string& path = in.getURI();
    size_t at = path.rfind("/pulls/");
    int64_t number = at == std::string::npos ? 0 : std::atoll(path.c_str() + at + 7);
    if (in.getMethod() != "GET" || path.rfind("/repos/", 0) != 0 || number <= 0) {
      send(out, 404, R"({"message":"Not Found"})");
      return;
    }
    ++run.github_gets;
    std::string body;
    t.pull.render(values_for(number), body);
    if (o.github_delay_ms > 0)  // a real GitHub answers in tens to hundreds of ms
      std::this_thread::sleep_for(std::chrono::milliseconds(o.github_delay_ms));
    send(out, 200, body);
  });
}

std::unique_ptr<Fake> fake_port(const Options& o, Run& run) {
  return std::make_unique<Fake>(o.port_port, [&run](auto& in, auto& out, const std::string& body) {
    const std::string& uri = in.getURI();
    if (uri == "/v1/auth/access_token") {
      send(out, 200, R"({"ok":true,"accessToken":"bench","expiresIn":3600,"tokenType":"Bearer"})");
      return;
    }
    if (uri.find("/entities/bulk") == std::string::npos) {
      send(out, 200, R"({"ok":true})");
      return;
    }
    int64_t at = now_ns();
    ++run.port_bulks;
    rapidjson::Document d;
    d.Parse(body.data(), body.size());
    if (!d.IsObject() || !d.HasMember("entities") || !d["entities"].IsArray()) {
      send(out, 422, R"({"ok":false,"error":"invalid_request"})");
      return;
    }
    std::string answer = R"({"ok":true,"entities":[)";
    rapidjson::SizeType i = 0;
    size_t newly_applied = 0;
    for (const auto& e : d["entities"].GetArray()) {
      std::string id = e.HasMember("identifier") && e["identifier"].IsString()
                           ? e["identifier"].GetString()
                           : "";
      if (id.rfind(run.repo_name, 0) == 0) {
        int64_t seq = std::atoll(id.c_str() + run.repo_name.size()) - kIdBase - 1;
        if (seq >= 0 && static_cast<size_t>(seq) < run.applied_ns.size()) {
          int64_t zero = 0;
          if (run.applied_ns[seq].compare_exchange_strong(zero, at)) {
            ++run.applied;
            ++newly_applied;
          }
        }
      }
      if (i) answer += ',';
      answer +=
          R"({"identifier":")" + id + R"(","index":)" + std::to_string(i++) + R"(,"created":true})";
    }
    run.note_applied(newly_applied);
    send(out, 207, answer + R"(],"errors":[]})");
  });
}

// --- the load ------------------------------------------------------------------------------------
// --admin-token: /admin/* on the main port needs admin.token (docs/operations.md).
std::string g_admin_token;

int get(uint16_t port, const std::string& path, std::string* body) {
  bench::Connection c(port);
  std::string auth = g_admin_token.empty() ? "" : "Authorization: Bearer " + g_admin_token + "\r\n";
  return c.request(
      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + "Connection: close\r\n\r\n", "",
      body);
}

uint64_t generation(uint16_t port) {
  std::string body;
  if (get(port, "/admin/plugins", &body) != 200) return 0;
  static const std::regex re("\"generation\":([0-9]+)");
  std::smatch m;
  return std::regex_search(body, m, re) ? std::stoull(m[1]) : 0;
}

size_t rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  return 0;
}

void load(const Options& o, const Templates& t, Run& run, int64_t start, int64_t stop,
          std::atomic<size_t>& next, size_t first, size_t last, double rate,
          std::vector<double>& ingress_ms, std::mutex& mutex) {
  bench::Connection conn(o.target_port);
  std::string body, head, answer;
  std::vector<double> local;
  const std::string run_id = std::to_string(start % 1000000007);
  while (true) {
    if (rate <= 0) {  // closed loop: stay within the window of unapplied events
      std::unique_lock lock(run.window_mutex);
      while (next.load() >=
                 run.applied.load() + run.refused.load() + run.broken.load() + o.window &&
             now_ns() < stop) {
        ++run.window_waiters;
        // Bounded, so that the end of the run is seen even if nothing more is applied.
        run.window_cv.wait_for(lock, std::chrono::milliseconds(50));
        --run.window_waiters;
      }
    }
    size_t seq = next.fetch_add(1);
    if (seq >= last) break;
    if (rate > 0) {
      int64_t due = start + static_cast<int64_t>(static_cast<double>(seq - first) * 1e9 / rate);
      if (due >= stop) break;
      int64_t wait = due - now_ns();
      if (wait > 0)
        std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
      else if (wait < -5000000)
        ++run.late;  // the generator could not keep the offered rate
    } else if (now_ns() >= stop) {
      break;
    }
    t.webhook.render(values_for(static_cast<int64_t>(seq) + 1), body);
    head =
        "POST /integration/github/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nUser-Agent: GitHub-Hookshot/bench\r\n"
        "X-GitHub-Event: pull_request\r\nX-GitHub-Delivery: bench-" +
        run_id + "-" + std::to_string(seq) +
        "\r\nX-Hub-Signature-256: sha256=" + bench::hmac_sha256_hex(o.secret, body) +
        "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    int64_t sent = now_ns();
    run.sent_ns[seq].store(sent);
    ++run.posted;
    int status = conn.request(head, body, &answer);
    local.push_back(static_cast<double>(now_ns() - sent) / 1e6);
    if (status == 200)
      ++run.ok;
    else if (status < 0)
      ++run.broken;
    else
      ++run.refused;
  }
  std::lock_guard lock(mutex);
  ingress_ms.insert(ingress_ms.end(), local.begin(), local.end());
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return bench::flag_value(argc, argv, i); };
    if (a == "--target-port")
      o.target_port = static_cast<uint16_t>(std::stoi(next()));
    else if (a == "--github-port")
      o.github_port = static_cast<uint16_t>(std::stoi(next()));
    else if (a == "--port-port")
      o.port_port = static_cast<uint16_t>(std::stoi(next()));
    else if (a == "--github-delay-ms")
      o.github_delay_ms = std::stoi(next());
    else if (a == "--rate")
      o.rate = std::stod(next());
    else if (a == "--connections")
      o.connections = std::stoi(next());
    else if (a == "--duration")
      o.duration_s = std::stod(next());
    else if (a == "--warmup")
      o.warmup_s = std::stod(next());
    else if (a == "--drain")
      o.drain_s = std::stod(next());
    else if (a == "--settle")
      o.settle_s = std::stod(next());
    else if (a == "--events")
      o.max_events = std::stoul(next());
    else if (a == "--window")
      o.window = std::stoul(next());
    else if (a == "--prewarm")
      o.prewarm = std::stoul(next());
    else if (a == "--secret")
      o.secret = next();
    else if (a == "--payload")
      o.payload_file = next();
    else if (a == "--ports-file")
      o.ports_file = next();
    else if (a == "--reload-pid")
      o.reload_pid = std::stoi(next());
    else if (a == "--admin-token")
      g_admin_token = next();
    else if (a == "--reloads")
      o.reloads = std::stoi(next());
    else if (a == "--rss-pid")
      o.rss_pid = std::stoi(next());
    else if (a == "--fakes-only")
      o.fakes_only = true;
    else
      throw std::runtime_error("unknown argument " + a);
  }
  if (o.payload_file.empty()) throw std::runtime_error("--payload is required");
  return o;
}

}  // namespace

int main(int argc, char** argv) try {
  Options o = parse(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  Templates t = make_templates(bench::read_file(o.payload_file));
  Run run(o.max_events + 1);
  run.repo_name = t.repo_name;
  auto github = fake_github(o, t, run);
  auto port = fake_port(o, run);
  if (!o.ports_file.empty()) {
    std::ofstream(o.ports_file) << "github_port=" << github->port()
                                << "\nport_port=" << port->port() << "\n";
  }
  if (o.fakes_only) {
    std::cout << "fake GitHub on " << github->port() << ", fake Port on " << port->port()
              << std::endl;
    pause();
    return 0;
  }

  // oceand is started by the caller once the fakes listen.
  int64_t ready_deadline = now_ns() + 60'000'000'000;
  while (get(o.target_port, "/ready", nullptr) != 200) {
    if (now_ns() > ready_deadline) throw std::runtime_error("oceand never became ready");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  size_t rss_idle = o.rss_pid ? rss_kib(o.rss_pid) : 0;
  std::atomic<size_t> rss_max{rss_idle}, rss_fifth{0};
  std::atomic<size_t> next{0};
  std::atomic<bool> sampling{true};
  std::thread sampler;
  if (o.rss_pid)
    sampler = std::thread([&] {
      while (sampling) {
        size_t r = rss_kib(o.rss_pid);
        size_t m = rss_max.load();
        while (r > m && !rss_max.compare_exchange_weak(m, r)) {
        }
        // RSS when a fifth of the events were sent: with a bounded queue it stays flat after.
        if (!rss_fifth && next.load() >= o.max_events / 5) rss_fifth = r;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });

  std::vector<double> ingress_ms;
  std::mutex mutex;
  std::vector<std::thread> threads;
  // Each worker thread compiles the mapping's jq programs on its first event (about a second of
  // CPU each): the pre-warm pays that before the clock starts, and its duration is reported.
  double prewarm_s = 0;
  if (o.prewarm > 0) {
    int64_t t0 = now_ns();
    for (int i = 0; i < o.connections; ++i)
      threads.emplace_back(load, std::cref(o), std::cref(t), std::ref(run), t0, INT64_MAX,
                           std::ref(next), 0, o.prewarm, 0.0, std::ref(ingress_ms),
                           std::ref(mutex));
    for (auto& th : threads) th.join();
    threads.clear();
    while (run.applied.load() < run.ok.load() && now_ns() - t0 < 300'000'000'000)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    prewarm_s = static_cast<double>(now_ns() - t0) / 1e9;
    next = o.prewarm;
    ingress_ms.clear();
  }
  const size_t first = next.load();
  const size_t applied_before = run.applied.load();
  const int64_t start = now_ns();
  const int64_t stop = start + static_cast<int64_t>(o.duration_s * 1e9);
  const int64_t warm = start + static_cast<int64_t>(o.warmup_s * 1e9);
  for (int i = 0; i < o.connections; ++i)
    threads.emplace_back(load, std::cref(o), std::cref(t), std::ref(run), start, stop,
                         std::ref(next), first, o.max_events, o.rate, std::ref(ingress_ms),
                         std::ref(mutex));

  std::vector<double> reload_ms;
  std::thread reloader;
  if (o.reload_pid && o.reloads > 0)
    reloader = std::thread([&] {
      // Spread the reloads over the measured part of the run.
      double span = (o.duration_s - o.warmup_s) / (o.reloads + 1);
      for (int i = 1; i <= o.reloads; ++i) {
        int64_t due = warm + static_cast<int64_t>(span * i * 1e9);
        std::this_thread::sleep_for(std::chrono::nanoseconds(std::max<int64_t>(0, due - now_ns())));
        uint64_t before = generation(o.target_port);
        int64_t t0 = now_ns();
        kill(o.reload_pid, SIGHUP);
        while (generation(o.target_port) <= before && now_ns() - t0 < 10'000'000'000)
          std::this_thread::sleep_for(std::chrono::microseconds(500));
        reload_ms.push_back(static_cast<double>(now_ns() - t0) / 1e6);
      }
    });
  for (auto& th : threads) th.join();
  const int64_t sent_end = now_ns();
  if (reloader.joinable()) reloader.join();

  size_t sent = std::min(next.load(), o.max_events);
  size_t accepted = run.ok.load();
  int64_t drain_deadline = now_ns() + static_cast<int64_t>(o.drain_s * 1e9);
  while (run.applied.load() < accepted && now_ns() < drain_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (o.rss_pid) std::this_thread::sleep_for(std::chrono::duration<double>(o.settle_s));
  sampling = false;
  if (sampler.joinable()) sampler.join();

  // Throughput: entities applied during the measured window (after warm-up, until the load
  // stopped), so neither the start nor the final drain counts.
  size_t in_window = 0;
  std::vector<double> e2e_ms;
  int64_t first_sent = INT64_MAX, last_applied = 0;
  for (size_t i = first; i < sent && i < run.applied_ns.size(); ++i) {
    int64_t a = run.applied_ns[i].load(), s = run.sent_ns[i].load();
    if (s) first_sent = std::min(first_sent, s);
    if (!a) continue;
    last_applied = std::max(last_applied, a);
    if (a >= warm && a < sent_end) ++in_window;
    if (s >= warm) e2e_ms.push_back(static_cast<double>(a - s) / 1e6);
  }
  double window_s = static_cast<double>(sent_end - warm) / 1e9;
  std::vector<double> e2e_sorted = e2e_ms;
  printf(
      "sent=%zu ok=%zu refused=%zu broken=%zu late=%zu applied=%zu github_gets=%zu "
      "port_bulks=%zu send_s=%.2f ingest_per_s=%.0f applied_per_s=%.0f all_applied_s=%.2f "
      "e2e_p50_ms=%.2f e2e_p99_ms=%.2f e2e_max_ms=%.2f ingress_p50_ms=%.2f ingress_p99_ms=%.2f "
      "prewarm=%zu prewarm_s=%.2f",
      run.posted.load() - first, accepted - std::min(accepted, first), run.refused.load(),
      run.broken.load(), run.late.load(), run.applied.load() - applied_before,
      run.github_gets.load(), run.port_bulks.load(), static_cast<double>(sent_end - start) / 1e9,
      static_cast<double>(accepted - std::min(accepted, first)) /
          (static_cast<double>(sent_end - start) / 1e9),
      window_s > 0 ? static_cast<double>(in_window) / window_s : 0,
      last_applied ? static_cast<double>(last_applied - first_sent) / 1e9 : 0,
      bench::quantile(e2e_sorted, 0.5), bench::quantile(e2e_sorted, 0.99),
      bench::quantile(e2e_sorted, 1.0), bench::quantile(ingress_ms, 0.5),
      bench::quantile(ingress_ms, 0.99), first, prewarm_s);
  if (!reload_ms.empty()) {
    std::vector<double> r = reload_ms;
    printf(" reloads=%zu reload_p50_ms=%.1f reload_max_ms=%.1f", r.size(), bench::quantile(r, 0.5),
           bench::quantile(r, 1.0));
  }
  if (o.rss_pid)
    printf(" rss_idle_kib=%zu rss_fifth_kib=%zu rss_max_kib=%zu rss_end_kib=%zu", rss_idle,
           rss_fifth.load(), rss_max.load(), rss_kib(o.rss_pid));
  printf("\n");
  fflush(stdout);
  // The fakes may hold handler threads asleep in a long delay; nothing needs tearing down.
  _exit(0);
} catch (const Poco::Exception& e) {
  std::cerr << "oceand_loadgen: " << e.displayText() << "\n";
  _exit(2);
} catch (const std::exception& e) {
  std::cerr << "oceand_loadgen: " << e.what() << "\n";
  _exit(2);
}
