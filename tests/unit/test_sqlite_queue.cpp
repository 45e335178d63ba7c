// The durable (sqlite) queue and dead letters: real files in a temporary directory.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <zlib.h>

#include "core/clock.hpp"
#include "queue/compression_dictionary.hpp"
#include "queue/event_codec.hpp"
#include "queue/memory_queue.hpp"
#include "queue/queue_stores.hpp"
#include "queue/sqlite_db.hpp"
#include "queue/sqlite_dead_letters.hpp"
#include "queue/sqlite_queue.hpp"
#include "support/test_host.hpp"

using namespace oceand;
using namespace oceand::test;
using namespace std::chrono_literals;

namespace {

EventPtr make_event(const std::string& body, const std::string& delivery_id = "") {
  auto e = std::make_shared<Event>();
  e->integration = "github";
  e->route = "/webhook";
  e->body = body;
  e->headers = {{"content-type", "application/json"}, {"x-github-event", "pull_request"}};
  e->delivery_id = delivery_id;
  e->received_at_ms = 1700000000000;
  e->accepted = std::chrono::steady_clock::now();
  return e;
}

SqliteQueueOptions options_for(const fs::path& dir) {
  SqliteQueueOptions o;
  o.path = (dir / "queue.db").string();
  return o;
}

std::string numbered(int i) {
  return R"({"n": )" + std::to_string(i) + "}";
}

}  // namespace

TEST_CASE("sqlite queue: pop hands out events in push order with every field intact") {
  TempDir dir;
  SqliteQueue q(options_for(dir.path()));
  CHECK(q.backend() == "sqlite");
  auto form = make_event("payload=%7B%7D", "d-1");
  form->payload = R"({"from": "form"})";
  form->headers.emplace_back("x-repeated", "one");
  form->headers.emplace_back("x-repeated", "two");
  REQUIRE(q.push(form) == PushResult::accepted);
  for (int i = 1; i < 5; ++i) REQUIRE(q.push(make_event(numbered(i))) == PushResult::accepted);
  CHECK(q.depth() == 5);
  CHECK(q.waiting() == 5);

  auto first = q.pop(1s);
  REQUIRE(first);
  CHECK(first->id == form->id);
  CHECK(first->body == form->body);
  CHECK(first->payload == form->payload);
  CHECK(first->headers == form->headers);
  CHECK(first->delivery_id == "d-1");
  CHECK(first->received_at_ms == 1700000000000);
  for (int i = 1; i < 5; ++i) {
    auto e = q.pop(1s);
    REQUIRE(e);
    CHECK(e->body == numbered(i));
  }
  CHECK(q.pop(10ms) == nullptr);
  CHECK(q.waiting() == 0);
  CHECK(q.depth() == 5);
}

TEST_CASE(
    "sqlite queue: unfinished events resume in order after reopening; completed ones do not") {
  TempDir dir;
  uint64_t last_id = 0;
  {
    SqliteQueue q(options_for(dir.path()));
    for (int i = 0; i < 6; ++i) REQUIRE(q.push(make_event(numbered(i))) == PushResult::accepted);
    auto e0 = q.pop(1s);
    auto e1 = q.pop(1s);
    auto e2 = q.pop(1s);
    REQUIRE((e0 && e1 && e2));
    q.complete(e0->id);
    q.complete(e2->id);  // e1 was in progress at "the crash": it runs again
    CHECK(q.depth() == 4);
    auto e = make_event(numbered(6));
    REQUIRE(q.push(e) == PushResult::accepted);
    last_id = e->id;
  }
  SqliteQueue q(options_for(dir.path()));
  CHECK(q.depth() == 5);
  CHECK(q.waiting() == 5);
  std::vector<std::string> bodies;
  for (int i = 0; i < 5; ++i) {
    auto e = q.pop(1s);
    REQUIRE(e);
    bodies.push_back(e->body);
  }
  CHECK(bodies ==
        std::vector<std::string>{numbered(1), numbered(3), numbered(4), numbered(5), numbered(6)});
  CHECK(q.pop(10ms) == nullptr);
  auto fresh = make_event(numbered(7));
  REQUIRE(q.push(fresh) == PushResult::accepted);
  CHECK(fresh->id > last_id);  // ids are never reused, even after the rows are gone
}

TEST_CASE("sqlite queue: a claimed delivery id is a duplicate across a restart, per integration") {
  TempDir dir;
  uint64_t first_id = 0;
  {
    SqliteQueue q(options_for(dir.path()));
    auto first = make_event("{}", "abc");
    auto second = make_event("{}", "abc");
    // Stored copies of one delivery are accepted until one of them is authenticated and claims it.
    CHECK(q.push(first) == PushResult::accepted);
    CHECK(q.push(second) == PushResult::accepted);
    CHECK(q.claim_delivery(*first));
    CHECK_FALSE(q.claim_delivery(*second));
    CHECK(q.claim_delivery(*first));  // the same event again: it runs again after a crash
    CHECK(q.push(make_event("{}", "abc")) == PushResult::duplicate);
    CHECK(q.depth() == 2);
    first_id = first->id;
  }
  SqliteQueue q(options_for(dir.path()));
  CHECK(q.push(make_event("{}", "abc")) == PushResult::duplicate);
  auto rerun = make_event("{}", "abc");
  rerun->id = first_id;
  CHECK(q.claim_delivery(*rerun));
  auto other_integration = make_event("{}", "abc");
  other_integration->integration = "jira";
  CHECK(q.push(other_integration) == PushResult::accepted);
  CHECK(q.claim_delivery(*other_integration));
  CHECK(q.push(make_event("{}", "def")) == PushResult::accepted);
}

