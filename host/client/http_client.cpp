#include "client/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <exception>
#include <map>
#include <memory>
#include <mutex>

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include "client/client_connection.hpp"
#include "core/cpu_gate.hpp"
#include "core/text.hpp"

namespace oceand {

namespace {

Poco::Net::Context::Ptr tls_context() {
  static std::once_flag once;
  static Poco::Net::Context::Ptr context;
  std::call_once(once, [] {
    Poco::Net::initializeSSL();
    context = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", "",
                                     Poco::Net::Context::VERIFY_RELAXED, 9, true,
                                     "ALL:!ADH:!LOW:!EXP:!MD5:@STRENGTH");
  });
  return context;
}

// Per-thread pools of kept-alive connections, one per origin (host:port): our own for plain HTTP,
// Poco's sessions for HTTPS.
struct ConnectionPool {
  std::map<std::string, std::unique_ptr<ClientConnection>> plain;
  std::map<std::string, std::unique_ptr<Poco::Net::HTTPSClientSession>> tls;
};
thread_local ConnectionPool t_pool;

// The path and query as the caller wrote them: Poco::URI decodes the path, and encoding it again
// would turn an identifier's %2F into a '/' the server reads as a separator. Only bytes a request
// line cannot carry (controls, space, DEL, non-ASCII) are percent-encoded, as Poco would.
std::string request_target(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  size_t path = url.find_first_of("/?#", start);
  std::string raw = path == std::string::npos ? "/" : url.substr(path, url.find('#', path) - path);
  if (raw.empty() || raw.front() == '?') raw.insert(0, "/");
  std::string target;
  target.reserve(raw.size());
  for (unsigned char c : raw) {
    if (c > 0x20 && c < 0x7f) {
      target.push_back(static_cast<char>(c));
    } else {
      target.push_back('%');
      append_hex(target, c, true);
    }
  }
  return target;
}

std::string origin_of(const Poco::URI& uri) {
  return uri.getHost() + ":" + std::to_string(uri.getPort());
}

// What a failed exchange reports, and whether the same request may go again on a fresh
// connection when this one was kept alive from before: the server may have closed it meanwhile.
struct Failure {
  std::string error;
  bool timed_out = false;
  bool retry_if_reused = false;
};

Failure failure_of(const std::exception_ptr& failure, std::chrono::milliseconds timeout,
                   bool sent) {
  try {
    std::rethrow_exception(failure);
  } catch (const Poco::TimeoutException&) {
    return {"timed out after " + std::to_string(timeout.count()) + " ms", true, false};
  } catch (const Poco::Net::NoMessageException&) {
    return {"connection closed without a response", false, true};
  } catch (const Poco::Net::ConnectionResetException&) {
    return {"connection reset", false, true};
  } catch (const Poco::Exception& e) {
    return {e.displayText(), false, sent};
  } catch (const std::exception& e) {
    return {e.what(), false, false};
  }
}

HttpResult plain_request(const std::string& method, const Poco::URI& uri, const std::string& target,
                         const HeaderList& headers, const std::string& body,
                         std::chrono::milliseconds timeout) {
  HttpResult result;
  const auto deadline = ClientConnection::Clock::now() + timeout;
  auto& slot = t_pool.plain[origin_of(uri)];
  if (!slot) slot = std::make_unique<ClientConnection>(uri.getHost(), uri.getPort());
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = slot->connected();
    bool sent = false;
    try {
      slot->exchange(method, target, headers, body, deadline, result, sent);
      result.error.clear();
      return result;
    } catch (...) {
      Failure failure = failure_of(std::current_exception(), timeout, sent);
      result = HttpResult{};
      result.error = std::move(failure.error);
      result.timed_out = failure.timed_out;
      if (!reused || !failure.retry_if_reused) return result;
    }
  }
  return result;
}

HttpResult tls_request(const std::string& method, const Poco::URI& uri, const std::string& target,
                       const HeaderList& headers, const std::string& body,
                       std::chrono::milliseconds timeout) {
  HttpResult result;
  auto& slot = t_pool.tls[origin_of(uri)];
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = slot != nullptr && attempt == 0;
    if (!reused) {
      slot = std::make_unique<Poco::Net::HTTPSClientSession>(uri.getHost(), uri.getPort(),
                                                             tls_context());
      slot->setKeepAlive(true);
    }
    auto& session = *slot;
    bool sent = false;
    try {
      session.setTimeout(
          Poco::Timespan(std::chrono::duration_cast<std::chrono::microseconds>(timeout).count()));
      Poco::Net::HTTPRequest req(method, target, Poco::Net::HTTPMessage::HTTP_1_1);
      req.setHost(uri.getHost(), uri.getPort());
      req.setKeepAlive(true);
      for (const auto& [k, v] : headers)
        if (!is_framing_header(k)) req.set(k, v);
      if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
        req.setContentLength(body.size());
      auto& out = session.sendRequest(req);
      out.write(body.data(), static_cast<std::streamsize>(body.size()));
      sent = true;
      Poco::Net::HTTPResponse resp;
      auto& in = session.receiveResponse(resp);
      result.status = static_cast<int>(resp.getStatus());
      for (const auto& [k, v] : resp) result.headers.emplace_back(lower(k), v);
      Poco::StreamCopier::copyToString(in, result.body);
      result.error.clear();
      result.timed_out = false;
      if (!resp.getKeepAlive()) session.reset();
      return result;
    } catch (...) {
      Failure failure = failure_of(std::current_exception(), timeout, sent);
      result.error = std::move(failure.error);
      result.timed_out = failure.timed_out;
      session.reset();
      if (!reused || !failure.retry_if_reused) return result;
    }
  }
  return result;
}

}  // namespace

bool is_framing_header(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
         iequals(name, "connection");
}

bool is_valid_request_header(std::string_view name, std::string_view value) {
  return !name.empty() && name.find_first_of("\r\n:") == std::string_view::npos &&
         value.find_first_of("\r\n") == std::string_view::npos;
}

std::string HttpResult::header(const std::string& lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return v;
  return {};
}

HttpResult HttpClient::request(const std::string& method, const std::string& url,
                               const HeaderList& headers, const std::string& body,
                               std::chrono::milliseconds timeout) {
  // A worker waiting for a third party's answer computes nothing: its CPU slot goes to another.
  CpuGate::OutsideWait outside;
  HttpResult result;
  Poco::URI uri;
  try {
    uri = Poco::URI(url);
  } catch (const Poco::Exception& e) {
    result.error = "invalid URL: " + e.displayText();
    return result;
  }
  if (uri.getScheme() != "http" && uri.getScheme() != "https") {
    result.error = "unsupported URL scheme '" + uri.getScheme() + "'";
    return result;
  }
  if (timeout.count() <= 0) timeout = std::chrono::seconds(10);
  const std::string target = request_target(url);

  for (const auto& [name, value] : headers)
    if (!is_valid_request_header(name, value)) {
      result.error = "invalid request header '" + name + "'";
      return result;
    }
  if (uri.getScheme() == "http") return plain_request(method, uri, target, headers, body, timeout);
  return tls_request(method, uri, target, headers, body, timeout);
}

}  // namespace oceand
