#include "http/request_framing.hpp"

#include <cstring>

#include <Poco/String.h>

#include "core/text.hpp"

namespace oceand {

std::string head_problem(std::string_view head) {
  for (size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\0') return "a NUL in the request head";
    if (head[i] == '\r' && (i + 1 == head.size() || head[i + 1] != '\n'))
      return "a bare CR in the request head";
  }
  size_t at = head.find('\n');
  while (at != std::string_view::npos && at + 1 < head.size()) {
    size_t end = head.find('\n', at + 1);
    std::string_view line = head.substr(at + 1, end == std::string_view::npos ? end : end - at - 1);
    at = end;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // the end of the head
    if (line.front() == ' ' || line.front() == '\t') return "a folded header line";
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return "a header line without a colon";
    std::string_view name = line.substr(0, colon);
    if (name.empty()) return "an empty header name";
    for (unsigned char c : name)
      if (c <= 0x20 || c >= 0x7f || std::strchr("()<>@,;:\\\"/[]?={}", c))
        return "an invalid header name";
    std::string_view value = line.substr(colon + 1);
    if ((iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding")) &&
        value.find("=?") != std::string_view::npos)
      return "an encoded framing header";
  }
  return {};
}

std::string host_problem(const Poco::Net::HTTPRequest& request) {
  size_t hosts = 0;
  for (const auto& field : request)
    if (Poco::icompare(field.first, "Host") == 0) ++hosts;
  if (hosts > 1) return "more than one Host header";
  if (hosts == 0 && request.getVersion() == Poco::Net::HTTPMessage::HTTP_1_1)
    return "an HTTP/1.1 request without a Host header";
  return {};
}

Framing framing_of(const Poco::Net::HTTPRequest& request) {
  using Kind = Framing::Kind;
  Framing f;
  std::string length_text;
  int lengths = 0;
  bool transfer_coding = false;
  bool chunked = false;
  for (const auto& [name, value] : request) {
    if (iequals(name, "Content-Length")) {
      if (lengths++ > 0 && value != length_text)
        return {Kind::none, 0, 400, "conflicting Content-Length headers"};
      length_text = value;
    } else if (iequals(name, "Transfer-Encoding")) {
      if (transfer_coding) return {Kind::none, 0, 501, "several Transfer-Encoding headers"};
      transfer_coding = true;
      chunked = iequals(trim(value), "chunked");
    }
  }
  if (transfer_coding) {
    if (request.getVersion() == Poco::Net::HTTPMessage::HTTP_1_0)
      return {Kind::none, 0, 400, "Transfer-Encoding in an HTTP/1.0 request"};
    if (lengths > 0) return {Kind::none, 0, 400, "both Content-Length and Transfer-Encoding"};
    if (!chunked) return {Kind::none, 0, 501, "only the chunked transfer coding is supported"};
    f.kind = Kind::chunked;
    return f;
  }
  if (lengths > 0) {
    if (!parse_decimal(length_text, 18, f.length))
      return {Kind::none, 0, 400, "invalid Content-Length"};
    f.kind = f.length > 0 ? Kind::length : Kind::none;
  }
  return f;
}

}  // namespace oceand
