// The HTTP server (host/http/event_server.cpp, server_connection.cpp, request_parser.cpp) against
// raw sockets: what a client can send on one connection, and what the server answers and when it
// closes.
#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <iterator>
#include <mutex>
#include <set>
#include <thread>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>

#include "client/socket_reader.hpp"
#include "core/text.hpp"
#include "http/event_server.hpp"
#include "http/request_parser.hpp"
#include "http/responses.hpp"
#include "support/test_host.hpp"

using namespace oceand;
using namespace oceand::test;

namespace {

class RawClient {
 public:
  explicit RawClient(uint16_t port) : socket_(Poco::Net::SocketAddress("127.0.0.1", port)) {
    socket_.setReceiveTimeout(Poco::Timespan(10, 0));
  }
  void send(const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size())
      done += static_cast<size_t>(
          socket_.sendBytes(bytes.data() + done, static_cast<int>(bytes.size() - done)));
  }
  // Everything the server sends until it closes the connection.
  std::string read_to_close() {
    std::string out;
    char buffer[16384];
    for (;;) {
      int n = socket_.receiveBytes(buffer, sizeof buffer);
      if (n <= 0) return out;
      out.append(buffer, static_cast<size_t>(n));
    }
  }
  // Reads until `text` has arrived.
  std::string read_until(const std::string& text) {
    std::string out;
    char c;
    while (out.find(text) == std::string::npos) {
      if (socket_.receiveBytes(&c, 1) <= 0) break;
      out.push_back(c);
    }
    return out;
  }
  Poco::Net::StreamSocket& socket() { return socket_; }

 private:
  Poco::Net::StreamSocket socket_;
};

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::string post(const std::string& body, const std::string& extra = "") {
  return "POST /integration/scripted/webhook HTTP/1.1\r\nHost: t\r\nContent-Type: "
         "application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}

const std::string kHealthAndClose = "GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

}  // namespace

TEST_CASE("pipelined requests on one connection are answered in order") {
  TestHost t({"scripted"});
  RawClient client(t.host().port());
  client.send(post(R"({"id": 1})") + post(R"({"id": 2})") + "\r\n" + kHealthAndClose);
  std::string answers = client.read_to_close();
  CHECK(count(answers, "HTTP/1.1 200 OK\r\n") == 3);
  CHECK(lower(answers).rfind("connection: close") != std::string::npos);
  REQUIRE(t.wait_processed(2));
  auto entries = t.sink().entries();
  REQUIRE(entries.size() == 2);
  std::set<std::string> bodies{entries[0].updated.at(0), entries[1].updated.at(0)};
  CHECK(bodies == std::set<std::string>{R"({"id":1})", R"({"id":2})"});
}

TEST_CASE("a body larger than the connection's buffer arrives whole, and the next request too") {
  TestHost t({"scripted"});
  RawClient client(t.host().port());
  // 200 KB: past the 64 KiB the connection buffers, so most of it is received straight into the
  // event's string; still small enough for the in-place simdjson check.
  const std::string pad(200000, 'p');
  const std::string body = R"({"id": 3, "pad": ")" + pad + R"("})";
  const std::string request = post(body);
  client.send(request.substr(0, 70000));
  client.send(request.substr(70000) + post(R"({"id": 4})") + kHealthAndClose);
  std::string answers = client.read_to_close();
  CHECK(count(answers, "HTTP/1.1 200 OK\r\n") == 3);
  REQUIRE(t.wait_processed(2));
  std::set<std::string> bodies;
  for (const auto& e : t.sink().entries()) bodies.insert(e.updated.at(0));
  CHECK(bodies == std::set<std::string>{R"({"id":3,"pad":")" + pad + R"("})", R"({"id":4})"});
}

