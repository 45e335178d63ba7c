// DESIGN step 1: every status code the ingress answers, against a real listener.
#include <doctest/doctest.h>

#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>

#include "http/admin_access.hpp"
#include "support/test_host.hpp"

using namespace oceand;
using namespace oceand::test;

TEST_CASE("ingress answers 200, 400, 404, 405, 413, 415") {
  TestHost t({"scripted"}, "server: {host: 127.0.0.1, port: 0, max_body_bytes: 1024}\n");
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1})").status == 200);
  CHECK(t.post("/integration/webhook", R"({"id": 2})").status == 200);  // Ocean's alias

  auto bad = t.post("/integration/scripted/webhook", R"({"id": )");
  CHECK(bad.status == 400);
  CHECK(bad.body.find("\"status\":\"error\"") != std::string::npos);
  CHECK(t.post("/integration/scripted/webhook", "[1, 2]").status == 400);
  CHECK(t.post("/integration/scripted/webhook", "{} trailing").status == 400);

  CHECK(t.post("/integration/scripted/nope", "{}").status == 404);
  CHECK(t.post("/integration/unknown/webhook", "{}").status == 404);
  CHECK(t.post("/elsewhere", "{}").status == 404);

  auto get = t.get("/integration/scripted/webhook");
  CHECK(get.status == 405);
  CHECK(get.header("allow") == "POST");

  std::string big = R"({"pad": ")" + std::string(2000, 'x') + R"("})";
  CHECK(t.post("/integration/scripted/webhook", big).status == 413);

  CHECK(t.post("/integration/scripted/webhook", "<xml/>", {{"Content-Type", "application/xml"}})
            .status == 415);

  REQUIRE(t.wait_processed(2));
  CHECK(t.host().metrics().value("oceand_events_received_total", {{"integration", "scripted"}}) ==
        2);
}

TEST_CASE("GitHub's form encoding and curl's default content type are accepted") {
  TestHost t({"scripted"});
  auto form = t.post("/integration/scripted/webhook", "payload=%7B%22id%22%3A+7%7D",
                     {{"Content-Type", "application/x-www-form-urlencoded"}});
  CHECK(form.status == 200);
  auto curl_style = t.post("/integration/scripted/webhook", R"({"id": 8})",
                           {{"Content-Type", "application/x-www-form-urlencoded"}});
  CHECK(curl_style.status == 200);
  CHECK(t.post("/integration/scripted/webhook", "payload=%5B%5D",
               {{"Content-Type", "application/x-www-form-urlencoded"}})
            .status == 400);
  REQUIRE(t.wait_processed(2));
  auto entries = t.sink().entries();
  REQUIRE(entries.size() == 2);
  bool decoded = false;
  for (const auto& e : entries) decoded |= e.updated.at(0) == R"({"id":7})";
  CHECK(decoded);
}

TEST_CASE("queue full answers 503 with Retry-After, and nothing accepted is lost") {
  TestHost t({"scripted"},
             "queue: {backend: memory, max_pending: 1}\nmax_wait_seconds_before_shutdown: 0\n");
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1, "mode": "hang"})").status == 200);
  auto full = t.post("/integration/scripted/webhook", R"({"id": 2})");
  CHECK(full.status == 503);
  CHECK(full.header("retry-after") == "1");
  CHECK(t.host().metrics().value("oceand_ingress_rejected_total",
                                 {{"integration", "scripted"}, {"reason", "queue_full"}}) == 1);
  CHECK(t.host().queue().depth() == 1);
}

TEST_CASE("a repeated delivery id is answered 200 and processed once") {
  TestHost t({"scripted"});
  HeaderList headers{{"Content-Type", "application/json"},
                     {"X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"}};
  // Back to back: the second copy may be stored before the first is authenticated; it is then
  // found a duplicate when it is, and not processed.
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1})", headers).status == 200);
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1})", headers).status == 200);
  HeaderList other{{"Content-Type", "application/json"}, {"X-GitHub-Delivery", "another"}};
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1})", other).status == 200);
  auto duplicates = [&] {
    return t.host().metrics().value("oceand_events_duplicate_total", {{"integration", "scripted"}});
  };
  REQUIRE(wait_until([&] {
    return t.processed("scripted", "ok") == 2 && duplicates() == 1 && t.host().queue().depth() == 0;
  }));
  CHECK(t.processed("scripted", "ok") == 2);
  // Once the first copy was authenticated, a third is answered as a duplicate at the door.
  double received =
      t.host().metrics().value("oceand_events_received_total", {{"integration", "scripted"}});
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1})", headers).status == 200);
  CHECK(duplicates() == 2);
  CHECK(t.host().metrics().value("oceand_events_received_total", {{"integration", "scripted"}}) ==
        received);
}

