#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <unordered_set>

#include <Poco/Net/StreamSocket.h>

namespace oceand {

// The connections being served, so that stopping the server can end them: each connection
// thread waits on its socket between requests, and only the socket's shutdown wakes it.
class ConnectionRegistry {
 public:
  // False once closing: the connection is dropped unserved.
  bool enter(Poco::Net::StreamSocket& socket);
  void leave(Poco::Net::StreamSocket& socket);
  bool closing() const;

  // Stops reading on every connection: idle ones end at once, an answer being written still
  // leaves. After `grace`, the sockets are shut in both directions. True when every connection
  // thread has left within twice `grace`.
  bool close_all(std::chrono::milliseconds grace);

 private:
  mutable std::mutex mutex_;
  std::condition_variable left_;
  std::unordered_set<Poco::Net::StreamSocket*> open_;
  bool closing_ = false;
};

}  // namespace oceand
