#include "http/http_connection.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <memory>

#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/NetException.h>
#include <Poco/String.h>

#include "core/log.hpp"
#include "core/text.hpp"
#include "core/thread_name.hpp"
#include "http/outbound_response.hpp"
#include "http/responses.hpp"
#include "http/socket_reader.hpp"

namespace oceand {

namespace {

// An answer the connection gives itself, before or instead of a handler; it closes the connection.
void refuse(Poco::Net::StreamSocket& socket, int status, std::string_view message) {
  OutboundResponse response(socket);
  response.setVersion(Poco::Net::HTTPMessage::HTTP_1_1);
  response.set("Date", http_date_now());
  response.setKeepAlive(false);
  send_error(response, status, message);
}

// Closing a socket whose receive queue still holds bytes makes the kernel send a reset, which can
// destroy the answer just sent before the client reads it (RFC 9112 section 9.6). So: half-close,
// then read and drop what the client still sends, bounded in time and bytes.
void close_gracefully(Poco::Net::StreamSocket& socket) {
  try {
    socket.shutdownSend();
  } catch (const Poco::Exception&) {
    return;  // reset already: the socket closes either way
  }
  const int fd = socket.impl()->sockfd();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  char scratch[16384];
  size_t dropped = 0;
  while (dropped < 1024 * 1024) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd readable{fd, POLLIN, 0};
    if (::poll(&readable, 1, static_cast<int>(left.count())) <= 0) break;
    ssize_t n = ::recv(fd, scratch, sizeof scratch, MSG_DONTWAIT);
    if (n <= 0) break;
    dropped += static_cast<size_t>(n);
  }
}

// RFC 9112 section 3.2: an HTTP/1.1 request names exactly one Host, and no request names two.
std::string host_problem(const Poco::Net::HTTPRequest& request, const std::string& version) {
  size_t hosts = 0;
  for (const auto& field : request)
    if (Poco::icompare(field.first, "Host") == 0) ++hosts;
  if (hosts > 1) return "more than one Host header";
  if (hosts == 0 && version == Poco::Net::HTTPMessage::HTTP_1_1)
    return "an HTTP/1.1 request without a Host header";
  return {};
}

// What Poco's header parser would read differently from a proxy in front of us (RFC 9112 §2.2,
// §5.1, §5.2): a bare CR (Poco ends the header section there), a NUL, a folded line, a line
// without a colon, a field name with blanks or separators (Poco keeps "Content-Length " as
// another name), and an encoded word in a framing header (Poco decodes "=?UTF-8?B?NQ==?=" to 5).
// Empty when the head is clean.
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

struct Framing {
  RequestBody::Framing kind = RequestBody::Framing::none;
  uint64_t length = 0;
  int refusal = 0;  // non-zero: the status that refuses the request
  const char* why = "";
};

// RFC 9112 section 6: a request with both framings, several lengths, or a transfer coding other
// than chunked alone could be read differently by a proxy in front of us; it is refused.
Framing framing_of(const Poco::Net::HTTPRequest& request) {
  Framing f;
  std::string length_text;
  int lengths = 0;
  bool transfer_coding = false;
  bool chunked = false;
  for (const auto& [name, value] : request) {
    if (iequals(name, "Content-Length")) {
      if (lengths++ > 0 && value != length_text)
        return {RequestBody::Framing::none, 0, 400, "conflicting Content-Length headers"};
      length_text = value;
    } else if (iequals(name, "Transfer-Encoding")) {
      if (transfer_coding)
        return {RequestBody::Framing::none, 0, 501, "several Transfer-Encoding headers"};
      transfer_coding = true;
      chunked = iequals(trim(value), "chunked");
    }
  }
  if (transfer_coding) {
    if (request.getVersion() == Poco::Net::HTTPMessage::HTTP_1_0)
      return {RequestBody::Framing::none, 0, 400, "Transfer-Encoding in an HTTP/1.0 request"};
    if (lengths > 0)
      return {RequestBody::Framing::none, 0, 400, "both Content-Length and Transfer-Encoding"};
    if (!chunked)
      return {RequestBody::Framing::none, 0, 501, "only the chunked transfer coding is supported"};
    f.kind = RequestBody::Framing::chunked;
    return f;
  }
  if (lengths > 0) {
    if (!parse_decimal(length_text, 18, f.length))
      return {RequestBody::Framing::none, 0, 400, "invalid Content-Length"};
    f.kind = f.length > 0 ? RequestBody::Framing::length : RequestBody::Framing::none;
  }
  return f;
}

}  // namespace

HttpConnection::HttpConnection(const Poco::Net::StreamSocket& socket,
                               Poco::Net::HTTPRequestHandlerFactory& handlers,
                               Poco::Net::HTTPServerParams::Ptr params,
                               std::shared_ptr<ConnectionRegistry> registry,
                               ConnectionLimits limits)
    : Poco::Net::TCPServerConnection(socket),
      handlers_(handlers),
      params_(std::move(params)),
      registry_(std::move(registry)),
      limits_(limits) {}

