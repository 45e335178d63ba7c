#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "client/chunked_decoder.hpp"
#include "http/inbound_request.hpp"

namespace oceand {

// One connection's requests, assembled from its bytes as they arrive: the I/O loop appends what
// each read brought and asks how far that goes. A request is handed over only once its head
// passed every check (RFC 9112's refusals) and its body is whole, so handlers never wait for a
// client; a request that cannot be framed is refused with the status to answer. Bytes past the
// request (a pipelined next one) stay for the next.
class RequestParser {
 public:
  struct Limits {
    size_t max_head_bytes = 64 * 1024;
    size_t max_body_bytes = 1024 * 1024;
  };
  enum class Step { more, ready, refused };

  RequestParser(const ConnectionInfo& info, Limits limits) : info_(info), limits_(limits) {}

  void append(const char* data, size_t n);
  // Goes as far as the buffered bytes allow.
  Step advance();
  // The peer closed its side: refused when a body was cut short (there is an answer to give),
  // more when there is nothing to answer (nothing begun, or a head cut short).
  Step end_of_input();

  // After ready: the request, with its body; the parser starts on the next one.
  std::unique_ptr<InboundRequest> take_request();
  // After refused:
  int refusal_status() const { return refusal_status_; }
  const std::string& refusal_message() const { return refusal_message_; }

  // True once per request, when its head asked for 100 Continue and its body is still to come.
  bool take_continue();
  // The request whose body is still to come (its head parsed), or null.
  const InboundRequest* pending() const { return request_.get(); }
  // A client that waits for 100 Continue has sent no body: the request is handed over without
  // one, to be refused, and the connection cannot carry another request after it.
  void give_up_body();
  // True when bytes of a request have arrived that have not made a whole request yet.
  bool started() const;

 private:
  enum class Phase { head, length, chunked, ready, refused };
  Step head();
  Step body();
  Step refuse(int status, std::string message);
  std::string_view unread() const { return {in_.data() + pos_, in_.size() - pos_}; }

  const ConnectionInfo& info_;
  Limits limits_;
  std::string in_;
  size_t pos_ = 0;      // the first byte not yet taken
  size_t skipped_ = 0;  // empty lines before this head (they count against its limit)
  size_t scanned_ = 0;  // bytes past pos_ already searched for the head's end
  Phase phase_ = Phase::head;
  std::unique_ptr<InboundRequest> request_;
  uint64_t left_ = 0;  // body bytes still to come (Content-Length)
  std::optional<ChunkedDecoder> chunked_;
  bool continue_due_ = false;
  int refusal_status_ = 0;
  std::string refusal_message_;
};

}  // namespace oceand
