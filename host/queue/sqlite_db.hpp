#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace oceand {

// A failure of the on-disk store; the message names the database file.
class StoreError : public std::runtime_error {
 public:
  explicit StoreError(const std::string& what, int sqlite_code = 0)
      : std::runtime_error(what), sqlite_code_(sqlite_code) {}
  // SQLite's extended result code, 0 when the failure was not SQLite's.
  int sqlite_code() const { return sqlite_code_; }
  // The disk (or the file's size limit) is full: SQLITE_FULL.
  bool disk_full() const;

 private:
  int sqlite_code_;
};

// One SQLite connection. Not shareable between threads: each user owns its own connection (SQLite
// serialises writers across connections; WAL lets readers run beside the writer).
class SqliteDb {
 public:
  // Opens (creating when missing) `path` in WAL mode with the given `synchronous` setting, and
  // checks the file really is a database of this schema version.
  SqliteDb(const std::string& path, std::string_view synchronous);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  void exec(const char* sql);
  int64_t last_insert_rowid() const;
  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }
  // Throws StoreError with `what`, the path and SQLite's message.
  [[noreturn]] void fail(std::string_view what) const;

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
};

// A prepared statement, compiled once and reused: bind, step, reset.
class Statement {
 public:
  Statement(SqliteDb& db, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, int64_t value);
  Statement& bind(int index, std::string_view text);  // as TEXT
  Statement& bind_blob(int index, std::string_view bytes);
  // True while a row is available; false when done. Throws StoreError on failure.
  bool step();
  // Runs a statement that returns no rows, then resets it.
  void run();
  void reset();

  int64_t int64(int column) const;
  std::string text(int column) const;  // TEXT or BLOB bytes

 private:
  SqliteDb& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back when destroyed before commit().
class Transaction {
 public:
  explicit Transaction(SqliteDb& db);
  ~Transaction();
  void commit();

 private:
  SqliteDb& db_;
  bool open_ = true;
};

}  // namespace oceand
