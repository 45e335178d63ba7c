#include "queue/sqlite_dead_letters.hpp"

#include "core/log.hpp"
#include "queue/sqlite_db.hpp"
#include "queue/stored_event.hpp"

namespace oceand {

namespace {

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS dead_letters(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id INTEGER NOT NULL, reason TEXT NOT NULL, error TEXT NOT NULL, processor TEXT NOT NULL,
  attempts INTEGER NOT NULL, failed_at_ms INTEGER NOT NULL,
  integration TEXT NOT NULL, route TEXT NOT NULL, delivery_id TEXT NOT NULL,
  received_at_ms INTEGER NOT NULL, headers BLOB NOT NULL, body BLOB NOT NULL,
  payload BLOB NOT NULL, deflated INTEGER NOT NULL);
)";

std::string select_sql(const char* where) {
  return std::string("SELECT id, event_id, reason, error, processor, attempts, failed_at_ms, ") +
         StoredEvent::kColumns + " FROM dead_letters " + where;
}

DeadLetter read_letter(const Statement& s) {
  DeadLetter letter;
  letter.id = static_cast<uint64_t>(s.int64(0));
  letter.event = StoredEvent::read(s, 7, static_cast<uint64_t>(s.int64(1)));
  letter.reason = s.text(2);
  letter.error = s.text(3);
  letter.processor = s.text(4);
  letter.attempts = static_cast<unsigned>(s.int64(5));
  letter.failed_at_ms = s.int64(6);
  return letter;
}

}  // namespace

struct SqliteDeadLetters::Statements {
  explicit Statements(SqliteDb& db)
      : insert(db, (std::string("INSERT INTO dead_letters(event_id, reason, error, processor, "
                                "attempts, failed_at_ms, ") +
                    StoredEvent::kColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
                       .c_str()),
        newest(db, select_sql("ORDER BY id DESC LIMIT ? OFFSET ?").c_str()),
        by_id(db, select_sql("WHERE id = ?").c_str()),
        remove(db, "DELETE FROM dead_letters WHERE id = ?"),
        oldest(db, "SELECT id, event_id FROM dead_letters ORDER BY id LIMIT ?"),
        count(db, "SELECT count(*) FROM dead_letters") {}
  Statement insert, newest, by_id, remove, oldest, count;
};

SqliteDeadLetters::SqliteDeadLetters(const std::string& path, const std::string& synchronous,
                                     size_t retention, bool compress_bodies)
    : retention_(retention), compress_(compress_bodies) {
  db_ = std::make_unique<SqliteDb>(path, synchronous);
  db_->exec(kSchema);
  sql_ = std::make_unique<Statements>(*db_);
  sql_->count.step();
  size_ = static_cast<size_t>(sql_->count.int64(0));
  sql_->count.reset();
}

SqliteDeadLetters::~SqliteDeadLetters() = default;

uint64_t SqliteDeadLetters::add(DeadLetter letter) {
  StoredEvent stored(letter.event, compress_);
  std::lock_guard lock(mutex_);
  try {
    Transaction tx(*db_);
    Statement& s = sql_->insert;
    s.bind(1, static_cast<int64_t>(letter.event->id))
        .bind(2, letter.reason)
        .bind(3, letter.error)
        .bind(4, letter.processor)
        .bind(5, static_cast<int64_t>(letter.attempts))
        .bind(6, letter.failed_at_ms);
    stored.bind(s, 7);
    s.run();
    auto id = static_cast<uint64_t>(db_->last_insert_rowid());
    size_t over = size_ + 1 > retention_ ? size_ + 1 - retention_ : 0;
    if (over > 0) {
      sql_->oldest.bind(1, static_cast<int64_t>(over));
      std::vector<std::pair<int64_t, int64_t>> dropped;
      while (sql_->oldest.step())
        dropped.emplace_back(sql_->oldest.int64(0), sql_->oldest.int64(1));
      sql_->oldest.reset();
      for (const auto& [letter_id, event_id] : dropped) {
        sql_->remove.bind(1, letter_id).run();
        OCEAND_LOG_WARN("dead-letters")
            << "retention bound " << retention_ << " reached: dropping dead letter " << letter_id
            << " (event " << event_id << ")";
      }
      over = dropped.size();
    }
    tx.commit();
    size_ = size_ + 1 - over;
    return id;
  } catch (const StoreError& e) {
    OCEAND_LOG_ERROR("dead-letters")
        << "event " << letter.event->id << " (" << letter.reason
        << ") could not be stored as a dead letter and is lost: " << e.what();
    return 0;
  }
}

std::vector<DeadLetter> SqliteDeadLetters::list(size_t limit, size_t offset) const {
  std::lock_guard lock(mutex_);
  std::vector<DeadLetter> out;
  Statement& s = sql_->newest;
  try {
    s.bind(1, static_cast<int64_t>(std::min<size_t>(limit, 1u << 30)))
        .bind(2, static_cast<int64_t>(std::min<size_t>(offset, 1ull << 62)));
    while (s.step()) {
      try {
        out.push_back(read_letter(s));
      } catch (const StoreError& e) {
        OCEAND_LOG_ERROR("dead-letters")
            << "dead letter " << s.int64(0) << " is unreadable: " << e.what();
      }
    }
  } catch (const StoreError& e) {
    OCEAND_LOG_ERROR("dead-letters") << "listing dead letters failed: " << e.what();
  }
  s.reset();
  return out;
}

std::optional<DeadLetter> SqliteDeadLetters::get(uint64_t id) const {
  std::lock_guard lock(mutex_);
  Statement& s = sql_->by_id;
  try {
    s.bind(1, static_cast<int64_t>(id));
    std::optional<DeadLetter> letter;
    if (s.step()) letter = read_letter(s);
    s.reset();
    return letter;
  } catch (const StoreError& e) {
    s.reset();
    OCEAND_LOG_ERROR("dead-letters") << "reading dead letter " << id << " failed: " << e.what();
    return std::nullopt;
  }
}

std::optional<DeadLetter> SqliteDeadLetters::take(uint64_t id) {
  std::lock_guard lock(mutex_);
  try {
    Transaction tx(*db_);
    Statement& s = sql_->by_id;
    s.bind(1, static_cast<int64_t>(id));
    if (!s.step()) {
      s.reset();
      return std::nullopt;
    }
    DeadLetter letter = read_letter(s);
    s.reset();
    sql_->remove.bind(1, static_cast<int64_t>(id)).run();
    tx.commit();
    --size_;
    return letter;
  } catch (const StoreError& e) {
    sql_->by_id.reset();
    OCEAND_LOG_ERROR("dead-letters") << "taking dead letter " << id << " failed: " << e.what();
    return std::nullopt;
  }
}

size_t SqliteDeadLetters::size() const {
  std::lock_guard lock(mutex_);
  return size_;
}

}  // namespace oceand
