#include "http/connection_registry.hpp"

namespace oceand {

bool ConnectionRegistry::enter(Poco::Net::StreamSocket& socket) {
  std::lock_guard lock(mutex_);
  if (closing_) return false;
  open_.insert(&socket);
  return true;
}

void ConnectionRegistry::leave(Poco::Net::StreamSocket& socket) {
  std::lock_guard lock(mutex_);
  open_.erase(&socket);
  if (open_.empty()) left_.notify_all();
}

bool ConnectionRegistry::closing() const {
  std::lock_guard lock(mutex_);
  return closing_;
}

bool ConnectionRegistry::close_all(std::chrono::milliseconds grace) {
  std::unique_lock lock(mutex_);
  closing_ = true;
  auto shut = [&](bool both) {
    for (auto* socket : open_) {
      try {
        if (both)
          socket->shutdown();
        else
          socket->shutdownReceive();
      } catch (...) {
        // Already closed by its peer: nothing to wake.
      }
    }
  };
  shut(false);
  if (left_.wait_for(lock, grace, [&] { return open_.empty(); })) return true;
  shut(true);
  return left_.wait_for(lock, grace, [&] { return open_.empty(); });
}

}  // namespace oceand
