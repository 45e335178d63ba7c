#include "client/chunked_decoder.hpp"

#include <algorithm>

#include "core/text.hpp"

namespace oceand {

namespace {
constexpr size_t kSizeLineLimit = 4096;
constexpr size_t kTrailerLimit = 16 * 1024;
}  // namespace

// Collects one line (without its LF, and without a CR before it) into line_, across feeds.
// False while the line is not complete yet; a line longer than `limit` breaks the body.
bool ChunkedDecoder::take_line(std::string_view in, size_t& at, size_t limit) {
  if (line_complete_) {
    line_.clear();
    line_complete_ = false;
  }
  size_t end = in.find('\n', at);
  size_t stop = end == std::string_view::npos ? in.size() : end;
  if (line_.size() + (stop - at) > limit + 1) {  // + 1: the CR that may end it
    fail("a chunk line too long");
    at = in.size();
    return false;
  }
  line_.append(in.data() + at, stop - at);
  if (end == std::string_view::npos) {
    at = in.size();
    return false;
  }
  at = end + 1;
  if (!line_.empty() && line_.back() == '\r') line_.pop_back();
  if (line_.size() > limit) {
    fail("a chunk line too long");
    return false;
  }
  line_complete_ = true;
  return true;
}

void ChunkedDecoder::size_line_done() {
  uint64_t size = 0;
  size_t digits = 0;
  for (char c : line_) {
    int v = hex_value(c);
    if (v < 0) break;
    if (++digits > 15) return fail("a chunk size too large");
    size = size * 16 + static_cast<uint64_t>(v);
  }
  // After the size: optional blanks, then the end of the line or a chunk extension.
  size_t rest = digits;
  while (rest < line_.size() && (line_[rest] == ' ' || line_[rest] == '\t')) ++rest;
  if (digits == 0 || (rest < line_.size() && line_[rest] != ';'))
    return fail("a malformed chunk size line");
  if (size == 0) {
    phase_ = Phase::trailer;
    return;
  }
  left_ = size;
  phase_ = Phase::data;
}

void ChunkedDecoder::trailer_line_done() {
  if (line_.empty()) {
    state_ = State::done;
    return;
  }
  trailer_bytes_ += line_.size();
  if (trailer_bytes_ > kTrailerLimit) fail("trailer fields too large");
}

size_t ChunkedDecoder::feed(std::string_view in, std::string& body) {
  size_t at = 0;
  while (state_ == State::more && at < in.size()) {
    switch (phase_) {
      case Phase::size_line:
        if (take_line(in, at, kSizeLineLimit)) size_line_done();
        break;
      case Phase::data: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(left_, in.size() - at));
        if (body.size() + take > max_body_) {
          state_ = State::too_large;
          return at;
        }
        body.append(in.data() + at, take);
        at += take;
        left_ -= take;
        if (left_ == 0) phase_ = Phase::data_end;
        break;
      }
      case Phase::data_end:
        // Chunk data ends with CRLF (or a bare LF, which the size lines also accept).
        if (in[at] == '\r' && !cr_seen_) {
          cr_seen_ = true;
          ++at;
        } else if (in[at] == '\n') {
          cr_seen_ = false;
          phase_ = Phase::size_line;
          ++at;
        } else {
          fail("chunk data not followed by CRLF");
        }
        break;
      case Phase::trailer:
        if (take_line(in, at, kTrailerLimit)) trailer_line_done();
        break;
    }
  }
  return at;
}

}  // namespace oceand