TEST_CASE("a forged copy of a delivery never suppresses the genuine one, in either order") {
  TestHost t({"scripted"});
  HeaderList d1{{"Content-Type", "application/json"}, {"X-GitHub-Delivery", "D1"}};
  HeaderList d2{{"Content-Type", "application/json"}, {"X-GitHub-Delivery", "D2"}};
  // Forged first, genuine right behind it (both stored before either is authenticated).
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1, "mode": "reject_auth"})", d1).status ==
        200);
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1})", d1).status == 200);
  // Genuine first, forged right behind it.
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 2})", d2).status == 200);
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 2, "mode": "reject_auth"})", d2).status ==
        200);
  REQUIRE(wait_until(
      [&] { return t.processed("scripted", "ok") == 2 && t.host().queue().depth() == 0; }));
  // Both genuine deliveries were processed; the forged copies were rejected or, once the genuine
  // one had claimed the id, answered as duplicates at the door.
  CHECK(t.processed("scripted", "ok") == 2);
  CHECK(t.processed("scripted", "duplicate") == 0);
}

TEST_CASE("503 while shutting down") {
  TestHost t({"scripted"});
  t.host().queue().close();
  auto r = t.post("/integration/scripted/webhook", R"({"id": 1})");
  CHECK(r.status == 503);
  CHECK(r.header("retry-after") == "5");
}

TEST_CASE("health, ready, metrics") {
  TestHost t({"scripted"});
  CHECK(t.get("/health").status == 200);
  CHECK(t.get("/ready").status == 200);
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1})").status == 200);
  REQUIRE(t.wait_processed(1));
  auto metrics = t.get("/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find("oceand_events_received_total{integration=\"scripted\"} 1") !=
        std::string::npos);
  CHECK(metrics.body.find("# TYPE oceand_event_processing_seconds histogram") != std::string::npos);
}

TEST_CASE("admin endpoints: the main listener needs the token, the loopback admin listener not") {
  auto get = [](const std::string& url, const HeaderList& headers = {}) {
    return HttpClient::request("GET", url, headers, "", std::chrono::seconds(5));
  };
  {
    // No token: nothing opens them on the main listener, loopback or not (a same-host reverse
    // proxy is loopback too).
    TestHost t({"scripted"});
    for (const char* path : {"/admin/plugins", "/admin/dead-letters", "/api/entities"}) {
      CAPTURE(path);
      auto refused = get(t.main_url(path));
      CHECK(refused.status == 403);
      CHECK(refused.body.find("admin.listen") != std::string::npos);
      // Let in (this host captures results, so it has no embedded catalog to show: 404).
      CHECK(get(t.admin_url(path)).status == (std::string(path) == "/api/entities" ? 404 : 200));
    }
    CHECK(HttpClient::request("POST", t.main_url("/admin/reload"), {}, "", std::chrono::seconds(5))
              .status == 403);
    for (const char* path : {"/health", "/ready", "/metrics"}) {
      CHECK(get(t.main_url(path)).status == 200);
      CHECK(get(t.admin_url(path)).status == 200);
    }
    // Webhooks come only through the main door.
    CHECK(HttpClient::request("POST", t.admin_url("/integration/scripted/webhook"),
                              {{"Content-Type", "application/json"}}, R"({"id": 1})",
                              std::chrono::seconds(5))
              .status == 404);
  }
  TestHost t({"scripted"}, "admin: {token: s3cret}\n");
  auto missing = get(t.main_url("/admin/plugins"));
  CHECK(missing.status == 401);
  CHECK(missing.header("www-authenticate") == "Bearer realm=\"oceand\"");
  CHECK(get(t.main_url("/admin/plugins"), {{"Authorization", "Bearer wrong"}}).status == 401);
  CHECK(get(t.main_url("/admin/plugins"), {{"Authorization", "Basic s3cret"}}).status == 401);
  for (const char* scheme : {"Bearer", "bearer", "BEARER"}) {
    auto ok =
        get(t.main_url("/admin/plugins"), {{"Authorization", std::string(scheme) + " s3cret"}});
    CHECK(ok.status == 200);
    CHECK(ok.body.find("\"name\":\"scripted\"") != std::string::npos);
  }
  CHECK(get(t.admin_url("/admin/plugins")).status == 200);
}

