// The host's outbound HTTP client (host/client/http_client.cpp, client_connection.cpp) against a
// scripted server on raw sockets: how answers are framed, when connections are reused, and what
// a broken or slow server gives.
#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>

#include "client/rate_budget.hpp"
#include "client/http_client.hpp"

using namespace oceand;

namespace {

// Accepts connections one after another on its own thread; for each request read (head and a
// Content-Length body) it writes what `answer` returns for the request's index, and closes the
// connection when the answer asks for it.
class ScriptedServer {
 public:
  struct Answer {
    std::string bytes;
    bool close_after = false;
    bool never = false;  // say nothing, keep the connection open until the test ends
  };
  using Script = std::function<Answer(size_t index, const std::string& request)>;

  explicit ScriptedServer(Script script)
      : socket_(Poco::Net::SocketAddress("127.0.0.1", 0)), script_(std::move(script)) {
    thread_ = std::thread([this] { run(); });
  }
  ~ScriptedServer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    stopped_.notify_all();
    try {
      Poco::Net::StreamSocket wake(socket_.address());  // unblocks accept
    } catch (...) {
    }
    thread_.join();
  }
  std::string url(const std::string& path = "/x") const {
    return "http://127.0.0.1:" + std::to_string(socket_.address().port()) + path;
  }
  size_t connections() const { return connections_; }
  std::vector<std::string> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void run() {
    while (!stopping_) {
      Poco::Net::StreamSocket c;
      try {
        c = socket_.acceptConnection();
      } catch (...) {
        return;
      }
      if (stopping_) return;
      ++connections_;
      c.setReceiveTimeout(Poco::Timespan(5, 0));
      std::string buffered;
      try {
        while (!stopping_) {
          std::string request;
          if (!read_request(c, buffered, request)) break;
          size_t index;
          {
            std::lock_guard lock(mutex_);
            index = requests_.size();
            requests_.push_back(request);
          }
          Answer a = script_(index, request);
          if (a.never) {
            std::unique_lock lock(mutex_);
            stopped_.wait(lock, [this] { return stopping_.load(); });
            return;
          }
          size_t done = 0;
          while (done < a.bytes.size())
            done += static_cast<size_t>(
                c.sendBytes(a.bytes.data() + done, static_cast<int>(a.bytes.size() - done)));
          if (a.close_after) break;
        }
      } catch (...) {
      }
      c.close();
    }
  }
  static bool read_request(Poco::Net::StreamSocket& c, std::string& buffered,
                           std::string& request) {
    char piece[4096];
    size_t end;
    while ((end = buffered.find("\r\n\r\n")) == std::string::npos) {
      int n = c.receiveBytes(piece, sizeof piece);
      if (n <= 0) return false;
      buffered.append(piece, static_cast<size_t>(n));
    }
    size_t length = 0;
    size_t at = buffered.find("Content-Length: ");
    if (at != std::string::npos && at < end) length = std::stoul(buffered.substr(at + 16));
    while (buffered.size() < end + 4 + length) {
      int n = c.receiveBytes(piece, sizeof piece);
      if (n <= 0) return false;
      buffered.append(piece, static_cast<size_t>(n));
    }
    request = buffered.substr(0, end + 4 + length);
    buffered.erase(0, end + 4 + length);
    return true;
  }

  Poco::Net::ServerSocket socket_;
  Script script_;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> connections_{0};
  std::mutex mutex_;
  std::condition_variable stopped_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

ScriptedServer::Answer ok(const std::string& body, const std::string& extra = "") {
  return {"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra +
          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body};
}

HttpResult get(const std::string& url,
               std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  return HttpClient::request("GET", url, {{"Accept", "application/json"}}, "", timeout);
}

}  // namespace