TEST_CASE("a chunked body is decoded, and a malformed chunk closes the connection") {
  TestHost t({"scripted"});
  {
    RawClient client(t.host().port());
    client.send(
        "POST /integration/scripted/webhook HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
        "chunked\r\n\r\n4;ext=1\r\n{\"id\r\n6\r\n\": 42}\r\n0\r\nX-Trailer: yes\r\n\r\n" +
        kHealthAndClose);
    std::string answers = client.read_to_close();
    CHECK(count(answers, "HTTP/1.1 200 OK\r\n") == 2);
    REQUIRE(t.wait_processed(1));
    CHECK(t.sink().entries().at(0).updated.at(0) == R"({"id":42})");
  }
  // A whole JSON object in the first chunk, then a malformed chunk line: the body is broken, so
  // it is refused even though what arrived is valid JSON.
  for (std::string chunks :
       {std::string("zz\r\n{}\r\n0\r\n\r\n"), std::string("9\r\n{\"id\": 9}\r\nzz\r\n0\r\n\r\n"),
        std::string("9 junk\r\n{\"id\": 9}\r\n0\r\n\r\n")}) {
    CAPTURE(chunks);
    RawClient client(t.host().port());
    client.send(
        "POST /integration/scripted/webhook HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
        "chunked\r\n\r\n" +
        chunks + kHealthAndClose);
    std::string answers = client.read_to_close();
    CHECK(answers.rfind("HTTP/1.1 400", 0) == 0);
    CHECK(count(answers, "HTTP/1.1 ") == 1);  // closed: the health check behind it is not read
  }
  CHECK(t.host().metrics().value("oceand_events_received_total", {{"integration", "scripted"}}) ==
        1);
}