void HttpConnection::run() {
  name_this_thread("http");
  auto& sock = socket();
  if (!registry_->enter(sock)) return;
  struct Leave {
    ConnectionRegistry& registry;
    Poco::Net::StreamSocket& socket;
    ~Leave() { registry.leave(socket); }
  } leave{*registry_, sock};
  try {
    sock.setReceiveTimeout(params_->getTimeout());
    sock.setSendTimeout(params_->getTimeout());
    sock.setNoDelay(true);
    ConnectionInfo info{sock.peerAddress(), sock.address(), params_};
    SocketReader reader(sock, params_->getTimeout());
    bool first = true;
    while (!registry_->closing()) {
      if (!reader.wait_readable(first ? params_->getTimeout() : params_->getKeepAliveTimeout()))
        break;
      first = false;
      reader.set_deadline(SocketReader::Clock::now() + limits_.request_deadline);
      if (!serve_one(reader, info)) break;
      reader.clear_deadline();
    }
    close_gracefully(sock);
  } catch (const Poco::TimeoutException&) {
    // A client that stalls mid-request past its deadline loses its connection.
  } catch (const Poco::Net::NetException&) {
    // Reset or closed by the client.
  } catch (const Poco::IOException&) {
  } catch (const std::exception& e) {
    LOG_WARN_LIMITED("http", "connection ended") << "connection ended: " << e.what();
  } catch (...) {
    LOG_WARN_LIMITED("http", "connection ended") << "connection ended by an unknown exception";
  }
}

bool HttpConnection::serve_one(SocketReader& reader, const ConnectionInfo& info) {
  auto& sock = socket();
  size_t head_size = 0;
  try {
    head_size = reader.read_head(limits_.max_head_bytes);
  } catch (const SocketReader::HeadTooLarge&) {
    refuse(sock, 431,
           "request head larger than " + std::to_string(limits_.max_head_bytes) + " bytes");
    return false;
  } catch (const Poco::Net::MessageException&) {
    return false;  // the client closed mid-head: nobody to answer
  } catch (const Poco::TimeoutException&) {
    if (!reader.buffered().empty()) refuse(sock, 408, "the request head did not arrive in time");
    return false;
  }
  if (head_size == 0) return false;
  if (std::string problem = head_problem(reader.buffered().substr(0, head_size));
      !problem.empty()) {
    refuse(sock, 400, "malformed request head: " + problem);
    return false;
  }

  OutboundResponse response(sock);
  InboundRequest request(info, response);
  try {
    request.parse_head(reader.buffered().substr(0, head_size));
  } catch (const Poco::Exception& e) {
    refuse(sock, 400, "malformed request head: " + e.message());
    return false;
  }
  reader.consume(head_size);
  const std::string& version = request.getVersion();
  if (version != Poco::Net::HTTPMessage::HTTP_1_1 && version != Poco::Net::HTTPMessage::HTTP_1_0) {
    refuse(sock, 505, "only HTTP versions 1.0 and 1.1 are served");
    return false;
  }
  Framing framing = framing_of(request);
  if (framing.refusal) {
    refuse(sock, framing.refusal, framing.why);
    return false;
  }
  if (std::string problem = host_problem(request, version); !problem.empty()) {
    refuse(sock, 400, problem);
    return false;
  }
  // The only expectation HTTP/1.1 defines is 100-continue (RFC 9110 section 10.1.1).
  if (request.has("Expect") && lower(request.get("Expect")) != "100-continue") {
    refuse(sock, 417, "the only expectation served is 100-continue");
    return false;
  }
  std::function<void()> before_body;
  if (request.getExpectContinue() && version == Poco::Net::HTTPMessage::HTTP_1_1 &&
      framing.kind != RequestBody::Framing::none)
    before_body = [&response] { response.sendContinue(); };
  request.attach_body(reader, framing.kind, framing.length, std::move(before_body));

  response.setVersion(version);
  response.set("Date", http_date_now());
  response.setKeepAlive(params_->getKeepAlive() && request.getKeepAlive());
  response.set_head_only(request.getMethod() == Poco::Net::HTTPRequest::HTTP_HEAD);
  try {
    std::unique_ptr<Poco::Net::HTTPRequestHandler> handler(handlers_.createRequestHandler(request));
    if (handler) handler->handleRequest(request, response);
  } catch (const std::exception& e) {
    // Once the answer has started to leave, the failure was the socket's (the client went away):
    // nothing to answer and nothing to report.
    if (!response.committed()) {
      LOG_ERROR_LIMITED("http", "handler failed")
          << request.getMethod() << " " << kv("uri", request.getURI()) << ": " << e.what();
      refuse(sock, 500, "internal error");
    }
    return false;
  }
  if (!response.sent()) {
    LOG_ERROR_LIMITED("http", "no answer")
        << request.getMethod() << " " << kv("uri", request.getURI()) << ": no answer given";
    refuse(sock, 500, "internal error: no answer given");
    return false;
  }
  response.finish();
  if (!response.getKeepAlive()) return false;
  // A body the handler did not read (a 404, a refusal before reading) must not be parsed as the
  // next request: small leftovers are read and dropped, a large one closes the connection.
  return request.body()->discard_rest(limits_.max_body_bytes);
}

}  // namespace oceand