TEST_CASE("http client: one kept-alive connection carries request after request") {
  ScriptedServer server(
      [](size_t i, const std::string&) { return ok("{\"n\":" + std::to_string(i) + "}"); });
  for (int i = 0; i < 3; ++i) {
    HttpResult r = get(server.url());
    CHECK(r.status == 200);
    CHECK(r.body == "{\"n\":" + std::to_string(i) + "}");
    CHECK(r.header("content-type") == "application/json");
  }
  auto r = HttpClient::request("POST", server.url("/p?q=1"), {{"Content-Type", "application/json"}},
                               "{\"a\":1}", std::chrono::seconds(5));
  CHECK(r.status == 200);
  CHECK(server.connections() == 1);
  auto requests = server.requests();
  REQUIRE(requests.size() == 4);
  CHECK(requests[0].rfind("GET /x HTTP/1.1\r\n", 0) == 0);
  CHECK(requests[0].find("\r\nHost: 127.0.0.1:") != std::string::npos);
  CHECK(requests[0].find("\r\nAccept: application/json\r\n") != std::string::npos);
  CHECK(requests[3].rfind("POST /p?q=1 HTTP/1.1\r\n", 0) == 0);
  CHECK(requests[3].find("\r\nContent-Length: 7\r\n") != std::string::npos);
  CHECK(requests[3].substr(requests[3].size() - 7) == "{\"a\":1}");
}

TEST_CASE("http client: the path is sent as written: %2F stays encoded, spaces are encoded") {
  ScriptedServer server([](size_t, const std::string&) { return ok("{}"); });
  CHECK(get(server.url("/repos/o/r/contents/a%2Fb.yaml?ref=x%2Fy")).status == 200);
  CHECK(get(server.url("/search?jql=project = X")).status == 200);
  CHECK(get(server.url("?only=query")).status == 200);
  auto requests = server.requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[0].rfind("GET /repos/o/r/contents/a%2Fb.yaml?ref=x%2Fy HTTP/1.1\r\n", 0) == 0);
  CHECK(requests[1].rfind("GET /search?jql=project%20=%20X HTTP/1.1\r\n", 0) == 0);
  CHECK(requests[2].rfind("GET /?only=query HTTP/1.1\r\n", 0) == 0);
}

TEST_CASE("http client: chunked, informational and close-delimited answers") {
  ScriptedServer server([](size_t i, const std::string&) -> ScriptedServer::Answer {
    if (i == 0)
      return {
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
          "4;ext=1\r\n{\"a\"\r\n3\r\n:12\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n"};
    if (i == 1)
      return {
          "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
          "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"};
    return {"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"until\":\"close\"}", true};
  });
  HttpResult chunked = get(server.url());
  CHECK(chunked.status == 200);
  CHECK(chunked.body == "{\"a\":12}");
  HttpResult informational = get(server.url());
  CHECK(informational.status == 201);
  CHECK(informational.body == "{}");
  HttpResult until_close = get(server.url());
  CHECK(until_close.status == 200);
  CHECK(until_close.body == "{\"until\":\"close\"}");
  CHECK(server.connections() == 1);
  // The server closed: the next request opens a new connection.
  HttpResult after = get(server.url());
  CHECK(after.status == 200);
  CHECK(server.connections() == 2);
}

TEST_CASE("http client: a kept-alive connection the server closed is retried once, fresh") {
  ScriptedServer server([](size_t, const std::string&) {
    auto a = ok("{}");
    a.close_after = true;  // closes without saying so
    return a;
  });
  for (int i = 0; i < 3; ++i) CHECK(get(server.url()).status == 200);
  CHECK(server.connections() == 3);
  CHECK(server.requests().size() == 3);
}

