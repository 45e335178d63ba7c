#pragma once

#include <cstdint>
#include <functional>
#include <streambuf>
#include <string>

#include "http/socket_reader.hpp"

namespace oceand {

// A request's body as the handler reads it through std::istream: exactly Content-Length bytes or
// the decoded chunks, never a byte of the next request. A body that ends early, a malformed chunk,
// a socket error or the request's deadline marks the body broken: the stream reading it gets
// badbit (so a cut body is never taken for a whole one), and the connection is then closed.
class RequestBody : public std::streambuf {
 public:
  enum class Framing { none, length, chunked };

  RequestBody(SocketReader& reader, Framing framing, uint64_t length,
              std::function<void()> before_first_read);

  // Reads and drops what the handler left unread, up to `limit` bytes. False when more is left
  // or the body broke: the connection cannot carry another request then.
  bool discard_rest(size_t limit);
  bool broken() const { return broken_; }

  // Appends up to `n` bytes of the body to `out`, taking them from the connection's buffer without
  // the zero-filled resize a read into the string would need first. Returns 0 at the end of the
  // body; broken() then tells whether it was cut short.
  size_t append_to(std::string& out, size_t n);

  // Thrown through the istream, which turns it into badbit.
  struct Broken {};

 protected:
  int_type underflow() override;
  std::streamsize xsgetn(char* destination, std::streamsize n) override;

 private:
  size_t read_decoded(char* destination, size_t n);
  // The next at most `n` bytes of the decoded body, given to `read(count)`, which takes them from
  // the reader and returns how many it took.
  template <class Read>
  size_t decode(size_t n, Read read);
  bool next_chunk();
  bool read_line(std::string& line, size_t limit);

  SocketReader& reader_;
  Framing framing_;
  uint64_t left_;  // bytes left in the body (length) or in the current chunk (chunked)
  bool chunks_done_ = false;
  bool first_chunk_ = true;
  bool broken_ = false;
  std::function<void()> before_first_read_;
  char buffer_[8192];
};

}  // namespace oceand
