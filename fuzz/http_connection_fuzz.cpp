// libFuzzer target: arbitrary bytes as one connection's stream.
// 1. Differential: RequestParser fed the bytes whole and fed them cut at a point the input picks
//    (then a byte at a time) must assemble the same requests (target and body) and reach the same
//    refusal: how the network cuts a stream must never change what it means.
// 2. The same bytes sent over loopback TCP to an EventServer whose handler echoes the body's
//    length: nothing may crash, leak, hang or read past what was sent; each answer must start
//    with a status line.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>

#include "http/event_server.hpp"
#include "http/request_parser.hpp"
#include "http/responses.hpp"

namespace {

struct Outcome {
  std::vector<std::string> requests;  // target, then body
  int refusal = 0;
  bool operator==(const Outcome&) const = default;
};

Outcome parse(const oceand::ConnectionInfo& info, const uint8_t* data, size_t size, size_t cut) {
  oceand::RequestParser::Limits limits;
  limits.max_head_bytes = 4096;
  limits.max_body_bytes = 8192;
  oceand::RequestParser parser(info, limits);
  Outcome out;
  auto drain = [&] {
    for (;;) {
      auto step = parser.advance();
      if (step == oceand::RequestParser::Step::refused) {
        out.refusal = parser.refusal_status();
        return false;
      }
      if (step == oceand::RequestParser::Step::more) return true;
      auto request = parser.take_request();
      if (request->body().size() > limits.max_body_bytes) __builtin_trap();
      out.requests.push_back(request->getURI());
      out.requests.push_back(request->body());
    }
  };
  const char* bytes = reinterpret_cast<const char*>(data);
  parser.append(bytes, cut);
  if (!drain()) return out;
  for (size_t i = cut; i < size; ++i) {
    parser.append(bytes + i, 1);
    if (!drain()) return out;
  }
  return out;
}

class EchoLength : public Poco::Net::HTTPRequestHandler {
 public:
  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override {
    size_t total = 0;
    char buffer[4096];
    while (request.stream()) {
      request.stream().read(buffer, sizeof buffer);
      total += static_cast<size_t>(request.stream().gcount());
    }
    oceand::send_json(response, 200, std::to_string(total));
  }
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return new EchoLength;
  }
};

struct Fixture {
  std::unique_ptr<oceand::EventServer> server;
  Fixture() {
    oceand::ServerLimits limits;
    limits.connection.request.max_body_bytes = 64 * 1024;
    limits.connection.request_timeout = std::chrono::milliseconds(2000);
    limits.connection.idle_timeout = std::chrono::milliseconds(2000);
    limits.connection.linger = std::chrono::milliseconds(200);
    limits.handler_threads = 2;
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0));
    server =
        std::make_unique<oceand::EventServer>("fuzz-http", std::move(socket), new Factory, limits);
    server->start();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams();
  static const oceand::ConnectionInfo info{Poco::Net::SocketAddress("127.0.0.1", 1),
                                           Poco::Net::SocketAddress("127.0.0.1", 2), params};
  const size_t cut = size > 0 ? data[0] % (size + 1) : 0;
  if (!(parse(info, data, size, size) == parse(info, data, size, cut))) __builtin_trap();

  static Fixture* fixture = new Fixture();
  Poco::Net::StreamSocket client(Poco::Net::SocketAddress("127.0.0.1", fixture->server->port()));
  std::string answers;
  try {
    size_t done = 0;
    while (done < size)
      done += static_cast<size_t>(client.sendBytes(data + done, static_cast<int>(size - done)));
    client.shutdownSend();
    char buffer[16384];
    client.setReceiveTimeout(Poco::Timespan(10, 0));
    for (;;) {
      int n = client.receiveBytes(buffer, sizeof buffer);
      if (n <= 0) break;
      answers.append(buffer, static_cast<size_t>(n));
    }
  } catch (const Poco::Exception&) {
    // Reset by the server after a refusal: fine.
  }
  if (!answers.empty() && answers.rfind("HTTP/1.", 0) != 0) __builtin_trap();
  return 0;
}
