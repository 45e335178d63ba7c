#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/StreamSocket.h>

#include "http/inbound_request.hpp"
#include "http/outbound_response.hpp"
#include "http/request_parser.hpp"

namespace oceand {

// What every connection of a server is held to.
struct ConnectionLimits {
  RequestParser::Limits request;
  // A connection without a request in progress, or whose answer the client does not take, is
  // closed after this long without a byte moving.
  std::chrono::milliseconds idle_timeout{60'000};
  // From the first byte of a request to the end of its body, however it trickles in.
  std::chrono::milliseconds request_timeout{60'000};
  // After a refusal, how long the client's last bytes are read and dropped before closing.
  std::chrono::milliseconds linger{2'000};
  // Asked (in the I/O loop) of a request whose client waits for 100 Continue: false when it will
  // be refused whatever its body, so that the client is not told to send it (RFC 9110 section
  // 10.1.1). Unset: every such body is asked for.
  std::function<bool(const InboundRequest& head)> wants_body;
};

// One client connection as a state machine the I/O loop drives without ever waiting on it:
// bytes in → a whole request → handled (on a handler thread, or in the loop for cheap ones) →
// the answer out as fast as the client takes it → the next request. Only one thread owns it at a
// time: the loop, or the handler thread it was given to while its state is `handling`.
class ServerConnection {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State {
    reading,    // waiting for (the rest of) a request; may also be sending a 100 Continue
    ready,      // a whole request waits for its handler
    handling,   // a handler thread has it
    writing,    // sending an answer
    lingering,  // refused and half-closed: dropping what the client still sends
    closed,
  };

  // `open` counts this server's connections: decremented when this one is destroyed.
  ServerConnection(Poco::Net::StreamSocket socket, ConnectionInfo info,
                   const ConnectionLimits& limits, Clock::time_point now,
                   std::atomic<size_t>* open);
  ~ServerConnection();
  ServerConnection(const ServerConnection&) = delete;
  ServerConnection& operator=(const ServerConnection&) = delete;

  Poco::Net::StreamSocket& socket() { return socket_; }
  State state() const { return state_; }
  const InboundRequest* request() const { return request_.get(); }
  // The PollSet mode the connection waits for in its state (0 when it waits for nothing).
  int wanted_mode() const;
  // The mode it is registered with in its loop's PollSet (the loop's bookkeeping).
  int registered = 0;

  // Loop thread.
  void on_readable(Clock::time_point now);
  void on_writable(Clock::time_point now);
  void on_error();
  void on_timer(Clock::time_point now);
  // Back from its handler: the answer leaves, then the next request.
  void resume(Clock::time_point now);
  // The server stops: nothing new is read; an answer being written still leaves.
  void close_for_stop();
  void mark_handling() { state_ = State::handling; }
  // Refuses a connection over the server's cap, with a 503 that tells the client when to retry.
  void refuse_over_capacity(Clock::time_point now);

  // The thread that owns it (a handler thread, or the loop for a request served in place).
  // Runs the handler for the ready request and leaves the answer in the output; `closing`: the
  // server stops, so the answer closes the connection. False when the handler deferred its
  // answer (OutboundResponse::defer): the connection then belongs to whoever announces the
  // answer, which hands it back through give_back, and the caller must not touch it again.
  bool serve(Poco::Net::HTTPRequestHandlerFactory& handlers, bool closing);
  // How a deferred answer returns the connection to its loop; set by the loop.
  void set_give_back(std::function<void()> give_back) { give_back_ = std::move(give_back); }
  // Sends what the socket takes now, without waiting. False when the connection broke.
  bool flush();

 private:
  void proceed(Clock::time_point now);
  void complete_answer();
  void announced();
  void refuse(int status, const std::string& message, Clock::time_point now);
  // An error answer that closes the connection, added to the output.
  void append_closing_error(const std::string& version, int status, std::string_view message,
                            const char* retry_after = nullptr);
  // Sends the output, then half-closes and lingers.
  void write_then_close(Clock::time_point now);
  void after_write(Clock::time_point now);
  void start_linger(Clock::time_point now);
  void close();

  Poco::Net::StreamSocket socket_;
  ConnectionInfo info_;
  const ConnectionLimits& limits_;
  RequestParser parser_;
  std::unique_ptr<InboundRequest> request_;
  std::optional<OutboundResponse> response_;
  // A deferred answer: the handler is running (1), returned before the answer (2), or the answer
  // came before the handler returned (3); 0 when nothing is deferred.
  std::atomic<int> defer_phase_{0};
  std::function<void()> give_back_;
  std::string handler_failed_;  // what a handler threw, for its 500
  std::string output_;
  size_t sent_ = 0;
  State state_ = State::reading;
  bool close_after_write_ = false;
  bool peer_closed_ = false;
  size_t lingered_bytes_ = 0;
  Clock::time_point last_activity_;
  Clock::time_point request_began_;
  Clock::time_point linger_until_;
  std::atomic<size_t>* open_;
};

}  // namespace oceand