TEST_CASE("sqlite queue: a delivery id is accepted again once the dedupe window has passed") {
  TempDir dir;
  auto o = options_for(dir.path());
  o.dedupe_window_seconds = 0.2;
  SqliteQueue q(o);
  auto first = make_event("{}", "abc");
  REQUIRE(q.push(first) == PushResult::accepted);
  REQUIRE(q.claim_delivery(*first));
  CHECK(q.push(make_event("{}", "abc")) == PushResult::duplicate);
  auto started = std::chrono::steady_clock::now();
  CHECK(wait_until([&] { return q.push(make_event("{}", "abc")) == PushResult::accepted; }, 5s));
  CHECK(std::chrono::steady_clock::now() - started >= 100ms);
}

TEST_CASE("sqlite queue: unauthenticated deliveries leave nothing in the deliveries table") {
  TempDir dir;
  auto o = options_for(dir.path());
  {
    SqliteQueue q(o);
    for (int i = 0; i < 200; ++i) {
      auto e = make_event("{}", "forged-" + std::to_string(i));
      REQUIRE(q.push(e) == PushResult::accepted);
      q.complete(e->id);  // rejected at authentication: never claimed
    }
    auto genuine = make_event("{}", "genuine");
    REQUIRE(q.push(genuine) == PushResult::accepted);
    REQUIRE(q.claim_delivery(*genuine));
  }
  SqliteDb db(o.path, "NORMAL");
  Statement rows(db, "SELECT count(*) FROM deliveries");
  REQUIRE(rows.step());
  CHECK(rows.int64(0) == 1);
}

TEST_CASE("sqlite queue: deliveries recorded by an earlier oceand still count after the upgrade") {
  TempDir dir;
  auto o = options_for(dir.path());
  {
    // The table as oceand wrote it before deliveries were claimed by event.
    SqliteDb db(o.path, "NORMAL");
    db.exec(
        "CREATE TABLE deliveries(key TEXT PRIMARY KEY, seen_at_ms INTEGER NOT NULL) "
        "WITHOUT ROWID");
    Statement insert(db, "INSERT INTO deliveries VALUES (?, ?)");
    insert.bind(1, std::string("github\nold")).bind(2, unix_ms()).run();
  }
  SqliteQueue q(o);
  CHECK(q.push(make_event("{}", "old")) == PushResult::duplicate);
  // The event that earlier oceand queued with that id (it refused every later copy) is still
  // waiting: when it runs, it takes the claim over instead of being dropped as a duplicate.
  auto queued_before = make_event("{}", "old");
  queued_before->id = 999;
  CHECK(q.claim_delivery(*queued_before));
  auto another = make_event("{}", "old");
  another->id = 1000;
  CHECK_FALSE(q.claim_delivery(*another));
  auto fresh = make_event("{}", "new");
  REQUIRE(q.push(fresh) == PushResult::accepted);
  CHECK(q.claim_delivery(*fresh));
  CHECK(q.push(make_event("{}", "new")) == PushResult::duplicate);
}

TEST_CASE("sqlite queue: the file gives space back once a backlog drains") {
  TempDir dir;
  SqliteQueue q(options_for(dir.path()));
  // Bodies that do not compress, alone or against each other, so the backlog really takes space:
  // 600 x 32 KB.
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 600; ++i) {
    std::string noise;
    for (int j = 0; j < 32 * 1024; ++j) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      noise.push_back("0123456789abcdef"[x & 15]);
    }
    REQUIRE(q.push(make_event(R"({"n": )" + std::to_string(i) + R"(, "noise": ")" + noise +
                              "\"}")) == PushResult::accepted);
  }
  const fs::path db = dir.path() / "queue.db";
  for (int i = 0; i < 600; ++i) {
    auto e = q.pop(1s);
    REQUIRE(e);
    q.complete(e->id);
  }
  // Once the queue is empty and idle, the committer hands the free pages back.
  REQUIRE(wait_until([&] { return q.stats().pages_released > 0; }, 20s));
  // 19 MB of backlog; what stays is the schema, a reserve of 1,024 free pages (4 MB) and slack.
  REQUIRE(wait_until([&] { return fs::file_size(db) < 6u << 20; }, 20s));
  CHECK(q.depth() == 0);
  // And the queue still works.
  REQUIRE(q.push(make_event(numbered(1))) == PushResult::accepted);
  CHECK(q.pop(1s));
}

TEST_CASE("memory queue: a delivery id counts once an event claims it") {
  MemoryQueue q(10, 3600);
  auto forged = make_event("{}", "D");
  auto genuine = make_event("{}", "D");
  CHECK(q.push(forged) == PushResult::accepted);
  CHECK(q.push(genuine) == PushResult::accepted);
  // The forged copy fails authentication and claims nothing; the genuine one claims the id.
  CHECK(q.claim_delivery(*genuine));
  CHECK(q.claim_delivery(*genuine));
  auto late_copy = make_event("{}", "D");
  CHECK(q.push(late_copy) == PushResult::duplicate);
  CHECK_FALSE(q.claim_delivery(*forged));  // had it authenticated after all: a redelivery
  auto other = make_event("{}", "E");
  CHECK(q.push(other) == PushResult::accepted);
  CHECK(q.claim_delivery(*other));
}

