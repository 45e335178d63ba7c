#include "http/request_parser.hpp"

#include <algorithm>

#include <Poco/Exception.h>

#include "core/text.hpp"
#include "http/body_check.hpp"
#include "http/request_framing.hpp"

namespace oceand {

void RequestParser::append(const char* data, size_t n) {
  // The common case, a body arriving after its head: straight into the body, one copy.
  if (phase_ == Phase::length && pos_ == in_.size() && left_ > 0) {
    size_t take = static_cast<size_t>(std::min<uint64_t>(n, left_));
    request_->body().append(data, take);
    left_ -= take;
    data += take;
    n -= take;
  }
  if (n == 0) return;
  if (pos_ > 0 && pos_ == in_.size()) {
    in_.clear();
    pos_ = 0;
  }
  in_.append(data, n);
}

bool RequestParser::started() const {
  return phase_ != Phase::head || pos_ < in_.size() || skipped_ > 0;
}

bool RequestParser::take_continue() {
  bool due = continue_due_;
  continue_due_ = false;
  return due;
}

void RequestParser::give_up_body() {
  chunked_.reset();
  left_ = 0;
  continue_due_ = false;
  phase_ = Phase::ready;
}

RequestParser::Step RequestParser::refuse(int status, std::string message) {
  phase_ = Phase::refused;
  refusal_status_ = status;
  refusal_message_ = std::move(message);
  return Step::refused;
}

RequestParser::Step RequestParser::advance() {
  switch (phase_) {
    case Phase::head:
      return head();
    case Phase::length:
    case Phase::chunked:
      return body();
    case Phase::ready:
      return Step::ready;
    case Phase::refused:
      return Step::refused;
  }
  return Step::more;
}

// Longer than the rest on purpose: the head's checks run in the order RFC 9112 gives them (size,
// request line, header block, framing), each refusing with its own status, and reading them as
// one sequence is what lets a reviewer see that no smuggling case slips between two of them.
RequestParser::Step RequestParser::head() {
  // RFC 9112 section 2.2 lets a client send empty lines before a request.
  while (pos_ < in_.size() && (in_[pos_] == '\r' || in_[pos_] == '\n')) {
    ++pos_;
    ++skipped_;
  }
  std::string_view data = unread();
  const size_t limit = limits_.max_head_bytes;
  auto too_large = [&] {
    return refuse(431, "request head larger than " + std::to_string(limit) + " bytes");
  };
  // A head ends at an empty line; Poco's parser, like most, also takes bare LF line ends.
  size_t length = 0;
  for (size_t i = scanned_; i < data.size(); ++i) {
    if (data[i] != '\n') continue;
    if (i + 1 < data.size() && data[i + 1] == '\n') {
      length = i + 2;
      break;
    }
    if (i + 2 < data.size() && data[i + 1] == '\r' && data[i + 2] == '\n') {
      length = i + 3;
      break;
    }
  }
  if (length == 0) {
    // The empty lines skipped count too, however the bytes arrived.
    if (data.size() + skipped_ >= limit) return too_large();
    scanned_ = data.size() >= 2 ? data.size() - 2 : 0;
    return Step::more;
  }
  if (skipped_ + length > limit) return too_large();

  std::string_view text = data.substr(0, length);
  if (std::string problem = head_problem(text); !problem.empty())
    return refuse(400, "malformed request head: " + problem);
  request_ = std::make_unique<InboundRequest>(info_);
  try {
    request_->parse_head(text);
  } catch (const Poco::Exception& e) {
    return refuse(400, "malformed request head: " + e.message());
  }
  const std::string& version = request_->getVersion();
  if (version != Poco::Net::HTTPMessage::HTTP_1_1 && version != Poco::Net::HTTPMessage::HTTP_1_0)
    return refuse(505, "only HTTP versions 1.0 and 1.1 are served");
  Framing framing = framing_of(*request_);
  if (framing.refusal) return refuse(framing.refusal, framing.why);
  if (std::string problem = host_problem(*request_); !problem.empty()) return refuse(400, problem);
  // The only expectation HTTP/1.1 defines is 100-continue (RFC 9110 section 10.1.1).
  if (request_->has("Expect") && lower(request_->get("Expect")) != "100-continue")
    return refuse(417, "the only expectation served is 100-continue");
  if (framing.kind == Framing::Kind::length && framing.length > limits_.max_body_bytes)
    return refuse(413, "body larger than server.max_body_bytes");

  pos_ += length;
  skipped_ = 0;
  scanned_ = 0;
  const bool expects = request_->getExpectContinue() &&
                       version == Poco::Net::HTTPMessage::HTTP_1_1 &&
                       framing.kind != Framing::Kind::none;
  switch (framing.kind) {
    case Framing::Kind::none:
      phase_ = Phase::ready;
      return Step::ready;
    case Framing::Kind::length:
      phase_ = Phase::length;
      left_ = framing.length;
      // Room for the body check to read it where it is (body_check_slack).
      request_->body().reserve(static_cast<size_t>(framing.length) + body_check_slack());
      break;
    case Framing::Kind::chunked:
      phase_ = Phase::chunked;
      chunked_.emplace(limits_.max_body_bytes);
      break;
  }
  Step step = body();
  continue_due_ = expects && step == Step::more;
  return step;
}

RequestParser::Step RequestParser::body() {
  if (phase_ == Phase::length) {
    size_t take = static_cast<size_t>(std::min<uint64_t>(left_, in_.size() - pos_));
    request_->body().append(in_.data() + pos_, take);
    pos_ += take;
    left_ -= take;
    if (left_ > 0) return Step::more;
  } else {
    pos_ += chunked_->feed(unread(), request_->body());
    switch (chunked_->state()) {
      case ChunkedDecoder::State::more:
        return Step::more;
      case ChunkedDecoder::State::too_large:
        return refuse(413, "body larger than server.max_body_bytes");
      case ChunkedDecoder::State::broken:
        return refuse(400, std::string("malformed chunked body: ") + chunked_->why());
      case ChunkedDecoder::State::done:
        break;
    }
    chunked_.reset();
  }
  phase_ = Phase::ready;
  return Step::ready;
}

RequestParser::Step RequestParser::end_of_input() {
  if (phase_ == Phase::length || phase_ == Phase::chunked)
    return refuse(400, "the body ended before it was complete");
  return phase_ == Phase::ready     ? Step::ready
         : phase_ == Phase::refused ? Step::refused
                                    : Step::more;
}

std::unique_ptr<InboundRequest> RequestParser::take_request() {
  phase_ = Phase::head;
  continue_due_ = false;
  // What is left belongs to the next request; the taken bytes are dropped.
  if (pos_ > 0) {
    in_.erase(0, pos_);
    pos_ = 0;
  }
  return std::move(request_);
}

}  // namespace oceand