TEST_CASE("http client: cut, oversized and silent answers are errors, never short bodies") {
  SUBCASE("a body cut short") {
    ScriptedServer server([](size_t, const std::string&) -> ScriptedServer::Answer {
      return {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"only\":", true};
    });
    HttpResult r = get(server.url());
    CHECK(r.status == 0);
    CHECK(r.body.empty());
    CHECK(r.error.find("before its body was complete") != std::string::npos);
  }
  SUBCASE("a broken chunk") {
    ScriptedServer server([](size_t, const std::string&) -> ScriptedServer::Answer {
      return {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", true};
    });
    HttpResult r = get(server.url());
    CHECK(r.status == 0);
    CHECK(r.error.find("chunked body") != std::string::npos);
  }
  SUBCASE("an answer that is not HTTP/1.x") {
    for (std::string first : {"FOO 200 OK", "HTTP/2 200 OK", "HTTP/1.1 20 OK", "HTTP/1.1 2000 OK",
                              "HTTP/1.1 abc OK", "ICY 200 OK", "HTTP/1.1 099 Low"}) {
      CAPTURE(first);
      ScriptedServer server([first](size_t, const std::string&) -> ScriptedServer::Answer {
        return {first + "\r\nContent-Length: 2\r\n\r\n{}", true};
      });
      HttpResult r = get(server.url());
      CHECK(r.status == 0);
      CHECK(r.error.find("status line") != std::string::npos);
    }
  }
  SUBCASE("a head too large") {
    ScriptedServer server([](size_t, const std::string&) -> ScriptedServer::Answer {
      return {"HTTP/1.1 200 OK\r\nX-Big: " + std::string(70000, 'a') + "\r\n\r\n", true};
    });
    HttpResult r = get(server.url());
    CHECK(r.status == 0);
    CHECK(r.error.find("head is larger") != std::string::npos);
  }
  SUBCASE("no answer within the timeout") {
    ScriptedServer server([](size_t, const std::string&) {
      ScriptedServer::Answer a;
      a.never = true;
      return a;
    });
    auto start = std::chrono::steady_clock::now();
    HttpResult r = get(server.url(), std::chrono::milliseconds(300));
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(r.status == 0);
    CHECK(r.timed_out);
    CHECK(took >= std::chrono::milliseconds(300));
    CHECK(took < std::chrono::seconds(5));
  }
  SUBCASE("a line break in a header is refused before anything is sent") {
    ScriptedServer server([](size_t, const std::string&) { return ok("{}"); });
    HttpResult r = HttpClient::request("GET", server.url(), {{"X-Evil", "a\r\nX-Injected: 1"}}, "",
                                       std::chrono::seconds(5));
    CHECK(r.status == 0);
    CHECK(r.error.find("invalid request header") != std::string::npos);
    CHECK(server.requests().empty());
    // The same for HTTPS, before any connection is tried.
    HttpResult tls = HttpClient::request("GET", "https://127.0.0.1:1/x", {{"X-Evil", "a\nb"}}, "",
                                         std::chrono::seconds(5));
    CHECK(tls.status == 0);
    CHECK(tls.error.find("invalid request header") != std::string::npos);
  }
  SUBCASE("nobody listening") {
    Poco::Net::ServerSocket probe(Poco::Net::SocketAddress("127.0.0.1", 0));
    std::string url = "http://127.0.0.1:" + std::to_string(probe.address().port()) + "/x";
    probe.close();
    HttpResult r = get(url);
    CHECK(r.status == 0);
    CHECK_FALSE(r.error.empty());
  }
}

TEST_CASE("http client: HEAD and 204 answers have no body even with a Content-Length") {
  ScriptedServer server([](size_t i, const std::string&) -> ScriptedServer::Answer {
    if (i == 0) return {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"};
    if (i == 1) return {"HTTP/1.1 204 No Content\r\n\r\n"};
    return ok("{\"third\":true}");
  });
  CHECK(HttpClient::request("HEAD", server.url(), {}, "", std::chrono::seconds(5)).status == 200);
  CHECK(get(server.url()).status == 204);
  HttpResult third = get(server.url());
  CHECK(third.body == "{\"third\":true}");  // nothing of the earlier answers was taken as body
  CHECK(server.connections() == 1);
}

TEST_CASE("http client: the caller's framing headers give way to the client's own") {
  ScriptedServer server([](size_t, const std::string&) { return ok("{}"); });
  auto r = HttpClient::request("POST", server.url(),
                               {{"Content-Length", "999"},
                                {"transfer-encoding", "chunked"},
                                {"Connection", "close"},
                                {"Host", "api.example.com"}},
                               "{\"a\":1}", std::chrono::seconds(5));
  CHECK(r.status == 200);
  auto requests = server.requests();
  REQUIRE(requests.size() == 1);
  const std::string& head = requests[0];
  CHECK(head.find("999") == std::string::npos);
  CHECK(head.find("chunked") == std::string::npos);
  CHECK(head.find("close") == std::string::npos);
  CHECK(head.find("\r\nContent-Length: 7\r\n") != std::string::npos);
  CHECK(head.find("\r\nHost: api.example.com\r\n") != std::string::npos);
  CHECK(head.find("Host: 127.0.0.1") == std::string::npos);
  CHECK(head.substr(head.size() - 7) == "{\"a\":1}");
  // The connection stayed open for the next request.
  CHECK(get(server.url()).status == 200);
  CHECK(server.connections() == 1);
}

TEST_CASE("http client: statuses past Poco's list are read as sent; HTTP/1.0 closes") {
  ScriptedServer server([](size_t i, const std::string&) -> ScriptedServer::Answer {
    if (i == 0)  // Cloudflare's "web server returned an unknown error"
      return {"HTTP/1.1 520 \r\nContent-Length: 2\r\n\r\n{}"};
    if (i == 1) return {"HTTP/1.1 299 Whatever\r\nContent-Length: 2\r\n\r\n[]"};
    return {"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}"};
  });
  HttpResult cloudflare = get(server.url());
  CHECK(cloudflare.status == 520);
  CHECK(cloudflare.retryable());
  CHECK(cloudflare.body == "{}");
  HttpResult odd = get(server.url());
  CHECK(odd.status == 299);
  CHECK(odd.body == "[]");
  CHECK(get(server.url()).status == 200);
  CHECK(server.connections() == 1);
  CHECK(get(server.url()).status == 200);  // on a new connection: the HTTP/1.0 answer closed it
  CHECK(server.connections() == 2);
}

TEST_CASE("rate budgets: resets as GitHub and Jira send them; calls past the budget are held") {
  using Clock = RateBudgets::Clock;
  CHECK(RateBudgets::parse_reset("1700000000") == Clock::from_time_t(1700000000));
  CHECK(RateBudgets::parse_reset("2023-11-14T22:13:20Z") == Clock::from_time_t(1700000000));
  CHECK(RateBudgets::parse_reset("2023-11-14T22:13Z") == Clock::from_time_t(1699999980));
  CHECK(RateBudgets::parse_reset("2023-11-14T22:13:20.500Z") == Clock::from_time_t(1700000000));
  for (const char* bad : {"", "soon", "2023-13-14T22:13:20Z", "2023-11-14 22:13:20", "-5"})
    CHECK_FALSE(RateBudgets::parse_reset(bad).has_value());

  RateBudgets budgets(std::chrono::milliseconds(0));
  auto answer = [](const std::string& remaining, long long reset_in) {
    HttpResult r;
    r.status = 200;
    r.headers = {{"x-ratelimit-remaining", remaining},
                 {"x-ratelimit-reset", std::to_string(std::time(nullptr) + reset_in)}};
    return r;
  };
  auto probe = budgets.admit("k");
  CHECK(probe.sent);
  CHECK(probe.probe);
  budgets.settle("k", probe, answer("2", 60));
  CHECK(budgets.remaining("k") == 2);
  auto a = budgets.admit("k"), b = budgets.admit("k"), c = budgets.admit("k");
  CHECK(a.sent);
  CHECK(b.sent);
  CHECK_FALSE(c.sent);  // the window's two calls are reserved
  CHECK(c.wait_seconds >= 59);
  budgets.settle("k", a, answer("1", 60));
  CHECK(budgets.remaining("k") == 0);  // b is still in flight
  // A secondary limit holds every call for its Retry-After.
  HttpResult limited;
  limited.status = 429;
  limited.headers = {{"retry-after", "30"}};
  auto d = budgets.admit("other");
  budgets.settle("other", d, limited);
  auto e = budgets.admit("other");
  CHECK_FALSE(e.sent);
  CHECK(e.wait_seconds >= 29);
  // An API that announces nothing is not tracked: calls pass.
  HttpResult plain;
  plain.status = 200;
  auto f = budgets.admit("plain");
  budgets.settle("plain", f, plain);
  for (int i = 0; i < 5; ++i) CHECK(budgets.admit("plain").sent);
}
