#pragma once

#include "queue/dead_letters.hpp"
#include "queue/pg_connection.hpp"

namespace oceand {

// Dead letters in PostgreSQL (queue.backend: postgres): one store for every instance, so any
// instance's /admin/dead-letters lists and replays the cluster's. Keeps the newest `retention`.
class PgDeadLetters final : public DeadLetterStore {
 public:
  // Expects the schema migrate_pg_schema creates.
  PgDeadLetters(const std::string& url, size_t retention);

  uint64_t add(DeadLetter letter) override;
  std::vector<DeadLetter> list(size_t limit, size_t offset = 0) const override;
  std::optional<DeadLetter> get(uint64_t id) const override;
  std::optional<DeadLetter> take(uint64_t id) override;
  size_t size() const override;

 private:
  std::vector<DeadLetter> select(const std::string& where,
                                 const std::vector<PgParam>& params) const;

  const size_t retention_;
  mutable PgPool pool_;
};

}  // namespace oceand
