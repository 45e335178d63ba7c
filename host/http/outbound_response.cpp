#include "http/outbound_response.hpp"

#include <ctime>
#include <fstream>
#include <iterator>

#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/Timestamp.h>

namespace oceand {

const std::string& http_date_now() {
  thread_local std::time_t second = 0;
  thread_local std::string text;
  std::time_t now = std::time(nullptr);
  if (now != second) {
    second = now;
    text = Poco::DateTimeFormatter::format(Poco::Timestamp::fromEpochTime(now),
                                           Poco::DateTimeFormat::HTTP_FORMAT);
  }
  return text;
}

void OutboundResponse::append_head(std::string& out) const {
  out += getVersion();
  out += ' ';
  out += std::to_string(static_cast<int>(getStatus()));
  out += ' ';
  // setStatus() leaves Poco's reason at "OK"; an answer's reason follows its status.
  const std::string& reason = getReason();
  out +=
      getStatus() != HTTP_OK && reason == HTTP_REASON_OK ? getReasonForStatus(getStatus()) : reason;
  out += "\r\n";
  for (const auto& [name, value] : *this) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  out += "\r\n";
}

std::ostream& OutboundResponse::send() {
  if (sent_) throw Poco::IllegalStateException("the answer was already sent");
  sent_ = true;
  streamed_.emplace();
  return *streamed_;
}

void OutboundResponse::finish() {
  if (!streamed_) return;
  std::string body = streamed_->str();
  streamed_.reset();
  write_answer(body.data(), body.size());
}

void OutboundResponse::sendBuffer(const void* buffer, std::size_t length) {
  if (sent_) throw Poco::IllegalStateException("the answer was already sent");
  sent_ = true;
  write_answer(static_cast<const char*>(buffer), length);
}

void OutboundResponse::write_answer(const char* body, size_t length) {
  setChunkedTransferEncoding(false);
  setContentLength64(static_cast<Poco::Int64>(length));
  output_.reserve(output_.size() + 256 + length);
  append_head(output_);
  if (!head_only_ && length > 0) output_.append(body, length);
  committed_ = true;
}

void OutboundResponse::sendFile(const std::string& path, const std::string& media_type) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Poco::FileNotFoundException(path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  setContentType(media_type);
  sendBuffer(content.data(), content.size());
}

void OutboundResponse::redirect(const std::string& uri, HTTPStatus status) {
  setStatusAndReason(status);
  set("Location", uri);
  sendBuffer(nullptr, 0);
}

void OutboundResponse::requireAuthentication(const std::string& realm) {
  setStatusAndReason(HTTP_UNAUTHORIZED);
  set("WWW-Authenticate", "Basic realm=\"" + realm + "\"");
  sendBuffer(nullptr, 0);
}

}  // namespace oceand
