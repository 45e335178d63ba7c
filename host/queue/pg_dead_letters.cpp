#include "queue/pg_dead_letters.hpp"

#include "core/log.hpp"
#include "queue/pg_event_row.hpp"

namespace oceand {

namespace {

// What read_letter reads, in its order.
const std::string kLetterColumns =
    std::string("id, event_seq, reason, error, processor, attempts, failed_at_ms, ") +
    PgEventRow::kColumns;
const std::string kSelect = "SELECT " + kLetterColumns + " FROM oceand_dead_letters ";

DeadLetter read_letter(const PgRows& rows, int r) {
  DeadLetter letter;
  letter.id = static_cast<uint64_t>(rows.int64(r, 0));
  letter.event = PgEventRow::read(rows, r, 7, static_cast<uint64_t>(rows.int64(r, 1)));
  letter.reason = rows.text(r, 2);
  letter.error = from_pg_text(rows.text(r, 3));
  letter.processor = from_pg_text(rows.text(r, 4));
  letter.attempts = static_cast<unsigned>(rows.int64(r, 5));
  letter.failed_at_ms = rows.int64(r, 6);
  return letter;
}

}  // namespace

PgDeadLetters::PgDeadLetters(const std::string& url, size_t retention)
    : retention_(retention), pool_(url, 2) {}

uint64_t PgDeadLetters::add(DeadLetter letter) {
  std::vector<PgParam> params = PgEventRow::params(*letter.event, true);
  params.emplace_back(letter.event->id);
  params.emplace_back(letter.reason);
  params.emplace_back(to_pg_text(letter.error));
  params.emplace_back(to_pg_text(letter.processor));
  params.emplace_back(static_cast<int64_t>(letter.attempts));
  params.emplace_back(letter.failed_at_ms);
  try {
    PgPool::Lease conn = pool_.borrow();
    PgRows rows =
        conn->exec(std::string("INSERT INTO oceand_dead_letters(") + PgEventRow::kColumns +
                       ", event_seq, reason, error, processor, attempts, failed_at_ms) "
                       "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
                       "$14) RETURNING id",
                   params);
    uint64_t id = static_cast<uint64_t>(rows.int64(0, 0));
    PgRows dropped = conn->exec(
        "DELETE FROM oceand_dead_letters WHERE id <= (SELECT id FROM oceand_dead_letters "
        "ORDER BY id DESC OFFSET $1 LIMIT 1)",
        {static_cast<int64_t>(retention_)});
    if (dropped.affected() > 0)
      OCEAND_LOG_WARN("queue") << dropped.affected()
                               << " oldest dead letter(s) dropped: queue.dead_letter_retention="
                               << retention_;
    return id;
  } catch (const std::exception& e) {
    OCEAND_LOG_ERROR("queue") << "event " << letter.event->id
                              << " could not be kept as a dead letter in PostgreSQL: " << e.what();
    return 0;
  }
}

std::vector<DeadLetter> PgDeadLetters::select(const std::string& where,
                                              const std::vector<PgParam>& params) const {
  std::vector<DeadLetter> letters;
  PgPool::Lease conn = pool_.borrow();
  PgRows rows = conn->exec(kSelect + where, params);
  for (int r = 0; r < rows.size(); ++r) {
    try {
      letters.push_back(read_letter(rows, r));
    } catch (const std::exception& e) {
      OCEAND_LOG_ERROR("queue") << "dead letter " << rows.text(r, 0)
                                << " cannot be read: " << e.what();
    }
  }
  return letters;
}

std::vector<DeadLetter> PgDeadLetters::list(size_t limit, size_t offset) const {
  try {
    return select("ORDER BY id DESC LIMIT $1 OFFSET $2",
                  {static_cast<int64_t>(limit), static_cast<int64_t>(offset)});
  } catch (const std::exception& e) {
    OCEAND_LOG_ERROR_LIMITED("queue", "pg dead letters") << "dead letters: " << e.what();
    return {};
  }
}

std::optional<DeadLetter> PgDeadLetters::get(uint64_t id) const {
  try {
    auto letters = select("WHERE id = $1", {id});
    if (letters.empty()) return std::nullopt;
    return std::move(letters.front());
  } catch (const std::exception& e) {
    OCEAND_LOG_ERROR_LIMITED("queue", "pg dead letters") << "dead letters: " << e.what();
    return std::nullopt;
  }
}

std::optional<DeadLetter> PgDeadLetters::take(uint64_t id) {
  // DELETE ... RETURNING: of two instances replaying one letter at once, one gets it. In a
  // transaction, so that a letter this oceand cannot read is kept, not lost.
  try {
    PgPool::Lease conn = pool_.borrow();
    conn->exec_script("BEGIN");
    try {
      PgRows rows = conn->exec(
          "DELETE FROM oceand_dead_letters WHERE id = $1 RETURNING " + kLetterColumns, {id});
      std::optional<DeadLetter> letter;
      if (rows.size() > 0) letter = read_letter(rows, 0);
      conn->exec_script("COMMIT");
      return letter;
    } catch (...) {
      try {
        conn->exec_script("ROLLBACK");
      } catch (...) {
      }
      throw;
    }
  } catch (const std::exception& e) {
    OCEAND_LOG_ERROR_LIMITED("queue", "pg dead letters") << "dead letters: " << e.what();
    return std::nullopt;
  }
}

size_t PgDeadLetters::size() const {
  try {
    PgPool::Lease conn = pool_.borrow();
    return static_cast<size_t>(conn->exec("SELECT count(*) FROM oceand_dead_letters").int64(0, 0));
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace oceand
