// Several oceand on one PostgreSQL (issue 20): a real server started by the test (support/pg_server
// .hpp), real oceand processes on it, and a recorder standing in for the third party the scripted
// plugin calls while it handles an event, so the test sees which events ran, when, and in what
// order.
#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <set>
#include <thread>

#include "fakes/fake_server.hpp"
#include "queue/pg_connection.hpp"
#include "queue/pg_schema.hpp"
#include "support/oceand_process.hpp"
#include "support/pg_server.hpp"

using namespace oceand;
using namespace oceand::test;

namespace {

// The third party the scripted plugin's "record" mode calls: counts events of one key running at
// once (overlaps) and the order their numbers arrived in. /hold holds its first request until
// release() (a handler caught mid-work); every other request takes 2 ms, as an API call would.
class Recorder {
 public:
  Recorder() : server_([this](const FakeRequest& r) { return handle(r); }, 48) {}
  ~Recorder() { release(); }

  std::string url(const std::string& path = "/run") const { return server_.url() + path; }
  size_t overlaps() const {
    std::lock_guard lock(mutex_);
    return overlaps_;
  }
  size_t total() const {
    std::lock_guard lock(mutex_);
    return total_;
  }
  std::map<std::string, std::vector<int>> order() const {
    std::lock_guard lock(mutex_);
    return order_;
  }
  bool holding() const {
    std::lock_guard lock(mutex_);
    return holding_;
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      released_ = true;
    }
    cv_.notify_all();
  }

 private:
  FakeResponse handle(const FakeRequest& r) {
    const std::string key = r.query_param("key");
    const int n = std::atoi(r.query_param("n").c_str());
    std::unique_lock lock(mutex_);
    if (++running_[key] > 1) ++overlaps_;
    order_[key].push_back(n);
    ++total_;
    if (r.path == "/hold" && !held_once_) {
      held_once_ = holding_ = true;
      cv_.wait_for(lock, std::chrono::seconds(60), [&] { return released_; });
      holding_ = false;
    } else {
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      lock.lock();
    }
    --running_[key];
    return FakeResponse::json(200, "{}");
  }

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::string, int> running_;
  std::map<std::string, std::vector<int>> order_;
  size_t overlaps_ = 0, total_ = 0;
  bool held_once_ = false, holding_ = false, released_ = false;
  FakeServer server_;  // last: stopped (its threads joined) before the state above goes
};

// Instances of one cluster: the scripted plugin, the shared queue and the shared catalog in `pg`,
// each instance with a directory of its own (its crash ledger).
class Cluster {
 public:
  explicit Cluster(PgServer& pg, double handover_seconds = 2, int workers = 4) {
    const fs::path& d = dir_.path();
    fs::create_directories(d / "plugins");
    fs::copy_file(plugin_file("scripted"), d / "plugins" / "scripted.so");
    write_file(d / "thing.yaml",
               "resources:\n  - kind: thing\n    selector: {query: \"true\"}\n    port:\n"
               "      entity:\n        mappings:\n          identifier: .key\n"
               "          blueprint: '\"thing\"'\n          properties: {n: .n}\n");
    std::string yaml = "server: {host: 127.0.0.1, port: 0}\nlog_level: info\n";
    yaml += "event_workers_count: " + std::to_string(workers) + "\n";
    yaml += "plugins: {dir: " + (d / "plugins").string() + "}\n";
    yaml += "queue: {backend: postgres, url: \"" + pg.url() +
            "\", handover_seconds: " + std::to_string(handover_seconds) + "}\n";
    yaml += "port: {applier: local, local_db: \"" + pg.url() + "\"}\n";
    yaml += "integrations:\n  scripted:\n    plugin: scripted\n    mapping: " +
            (d / "thing.yaml").string() + "\n";
    write_file(d / "oceand.yaml", yaml);
  }
  // Instance `i`, started anew (a fresh log each start; its own cache and crash ledger).
  std::unique_ptr<ServingOceand> start(int i) {
    fs::path own = dir_.path() / ("instance-" + std::to_string(i));
    fs::create_directories(own);
    fs::path log = own / ("oceand-" + std::to_string(++starts_) + ".log");
    logs_.push_back(log);
    return std::make_unique<ServingOceand>(
        dir_.path() / "oceand.yaml", log,
        std::vector<std::string>{"OCEAN__PLUGINS__CACHE_DIR=" + (own / "cache").string(),
                                 "OCEAN__QUEUE__PATH=" + (own / "queue.db").string()});
  }
  // Instances 0 .. n-1, each started.
  std::vector<std::unique_ptr<ServingOceand>> start_all(int n) {
    std::vector<std::unique_ptr<ServingOceand>> nodes;
    for (int i = 0; i < n; ++i) nodes.push_back(start(i));
    return nodes;
  }
  std::string logs() const {
    std::string all;
    for (const auto& l : logs_) all += "==> " + l.string() + "\n" + read_file(l);
    return all;
  }

