#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace oceand {

// A chunked request body (RFC 9112 section 7.1) decoded as its bytes arrive, however the network
// cuts them: the I/O loop feeds what each read brought and learns when the body is whole.
// Chunk extensions are skipped, trailer fields read and dropped. Bounded everywhere: a size line
// of at most 4 KiB and 15 hex digits, trailers of at most 16 KiB, a body of at most `max_body`.
class ChunkedDecoder {
 public:
  enum class State { more, done, broken, too_large };

  explicit ChunkedDecoder(size_t max_body) : max_body_(max_body) {}

  // Decodes from `in`, appending chunk data to `body`. Returns how many bytes of `in` it took:
  // all of them while more is needed, up to the end of the trailers once done (what follows is
  // the next request's), and an unspecified count once broken or too large.
  size_t feed(std::string_view in, std::string& body);
  State state() const { return state_; }
  // Why the body is broken, for the refusal.
  const char* why() const { return why_; }

 private:
  enum class Phase { size_line, data, data_end, trailer };
  bool take_line(std::string_view in, size_t& at, size_t limit);
  void size_line_done();
  void trailer_line_done();
  void fail(const char* why) {
    state_ = State::broken;
    why_ = why;
  }

  size_t max_body_;
  Phase phase_ = Phase::size_line;
  State state_ = State::more;
  const char* why_ = "";
  std::string line_;
  bool line_complete_ = false;
  bool cr_seen_ = false;
  uint64_t left_ = 0;
  size_t trailer_bytes_ = 0;
};

}  // namespace oceand