TEST_CASE("Expect: 100-continue gets 100 Continue before the body is sent") {
  TestHost t({"scripted"});
  RawClient client(t.host().port());
  std::string body = R"({"id": 5})";
  client.send(
      "POST /integration/scripted/webhook HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
      "Connection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n");
  CHECK(client.read_until("\r\n\r\n") == "HTTP/1.1 100 Continue\r\n\r\n");
  client.send(body);
  CHECK(client.read_to_close().rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  REQUIRE(t.wait_processed(1));

  // Refused before the body is read: no 100, and the connection closes instead of waiting for
  // a body the client holds back.
  RawClient refused(t.host().port());
  refused.send(
      "POST /integration/nothing/webhook HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
      "Content-Length: 10\r\n\r\n");
  std::string answer = refused.read_to_close();
  CHECK(answer.rfind("HTTP/1.1 404 Not Found\r\n", 0) == 0);
  CHECK(answer.find("100 Continue") == std::string::npos);
}

TEST_CASE("requests that cannot be framed are refused and the connection closed") {
  TestHost t({"scripted"});
  struct Case {
    std::string request;
    std::string status;
  };
  std::vector<Case> cases = {
      {"GET\r\n\r\n", "400"},
      {"GET / HTTP/2.0\r\nHost: t\r\n\r\n", "505"},
      {"POST /integration/scripted/webhook HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\n",
       "400"},
      {"POST /integration/scripted/webhook HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "501"},
      {"POST /integration/scripted/webhook HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: "
       "3\r\n\r\n{}",
       "400"},
      {"POST /integration/scripted/webhook HTTP/1.1\r\nContent-Length: -2\r\n\r\n{}", "400"},
      {"GET / HTTP/1.1\r\nX-Big: " + std::string(70 * 1024, 'a') + "\r\n\r\n", "431"},
      {std::string(70 * 1024, '\n'), "431"},
      // What Poco's parser reads differently from a proxy in front of us:
      {"POST /integration/scripted/webhook HTTP/1.1\r\nHost: a\r\n\rX: 1\r\nContent-Length: "
       "9\r\n\r\n{\"id\": 1}",
       "400"},
      {"POST /integration/scripted/webhook HTTP/1.1\r\nContent-Length : 9\r\n\r\n{\"id\": 1}",
       "400"},
      {"POST /integration/scripted/webhook HTTP/1.1\r\nContent-Length: =?UTF-8?B?OQ==?=\r\n\r\n"
       "{\"id\": 1}",
       "400"},
      {"GET / HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n", "400"},
      {"GET / HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n", "400"},
      {"POST /integration/scripted/webhook HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
       "9\r\n{\"id\": 1}\r\n0\r\n\r\n",
       "400"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.request.substr(0, 80));
    RawClient client(t.host().port());
    client.send(c.request + kHealthAndClose);
    std::string answer = client.read_to_close();
    CHECK(answer.rfind("HTTP/1.1 " + c.status, 0) == 0);
    CHECK(count(answer, "HTTP/1.1 ") == 1);
    CHECK(answer.find("\"status\":\"error\"") != std::string::npos);
  }
  CHECK(t.get("/health").status == 200);
  CHECK(t.host().metrics().value("oceand_events_received_total", {{"integration", "scripted"}}) ==
        0);
}

// The case above depends on how the kernel cuts 70 KB; this one does not: everything is
// buffered before the reader looks, so one read returns the empty lines and the head together.
TEST_CASE("empty lines before a head count against the head limit however the bytes arrive") {
  Poco::Net::ServerSocket listener(Poco::Net::SocketAddress("127.0.0.1", 0));
  RawClient client(listener.address().port());
  Poco::Net::StreamSocket accepted = listener.acceptConnection();
  client.send(std::string(2000, '\n') + "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  client.socket().shutdownSend();
  SocketReader within(accepted, Poco::Timespan(10, 0));
  bool refused = false;
  try {
    within.read_head(1024);
  } catch (const SocketReader::HeadTooLarge&) {
    refused = true;
  }
  CHECK(refused);

  // The same bytes under a limit they fit in: the head is found after the skipped lines.
  RawClient second(listener.address().port());
  Poco::Net::StreamSocket accepted_second = listener.acceptConnection();
  second.send(std::string(2000, '\n') + "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  second.socket().shutdownSend();
  SocketReader roomy(accepted_second, Poco::Timespan(10, 0));
  CHECK(roomy.read_head(4096) == std::string("GET / HTTP/1.1\r\nHost: t\r\n\r\n").size());
  CHECK(roomy.buffered().substr(0, 4) == "GET ");
}

TEST_CASE("a body cut short by the client is refused and loses nothing else") {
  TestHost t({"scripted"});
  {
    RawClient client(t.host().port());
    client.send(
        "POST /integration/scripted/webhook HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n"
        "{\"id\": 5}");  // valid JSON, but not the whole body announced
    client.socket().shutdownSend();
    std::string answer = client.read_to_close();
    CHECK(answer.rfind("HTTP/1.1 400", 0) == 0);
    CHECK(answer.find("the body ended before it was complete") != std::string::npos);
  }
  CHECK(t.post("/integration/scripted/webhook", R"({"id": 3})").status == 200);
  REQUIRE(t.wait_processed(1));
  REQUIRE(t.sink().entries().size() == 1);
  CHECK(t.sink().entries()[0].updated.at(0) == R"({"id":3})");
}

namespace {

// Answers every request with its body's length; a path containing "block" waits until released.
class Lengths : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return new Handler(*this);
  }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }
  int blocked() {
    std::lock_guard lock(mutex_);
    return blocked_;
  }

 private:
  struct Handler : Poco::Net::HTTPRequestHandler {
    explicit Handler(Lengths& owner) : owner_(owner) {}
    void handleRequest(Poco::Net::HTTPServerRequest& request,
                       Poco::Net::HTTPServerResponse& response) override {
      if (request.getURI().find("block") != std::string::npos) {
        std::unique_lock lock(owner_.mutex_);
        ++owner_.blocked_;
        owner_.changed_.wait(lock, [&] { return owner_.released_; });
      }
      std::string body(std::istreambuf_iterator<char>(request.stream()), {});
      send_json(response, 200, std::to_string(body.size()));
    }
    Lengths& owner_;
  };
  std::mutex mutex_;
  std::condition_variable changed_;
  bool released_ = false;
  int blocked_ = 0;
};

struct TestServer {
  Poco::Net::HTTPRequestHandlerFactory::Ptr handlers;
  std::unique_ptr<EventServer> server;
  // Takes `lengths` over.
  TestServer(Lengths* lengths, ServerLimits limits, EventServer::InLoop in_loop = {})
      : handlers(lengths) {
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0));
    server = std::make_unique<EventServer>("test-http", std::move(socket), handlers, limits,
                                           std::move(in_loop));
    server->start();
  }
  uint16_t port() const { return server->port(); }
};