 private:
  TempDir dir_;
  int starts_ = 0;
  std::vector<fs::path> logs_;
};

std::string event(const std::string& key, int n, const std::string& record,
                  const std::string& id = "") {
  return R"({"id": ")" + (id.empty() ? key + "-" + std::to_string(n) : id) +
         R"(", "mode": "record", "key": ")" + key + R"(", "n": )" + std::to_string(n) +
         R"(, "record": ")" + record + R"("})";
}

HttpResult post(ServingOceand& o, const std::string& body, const std::string& delivery = "") {
  HeaderList headers;
  if (!delivery.empty()) headers.emplace_back("X-GitHub-Delivery", delivery);
  return HttpClient::request("POST", o.main_url("/integration/scripted/webhook"), headers, body,
                             std::chrono::seconds(10));
}

// The entity of `key` as the shared catalog holds it: its n, or -1.
int entity_n(ServingOceand& o, const std::string& key) {
  HttpResult r = o.get("/api/entities/thing/" + key);
  if (r.status != 200) return -1;
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  if (d.HasParseError() || !d.IsObject()) return -1;
  const rapidjson::Value* e = d.HasMember("entity") ? &d["entity"] : &d;
  if (!e->HasMember("properties") || !(*e)["properties"].HasMember("n")) return -1;
  return (*e)["properties"]["n"].GetInt();
}

// Whether the process is stopped (SIGSTOP takes effect asynchronously): /proc's state T.
bool stopped(pid_t pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'T';
}

int64_t pending_events(PgServer& pg) {
  return pg.sql("SELECT count(*) FROM oceand_events").int64(0, 0);
}

}  // namespace

TEST_CASE("cluster: a connection string's password never reaches a log") {
  CHECK(redact_pg_url("postgresql://oceand:s3cret@db:5432/oceand") ==
        "postgresql://oceand:***@db:5432/oceand");
  CHECK(redact_pg_url("postgresql://oceand@db/oceand") == "postgresql://oceand@db/oceand");
  CHECK(redact_pg_url("host=db password=s3cret dbname=oceand") ==
        "host=db password=*** dbname=oceand");
  CHECK(redact_pg_url("host=db password = 'it\\'s secret' user=o").find("secret") ==
        std::string::npos);
}