TEST_CASE("memory queue: a backlog beyond 256 events waits compressed and comes back intact") {
  MemoryQueue q(100000, 3600);
  // The pull request of the corpus: what a backlog of webhooks is made of.
  const std::string pr =
      read_file(fs::path(OCEAN_CORPORA_DIR) / "github" / "pull_request__opened.payload.json");
  const int n = 1000;
  std::vector<std::string> sent;
  for (int i = 0; i < n; ++i) {
    sent.push_back(R"({"id":)" + std::to_string(i) + "," + pr.substr(1));
    auto e = make_event(sent.back(), "d-" + std::to_string(i));
    if (i % 100 == 7) e->payload = sent.back();  // a form delivery: both fields compressed
    REQUIRE(q.push(e) == PushResult::accepted);
  }
  // The first 256 wait as received; the other 744 compressed against the first of them to
  // compress, at under a twentieth of the size (LZ4 alone: a sixth).
  CHECK(q.waiting_compressed() == n - MemoryQueue::kPlainEvents);
  const size_t plain_bytes = MemoryQueue::kPlainEvents * (pr.size() + 300);
  CHECK(q.waiting_bytes() - plain_bytes < (n - MemoryQueue::kPlainEvents) * pr.size() / 20);
  // A tiny body is never compressed, even deep in a backlog.
  REQUIRE(q.push(make_event("{}")) == PushResult::accepted);
  CHECK(q.waiting_compressed() == n - MemoryQueue::kPlainEvents);
  for (int i = 0; i < n; ++i) {
    auto e = q.pop(1s);
    REQUIRE(e);
    CHECK(e->body == sent[i]);
    CHECK(e->payload == (i % 100 == 7 ? sent[i] : std::string()));
    CHECK(e->delivery_id == "d-" + std::to_string(i));
    q.complete(e->id);
  }
  auto tiny = q.pop(1s);
  REQUIRE(tiny);
  CHECK(tiny->body == "{}");
  CHECK(q.waiting_bytes() == 0);
  CHECK(q.waiting_compressed() == 0);
  // Drained, new events wait as received again.
  REQUIRE(q.push(make_event(sent[0])) == PushResult::accepted);
  CHECK(q.waiting_compressed() == 0);
  CHECK(q.pop(1s)->body == sent[0]);
}

namespace {

// The GitHub payloads of the corpus, each made distinct by a number in front.
std::vector<std::string> corpus_bodies(int n) {
  std::vector<std::string> payloads;
  for (const auto& entry : fs::directory_iterator(fs::path(OCEAN_CORPORA_DIR) / "github"))
    payloads.push_back(read_file(entry.path()));
  std::sort(payloads.begin(), payloads.end());
  REQUIRE(payloads.size() >= 8);
  std::vector<std::string> bodies;
  for (int i = 0; i < n; ++i) {
    const std::string& p = payloads[static_cast<size_t>(i) % payloads.size()];
    bodies.push_back(R"({"id":)" + std::to_string(i) + "," + p.substr(p.find('{') + 1));
  }
  return bodies;
}

}  // namespace

TEST_CASE("compression dictionary: bodies like it shrink far more than alone, and come back") {
  const fs::path github = fs::path(OCEAN_CORPORA_DIR) / "github";
  const std::string opened = read_file(github / "pull_request__opened.payload.json");
  const CompressionDictionary dictionary(1, {}, opened);
  for (const char* name :
       {"pull_request__closed.payload.json", "issues__opened.payload.json", "push__payload.json"}) {
    CAPTURE(name);
    const std::string body = read_file(github / name);
    const std::string alone = compress_bytes(body);
    const std::string against = dictionary.compress(body);
    // Another pull request ≈ 0.5 KB against ≈ 4.6 KB alone; an issue or a push ≈ a fifth.
    CHECK(against.size() * 3 < alone.size());
    CHECK(dictionary.decompress(against) == body);
    CHECK(decompress_lz4(alone, {}) == body);
    // A block only decodes with the dictionary it was written with.
    std::string wrong;
    try {
      wrong = decompress_lz4(against, {});
    } catch (const StoreError&) {
    }
    CHECK(wrong != body);
  }
  // Damaged blocks are an error, never a read outside the buffers (ASan runs this).
  std::string damaged = dictionary.compress(read_file(github / "issues__deleted.payload.json"));
  damaged.resize(damaged.size() / 2);
  CHECK_THROWS_AS(dictionary.decompress(damaged), StoreError);
  CHECK_THROWS_AS(dictionary.decompress("\x01"), StoreError);
  // At most 64 KiB: the sample last, then as much of the end of the earlier bytes as fits.
  const std::string big(100000, 'x');
  const CompressionDictionary joined(2, big, opened);
  REQUIRE(joined.bytes().size() == CompressionDictionary::kMaxBytes);
  CHECK(joined.bytes().substr(joined.bytes().size() - opened.size()) == opened);
  CHECK(CompressionDictionary(3, opened, big).bytes() == big.substr(big.size() - (64u << 10)));
}

TEST_CASE("memory queue: a mixed backlog is compressed against its own bodies, half of LZ4 alone") {
  MemoryQueue q(100000, 3600);
  const int n = 2000;
  const auto bodies = corpus_bodies(n);
  size_t alone = 0;
  for (int i = 0; i < n; ++i) {
    if (i >= static_cast<int>(MemoryQueue::kPlainEvents)) alone += compress_bytes(bodies[i]).size();
    REQUIRE(q.push(make_event(bodies[i])) == PushResult::accepted);
  }
  REQUIRE(q.waiting_compressed() == n - MemoryQueue::kPlainEvents);
  size_t plain = 0;
  for (int i = 0; i < static_cast<int>(MemoryQueue::kPlainEvents); ++i)
    plain += make_event(bodies[i])->memory_bytes();
  const size_t per_event = make_event("")->memory_bytes();
  const size_t compressed = q.waiting_bytes() - plain - (n - MemoryQueue::kPlainEvents) * per_event;
  MESSAGE((n - MemoryQueue::kPlainEvents)
          << " mixed webhooks wait in " << compressed << " bytes of bodies; LZ4 alone: " << alone);
  CHECK(compressed * 2 < alone);
  for (int i = 0; i < n; ++i) {
    auto e = q.pop(1s);
    REQUIRE(e);
    REQUIRE(e->body == bodies[i]);
    q.complete(e->id);
  }
  CHECK(q.waiting_bytes() == 0);
}