std::string status_of(const std::string& answer) {
  return answer.size() >= 12 ? answer.substr(9, 3) : answer;
}

}  // namespace

TEST_CASE("a client trickling a request is cut off at the request deadline") {
  // A client sending one byte every 50 ms would otherwise hold its connection as long as it
  // likes (each byte restarts any per-read timeout).
  ServerLimits limits;
  limits.connection.request_timeout = std::chrono::milliseconds(300);
  TestServer t(new Lengths, limits);
  RawClient client(t.port());
  std::atomic<bool> done{false};
  std::thread trickle([&] {
    std::string head = "POST / HTTP/1.1\r\nX-Slow: " + std::string(2000, 'a');
    try {
      for (size_t i = 0; i < head.size() && !done; ++i) {
        client.send(head.substr(i, 1));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the slowness under test
      }
    } catch (const Poco::Exception&) {
      // Reset once the server gave up.
    }
  });
  // Without the deadline the answer would come after 2000 × 50 ms = 100 s (the receive timeout
  // of 10 s would end the read first).
  std::string answer;
  try {
    answer = client.read_to_close();
  } catch (const Poco::Exception&) {
  }
  done = true;
  trickle.join();
  CHECK(answer.rfind("HTTP/1.1 408", 0) == 0);
}

TEST_CASE("idle and trickling connections hold no thread: one handler thread serves the rest") {
  // One handler thread and one I/O loop: a server that gave each connection a thread could not
  // answer anyone here.
  ServerLimits limits;
  limits.handler_threads = 1;
  limits.io_threads = 1;
  auto* lengths = new Lengths;
  TestServer t(lengths, limits);
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 300; ++i) {
    slow.push_back(std::make_unique<RawClient>(t.port()));
    if (i % 3 == 1) slow.back()->send("POST /x HTTP/1.1\r\nHost: t\r\nContent-Le");
    if (i % 3 == 2) slow.back()->send(post("{\"id\": 1}").substr(0, 90));  // part of the body
  }
  for (int round = 0; round < 20; ++round) {
    RawClient probe(t.port());
    probe.send(post("{\"id\": 12345}", "Connection: close\r\n"));
    std::string answer = probe.read_to_close();
    REQUIRE(status_of(answer) == "200");
    CHECK(answer.substr(answer.find("\r\n\r\n") + 4) == "13");
  }
  CHECK(t.server->open_connections() >= 300);
}

TEST_CASE("probes are answered in the loop while every handler thread is busy") {
  ServerLimits limits;
  limits.handler_threads = 2;
  auto* lengths = new Lengths;
  TestServer t(lengths, limits, [](const InboundRequest& r) { return r.getURI() == "/health"; });
  std::vector<std::unique_ptr<RawClient>> blocked;
  for (int i = 0; i < 4; ++i) {
    blocked.push_back(std::make_unique<RawClient>(t.port()));
    blocked.back()->send("GET /block HTTP/1.1\r\nHost: t\r\n\r\n");
  }
  while (lengths->blocked() < 2) std::this_thread::yield();
  RawClient probe(t.port());
  probe.send(kHealthAndClose);
  CHECK(status_of(probe.read_to_close()) == "200");
  lengths->release();
  for (auto& c : blocked) CHECK(status_of(c->read_until("\r\n\r\n")) == "200");
}

