#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <Poco/Net/StreamSocket.h>

#include "client/http_client.hpp"
#include "client/socket_reader.hpp"

namespace oceand {

// One kept-alive plain-HTTP/1.1 connection to an origin, for the host's outbound calls (third-party
// APIs, Port). A request leaves in one send(); the answer's head usually arrives with its body in
// one recv() and its body goes from there (or the socket) straight into the result. Poco's client
// session read heads a character at a time through an istream and bodies a stream buffer at a
// time: a quarter of oceand's CPU in the end-to-end run went to the GitHub fetch through it.
class ClientConnection {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kMaxHeadBytes = SocketReader::kCapacity;
  static constexpr size_t kMaxBodyBytes = 64 * 1024 * 1024;

  // Connects on the first exchange, and again after close().
  ClientConnection(std::string host, uint16_t port);

  // Sends one request and reads its answer into `result`, all before `deadline`. `headers` are as
  // HttpClient::request let them through (is_valid_request_header). Failures throw
  // Poco exceptions: TimeoutException past the deadline, NoMessageException when the server closed
  // without answering, ConnectionResetException, MessageException for an answer that cannot be
  // read (the connection is closed after any of them). `sent` tells whether the request left, so
  // the caller knows whether repeating it on a fresh connection could repeat its effect.
  void exchange(const std::string& method, const std::string& target, const HeaderList& headers,
                const std::string& body, Clock::time_point deadline, HttpResult& result,
                bool& sent);

  // False once the server asked to close, the answer ran until the connection closed, or an
  // exchange failed: the next exchange reconnects.
  bool connected() const { return socket_.has_value(); }
  void close();

 private:
  void connect(Clock::time_point deadline);
  void send_all(const std::string& bytes, Clock::time_point deadline);
  void read_answer(const std::string& method, Clock::time_point deadline, HttpResult& result);

  std::string host_;
  uint16_t port_;
  std::string host_header_;
  std::optional<Poco::Net::StreamSocket> socket_;
  std::optional<SocketReader> reader_;
};

}  // namespace oceand