TEST_CASE("memory queue: pushers compress concurrently while the backlog drains, all intact") {
  MemoryQueue q(1000000, 3600);
  const auto bodies = corpus_bodies(400);
  constexpr int kPushers = 4, kEach = 1500;
  std::atomic<int> bad{0};
  std::vector<std::thread> pushers;
  for (int t = 0; t < kPushers; ++t)
    pushers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto e = make_event(bodies[static_cast<size_t>(t * 7 + i) % bodies.size()]);
        e->integration = t % 2 ? "github" : "jira";  // two integrations, two dictionaries
        e->delivery_id = std::to_string(t) + ":" + std::to_string(i);
        if (q.push(e) != PushResult::accepted) ++bad;
      }
    });
  // One consumer meanwhile: the backlog grows and shrinks, dictionaries come and go.
  std::map<int, int> next;  // pusher -> next index expected (order per pusher holds)
  int got = 0;
  while (got < kPushers * kEach) {
    auto e = q.pop(5s);
    REQUIRE(e);
    const auto colon = e->delivery_id.find(':');
    const int t = std::stoi(e->delivery_id.substr(0, colon));
    const int i = std::stoi(e->delivery_id.substr(colon + 1));
    CHECK(i == next[t]++);
    if (e->body != bodies[static_cast<size_t>(t * 7 + i) % bodies.size()]) ++bad;
    q.complete(e->id);
    ++got;
  }
  for (auto& p : pushers) p.join();
  CHECK(bad.load() == 0);
  CHECK(q.waiting() == 0);
}

TEST_CASE("memory queue: the window is 8 MiB of bodies as well as 256 events") {
  MemoryQueue q(1000, 3600);
  // 1 MiB bodies (with their headers): seven fit in 8 MiB, the rest wait compressed.
  std::string big = "{\"x\":\"" + std::string(1u << 20, 'a') + "\"}";
  for (int i = 0; i < 10; ++i) REQUIRE(q.push(make_event(big)) == PushResult::accepted);
  CHECK(q.waiting_compressed() == 3);
  for (int i = 0; i < 10; ++i) CHECK(q.pop(1s)->body == big);
}

TEST_CASE("sqlite queue: full at max_pending until an event completes; closed refuses pushes") {
  TempDir dir;
  auto o = options_for(dir.path());
  o.max_pending = 2;
  SqliteQueue q(o);
  REQUIRE(q.push(make_event("{}")) == PushResult::accepted);
  REQUIRE(q.push(make_event("{}")) == PushResult::accepted);
  CHECK(q.push(make_event("{}")) == PushResult::full);
  auto e = q.pop(1s);
  REQUIRE(e);
  CHECK(q.push(make_event("{}")) == PushResult::full);  // popped is not finished
  q.complete(e->id);
  CHECK(q.push(make_event("{}")) == PushResult::accepted);
  // A refused delivery id was never recorded: the sender's retry is accepted.
  CHECK(q.push(make_event("{}", "late")) == PushResult::full);
  q.close();
  CHECK(!q.is_open());
  CHECK(q.push(make_event("{}", "late")) == PushResult::closed);
  CHECK(q.pop(1s) != nullptr);  // what was accepted still drains after close
  CHECK(q.pop(1s) != nullptr);
  CHECK(q.pop(1s) == nullptr);
}

TEST_CASE("sqlite queue: concurrent pushes share commits (group commit)") {
  TempDir dir;
  SqliteQueue q(options_for(dir.path()));
  const int threads = 8, per_thread = 100;
  std::atomic<int> accepted{0};
  std::vector<std::thread> pushers;
  for (int t = 0; t < threads; ++t) {
    pushers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i)
        if (q.push(make_event(numbered(t * 1000 + i))) == PushResult::accepted) ++accepted;
    });
  }
  for (auto& p : pushers) p.join();
  CHECK(accepted == threads * per_thread);
  auto stats = q.stats();
  CHECK(stats.events_committed == threads * per_thread);
  CHECK(stats.commits < stats.events_committed);
  MESSAGE((threads * per_thread) << " pushes in " << stats.commits << " commits");
  // Per thread, events leave the queue in the order that thread pushed them.
  std::map<int, int> last_per_thread;
  uint64_t last_id = 0;
  for (int i = 0; i < threads * per_thread; ++i) {
    auto e = q.pop(1s);
    REQUIRE(e);
    CHECK(e->id > last_id);
    last_id = e->id;
    int n = std::stoi(e->body.substr(6));
    auto [it, fresh] = last_per_thread.emplace(n / 1000, n % 1000);
    if (!fresh) {
      CHECK(n % 1000 > it->second);
      it->second = n % 1000;
    }
  }
}

