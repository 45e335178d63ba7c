#include "client/client_connection.hpp"

#include <algorithm>
#include <optional>

#include <Poco/Exception.h>
#include <Poco/MemoryStream.h>
#include <Poco/Net/MessageHeader.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SocketAddress.h>

#include "client/chunked_decoder.hpp"
#include "core/text.hpp"

namespace oceand {

namespace {

// The receive timeout a connection keeps between exchanges; each exchange's deadline shortens the
// waits inside it (SocketReader::set_deadline).
const Poco::Timespan kIdleReceiveTimeout(3600, 0);

Poco::Timespan time_left(ClientConnection::Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline -
                                                                    ClientConnection::Clock::now());
  if (left.count() <= 0) throw Poco::TimeoutException("no time left for the request");
  return Poco::Timespan(std::max<int64_t>(left.count(), 1000));
}

// "HTTP/1.<digit> <status>" followed by a space or the end of the line (RFC 9112 section 4), the
// status three digits from 100 (RFC 9110 section 15: below that is no status; above 599 is
// taken as its class, as RFC 9110 asks of unknown codes).
bool is_status_line(std::string_view head) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (head.size() < 13 || head.substr(0, 7) != "HTTP/1." || !digit(head[7]) || head[8] != ' ')
    return false;
  if (head[9] < '1' || head[9] > '9' || !digit(head[10]) || !digit(head[11])) return false;
  return head[12] == ' ' || head[12] == '\r' || head[12] == '\n';
}

bool has_line_break(const std::string& s) {
  return s.find_first_of("\r\n") != std::string::npos;
}

// How the answer's body is delimited (RFC 9112 section 6.3).
struct BodyFraming {
  enum class Kind { none, length, chunked, until_close } kind = Kind::until_close;
  uint64_t length = 0;
};

// An answer's status line and header fields. The status is read here, not by Poco's
// HTTPResponse, which keeps it in an enum that cannot hold every three-digit code (520, 723).
struct AnswerHead {
  int status = 0;
  bool http_1_0 = false;
  Poco::Net::MessageHeader fields;

  // Throws Poco::Net::MessageException for a head that cannot be read.
  explicit AnswerHead(std::string_view head) {
    if (!is_status_line(head))
      throw Poco::Net::MessageException("the answer does not start with an HTTP/1.x status line");
    status = (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
    http_1_0 = head[7] == '0';
    const size_t first_line_end = head.find('\n') + 1;
    Poco::MemoryInputStream in(head.data() + first_line_end, head.size() - first_line_end);
    fields.read(in);
  }

  // Poco's rule: a Connection field decides (anything but "close" keeps the connection); without
  // one, HTTP/1.1 keeps it and 1.0 does not.
  bool keep_alive() const {
    if (fields.has("Connection")) return !iequals(trim(fields.get("Connection")), "close");
    return !http_1_0;
  }
};

BodyFraming framing_of(const std::string& method, const AnswerHead& head) {
  const Poco::Net::MessageHeader& response = head.fields;
  if (method == "HEAD" || head.status == 204 || head.status == 304)
    return {BodyFraming::Kind::none};
  if (response.has("Transfer-Encoding")) {
    // Chunked when it is the last coding; otherwise the body runs until the server closes.
    std::string_view codings = trim(response.get("Transfer-Encoding"));
    size_t comma = codings.rfind(',');
    std::string_view last =
        trim(comma == std::string_view::npos ? codings : codings.substr(comma + 1));
    if (iequals(last, "chunked")) return {BodyFraming::Kind::chunked};
    return {BodyFraming::Kind::until_close};
  }
  if (response.has("Content-Length")) {
    const std::string& value = response.get("Content-Length");
    uint64_t n = 0;
    if (!parse_decimal(value, 15, n))
      throw Poco::Net::MessageException("the answer's Content-Length is not a number: " +
                                        std::string(trim(value)));
    return {BodyFraming::Kind::length, n};
  }
  return {BodyFraming::Kind::until_close};
}

void check_size(size_t size) {
  if (size > ClientConnection::kMaxBodyBytes)
    throw Poco::Net::MessageException("the answer's body is larger than " +
                                      std::to_string(ClientConnection::kMaxBodyBytes) + " bytes");
}

}  // namespace

ClientConnection::ClientConnection(std::string host, uint16_t port)
    : host_(std::move(host)), port_(port) {
  // As Poco writes it: the port only when it is not HTTP's default.
  host_header_ = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
  if (port_ != 80) host_header_ += ":" + std::to_string(port_);
}

void ClientConnection::close() {
  reader_.reset();
  if (socket_) {
    try {
      socket_->close();
    } catch (const Poco::Exception&) {
    }
  }
  socket_.reset();
}

