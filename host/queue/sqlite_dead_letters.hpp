#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "queue/dead_letters.hpp"

namespace oceand {

class SqliteDb;
class Statement;

// Dead letters in a table of the queue's SQLite file, so they survive restarts like the events they
// came from. Keeps the newest `retention` letters; ids are never reused (a replayed and re-failed
// event gets a new id).
class SqliteDeadLetters final : public DeadLetterStore {
 public:
  // Throws StoreError (naming the file) when the database cannot be opened or is not ours.
  SqliteDeadLetters(const std::string& path, const std::string& synchronous,
                    size_t retention = 10000, bool compress_bodies = true);
  ~SqliteDeadLetters() override;

  // A letter that cannot be written is logged as an error with its event id; the result is then 0.
  uint64_t add(DeadLetter letter) override;
  std::vector<DeadLetter> list(size_t limit, size_t offset = 0) const override;
  std::optional<DeadLetter> get(uint64_t id) const override;
  std::optional<DeadLetter> take(uint64_t id) override;
  size_t size() const override;

 private:
  struct Statements;

  const size_t retention_;
  const bool compress_;
  mutable std::mutex mutex_;
  std::unique_ptr<SqliteDb> db_;
  std::unique_ptr<Statements> sql_;
  size_t size_ = 0;
};

}  // namespace oceand
