#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <Poco/Net/HTTPRequest.h>

namespace oceand {

// What Poco's header parser would read differently from a proxy in front of us (RFC 9112 §2.2,
// §5.1, §5.2): a bare CR (Poco ends the header section there), a NUL, a folded line, a line
// without a colon, a field name with blanks or separators (Poco keeps "Content-Length " as
// another name), and an encoded word in a framing header (Poco decodes "=?UTF-8?B?NQ==?=" to 5).
// Empty when the head is clean.
std::string head_problem(std::string_view head);

// RFC 9112 section 3.2: an HTTP/1.1 request names exactly one Host, and no request names two.
// Empty when the request's Host headers are as they must be.
std::string host_problem(const Poco::Net::HTTPRequest& request);

// How a request's body is delimited (RFC 9112 section 6).
struct Framing {
  enum class Kind { none, length, chunked };
  Kind kind = Kind::none;
  uint64_t length = 0;
  int refusal = 0;  // non-zero: the status that refuses the request
  const char* why = "";
};

// A request with both framings, several lengths, or a transfer coding other than chunked alone
// could be read differently by a proxy in front of us; it is refused.
Framing framing_of(const Poco::Net::HTTPRequest& request);

}  // namespace oceand