TEST_CASE("admin access: loopback includes IPv4 clients of a dual-stack listener") {
  CHECK(is_loopback(Poco::Net::IPAddress("127.0.0.1")));
  CHECK(is_loopback(Poco::Net::IPAddress("127.8.9.10")));
  CHECK(is_loopback(Poco::Net::IPAddress("::1")));
  CHECK(is_loopback(Poco::Net::IPAddress("::ffff:127.0.0.1")));
  CHECK_FALSE(is_loopback(Poco::Net::IPAddress("::ffff:10.0.0.1")));
  CHECK_FALSE(is_loopback(Poco::Net::IPAddress("10.0.0.1")));
  CHECK_FALSE(is_loopback(Poco::Net::IPAddress("::")));
  CHECK(bearer_matches("Bearer t0k", "t0k"));
  CHECK(bearer_matches("bearer   t0k ", "t0k"));
  CHECK_FALSE(bearer_matches("Bearer t0k", ""));
  CHECK_FALSE(bearer_matches("Bearert0k", "t0k"));
  CHECK_FALSE(bearer_matches("Bearer t0", "t0k"));
  CHECK_FALSE(bearer_matches("Token t0k", "t0k"));
}

TEST_CASE("a refused request's unread body does not poison the kept-alive connection") {
  TestHost t({"scripted"});
  // HttpClient reuses one kept-alive connection per thread and origin: each next request travels
  // on the connection the refused one left behind.
  std::string body(20000, ' ');
  body += R"({"id": 1})";
  CHECK(t.post("/integration/nothing-here/webhook", body).status == 404);
  CHECK(t.get("/health").status == 200);
  CHECK(t.post("/integration/scripted/webhook", body, {{"Content-Type", "text/xml"}}).status ==
        415);
  CHECK(t.get("/health").status == 200);
  // Larger, still within server.max_body_bytes: read and dropped too.
  std::string big(200000, ' ');
  big += "{}";
  CHECK(t.post("/integration/nothing-here/webhook", big).status == 404);
  CHECK(t.get("/health").status == 200);
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 2})").status == 200);
}

TEST_CASE("a delivery that failed authentication does not block its genuine redelivery") {
  TestHost t({"scripted"});
  HeaderList headers{{"Content-Type", "application/json"}, {"X-GitHub-Delivery", "D1"}};
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1, "mode": "reject_auth"})", headers)
            .status == 200);
  REQUIRE(t.wait_processed(1));
  CHECK(t.processed("scripted", "rejected") == 1);
  // GitHub's "Redeliver" reuses the delivery id.
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1})", headers).status == 200);
  REQUIRE(t.wait_processed(2));
  CHECK(t.processed("scripted", "ok") == 1);
  // A delivery that was processed still counts as delivered.
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 1})", headers).status == 200);
  CHECK(t.host().metrics().value("oceand_events_duplicate_total", {{"integration", "scripted"}}) ==
        1);
}

TEST_CASE("server.threads is honoured: 40 stalled uploads do not starve a health check") {
  // Each sender stalled mid-body holds a server thread until the 30 s read timeout. A server
  // capped below 41 threads (Poco's default pool holds 16) would leave /health in the queue.
  TestHost t({"scripted"}, "server: {host: 127.0.0.1, port: 0, threads: 64}\n");
  std::vector<Poco::Net::StreamSocket> stalled;
  for (int i = 0; i < 40; ++i) {
    Poco::Net::StreamSocket socket(Poco::Net::SocketAddress("127.0.0.1", t.host().port()));
    std::string head =
        "POST /integration/scripted/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: "
        "application/json\r\nContent-Length: 100\r\n\r\n{\"id\":";
    socket.sendBytes(head.data(), static_cast<int>(head.size()));
    stalled.push_back(std::move(socket));
  }
  // The server takes connections in order: the stalled ones are ahead of the health check, and
  // the check gets an answer only if a thread is left for it (HttpClient gives up after 10 s).
  CHECK(t.get("/health").status == 200);
  for (auto& socket : stalled) socket.close();
}