TEST_CASE("sqlite queue: memory stays bounded with a backlog of 20,000 large events") {
  TempDir dir;
  std::string payload =
      read_file(fs::path(OCEAN_CORPORA_DIR) / "github" / "pull_request__opened.payload.json");
  REQUIRE(payload.size() > 20000);
  auto o = options_for(dir.path());
  // The stated bound: the read-ahead window, at most 256 events and 8 MiB.
  const size_t bound = o.window_bytes;
  const int total = 20000, threads = 8;
  SqliteQueue q(o);
  std::atomic<size_t> max_resident{0};
  auto observe = [&] {
    size_t now = q.stats().window_bytes;
    size_t seen = max_resident.load();
    while (now > seen && !max_resident.compare_exchange_weak(seen, now)) {
    }
  };
  std::vector<std::thread> pushers;
  std::atomic<int> accepted{0};
  for (int t = 0; t < threads; ++t) {
    pushers.emplace_back([&, t] {
      for (int i = t; i < total; i += threads) {
        auto e = make_event(payload, "delivery-" + std::to_string(i));
        if (q.push(e) == PushResult::accepted) ++accepted;
        observe();
      }
    });
  }
  for (auto& p : pushers) p.join();
  REQUIRE(accepted == total);
  CHECK(q.depth() == total);
  CHECK(max_resident.load() <= bound);
  CHECK(q.stats().window_events <= o.window_events);

  uint64_t last_id = 0;
  for (int i = 0; i < total; ++i) {
    auto e = q.pop(1s);
    REQUIRE(e);
    CHECK(e->id > last_id);
    last_id = e->id;
    if (i % 1000 == 0) CHECK(e->body == payload);
    q.complete(e->id);
    observe();
  }
  CHECK(q.pop(10ms) == nullptr);
  CHECK(max_resident.load() <= bound);
  CHECK(q.stats().page_ins > 0);
  MESSAGE("max resident " << max_resident.load() << " bytes for " << total << " x "
                          << payload.size() << " bytes; " << q.stats().page_ins << " page-ins");
}

TEST_CASE("sqlite queue: a file that is not a database is a clear error naming it") {
  TempDir dir;
  auto path = dir.path() / "queue.db";
  std::string junk;
  for (int i = 0; i < 512; ++i) junk += "this is not a database ";
  write_file(path, junk);
  try {
    SqliteQueue q(options_for(dir.path()));
    FAIL("opened a corrupt file");
  } catch (const StoreError& e) {
    CHECK(std::string(e.what()).find(path.string()) != std::string::npos);
  }
  QueueConfig config;
  config.path = path.string();
  CHECK_THROWS_WITH_AS(open_queue_stores(config), doctest::Contains(path.string().c_str()),
                       ConfigError);
}

TEST_CASE("sqlite queue: a second queue on the same file is refused") {
  TempDir dir;
  SqliteQueue q(options_for(dir.path()));
  CHECK_THROWS_WITH_AS(SqliteQueue(options_for(dir.path())), doctest::Contains("queue.db.lock"),
                       StoreError);
}

TEST_CASE("sqlite queue: a damaged row is logged and skipped, the rest still flows") {
  TempDir dir;
  auto o = options_for(dir.path());
  o.compress_bodies = true;
  std::string big(2000, 'y');
  {
    SqliteQueue q(o);
    for (int i = 0; i < 3; ++i)
      REQUIRE(q.push(make_event(big + std::to_string(i))) == PushResult::accepted);
  }
  {
    SqliteDb db(o.path, "FULL");
    db.exec("UPDATE events SET body = x'00ff00ff0102' WHERE id = 2");
  }
  SqliteQueue q(o);
  CHECK(q.depth() == 3);
  auto first = q.pop(1s);
  REQUIRE(first);
  CHECK(first->body == big + "0");
  auto third = q.pop(1s);
  REQUIRE(third);
  CHECK(third->body == big + "2");
  CHECK(q.depth() == 2);
  CHECK(q.waiting() == 0);
}

TEST_CASE("sqlite queue: compressed bodies round-trip") {
  TempDir dir;
  auto o = options_for(dir.path());
  o.compress_bodies = true;
  std::string big(5000, 'x');
  {
    SqliteQueue q(o);
    auto e = make_event(big);
    e->payload = R"({"p": ")" + big + "\"}";
    REQUIRE(q.push(e) == PushResult::accepted);
    REQUIRE(q.push(make_event("{}")) == PushResult::accepted);
  }
  {
    // Stored as LZ4 (codec 2) and far smaller; the small one plain (0).
    SqliteDb db(o.path, "FULL");
    Statement rows(db, "SELECT deflated, length(body) FROM events ORDER BY id");
    REQUIRE(rows.step());
    CHECK(rows.int64(0) == 2);
    CHECK(rows.int64(1) < 200);
    REQUIRE(rows.step());
    CHECK(rows.int64(0) == 0);
  }
  SqliteQueue q(o);
  auto e = q.pop(1s);
  REQUIRE(e);
  CHECK(e->body == big);
  CHECK(e->payload == R"({"p": ")" + big + "\"}");
  auto small = q.pop(1s);
  REQUIRE(small);
  CHECK(small->body == "{}");
}

TEST_CASE(
    "sqlite queue: bodies are stored against dictionaries of their own kind, read back "
    "after a restart, and the dictionaries go once the queue is empty") {
  TempDir dir;
  auto o = options_for(dir.path());
  const int n = 1000;
  const auto bodies = corpus_bodies(n);
  size_t alone = 0;
  for (const auto& b : bodies) alone += compress_bytes(b).size();
  {
    SqliteQueue q(o);
    for (int i = 0; i < n; ++i) {
      auto e = make_event(bodies[i]);
      if (i % 100 == 7) e->payload = bodies[i];  // a form delivery: both fields against one
      REQUIRE(q.push(e) == PushResult::accepted);
    }
  }
  {
    SqliteDb db(o.path, "FULL");
    Statement stored(db,
                     "SELECT sum(length(body)), sum(deflated = 3), (SELECT count(*) FROM "
                     "dictionaries) FROM events WHERE length(payload) = 0");
    REQUIRE(stored.step());
    MESSAGE(n << " corpus webhooks stored in " << stored.int64(0) << " bytes of bodies (LZ4 alone: "
              << alone << "), " << stored.int64(2) << " dictionaries");
    CHECK(static_cast<size_t>(stored.int64(0)) * 2 < alone);
    CHECK(stored.int64(1) >= n - 20);  // all but the first (and the form deliveries)
    CHECK(stored.int64(2) >= 1);
  }
  SqliteQueue q(o);  // a new process: the dictionaries come from the file
  for (int i = 0; i < n; ++i) {
    auto e = q.pop(1s);
    REQUIRE(e);
    REQUIRE(e->body == bodies[i]);
    CHECK(e->payload == (i % 100 == 7 ? bodies[i] : std::string()));
    q.complete(e->id);
  }
  // Drained: nothing refers to the earlier process's dictionaries, and the idle committer deletes
  // them.
  SqliteDb db(o.path, "FULL");
  auto dictionaries = [&] {
    Statement count(db, "SELECT count(*) FROM dictionaries");
    count.step();
    return count.int64(0);
  };
  REQUIRE(wait_until([&] { return dictionaries() == 0; }, 20s));
  // Rows of this process store theirs; once drained, only the one in use stays (so that a trickle
  // of events does not store it again with each).
  for (int i = 0; i < n; ++i) REQUIRE(q.push(make_event(bodies[i])) == PushResult::accepted);
  CHECK(dictionaries() >= 2);
  for (int i = 0; i < n; ++i) {
    auto e = q.pop(1s);
    REQUIRE(e);
    CHECK(e->body == bodies[i]);
    q.complete(e->id);
  }
  REQUIRE(wait_until([&] { return dictionaries() == 1; }, 20s));
}

