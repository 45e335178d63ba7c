#pragma once

// A small HTTP server on loopback for tests that stand in for third parties (Port, GitHub, Jira).
// Each fake answers with a function of the request; every request is recorded for assertions.

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/ThreadPool.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace oceand::test {

struct FakeRequest {
  std::string method;
  std::string path;                            // without the query
  std::string query;                           // without '?'
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  // The value of `name` in the query string, undecoded; empty when absent.
  std::string query_param(const std::string& name) const {
    size_t pos = 0;
    while (pos <= query.size()) {
      size_t end = query.find('&', pos);
      if (end == std::string::npos) end = query.size();
      std::string pair = query.substr(pos, end - pos);
      size_t eq = pair.find('=');
      if (pair.substr(0, eq) == name) return eq == std::string::npos ? "" : pair.substr(eq + 1);
      pos = end + 1;
    }
    return {};
  }
};

struct FakeResponse {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type = "application/json";
  std::chrono::milliseconds delay{0};  // answer late, to test timeouts and slow APIs

  static FakeResponse json(int status, std::string body) {
    FakeResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
};

class FakeServer {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;

  explicit FakeServer(Handler handler, int threads = 8) : handler_(std::move(handler)) {
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0), 256);
    port_ = socket.address().port();
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(threads);
    params->setMaxQueued(1024);
    params->setKeepAlive(true);
    // A pool of its own, joined when the fake goes: with Poco's default pool a connection thread
    // could still be answering while the process exits and Poco's statics are destroyed (ASan saw
    // it once every case of the suite ran).
    pool_ = std::make_unique<Poco::ThreadPool>(2, threads + 2);
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(*this), *pool_, socket, params);
    server_->start();
  }
  virtual ~FakeServer() {
    server_->stopAll(true);
    server_.reset();
    pool_->joinAll();
  }
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::vector<FakeRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  size_t count(const std::string& method, const std::string& path_prefix) const {
    std::lock_guard lock(mutex_);
    size_t n = 0;
    for (const auto& r : requests_)
      if (r.method == method && r.path.rfind(path_prefix, 0) == 0) ++n;
    return n;
  }
  void clear_requests() {
    std::lock_guard lock(mutex_);
    requests_.clear();
  }

 private:
  class Handle : public Poco::Net::HTTPRequestHandler {
   public:
    explicit Handle(FakeServer& server) : server_(server) {}
    void handleRequest(Poco::Net::HTTPServerRequest& in,
                       Poco::Net::HTTPServerResponse& out) override {
      FakeRequest request;
      request.method = in.getMethod();
      std::string uri = in.getURI();
      size_t q = uri.find('?');
      request.path = uri.substr(0, q);
      if (q != std::string::npos) request.query = uri.substr(q + 1);
      for (const auto& [name, value] : in) {
        std::string lower = name;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        request.headers[lower] = value;
      }
      Poco::StreamCopier::copyToString(in.stream(), request.body);
      {
        std::lock_guard lock(server_.mutex_);
        server_.requests_.push_back(request);
      }
      FakeResponse response = server_.handler_(request);
      if (response.delay.count() > 0)
        std::this_thread::sleep_for(response.delay);  // the fake is slow on purpose
      out.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(response.status));
      out.setContentType(response.content_type);
      for (const auto& [name, value] : response.headers) out.set(name, value);
      out.setContentLength(static_cast<std::streamsize>(response.body.size()));
      out.send() << response.body;
    }

   private:
    FakeServer& server_;
  };

  class Factory : public Poco::Net::HTTPRequestHandlerFactory {
   public:
    explicit Factory(FakeServer& server) : server_(server) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override {
      return new Handle(server_);
    }

   private:
    FakeServer& server_;
  };

  Handler handler_;
  uint16_t port_ = 0;
  std::unique_ptr<Poco::ThreadPool> pool_;  // outlives server_
  std::unique_ptr<Poco::Net::HTTPServer> server_;
  mutable std::mutex mutex_;
  std::vector<FakeRequest> requests_;
};

}  // namespace oceand::test
