#include "http/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <mutex>

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include "core/text.hpp"
#include "http/client_connection.hpp"

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

// Per-thread pools of kept-alive connections, one per origin: our own for plain HTTP, Poco's
// sessions for HTTPS.
struct SessionPool {
  std::map<std::string, std::unique_ptr<Poco::Net::HTTPClientSession>> sessions;
  std::map<std::string, std::unique_ptr<ClientConnection>> plain;
};
thread_local SessionPool t_pool;

HttpResult plain_request(const std::string& method, const Poco::URI& uri, const std::string& target,
                         const HeaderList& headers, const std::string& body,
                         std::chrono::milliseconds timeout) {
  HttpResult result;
  const auto deadline = ClientConnection::Clock::now() + timeout;
  auto& slot = t_pool.plain[uri.getHost() + ":" + std::to_string(uri.getPort())];
  if (!slot) slot = std::make_unique<ClientConnection>(uri.getHost(), uri.getPort());
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = slot->connected();
    bool sent = false;
    try {
      slot->exchange(method, target, headers, body, deadline, result, sent);
      result.error.clear();
      return result;
    } catch (const Poco::TimeoutException&) {
      result = HttpResult{};
      result.error = "timed out after " + std::to_string(timeout.count()) + " ms";
      result.timed_out = true;
      return result;
    } catch (const Poco::Net::NoMessageException&) {
      result = HttpResult{};
      result.error = "connection closed without a response";
    } catch (const Poco::Net::ConnectionResetException&) {
      result = HttpResult{};
      result.error = "connection reset";
    } catch (const Poco::Exception& e) {
      result = HttpResult{};
      result.error = e.displayText();
      if (!reused || !sent) return result;
    } catch (const std::exception& e) {
      result = HttpResult{};
      result.error = e.what();
      return result;
    }
    // A kept-alive connection the server closed meanwhile: one more try on a fresh connection.
    if (!reused) return result;
  }
  return result;
}

Poco::Net::HTTPClientSession& session_for(const Poco::URI& uri, bool fresh) {
  std::string origin =
      uri.getScheme() + "://" + uri.getHost() + ":" + std::to_string(uri.getPort());
  auto& slot = t_pool.sessions[origin];
  if (!slot || fresh) {
    if (uri.getScheme() == "https")
      slot = std::make_unique<Poco::Net::HTTPSClientSession>(uri.getHost(), uri.getPort(),
                                                             tls_context());
    else
      slot = std::make_unique<Poco::Net::HTTPClientSession>(uri.getHost(), uri.getPort());
    slot->setKeepAlive(true);
  }
  return *slot;
}

}  // namespace

bool is_framing_header(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
         iequals(name, "connection");
}

std::string HttpResult::header(const std::string& lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return v;
  return {};
}

HttpResult HttpClient::request(const std::string& method, const std::string& url,
                               const HeaderList& headers, const std::string& body,
                               std::chrono::milliseconds timeout) {
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
  std::string target = uri.getPathAndQuery();
  if (target.empty()) target = "/";

  for (const auto& [name, value] : headers)
    if (name.empty() || name.find_first_of("\r\n:") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      result.error = "invalid request header '" + name + "'";
      return result;
    }
  if (uri.getScheme() == "http") return plain_request(method, uri, target, headers, body, timeout);

  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = t_pool.sessions.count(uri.getScheme() + "://" + uri.getHost() + ":" +
                                        std::to_string(uri.getPort())) > 0;
    auto& session = session_for(uri, attempt > 0);
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
    } catch (const Poco::TimeoutException& e) {
      result.error = "timed out after " + std::to_string(timeout.count()) + " ms";
      result.timed_out = true;
      session.reset();
      return result;
    } catch (const Poco::Net::NoMessageException& e) {
      result.error = "connection closed without a response";
    } catch (const Poco::Net::ConnectionResetException& e) {
      result.error = "connection reset";
    } catch (const Poco::Exception& e) {
      result.error = e.displayText();
      session.reset();
      if (!reused || !sent) return result;
    } catch (const std::exception& e) {
      result.error = e.what();
      session.reset();
      return result;
    }
    session.reset();
    // A kept-alive connection the server closed meanwhile: one more try on a fresh connection.
    if (!reused) return result;
  }
  return result;
}

}  // namespace oceand