TEST_CASE("a connection over the cap gets a 503 with Retry-After, not a reset") {
  ServerLimits limits;
  limits.max_connections = 5;
  TestServer t(new Lengths, limits);
  std::vector<std::unique_ptr<RawClient>> held;
  for (int i = 0; i < 5; ++i) {
    held.push_back(std::make_unique<RawClient>(t.port()));
    held.back()->send("HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n");
    REQUIRE(status_of(held.back()->read_until("\r\n\r\n")) == "200");
  }
  RawClient excess(t.port());
  excess.send(kHealthAndClose);
  std::string answer = excess.read_to_close();
  CHECK(status_of(answer) == "503");
  CHECK(answer.find("Retry-After: 1") != std::string::npos);
  CHECK(answer.find("too many connections") != std::string::npos);
  held.pop_back();  // one leaves: room for the next
  for (;;) {
    RawClient next(t.port());
    next.send(kHealthAndClose);
    std::string again = next.read_to_close();
    if (status_of(again) == "200") break;
    REQUIRE(status_of(again) == "503");  // the server has not seen the close yet
    std::this_thread::yield();
  }
}

TEST_CASE("an idle connection is closed after the idle timeout") {
  ServerLimits limits;
  limits.connection.idle_timeout = std::chrono::milliseconds(300);
  TestServer t(new Lengths, limits);
  RawClient idle(t.port());
  idle.send("HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(status_of(idle.read_until("\r\n\r\n")) == "200");
  // The server closes it (a receive timeout of 10 s would throw instead).
  CHECK(idle.read_to_close().empty());
  CHECK(t.server->open_connections() == 0);
}

TEST_CASE("a request is assembled the same however its bytes are cut") {
  Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams();
  ConnectionInfo info{Poco::Net::SocketAddress("127.0.0.1", 1),
                      Poco::Net::SocketAddress("127.0.0.1", 2), params};
  const std::string chunked =
      "POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n";
  const std::string stream =
      "\r\n" + post("{\"id\": 1}") + chunked + "GET /c HTTP/1.1\r\nHost: t\r\n\r\n";
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    CAPTURE(cut);
    RequestParser parser(info, {});
    std::vector<std::pair<std::string, std::string>> got;
    auto drain = [&] {
      for (;;) {
        auto step = parser.advance();
        REQUIRE(step != RequestParser::Step::refused);
        if (step == RequestParser::Step::more) return;
        auto request = parser.take_request();
        got.emplace_back(request->getURI(), request->body());
      }
    };
    parser.append(stream.data(), cut);
    drain();
    // The rest a byte at a time: the worst cut there is.
    for (size_t i = cut; i < stream.size(); ++i) {
      parser.append(stream.data() + i, 1);
      drain();
    }
    REQUIRE(got.size() == 3);
    CHECK(got[0].second == "{\"id\": 1}");
    CHECK(got[1].first == "/a");
    CHECK(got[1].second == "hello world");
    CHECK(got[2].first == "/c");
    CHECK(got[2].second.empty());
    CHECK_FALSE(parser.started());
  }
}

TEST_CASE("HEAD gets the head only, and HTTP/1.0 closes after the answer") {
  TestHost t({"scripted"});
  RawClient head(t.host().port());
  head.send("HEAD /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  std::string answer = head.read_to_close();
  CHECK(answer.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(answer.find("Content-Length: ") != std::string::npos);
  CHECK(answer.substr(answer.find("\r\n\r\n") + 4).empty());

  RawClient old(t.host().port());
  old.send("GET /health HTTP/1.0\r\n\r\n");
  answer = old.read_to_close();  // returns only because the server closes
  CHECK(answer.rfind("HTTP/1.0 200 OK\r\n", 0) == 0);
  CHECK(lower(answer).find("connection: close") != std::string::npos);
}

TEST_CASE("stopping the server ends idle kept-alive connections without waiting for them") {
  auto t = std::make_unique<TestHost>(std::vector<std::string>{"scripted"});
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 8; ++i) {
    idle.push_back(std::make_unique<RawClient>(t->host().port()));
    idle.back()->send("HEAD /health HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(idle.back()->read_until("\r\n\r\n").rfind("HTTP/1.1 200", 0) == 0);
  }
  // Kept alive for 15 s each: a stop that waited for them would not end within the deadline.
  auto stopped = std::async(std::launch::async, [&] { t.reset(); });
  CHECK(stopped.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  for (auto& client : idle) CHECK(client->read_to_close().empty());
}