TEST_CASE(
    "sqlite queue: a dictionary goes once its rows are done, though the queue never empties") {
  TempDir dir;
  auto o = options_for(dir.path());
  const int n = 1000;
  const auto bodies = corpus_bodies(n);
  SqliteQueue q(o);
  for (int i = 0; i < n; ++i) REQUIRE(q.push(make_event(bodies[i])) == PushResult::accepted);
  // One more, against the dictionary in use, that stays waiting throughout.
  REQUIRE(q.push(make_event(bodies[0])) == PushResult::accepted);
  SqliteDb db(o.path, "FULL");
  auto dictionaries = [&] {
    Statement count(db, "SELECT count(*) FROM dictionaries");
    count.step();
    return count.int64(0);
  };
  REQUIRE(dictionaries() >= 2);
  for (int i = 0; i < n; ++i) {
    auto e = q.pop(1s);
    REQUIRE(e);
    q.complete(e->id);
  }
  CHECK(q.depth() == 1);
  // The earlier dictionaries' rows are all done; the one in use stays.
  REQUIRE(wait_until([&] { return dictionaries() == 1; }, 20s));
  auto last = q.pop(1s);
  REQUIRE(last);
  CHECK(last->body == bodies[0]);
}

TEST_CASE("sqlite queue: a row whose dictionary is missing is logged and dropped, the rest flows") {
  TempDir dir;
  auto o = options_for(dir.path());
  const auto bodies = corpus_bodies(20);
  {
    SqliteQueue q(o);
    for (const auto& b : bodies) REQUIRE(q.push(make_event(b)) == PushResult::accepted);
  }
  int64_t against = 0;
  {
    SqliteDb db(o.path, "FULL");
    Statement count(db, "SELECT count(*) FROM events WHERE deflated = 3");
    count.step();
    against = count.int64(0);
    REQUIRE(against > 0);
    db.exec("DELETE FROM dictionaries");
  }
  SqliteQueue q(o);
  CHECK(q.depth() == bodies.size());
  // Only the rows that need no dictionary come back, in order; the others are counted done.
  int got = 0;
  while (auto e = q.pop(200ms)) {
    CHECK(std::find(bodies.begin(), bodies.end(), e->body) != bodies.end());
    q.complete(e->id);
    ++got;
  }
  CHECK(got == static_cast<int>(bodies.size()) - against);
  CHECK(q.depth() == 0);
}

TEST_CASE("sqlite queue: a file of schema version 1 is upgraded; a newer one is refused") {
  TempDir dir;
  auto o = options_for(dir.path());
  {
    SqliteQueue q(o);
    REQUIRE(q.push(make_event(numbered(1))) == PushResult::accepted);
  }
  { SqliteDb(o.path, "FULL").exec("PRAGMA user_version=1"); }
  {
    SqliteQueue q(o);
    CHECK(q.pop(1s)->body == numbered(1));
  }
  {
    SqliteDb db(o.path, "FULL");
    Statement version(db, "PRAGMA user_version");
    version.step();
    CHECK(version.int64(0) == 2);
    db.exec("PRAGMA user_version=3");
  }
  CHECK_THROWS_WITH_AS(SqliteQueue(options_for(dir.path())),
                       doctest::Contains("has schema version 3, this oceand reads version 2"),
                       StoreError);
}

TEST_CASE("sqlite queue: the WAL is copied back beside the committer and starts over") {
  TempDir dir;
  auto o = options_for(dir.path());
  o.synchronous = "NORMAL";  // the WAL's growth is what is tested, not the fsync
  // ~3 KB that LZ4 cannot shrink much, alone or against each other: 12,000 of them write ~36 MB,
  // about 2.2 times the kWalLimitFrames pages (16,000 x 4 KiB) past which commits checkpoint
  // inline.
  constexpr int kThreads = 4, kEach = 3000;
  std::vector<std::string> bodies;
  uint32_t x = 12345;
  for (int n = 0; n < kThreads * kEach; ++n) {
    std::string noise;
    for (int i = 0; i < 3000; ++i) {
      x = x * 1103515245 + 12345;
      noise.push_back(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[(x >> 16) % 62]);
    }
    bodies.push_back(noise + std::to_string(n));
  }
  SqliteQueue q(o);
  std::vector<std::thread> pushers;
  std::atomic<int> accepted{0};
  for (int t = 0; t < kThreads; ++t)
    pushers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i)
        if (q.push(make_event(bodies[static_cast<size_t>(t * kEach + i)])) == PushResult::accepted)
          ++accepted;
    });
  for (auto& p : pushers) p.join();
  CHECK(accepted == kThreads * kEach);
  // What the code guarantees whatever the machine's pace: checkpoints ran, and the WAL was started
  // over from the top instead of growing by everything written. How large the file is when the
  // pushers stop depends on how far a background pass had got, so its size is not asserted (it
  // failed a run on a busy 2-core machine at 53 MB).
  auto stats = q.stats();
  CHECK(stats.checkpoints >= 1);
  CHECK(stats.wal_restarts >= 1);
  std::set<std::string> seen;
  for (int i = 0; i < kThreads * kEach; ++i) {
    auto e = q.pop(5s);
    REQUIRE(e);
    seen.insert(e->body);
    q.complete(e->id);
  }
  CHECK(seen.size() == static_cast<size_t>(kThreads * kEach));
}

