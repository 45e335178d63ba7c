#include "http/server_connection.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <memory>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/PollSet.h>

#include "core/log.hpp"
#include "http/outbound_response.hpp"
#include "http/responses.hpp"

namespace oceand {

namespace {

// Read per wake-up of one connection at most, so that one fast sender cannot starve the loop's
// other connections.
constexpr size_t kReadBudget = 256 * 1024;
// What a refused client may still send before the connection is closed under it.
constexpr size_t kLingerBytes = 1024 * 1024;

char* scratch() {
  thread_local std::unique_ptr<char[]> buffer(new char[64 * 1024]);
  return buffer.get();
}
constexpr size_t kScratchSize = 64 * 1024;

}  // namespace

ServerConnection::ServerConnection(Poco::Net::StreamSocket socket, ConnectionInfo info,
                                   const ConnectionLimits& limits, Clock::time_point now,
                                   std::atomic<size_t>* open)
    : socket_(std::move(socket)),
      info_(std::move(info)),
      limits_(limits),
      parser_(info_, limits.request),
      last_activity_(now),
      request_began_(now),
      open_(open) {}

ServerConnection::~ServerConnection() {
  // Counted out first: once the client sees the close, the count no longer holds it.
  if (open_) open_->fetch_sub(1, std::memory_order_relaxed);
  try {
    socket_.close();
  } catch (...) {
    // Closing a socket the peer reset: nothing left to do.
  }
}

int ServerConnection::wanted_mode() const {
  using Poco::Net::PollSet;
  switch (state_) {
    case State::reading:
      // A 100 Continue still leaving while the body comes.
      return sent_ < output_.size() ? PollSet::POLL_READ | PollSet::POLL_WRITE : PollSet::POLL_READ;
    case State::writing:
      return PollSet::POLL_WRITE;
    case State::lingering:
      return PollSet::POLL_READ;
    case State::ready:
    case State::handling:
    case State::closed:
      return 0;
  }
  return 0;
}

void ServerConnection::close() {
  state_ = State::closed;
}

bool ServerConnection::flush() {
  const int fd = socket_.impl()->sockfd();
  while (sent_ < output_.size()) {
    ssize_t n =
        ::send(fd, output_.data() + sent_, output_.size() - sent_, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      sent_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;  // reset or closed by the client
  }
  output_.clear();
  sent_ = 0;
  return true;
}

void ServerConnection::on_readable(Clock::time_point now) {
  const int fd = socket_.impl()->sockfd();
  if (state_ == State::lingering) {
    for (;;) {
      ssize_t n = ::recv(fd, scratch(), kScratchSize, MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n <= 0) return close();
      lingered_bytes_ += static_cast<size_t>(n);
      if (lingered_bytes_ > kLingerBytes) return close();
    }
  }
  if (state_ != State::reading) return;
  size_t budget = kReadBudget;
  while (budget > 0 && !peer_closed_) {
    ssize_t n = ::recv(fd, scratch(), kScratchSize, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0) return close();  // reset by the client: nobody to answer
    if (n == 0) {
      peer_closed_ = true;
      break;
    }
    const bool began = parser_.started();
    parser_.append(scratch(), static_cast<size_t>(n));
    if (!began) request_began_ = now;
    last_activity_ = now;
    budget -= std::min(budget, static_cast<size_t>(n));
    if (static_cast<size_t>(n) < kScratchSize) break;  // the socket is drained
  }
  proceed(now);
}

void ServerConnection::proceed(Clock::time_point now) {
  if (state_ != State::reading) return;
  switch (parser_.advance()) {
    case RequestParser::Step::ready:
      request_ = parser_.take_request();
      if (parser_.started()) request_began_ = now;  // a pipelined request's first bytes
      state_ = State::ready;
      return;
    case RequestParser::Step::refused:
      refuse(parser_.refusal_status(), parser_.refusal_message(), now);
      return;
    case RequestParser::Step::more:
      break;
  }
  if (parser_.take_continue()) {
    if (limits_.wants_body && !limits_.wants_body(*parser_.pending())) {
      parser_.give_up_body();
      request_ = parser_.take_request();
      close_after_write_ = true;
      state_ = State::ready;
      return;
    }
    output_ += "HTTP/1.1 100 Continue\r\n\r\n";
    if (!flush()) return close();
  }
  if (!peer_closed_) return;
  // The client will send nothing more: a cut body is answered, anything else just ends.
  if (parser_.end_of_input() == RequestParser::Step::refused)
    refuse(parser_.refusal_status(), parser_.refusal_message(), now);
  else
    close();
}

void ServerConnection::refuse(int status, const std::string& message, Clock::time_point now) {
  OCEAND_LOG_INFO_LIMITED("http", "refused request " + std::to_string(status))
      << "refused request " << kv("client", info_.client.host().toString()) << " status=" << status
      << " " << kv("reason", message);
  append_closing_error(Poco::Net::HTTPMessage::HTTP_1_1, status, message);
  write_then_close(now);
}

void ServerConnection::refuse_over_capacity(Clock::time_point now) {
  append_closing_error(Poco::Net::HTTPMessage::HTTP_1_1, 503, "too many connections: retry later",
                       "1");
  write_then_close(now);
}

void ServerConnection::append_closing_error(const std::string& version, int status,
                                            std::string_view message, const char* retry_after) {
  OutboundResponse response(output_);
  response.setVersion(version);
  response.set("Date", http_date_now());
  if (retry_after) response.set("Retry-After", retry_after);
  response.setKeepAlive(false);
  send_error(response, status, message);
}

void ServerConnection::write_then_close(Clock::time_point now) {
  close_after_write_ = true;
  state_ = State::writing;
  last_activity_ = now;
  if (!flush()) return close();
  if (output_.empty()) after_write(now);
}

namespace {
enum DeferPhase { kNotDeferred = 0, kHandlerRunning = 1, kWaiting = 2, kAnsweredEarly = 3 };
}  // namespace

bool ServerConnection::serve(Poco::Net::HTTPRequestHandlerFactory& handlers, bool closing) {
  response_.emplace(output_);
  OutboundResponse& response = *response_;
  InboundRequest& request = *request_;
  request.set_response(response);
  response.setVersion(request.getVersion());
  response.set("Date", http_date_now());
  response.setKeepAlive(!closing && !peer_closed_ && request.getKeepAlive());
  response.set_head_only(request.getMethod() == Poco::Net::HTTPRequest::HTTP_HEAD);
  response.set_deferrer([this] {
    defer_phase_ = kHandlerRunning;
    return [this] { announced(); };
  });
  try {
    std::unique_ptr<Poco::Net::HTTPRequestHandler> handler(handlers.createRequestHandler(request));
    if (handler) handler->handleRequest(request, response);
  } catch (const std::exception& e) {
    handler_failed_ = *e.what() ? e.what() : "an exception without a message";
  } catch (...) {
    handler_failed_ = "an unknown exception";
  }
  if (defer_phase_ == kHandlerRunning) {
    int running = kHandlerRunning;
    // The answer is still to come: whoever announces it finishes the connection's part.
    if (defer_phase_.compare_exchange_strong(running, kWaiting)) return false;
  }
  complete_answer();
  return true;
}

void ServerConnection::announced() {
  int running = kHandlerRunning;
  // Announced before the handler returned (a push refused at once): serve() finishes.
  if (defer_phase_.compare_exchange_strong(running, kAnsweredEarly)) return;
  // The rest (and the send) is the loop's: the announcing thread is a queue's committer, whose
  // next group commit waits behind this.
  give_back_();
}

void ServerConnection::complete_answer() {
  OutboundResponse& response = *response_;
  InboundRequest& request = *request_;
  auto fail = [&](const std::string& why) {
    OCEAND_LOG_ERROR_LIMITED("http", "handler failed")
        << request.getMethod() << " " << kv("uri", request.getURI()) << ": " << why;
    append_closing_error(request.getVersion(), 500, "internal error");
  };
  if (!handler_failed_.empty()) {
    // An answer already complete in the output still leaves; otherwise the client gets a 500.
    if (!response.committed()) fail(handler_failed_);
  } else if (!response.sent()) {
    fail("no answer given");
  } else {
    try {
      response.finish();
    } catch (const std::exception& e) {
      fail(e.what());
    }
  }
  if (!response.committed() || !response.getKeepAlive()) close_after_write_ = true;
  handler_failed_.clear();
  defer_phase_ = kNotDeferred;
  response_.reset();
  request_.reset();
}

void ServerConnection::resume(Clock::time_point now) {
  if (state_ == State::closed) return;
  if (defer_phase_ == kWaiting) complete_answer();  // a deferred answer, announced
  last_activity_ = now;
  state_ = State::writing;
  if (!flush()) return close();
  if (output_.empty()) after_write(now);
}

void ServerConnection::after_write(Clock::time_point now) {
  if (close_after_write_) return start_linger(now);
  state_ = State::reading;
  proceed(now);  // a pipelined request may be whole already
}

void ServerConnection::on_writable(Clock::time_point now) {
  if (state_ != State::writing && state_ != State::reading) return;
  const size_t before = sent_;
  if (!flush()) return close();
  if (sent_ != before || output_.empty()) last_activity_ = now;
  if (state_ == State::writing && output_.empty()) after_write(now);
}

void ServerConnection::on_error() {
  close();
}

// Closing a socket whose receive queue still holds bytes makes the kernel send a reset, which can
// destroy the answer just sent before the client reads it (RFC 9112 section 9.6). So: half-close,
// then read and drop what the client still sends, bounded in time and bytes.
void ServerConnection::start_linger(Clock::time_point now) {
  try {
    socket_.shutdownSend();
  } catch (const Poco::Exception&) {
    return close();  // reset already
  }
  state_ = State::lingering;
  linger_until_ = now + limits_.linger;
}

void ServerConnection::on_timer(Clock::time_point now) {
  switch (state_) {
    case State::reading:
      if (parser_.started()) {
        if (now - request_began_ >= limits_.request_timeout)
          refuse(408, "the request did not arrive in time", now);
      } else if (now - last_activity_ >= limits_.idle_timeout) {
        close();
      }
      return;
    case State::writing:
      if (now - last_activity_ >= limits_.idle_timeout) close();  // the client does not read
      return;
    case State::lingering:
      if (now >= linger_until_) close();
      return;
    case State::ready:
    case State::handling:
    case State::closed:
      return;
  }
}

void ServerConnection::close_for_stop() {
  switch (state_) {
    case State::reading:
    case State::lingering:
      close();
      return;
    case State::writing:
      close_after_write_ = true;
      return;
    case State::ready:
    case State::handling:
    case State::closed:
      return;
  }
}

}  // namespace oceand
