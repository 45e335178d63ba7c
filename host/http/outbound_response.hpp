#pragma once

#include <functional>
#include <optional>
#include <sstream>
#include <string>

#include <Poco/Net/HTTPServerResponse.h>

namespace oceand {

// An answer a handler writes, collected whole (head and body) into its connection's output, which
// the I/O loop sends as the client takes it: a handler never waits for a slow reader. A body
// written through send()'s stream is collected and added when the handler returns, with its
// Content-Length.
class OutboundResponse : public Poco::Net::HTTPServerResponse {
 public:
  explicit OutboundResponse(std::string& output) : output_(output) {}

  // Lets a handler return before its answer is known (a durable queue's group commit): the answer
  // is written later, from any thread, through this response, and then announced by calling the
  // function defer() returned, exactly once. Only when the connection allows it (can_defer).
  using Announce = std::function<void()>;
  bool can_defer() const { return static_cast<bool>(deferrer_); }
  Announce defer() { return deferrer_(); }
  void set_deferrer(std::function<Announce()> deferrer) { deferrer_ = std::move(deferrer); }

  // A HEAD request's answer carries the head only.
  void set_head_only(bool head_only) { head_only_ = head_only; }
  // Sends what was written to send()'s stream. The connection calls it after the handler.
  void finish();
  // True once the answer is in the output. An answer written through send() is only collected
  // until finish(), so a handler that fails after send() can still be answered with a 500.
  bool committed() const { return committed_; }

  // 100 Continue is the connection's to send, when the head arrives: by the time a handler runs,
  // the body is there.
  void sendContinue() override {}
  std::ostream& send() override;
  void sendFile(const std::string& path, const std::string& media_type) override;
  void sendBuffer(const void* buffer, std::size_t length) override;
  void redirect(const std::string& uri, HTTPStatus status = HTTP_FOUND) override;
  void requireAuthentication(const std::string& realm) override;
  bool sent() const override { return sent_; }

 private:
  // Head (with the body's Content-Length) and body in one send().
  void write_answer(const char* body, size_t length);
  void append_head(std::string& out) const;

  std::string& output_;
  std::function<Announce()> deferrer_;
  bool head_only_ = false;
  bool sent_ = false;
  bool committed_ = false;
  std::optional<std::ostringstream> streamed_;
};

// "Sun, 22 Nov 2026 18:36:31 GMT", formatted once per second per thread.
const std::string& http_date_now();

}  // namespace oceand
