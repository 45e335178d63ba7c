#include "client/socket_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <Poco/Exception.h>
#include <Poco/Net/NetException.h>

namespace oceand {

SocketReader::SocketReader(Poco::Net::StreamSocket& socket, Poco::Timespan timeout)
    : timeout_(timeout), socket_(socket), buffer_(kCapacity) {}

void SocketReader::clear_deadline() {
  deadline_ = Clock::time_point::max();
  if (timeout_shortened_) {
    socket_.setReceiveTimeout(timeout_);
    timeout_shortened_ = false;
  }
}

int SocketReader::receive(char* destination, size_t n) {
  if (deadline_ != Clock::time_point::max()) {
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline_ - Clock::now());
    if (left.count() <= 0) throw Poco::TimeoutException("the request took longer than allowed");
    // Only a request that has already taken longer than one receive timeout pays for this.
    if (left.count() < timeout_.totalMicroseconds()) {
      socket_.setReceiveTimeout(Poco::Timespan(std::max<int64_t>(left.count(), 1000)));
      timeout_shortened_ = true;
    }
  }
  return socket_.receiveBytes(destination, static_cast<int>(std::min<size_t>(n, 1 << 30)));
}

size_t SocketReader::fill() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (end_ == buffer_.size() && begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buffer_.size()) return 0;
  int n = receive(buffer_.data() + end_, buffer_.size() - end_);
  if (n <= 0) return 0;
  end_ += static_cast<size_t>(n);
  return static_cast<size_t>(n);
}

size_t SocketReader::read_head(size_t limit) {
  limit = std::min(limit, kCapacity);
  size_t scanned = 0;
  size_t skipped = 0;
  for (;;) {
    while (begin_ < end_ && (buffer_[begin_] == '\r' || buffer_[begin_] == '\n')) {
      ++begin_;
      ++skipped;
    }
    std::string_view data = buffered();
    // The empty lines skipped count against the limit too, whether the head's end arrived in
    // the same read or not: how the kernel cut the stream must not decide the answer.
    auto within_limit = [&](size_t head) {
      if (skipped + head > limit) throw HeadTooLarge{};
      return head;
    };
    // A head ends at an empty line; Poco's parser, like most, also takes bare LF line ends.
    for (size_t i = scanned; i < data.size(); ++i) {
      if (data[i] != '\n') continue;
      if (i + 1 < data.size() && data[i + 1] == '\n') return within_limit(i + 2);
      if (i + 2 < data.size() && data[i + 1] == '\r' && data[i + 2] == '\n')
        return within_limit(i + 3);
    }
    scanned = data.size() >= 2 ? data.size() - 2 : 0;
    if (data.size() + skipped >= limit) throw HeadTooLarge{};
    if (begin_ > 0 && end_ == buffer_.size()) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (fill() == 0) {
      if (data.empty()) return 0;
      throw Poco::Net::MessageException("connection closed in the middle of a request head");
    }
  }
}

size_t SocketReader::read_some(char* destination, size_t n) {
  if (n == 0) return 0;
  if (begin_ < end_) {
    size_t take = std::min(n, end_ - begin_);
    std::memcpy(destination, buffer_.data() + begin_, take);
    begin_ += take;
    return take;
  }
  if (n < 4096) {
    if (fill() == 0) return 0;
    return read_some(destination, n);
  }
  int got = receive(destination, n);
  return got > 0 ? static_cast<size_t>(got) : 0;
}

size_t SocketReader::append_some(std::string& out, size_t n) {
  if (n == 0) return 0;
  if (begin_ < end_) {
    size_t take = std::min(n, end_ - begin_);
    out.append(buffer_.data() + begin_, take);
    begin_ += take;
    return take;
  }
  if (n < 4096) {
    if (fill() == 0) return 0;
    return append_some(out, n);
  }
  const size_t before = out.size();
  out.resize(before + n);
  int got = 0;
  try {
    got = receive(out.data() + before, n);
  } catch (...) {
    out.resize(before);
    throw;
  }
  out.resize(before + (got > 0 ? static_cast<size_t>(got) : 0));
  return got > 0 ? static_cast<size_t>(got) : 0;
}

}  // namespace oceand