TEST_CASE("sqlite queue: rows stored by an earlier oceand (zlib) still read; unknown codecs skip") {
  TempDir dir;
  auto o = options_for(dir.path());
  { SqliteQueue create(o); }
  // What oceand wrote before LZ4: the size (4 bytes, little-endian), then a zlib stream.
  auto zlib_stored = [](const std::string& text) {
    std::string out;
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((text.size() >> (8 * i)) & 0xff));
    uLongf bound = compressBound(static_cast<uLong>(text.size()));
    std::string packed(bound, '\0');
    REQUIRE(compress2(reinterpret_cast<Bytef*>(packed.data()), &bound,
                      reinterpret_cast<const Bytef*>(text.data()), static_cast<uLong>(text.size()),
                      Z_BEST_SPEED) == Z_OK);
    return out + packed.substr(0, bound);
  };
  std::string body = R"({"old": ")" + std::string(3000, 'z') + "\"}";
  {
    SqliteDb db(o.path, "FULL");
    Statement insert(db,
                     "INSERT INTO events(integration, route, delivery_id, received_at_ms, "
                     "headers, body, payload, deflated) VALUES ('github', '/webhook', ?, 1, "
                     "x'', ?, ?, ?)");
    auto add = [&](const char* delivery, const std::string& stored, const std::string& payload,
                   int64_t codec) {
      insert.bind(1, std::string_view(delivery)).bind_blob(2, stored).bind_blob(3, payload);
      insert.bind(4, codec).run();
    };
    add("d1", zlib_stored(body), zlib_stored(R"({"p": 1})"), 1);
    add("d2", zlib_stored(body), "", 9);
    add("d3", "{}", "", 0);
  }
  SqliteQueue q(o);
  auto old = q.pop(1s);
  REQUIRE(old);
  CHECK(old->delivery_id == "d1");
  CHECK(old->body == body);
  CHECK(old->payload == R"({"p": 1})");
  auto plain = q.pop(1s);  // d2's codec is unknown: logged and skipped like a damaged row
  REQUIRE(plain);
  CHECK(plain->delivery_id == "d3");
  CHECK(plain->body == "{}");
}

TEST_CASE("sqlite dead letters: durable across reopening, newest first, bounded by retention") {
  TempDir dir;
  auto path = (dir.path() / "queue.db").string();
  auto letter = [](int n) {
    DeadLetter d;
    d.event = make_event(numbered(n), "delivery-" + std::to_string(n));
    d.event->id = 100 + n;
    d.reason = "retries_exhausted";
    d.error = "HTTP 503 #" + std::to_string(n);
    d.processor = "pull_request";
    d.attempts = 4;
    d.failed_at_ms = 1700000000500 + n;
    return d;
  };
  uint64_t kept_id = 0;
  {
    SqliteDeadLetters store(path, "FULL", 3);
    for (int n = 1; n <= 5; ++n) CHECK(store.add(letter(n)) != 0);
    CHECK(store.size() == 3);
    auto list = store.list(10);
    REQUIRE(list.size() == 3);
    CHECK(list[0].event->body == numbered(5));
    CHECK(list[2].event->body == numbered(3));
    kept_id = list[1].id;
  }
  SqliteDeadLetters store(path, "FULL", 3);
  CHECK(store.size() == 3);
  auto taken = store.take(kept_id);
  REQUIRE(taken);
  CHECK(taken->event->id == 104);
  CHECK(taken->event->body == numbered(4));
  CHECK(taken->event->headers == make_event("")->headers);
  CHECK(taken->event->delivery_id == "delivery-4");
  CHECK(taken->reason == "retries_exhausted");
  CHECK(taken->error == "HTTP 503 #4");
  CHECK(taken->processor == "pull_request");
  CHECK(taken->attempts == 4);
  CHECK(taken->failed_at_ms == 1700000000504);
  CHECK(!store.take(kept_id));
  CHECK(store.size() == 2);
  CHECK(store.add(letter(6)) > kept_id);
  CHECK(store.list(1).at(0).event->body == numbered(6));
}

namespace {

// An in-process oceand on the sqlite backend whose files (queue, plugins, config) live in `dir`,
// so that a second Host can start on what the first one left behind.
class DurableHost {
 public:
  DurableHost(const fs::path& dir, const std::string& extra_yaml = "") {
    fs::create_directories(dir / "plugins");
    if (!fs::exists(dir / "plugins" / "scripted.so"))
      fs::copy_file(plugin_file("scripted"), dir / "plugins" / "scripted.so");
    write_file(dir / "config" / "scripted" / "port-app-config.yaml", kScriptedMapping);
    write_file(dir / "config" / "oceand.yaml",
               "server: {host: 127.0.0.1, port: 0}\nlog_level: warning\n"
               "queue: {backend: sqlite, path: " +
                   (dir / "var" / "queue.db").string() +
                   "}\nplugins: {dir: " + (dir / "plugins").string() + ", cache_dir: " +
                   (dir / ("cache-" + std::to_string(++starts_))).string() + "}\n" + extra_yaml);
    host_ = std::make_unique<Host>(HostOptions{
        (dir / "config" / "oceand.yaml").string(), {"OCEAN__ADMIN__LISTEN=127.0.0.1:0"}, &sink_});
    host_->start();
  }
  HttpResult post(const std::string& body) {
    return HttpClient::request(
        "POST",
        "http://127.0.0.1:" + std::to_string(host_->port()) + "/integration/scripted/webhook",
        {{"Content-Type", "application/json"}}, body, 10s);
  }
  double processed() { return host_->metrics().total("oceand_events_processed_total"); }
  Host& host() { return *host_; }
  CapturingSink& sink() { return sink_; }

