#pragma once

#include <optional>
#include <sstream>
#include <string>

#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/StreamSocket.h>

namespace oceand {

// An answer written by HttpConnection: head and body leave in one send(). A body written through
// send()'s stream is collected and leaves when the handler returns, with its Content-Length.
class OutboundResponse : public Poco::Net::HTTPServerResponse {
 public:
  explicit OutboundResponse(Poco::Net::StreamSocket& socket) : socket_(socket) {}

  // A HEAD request's answer carries the head only.
  void set_head_only(bool head_only) { head_only_ = head_only; }
  // Sends what was written to send()'s stream. The connection calls it after the handler.
  void finish();
  // True once the answer's first byte was handed to the socket. An answer written through send()
  // is only collected until finish(), so a handler that fails after send() can still be answered
  // with a 500.
  bool committed() const { return committed_; }

  void sendContinue() override;
  std::ostream& send() override;
  void sendFile(const std::string& path, const std::string& media_type) override;
  void sendBuffer(const void* buffer, std::size_t length) override;
  void redirect(const std::string& uri, HTTPStatus status = HTTP_FOUND) override;
  void requireAuthentication(const std::string& realm) override;
  bool sent() const override { return sent_; }

 private:
  // Head (with the body's Content-Length) and body in one send().
  void write_answer(const char* body, size_t length);
  void write_all(const char* data, size_t size);
  void append_head(std::string& out) const;

  Poco::Net::StreamSocket& socket_;
  bool head_only_ = false;
  bool sent_ = false;
  bool continue_sent_ = false;
  bool committed_ = false;
  std::optional<std::ostringstream> streamed_;
};

// "Sun, 22 Nov 2026 18:36:31 GMT", formatted once per second per thread.
const std::string& http_date_now();

}  // namespace oceand
