// libFuzzer target: arbitrary bytes as a server's answer to the host's HTTP client
// (client/client_connection.cpp), over loopback TCP. The server reads the request's head, sends the
// input and closes. Nothing may crash, leak or hang past the request's deadline; a result with a
// status must have come from bytes that start with a status line, and a result without one must
// say why.
#include <cstdint>
#include <string>
#include <thread>

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>

#include "client/http_client.hpp"

namespace {

Poco::Net::ServerSocket& listener() {
  static auto* socket = new Poco::Net::ServerSocket(Poco::Net::SocketAddress("127.0.0.1", 0));
  return *socket;
}

void answer(Poco::Net::StreamSocket& served, const uint8_t* data, size_t size) {
  served.setReceiveTimeout(Poco::Timespan(2, 0));
  std::string head;
  char c;
  while (head.find("\r\n\r\n") == std::string::npos && served.receiveBytes(&c, 1) == 1)
    head.push_back(c);
  size_t done = 0;
  while (done < size) {
    int n = served.sendBytes(data + done, static_cast<int>(size - done));
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  served.shutdownSend();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string url =
      "http://127.0.0.1:" + std::to_string(listener().address().port()) + "/repos/o/r/pulls/1";
  oceand::HttpResult result;
  // A thread per input: the client's kept-alive connections are per thread, so each input
  // starts on a fresh one.
  std::thread client([&] {
    result = oceand::HttpClient::request("GET", url, {{"Accept", "application/json"}}, "",
                                         std::chrono::milliseconds(1500));
  });
  try {
    Poco::Net::StreamSocket served = listener().acceptConnection();
    answer(served, data, size);
    client.join();
    served.close();
  } catch (const Poco::Exception&) {
    if (client.joinable()) client.join();
  }
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (result.status != 0 && text.find("HTTP/") == std::string::npos) __builtin_trap();
  if (result.status == 0 && result.error.empty()) __builtin_trap();
  if (result.status != 0 && (result.status < 100 || result.status > 999)) __builtin_trap();
  return 0;
}