TEST_CASE("cluster: bytes PostgreSQL's text would refuse are kept as they came") {
  for (std::string bytes :
       {std::string("plain-id"), std::string("caf\xc3\xa9"), std::string("\xff\xfe"),
        std::string("a\0b", 3), std::string("hex:look-alike"), std::string("\xc3"),
        std::string("\xed\xa0\x80"), std::string()}) {
    std::string text = to_pg_text(bytes);
    CHECK(from_pg_text(text) == bytes);
    CHECK(text.find('\0') == std::string::npos);
  }
  CHECK(to_pg_text("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(to_pg_text("\xff") == "hex:ff");
  CHECK(to_pg_text("hex:ff") != to_pg_text("\xff"));
}

TEST_CASE(
    "cluster: the schema is created once by instances starting together; a newer one is "
    "refused") {
  PgServer pg;
  std::vector<std::thread> starters;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i)
    starters.emplace_back([&] {
      try {
        PgConnection conn(pg.url());
        migrate_pg_schema(conn);
      } catch (const std::exception&) {
        ++failures;
      }
    });
  for (auto& t : starters) t.join();
  CHECK(failures == 0);
  CHECK(pg.sql("SELECT version FROM oceand_schema").int64(0, 0) == kPgSchemaVersion);
  CHECK(pg.sql("SELECT count(*) FROM oceand_schema").int64(0, 0) == 1);
  pg.sql("UPDATE oceand_schema SET version = 99");
  PgConnection conn(pg.url());
  try {
    migrate_pg_schema(conn);
    FAIL("a newer schema was accepted");
  } catch (const PgError& e) {
    CHECK(std::string(e.what()).find("schema version 99, newer than this oceand") !=
          std::string::npos);
  }
}

TEST_CASE(
    "cluster: 1,000 events over 20 groups sent round-robin to three instances run one at a "
    "time per group, in acceptance order") {
  PgServer pg;
  Recorder recorder;
  Cluster cluster(pg);
  auto nodes = cluster.start_all(3);
  std::map<std::string, int> next;
  for (int i = 0; i < 1000; ++i) {
    std::string key = "group-" + std::to_string(i % 20);
    int n = next[key]++;
    REQUIRE_MESSAGE(post(*nodes[i % 3], event(key, n, recorder.url())).status == 200,
                    cluster.logs());
  }
  REQUIRE_MESSAGE(wait_until([&] { return recorder.total() >= 1000 && pending_events(pg) == 0; },
                             std::chrono::seconds(120)),
                  cluster.logs());
  CHECK(recorder.total() == 1000);  // none twice: no instance died
  CHECK(recorder.overlaps() == 0);
  for (const auto& [key, order] : recorder.order()) {
    std::vector<int> expected(50);
    for (int n = 0; n < 50; ++n) expected[n] = n;
    CHECK_MESSAGE(order == expected, key);
  }
  // Every instance took part, and the shared catalog holds each group's last event.
  for (auto& node : nodes)
    CHECK(node->metric("oceand_events_processed_total", {{"outcome", "ok"}}) > 0);
  for (int g = 0; g < 20; ++g) CHECK(entity_n(*nodes[g % 3], "group-" + std::to_string(g)) == 49);
  const std::string listed = nodes[0]->get("/api/entities?blueprint=thing").body;
  CHECK(listed.find("\"total\":20") != std::string::npos);
  for (auto& node : nodes) CHECK(node->get("/api/entities?blueprint=thing").body == listed);
}

TEST_CASE(
    "cluster: an instance killed mid-stream loses nothing answered 200, and the last "
    "accepted update of each resource wins") {
  PgServer pg;
  Recorder recorder;
  Cluster cluster(pg, 2);
  auto nodes = cluster.start_all(3);
  std::map<std::string, int> last_accepted;
  std::set<std::pair<std::string, int>> accepted;
  bool down = false;
  for (int i = 0; i < 600; ++i) {
    if (i == 200) {  // between two posts: no answer of it is in flight
      nodes[1]->process().signal(SIGKILL);
      REQUIRE(nodes[1]->process().wait_exit(std::chrono::seconds(10)) == 128 + SIGKILL);
      down = true;
    }
    if (i == 400) {
      nodes[1] = cluster.start(1);
      down = false;
    }
    std::string key = "res-" + std::to_string(i % 10);
    ServingOceand& node = *nodes[down && i % 3 == 1 ? 0 : i % 3];
    if (post(node, event(key, i, recorder.url())).status == 200) {
      last_accepted[key] = i;
      accepted.insert({key, i});
    }
  }
  REQUIRE(accepted.size() == 600);
  REQUIRE_MESSAGE(wait_until([&] { return pending_events(pg) == 0; }, std::chrono::seconds(120)),
                  cluster.logs());
  // At least once: every accepted event ran (the killed instance's again on another one).
  std::set<std::pair<std::string, int>> ran;
  for (const auto& [key, order] : recorder.order())
    for (int n : order) ran.insert({key, n});
  for (const auto& a : accepted) CHECK_MESSAGE(ran.count(a) == 1, a.first << " " << a.second);
  CHECK(recorder.overlaps() == 0);
  // In order: each resource's runs, repeats aside, go up; the catalog holds the last accepted.
  for (const auto& [key, order] : recorder.order()) {
    int highest = -1;
    for (int n : order) {
      CHECK_MESSAGE(n >= highest, key << " ran " << n << " after " << highest);
      highest = std::max(highest, n);
    }
  }
  for (const auto& [key, n] : last_accepted) CHECK(entity_n(*nodes[0], key) == n);
  CHECK(cluster.logs().find("its events go to the other instances") != std::string::npos);
}

TEST_CASE(
    "cluster: an instance stopped past the hand-over applies nothing older over newer once "
    "it resumes") {
  PgServer pg;
  Recorder recorder;
  Cluster cluster(pg, 2);
  auto a = cluster.start(0);
  // Version 1 runs on a, whose handler is caught mid-call; a is then stopped.
  REQUIRE(post(*a, event("res", 1, recorder.url("/hold"))).status == 200);
  REQUIRE(wait_until([&] { return recorder.holding(); }));
  a->process().signal(SIGSTOP);
  REQUIRE(wait_until([&] { return stopped(a->process().pid()); }));
  recorder.release();  // a gets its answer only once it runs again
  auto b = cluster.start(1);
  REQUIRE(post(*b, event("res", 2, recorder.url())).status == 200);
  // b waits for version 1 (a holds its group), takes it over once a's lease ran out, runs it
  // again, then version 2.
  REQUIRE_MESSAGE(wait_until([&] { return entity_n(*b, "res") == 2 && pending_events(pg) == 0; },
                             std::chrono::seconds(30)),
                  cluster.logs());
  auto order = recorder.order()["res"];
  CHECK(order == std::vector<int>{1, 1, 2});
  a->process().signal(SIGCONT);
  // a's handler returns with version 1's result; a finds the event handed over and applies none.
  REQUIRE_MESSAGE(
      wait_until([&] { return cluster.logs().find("outcome=handed_over") != std::string::npos; },
                 std::chrono::seconds(30)),
      cluster.logs());
  CHECK(entity_n(*b, "res") == 2);
  CHECK(entity_n(*a, "res") == 2);
  CHECK(cluster.logs().find("this instance's lease ran out") != std::string::npos);
}

TEST_CASE(
    "cluster: PostgreSQL stopped for 10 s under load: 503 with Retry-After, not ready, "
    "nothing accepted lost") {
  PgServer pg;
  Recorder recorder;
  Cluster cluster(pg, 5);
  auto nodes = cluster.start_all(2);
  std::mutex mutex;
  std::set<int> accepted;
  std::atomic<int> refused{0}, refused_without_retry_after{0}, other{0};
  std::atomic<bool> sending{true};
  std::thread sender([&] {
    for (int i = 0; sending; ++i) {
      HttpResult r = post(*nodes[i % 2], event("load-" + std::to_string(i % 7), i, recorder.url()));
      if (r.status == 200) {
        std::lock_guard lock(mutex);
        accepted.insert(i);
      } else if (r.status == 503) {
        ++refused;
        bool retry_after = false;
        for (const auto& [name, value] : r.headers)
          retry_after |= name == "Retry-After" || name == "retry-after";
        if (!retry_after) ++refused_without_retry_after;
      } else {
        ++other;
      }
    }
  });
  auto accepted_count = [&] {
    std::lock_guard lock(mutex);
    return accepted.size();
  };
  REQUIRE(wait_until([&] { return accepted_count() >= 100; }, std::chrono::seconds(30)));
  pg.stop();
  const auto stopped_at = std::chrono::steady_clock::now();
  REQUIRE(wait_until([&] { return refused > 0; }, std::chrono::seconds(30)));
  REQUIRE(wait_until([&] {
    return nodes[0]->get("/ready").status == 503 && nodes[1]->get("/ready").status == 503;
  }));
  // Down for 10 s, the scenario's length.
  std::this_thread::sleep_until(stopped_at + std::chrono::seconds(10));
  pg.start();
  REQUIRE_MESSAGE(wait_until(
                      [&] {
                        return nodes[0]->get("/ready").status == 200 &&
                               nodes[1]->get("/ready").status == 200;
                      },
                      std::chrono::seconds(30)),
                  cluster.logs());
  const size_t before = accepted_count();
  REQUIRE(wait_until([&] { return accepted_count() >= before + 100; }, std::chrono::seconds(30)));
  sending = false;
  sender.join();
  REQUIRE_MESSAGE(wait_until([&] { return pending_events(pg) == 0; }, std::chrono::seconds(60)),
                  cluster.logs());
  std::set<int> ran;
  for (const auto& [key, order] : recorder.order()) ran.insert(order.begin(), order.end());
  size_t lost = 0;
  for (int i : accepted) lost += ran.count(i) == 0;
  CHECK_MESSAGE(lost == 0, lost << " of " << accepted.size() << " accepted events never ran");
  CHECK(refused > 0);
  CHECK(refused_without_retry_after == 0);
  CHECK(other == 0);
  CHECK(recorder.overlaps() == 0);
}

TEST_CASE(
    "cluster: a delivery sent to two instances runs once; a dead letter of one is replayed "
    "from another") {
  PgServer pg;
  Recorder recorder;
  Cluster cluster(pg);
  auto a = cluster.start(0);
  auto b = cluster.start(1);
  // The same delivery id to both instances, one after the other.
  // Its id is not UTF-8 (a header's obs-text): stored and compared as it came.
  const std::string delivery = "delivery-\xff\xfe-1";
  REQUIRE(post(*a, event("dup", 1, recorder.url()), delivery).status == 200);
  REQUIRE(wait_until([&] { return pending_events(pg) == 0; }));
  HttpResult again = post(*b, event("dup", 1, recorder.url()), delivery);
  CHECK((again.status == 200 || again.status == 202));
  REQUIRE(wait_until([&] { return pending_events(pg) == 0; }));
  CHECK(recorder.order()["dup"] == std::vector<int>{1});
  // A failing event becomes a dead letter on whichever instance ran it; b lists and replays it.
  REQUIRE(post(*a, R"({"id": "bad", "mode": "fail"})").status == 200);
  rapidjson::Document letters;
  REQUIRE_MESSAGE(wait_until(
                      [&] {
                        letters.Parse(b->get("/admin/dead-letters").body.c_str());
                        return letters.IsObject() && letters.HasMember("dead_letters") &&
                               letters["dead_letters"].Size() == 1;
                      },
                      std::chrono::seconds(30)),
                  cluster.logs());
  const uint64_t id = letters["dead_letters"][0]["id"].GetUint64();
  HttpResult replay = b->post("/admin/dead-letters/" + std::to_string(id) + "/replay", "", {});
  CHECK(replay.status == 200);
  letters.Parse(a->get("/admin/dead-letters").body.c_str());
  CHECK(letters["dead_letters"].Size() == 0);  // taken from the shared store
  // The replayed event fails again and comes back as a dead letter: it ran once more.
  REQUIRE(wait_until(
      [&] {
        letters.Parse(a->get("/admin/dead-letters").body.c_str());
        return letters.IsObject() && letters["dead_letters"].Size() == 1;
      },
      std::chrono::seconds(30)));
}
