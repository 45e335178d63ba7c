#pragma once

#include <string>

namespace oceand {

// An exclusive advisory lock (flock) on `path`, held for the object's lifetime. Two queues on one
// file would both hand out the same events, so the second opener is refused — in another process
// or in this one.
class ExclusiveFileLock {
 public:
  // Throws StoreError when the file cannot be created or another holder has it.
  explicit ExclusiveFileLock(const std::string& path);
  ~ExclusiveFileLock();
  ExclusiveFileLock(const ExclusiveFileLock&) = delete;
  ExclusiveFileLock& operator=(const ExclusiveFileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace oceand