 private:
  // A fresh plugin cache per start: the SDK registers processors again when the entry function of
  // a library still loaded from the same path is called twice.
  static inline int starts_ = 0;
  CapturingSink sink_;
  std::unique_ptr<Host> host_;
};

std::vector<int> ids_seen(const CapturingSink& sink) {
  std::vector<int> ids;
  for (const auto& e : sink.entries()) {
    const std::string& body = e.updated.at(0);
    ids.push_back(std::stoi(body.substr(body.find("\"id\":") + 5)));
  }
  return ids;
}

}  // namespace

TEST_CASE("sqlite host: events posted are stored in queue.path and processed") {
  TempDir dir;
  DurableHost h(dir.path());
  CHECK(h.host().queue().backend() == "sqlite");
  CHECK(fs::exists(dir.path() / "var" / "queue.db"));
  for (int i = 0; i < 20; ++i) CHECK(h.post(R"({"id": )" + std::to_string(i) + "}").status == 200);
  REQUIRE(wait_until([&] { return h.processed() >= 20; }));
  CHECK(h.sink().size() == 20);
  REQUIRE(wait_until([&] { return h.host().queue().depth() == 0; }));
  // A failing event lands in the durable dead letters.
  CHECK(h.post(R"({"id": 99, "mode": "throw"})").status == 200);
  REQUIRE(wait_until([&] { return h.host().dead_letters().size() == 1; }));
  CHECK(h.host().dead_letters().list(1).at(0).event->body == R"({"id": 99, "mode": "throw"})");
}

TEST_CASE("sqlite host: events still queued at shutdown are processed by the next start") {
  TempDir dir;
  const int total = 12;
  std::vector<int> first_run;
  {
    DurableHost h(dir.path(), "max_wait_seconds_before_shutdown: 0\nevent_workers_count: 1\n");
    for (int i = 0; i < total; ++i)
      REQUIRE(
          h.post(R"({"id": )" + std::to_string(i) + R"(, "key": "k", "delay_ms": 100})").status ==
          200);
    REQUIRE(wait_until([&] { return h.processed() >= 1; }));
    h.host().stop();
    first_run = ids_seen(h.sink());
    CHECK(h.host().queue().depth() > 0);
    CHECK(first_run.size() < static_cast<size_t>(total));
  }
  DurableHost h(dir.path(), "event_workers_count: 1\n");
  REQUIRE(wait_until([&] { return h.host().queue().depth() == 0; }, 20s));
  std::vector<int> second_run = ids_seen(h.sink());
  CHECK(!second_run.empty());
  CHECK(std::is_sorted(second_run.begin(), second_run.end()));
  std::set<int> all(first_run.begin(), first_run.end());
  all.insert(second_run.begin(), second_run.end());
  // What the shutdown cut short ran again after the restart: nothing became a dead letter.
  CHECK(h.host().dead_letters().size() == 0);
  CHECK(all.size() == static_cast<size_t>(total));
}

TEST_CASE("sqlite host: a corrupt queue file stops start with an error naming it") {
  TempDir dir;
  write_file(dir.path() / "var" / "queue.db", std::string(8192, 'Z'));
  CHECK_THROWS_WITH_AS(DurableHost(dir.path()),
                       doctest::Contains((dir.path() / "var" / "queue.db").string().c_str()),
                       ConfigError);
}

TEST_CASE("sqlite queue: push_async answers once the group commit holds the event, once each") {
  TempDir dir;
  auto options = options_for(dir.path());
  options.max_pending = 150;
  std::mutex mutex;
  std::condition_variable answered;
  std::map<PushResult, int> results;
  std::vector<uint64_t> accepted_ids;
  int calls = 0;
  {
    SqliteQueue q(options);
    std::vector<EventPtr> events;
    for (int i = 0; i < 200; ++i) {
      events.push_back(make_event(numbered(i)));
      q.push_async(events.back(), [&, e = events.back()](PushResult r) {
        std::lock_guard lock(mutex);
        ++results[r];
        ++calls;
        if (r == PushResult::accepted) accepted_ids.push_back(e->id);
        answered.notify_all();
      });
    }
    std::unique_lock lock(mutex);
    REQUIRE(answered.wait_for(lock, 10s, [&] { return calls == 200; }));
    // max_pending 150: the rest refused at once, never stored.
    CHECK(results[PushResult::accepted] == 150);
    CHECK(results[PushResult::full] == 50);
    CHECK(std::set<uint64_t>(accepted_ids.begin(), accepted_ids.end()).size() == 150);
  }
  // Everything answered `accepted` was committed: a new queue on the file hands all of it out.
  SqliteQueue reopened(options);
  CHECK(reopened.depth() == 150);
  std::set<uint64_t> popped;
  while (auto e = reopened.pop(0ms)) popped.insert(e->id);
  CHECK(popped == std::set<uint64_t>(accepted_ids.begin(), accepted_ids.end()));
  CHECK(calls == 200);  // and no pusher was called twice
}
