#pragma once

// Small pieces shared by the benchmark programs: a blocking HTTP/1.1 client on one keep-alive
// connection (Poco's client allocates per request, which would make the load generator the
// bottleneck on a 2-core machine), a JSON template whose numbers are substituted per event, and
// percentiles.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/hmac.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// The value of command-line flag argv[i], which is argv[i + 1]; advances i past it.
inline std::string flag_value(int argc, char** argv, int& i) {
  if (i + 1 >= argc) throw std::runtime_error(std::string(argv[i]) + " needs a value");
  return argv[++i];
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string hmac_sha256_hex(const std::string& key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out += hex[mac[i] >> 4];
    out += hex[mac[i] & 15];
  }
  return out;
}

// JSON text with placeholder numbers: rendering replaces every occurrence of placeholder k with
// the k-th value, so one 28 KB payload becomes millions of distinct events without parsing.
class NumberTemplate {
 public:
  NumberTemplate() = default;
  NumberTemplate(const std::string& text, const std::vector<std::string>& placeholders) {
    size_t pos = 0;
    while (true) {
      size_t best = std::string::npos;
      int which = -1;
      for (size_t k = 0; k < placeholders.size(); ++k) {
        size_t at = text.find(placeholders[k], pos);
        if (at < best) best = at, which = static_cast<int>(k);
      }
      if (which < 0) break;
      literals_.push_back(text.substr(pos, best - pos));
      slots_.push_back(which);
      pos = best + placeholders[which].size();
    }
    literals_.push_back(text.substr(pos));
  }
  void render(const std::vector<std::string>& values, std::string& out) const {
    out.clear();
    for (size_t i = 0; i < slots_.size(); ++i) {
      out += literals_[i];
      out += values[slots_[i]];
    }
    out += literals_.back();
  }
  size_t slots() const { return slots_.size(); }

 private:
  std::vector<std::string> literals_;
  std::vector<int> slots_;
};

// One keep-alive connection to a loopback HTTP/1.1 server.
class Connection {
 public:
  explicit Connection(uint16_t port) : port_(port) {}
  ~Connection() { close(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends head (ending in the blank line) and body; returns the status, or -1 on a broken
  // connection (the next call reconnects).
  int request(const std::string& head, const std::string& body, std::string* response_body) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (fd_ < 0 && !open()) return -1;
      iovec iov[2] = {{const_cast<char*>(head.data()), head.size()},
                      {const_cast<char*>(body.data()), body.size()}};
      if (!write_all(iov, body.empty() ? 1 : 2)) {
        close();
        continue;  // the server closed an idle keep-alive connection
      }
      int status = read_response(response_body);
      if (status < 0) {
        close();
        if (attempt == 0) continue;
      }
      return status;
    }
    return -1;
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buffer_.clear();
  }

 private:
  bool open() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return false;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close();
      return false;
    }
    return true;
  }

  bool write_all(iovec* iov, int count) {
    while (count > 0) {
      ssize_t n = ::writev(fd_, iov, count);
      if (n <= 0) return false;
      while (count > 0 && static_cast<size_t>(n) >= iov->iov_len) {
        n -= static_cast<ssize_t>(iov->iov_len);
        ++iov;
        --count;
      }
      if (count > 0) {
        iov->iov_base = static_cast<char*>(iov->iov_base) + n;
        iov->iov_len -= static_cast<size_t>(n);
      }
    }
    return true;
  }

  bool fill() {
    char chunk[16384];
    ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int read_response(std::string* body) {
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return -1;
    int status = buffer_.size() > 12 ? std::atoi(buffer_.c_str() + 9) : -1;
    size_t length = 0;
    bool close_after = false;
    // Header names are matched case-insensitively by lower-casing a copy of the head only.
    std::string head = buffer_.substr(0, end);
    for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (size_t cl = head.find("\r\ncontent-length:"); cl != std::string::npos)
      length = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
    if (head.find("\r\nconnection: close") != std::string::npos) close_after = true;
    while (buffer_.size() < end + 4 + length)
      if (!fill()) return -1;
    if (body) body->assign(buffer_, end + 4, length);
    buffer_.erase(0, end + 4 + length);
    if (close_after) close();
    return status;
  }

  uint16_t port_;
  int fd_ = -1;
  std::string buffer_;
};

// The q-quantile (0..1) of values, nearest rank; sorts in place.
inline double quantile(std::vector<double>& values, double q) {
  if (values.empty()) return 0;
  size_t rank = static_cast<size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  std::nth_element(values.begin(), values.begin() + static_cast<long>(rank), values.end());
  return values[rank];
}

}  // namespace bench
