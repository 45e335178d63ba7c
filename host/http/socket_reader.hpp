#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include <Poco/Net/StreamSocket.h>
#include <Poco/Timespan.h>

namespace oceand {

// One connection's receive side. A single recv() usually brings a whole webhook (head and body)
// into the buffer; larger bodies are read past the buffer straight into the caller's memory.
// Bytes beyond the current request (a pipelined next request) stay buffered for the next one.
class SocketReader {
 public:
  static constexpr size_t kCapacity = 64 * 1024;

  explicit SocketReader(Poco::Net::StreamSocket& socket);

  // True when a byte is buffered or the socket becomes readable (data or EOF) within `timeout`.
  bool wait_readable(Poco::Timespan timeout);

  // Reads until the buffer holds a request head ending in an empty line and returns its length,
  // after skipping the empty lines RFC 9112 lets a client send between requests. Returns 0 when
  // the peer closed before sending anything. Throws HeadTooLarge past `limit` bytes, and
  // Poco::Net::MessageException when the peer closes in the middle of a head.
  size_t read_head(size_t limit);

  std::string_view buffered() const { return {buffer_.data() + begin_, end_ - begin_}; }
  void consume(size_t n) { begin_ += n; }

  // Up to `n` bytes into `destination`: the buffered ones first, then straight from the socket.
  // Returns 0 at EOF. Socket errors and the receive timeout throw Poco exceptions.
  size_t read_some(char* destination, size_t n);

  // One byte, or -1 at EOF.
  int get();

  struct HeadTooLarge {};

 private:
  size_t fill();

  Poco::Net::StreamSocket& socket_;
  std::vector<char> buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace oceand
