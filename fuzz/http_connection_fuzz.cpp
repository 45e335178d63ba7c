// libFuzzer target: arbitrary bytes sent on one connection to HttpConnection, over loopback TCP,
// with a handler that reads the body through the request's stream on one path, appends it to a
// string as the ingress does on another (announced length only), and leaves it unread elsewhere.
// Nothing may crash, leak, hang or read past what was sent; each answer must be a well-formed
// status line.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>

#include "http/http_connection.hpp"
#include "http/inbound_request.hpp"
#include "http/responses.hpp"

namespace {

enum class BodyUse { unread, stream, append };

class EchoLength : public Poco::Net::HTTPRequestHandler {
 public:
  explicit EchoLength(BodyUse use) : use_(use) {}
  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override {
    size_t total = 0;
    auto* inbound = dynamic_cast<oceand::InboundRequest*>(&request);
    oceand::RequestBody* body = inbound ? inbound->body() : nullptr;
    const auto length = request.getContentLength64();
    if (use_ == BodyUse::append && body && length >= 0 && length <= 64 * 1024) {
      std::string text;
      text.reserve(static_cast<size_t>(length) + 64);
      while (text.size() < static_cast<size_t>(length))
        if (body->append_to(text, static_cast<size_t>(length) - text.size()) == 0) break;
      if (text.size() > static_cast<size_t>(length)) __builtin_trap();
      total = text.size();
    } else if (use_ != BodyUse::unread) {
      char buffer[4096];
      while (request.stream()) {
        request.stream().read(buffer, sizeof buffer);
        total += static_cast<size_t>(request.stream().gcount());
      }
    }
    oceand::send_json(response, 200, std::to_string(total));
  }

 private:
  BodyUse use_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest& request) override {
    const std::string& uri = request.getURI();
    if (uri.find("append") != std::string::npos) return new EchoLength(BodyUse::append);
    if (uri.find("read") != std::string::npos) return new EchoLength(BodyUse::stream);
    return new EchoLength(BodyUse::unread);
  }
};

struct Fixture {
  Poco::Net::ServerSocket listener{Poco::Net::SocketAddress("127.0.0.1", 0)};
  Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams();
  std::shared_ptr<oceand::ConnectionRegistry> registry =
      std::make_shared<oceand::ConnectionRegistry>();
  Factory factory;
  Fixture() {
    params->setTimeout(Poco::Timespan(2, 0));
    params->setKeepAliveTimeout(Poco::Timespan(2, 0));
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* fixture = new Fixture();
  Poco::Net::StreamSocket client(fixture->listener.address());
  Poco::Net::StreamSocket served = fixture->listener.acceptConnection();
  std::string answers;
  std::thread sender([&] {
    try {
      size_t done = 0;
      while (done < size)
        done += static_cast<size_t>(client.sendBytes(data + done, static_cast<int>(size - done)));
      client.shutdownSend();
      char buffer[16384];
      for (;;) {
        int n = client.receiveBytes(buffer, sizeof buffer);
        if (n <= 0) break;
        answers.append(buffer, static_cast<size_t>(n));
      }
    } catch (const Poco::Exception&) {
      // Reset by the server after a refusal: fine.
    }
  });
  oceand::ConnectionLimits limits;
  limits.max_body_bytes = 64 * 1024;
  oceand::HttpConnection connection(served, fixture->factory, fixture->params, fixture->registry,
                                    limits);
  connection.run();
  served.close();
  sender.join();
  if (!answers.empty() && answers.rfind("HTTP/1.", 0) != 0) __builtin_trap();
  return 0;
}
