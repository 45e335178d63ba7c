#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <Poco/Net/StreamSocket.h>
#include <Poco/Timespan.h>

namespace oceand {

// The receive side of one of the HTTP client's connections (ClientConnection): a single recv()
// usually brings a whole answer (head and body) into the buffer; larger bodies are read past the
// buffer straight into the caller's memory. Bytes beyond the current answer stay buffered for the
// next one. (The server reads without blocking: RequestParser.)
class SocketReader {
 public:
  static constexpr size_t kCapacity = 64 * 1024;

  using Clock = std::chrono::steady_clock;

  // `timeout`: the socket's receive timeout (SO_RCVTIMEO), which bounds each single wait.
  SocketReader(Poco::Net::StreamSocket& socket, Poco::Timespan timeout);

  // Bounds all waits for bytes until clear_deadline(), whatever their number: a server that
  // trickles an answer a byte at a time cannot hold the thread longer than that. Past it, a
  // receive throws Poco::TimeoutException.
  void set_deadline(Clock::time_point deadline) { deadline_ = deadline; }
  void clear_deadline();

  // Reads until the buffer holds a request head ending in an empty line and returns its length,
  // after skipping the empty lines RFC 9112 lets a client send between requests (they count
  // against `limit`, which is at most kCapacity). Returns 0 when the peer closed before sending
  // anything. Throws HeadTooLarge past `limit` bytes, and
  // Poco::Net::MessageException when the peer closes in the middle of a head.
  size_t read_head(size_t limit);

  std::string_view buffered() const { return {buffer_.data() + begin_, end_ - begin_}; }
  void consume(size_t n) { begin_ += n; }

  // Up to `n` bytes into `destination`: the buffered ones first, then straight from the socket.
  // Returns 0 at EOF. Socket errors and the receive timeout throw Poco exceptions.
  size_t read_some(char* destination, size_t n);
  // The same, appended to `out`: buffered bytes are copied once, with no zero-filled resize first.
  size_t append_some(std::string& out, size_t n);
  // Receives more into the buffer (room is made by moving what is buffered to its start); the
  // number of bytes received, 0 at EOF or when the buffer is full.
  size_t fill();

  struct HeadTooLarge {};

 private:
  int receive(char* destination, size_t n);

  Clock::time_point deadline_ = Clock::time_point::max();
  Poco::Timespan timeout_;
  bool timeout_shortened_ = false;

  Poco::Net::StreamSocket& socket_;
  std::vector<char> buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace oceand