void ClientConnection::connect(Clock::time_point deadline) {
  Poco::Net::StreamSocket socket;
  socket.connect(Poco::Net::SocketAddress(host_, port_), time_left(deadline));
  socket.setNoDelay(true);
  socket.setReceiveTimeout(kIdleReceiveTimeout);
  socket_.emplace(socket);
  reader_.emplace(*socket_, kIdleReceiveTimeout);
}

void ClientConnection::send_all(const std::string& bytes, Clock::time_point deadline) {
  size_t done = 0;
  while (done < bytes.size()) {
    socket_->setSendTimeout(time_left(deadline));
    int n = socket_->sendBytes(bytes.data() + done,
                               static_cast<int>(std::min<size_t>(bytes.size() - done, 1 << 30)));
    if (n <= 0) throw Poco::Net::ConnectionResetException("the server stopped reading");
    done += static_cast<size_t>(n);
  }
}

void ClientConnection::exchange(const std::string& method, const std::string& target,
                                const HeaderList& headers, const std::string& body,
                                Clock::time_point deadline, HttpResult& result, bool& sent) {
  sent = false;
  if (has_line_break(method) || has_line_break(target))
    throw Poco::InvalidArgumentException("line break in the request line");
  std::string request;
  request.reserve(256 + body.size());
  request.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  bool host_given = false;
  for (const auto& [name, value] : headers) {
    if (is_framing_header(name)) continue;
    if (iequals(name, "host")) host_given = true;
    request.append(name).append(": ").append(value).append("\r\n");
  }
  if (!host_given) request.append("Host: ").append(host_header_).append("\r\n");
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
    request.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  request.append("Connection: keep-alive\r\n\r\n").append(body);

  try {
    if (!socket_) connect(deadline);
    reader_->set_deadline(deadline);
    send_all(request, deadline);
    sent = true;
    read_answer(method, deadline, result);
    if (reader_) reader_->clear_deadline();
  } catch (...) {
    close();
    throw;
  }
}

void ClientConnection::read_answer(const std::string& method, Clock::time_point deadline,
                                   HttpResult& result) {
  std::optional<AnswerHead> answer;
  for (;;) {  // informational answers (100, 103) precede the real one
    size_t head_size = 0;
    try {
      head_size = reader_->read_head(kMaxHeadBytes);
    } catch (const SocketReader::HeadTooLarge&) {
      throw Poco::Net::MessageException("the answer's head is larger than " +
                                        std::to_string(kMaxHeadBytes) + " bytes");
    }
    if (head_size == 0) throw Poco::Net::NoMessageException("closed without an answer");
    answer.emplace(reader_->buffered().substr(0, head_size));
    reader_->consume(head_size);
    if (answer->status == 101) throw Poco::Net::MessageException("the server switched protocols");
    if (answer->status >= 200) break;
  }

  result.status = answer->status;
  result.headers.clear();
  for (const auto& [name, value] : answer->fields) result.headers.emplace_back(lower(name), value);
  result.body.clear();

  const BodyFraming framing = framing_of(method, *answer);
  bool keep = answer->keep_alive();
  switch (framing.kind) {
    case BodyFraming::Kind::none:
      break;
    case BodyFraming::Kind::length: {
      check_size(framing.length);
      const auto length = static_cast<size_t>(framing.length);
      result.body.reserve(length);
      try {
        while (result.body.size() < length)
          if (reader_->append_some(result.body, length - result.body.size()) == 0) break;
      } catch (const Poco::Exception&) {
        // Reset, or past the deadline: the body is cut short (which of the two, told below).
      }
      if (result.body.size() != length) {
        if (Clock::now() >= deadline) throw Poco::TimeoutException("the answer was too slow");
        throw Poco::Net::MessageException("the answer ended before its body was complete");
      }
      break;
    }
    case BodyFraming::Kind::chunked: {
      // The server's decoder, fed from the reader's buffer: what follows the last chunk stays
      // there for the next answer on the connection.
      ChunkedDecoder chunks(kMaxBodyBytes);
      try {
        while (chunks.state() == ChunkedDecoder::State::more) {
          if (reader_->buffered().empty() && reader_->fill() == 0) break;  // closed early
          reader_->consume(chunks.feed(reader_->buffered(), result.body));
        }
      } catch (const Poco::Exception&) {
        // Reset, or past the deadline: cut short.
      }
      if (chunks.state() == ChunkedDecoder::State::too_large) check_size(kMaxBodyBytes + 1);
      if (chunks.state() != ChunkedDecoder::State::done) {
        if (Clock::now() >= deadline) throw Poco::TimeoutException("the answer was too slow");
        throw Poco::Net::MessageException("the answer's chunked body is broken or cut short");
      }
      break;
    }
    case BodyFraming::Kind::until_close: {
      char piece[16384];
      for (;;) {
        size_t got = reader_->read_some(piece, sizeof piece);
        if (got == 0) break;
        result.body.append(piece, got);
        check_size(result.body.size());
      }
      keep = false;
      break;
    }
  }
  if (!keep) close();
}

}  // namespace oceand
