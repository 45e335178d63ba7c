#include "queue/sqlite_db.hpp"

#include <sqlite3.h>
#include <sys/stat.h>

#include <limits>

namespace oceand {

namespace {

// Bumped when what the file holds changes; a file of an older version is upgraded (each version
// only adds to the one before), one of a newer version is refused, not misread.
constexpr int64_t kSchemaVersion = 2;

}  // namespace

SqliteDb::SqliteDb(const std::string& path, std::string_view synchronous) : path_(path) {
  int rc =
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw StoreError("cannot open database " + path_ + ": " + message);
  }
  sqlite3_extended_result_codes(db_, 1);

  // Another connection (the dead letters, a page-in) may hold the write lock for one transaction.
  sqlite3_busy_timeout(db_, 10000);
  try {
    // The first statement that reads the file: a file that is not a database fails here.
    std::string mode_name;
    try {
      // Takes effect only on a file not yet written (a new one), and must come before anything
      // writes it, WAL mode included: pages freed when a backlog drains can then be given back to
      // the filesystem (SqliteQueue runs incremental_vacuum when it is idle). On an existing file
      // it changes nothing.
      exec("PRAGMA auto_vacuum=INCREMENTAL");
      Statement mode(*this, "PRAGMA journal_mode=WAL");
      if (mode.step()) mode_name = mode.text(0);
    } catch (const StoreError&) {
      throw StoreError(path_ + " is not a usable SQLite database: " + sqlite3_errmsg(db_));
    }
    if (mode_name != "wal")
      throw StoreError(path_ + ": cannot switch to WAL mode (journal_mode is " + mode_name + ")");
    // It holds raw webhook headers and bodies: readable by oceand's user only, whatever umask
    // made it (files an older oceand created 0644 are tightened too; SQLite gives the -wal and
    // -shm files the database's mode). A file that is not ours to change is left alone.
    for (const char* suffix : {"", "-wal", "-shm"})
      ::chmod((path_ + suffix).c_str(), S_IRUSR | S_IWUSR);
    exec(("PRAGMA synchronous=" + std::string(synchronous)).c_str());
    int64_t found = 0;
    {
      // Done with before anything is written: a statement still running holds a read snapshot.
      Statement version(*this, "PRAGMA user_version");
      version.step();
      found = version.int64(0);
    }
    if (found == 0) {
      Statement tables(*this, "SELECT count(*) FROM sqlite_master WHERE type='table'");
      tables.step();
      if (tables.int64(0) != 0)
        throw StoreError(path_ + " is a database oceand did not create (no schema version)");
      exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
    } else if (found < kSchemaVersion) {
      // Each version only adds to the one before (version 2: bodies stored against dictionaries,
      // the dictionaries table): what the file holds stays readable, and an older oceand, which
      // could not read what is added, refuses the file from now on instead of dropping rows.
      exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
    } else if (found != kSchemaVersion) {
      throw StoreError(path_ + " has schema version " + std::to_string(found) + ", this oceand " +
                       "reads version " + std::to_string(kSchemaVersion) + " and older");
    }
  } catch (...) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw;
  }
}

SqliteDb::~SqliteDb() {
  sqlite3_close_v2(db_);
}

bool StoreError::disk_full() const {
  return (sqlite_code_ & 0xff) == SQLITE_FULL;
}

void SqliteDb::fail(std::string_view what) const {
  throw StoreError(std::string(what) + " (" + path_ + "): " + sqlite3_errmsg(db_),
                   sqlite3_extended_errcode(db_));
}

void SqliteDb::exec(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : sqlite3_errmsg(db_);
    sqlite3_free(error);
    throw StoreError(std::string(sql) + " (" + path_ + "): " + message,
                     sqlite3_extended_errcode(db_));
  }
}

int64_t SqliteDb::last_insert_rowid() const {
  return sqlite3_last_insert_rowid(db_);
}

Statement::Statement(SqliteDb& db, const char* sql) : db_(db) {
  if (sqlite3_prepare_v3(db.handle(), sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) !=
      SQLITE_OK)
    db.fail(std::string("cannot prepare ") + sql);
}

Statement::~Statement() {
  sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int index, int64_t value) {
  if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK) db_.fail("bind");
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  if (text.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    throw StoreError("value too large for " + db_.path());
  // SQLITE_TRANSIENT: the caller's buffer may go away before step().
  if (sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                        SQLITE_TRANSIENT) != SQLITE_OK)
    db_.fail("bind");
  return *this;
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    throw StoreError("value too large for " + db_.path());
  // A zero-length blob must still be a blob, not NULL: a non-null pointer says so.
  const char* data = bytes.empty() ? "" : bytes.data();
  if (sqlite3_bind_blob(stmt_, index, data, static_cast<int>(bytes.size()), SQLITE_TRANSIENT) !=
      SQLITE_OK)
    db_.fail("bind");
  return *this;
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string sql = sqlite3_sql(stmt_);
  sqlite3_reset(stmt_);
  db_.fail(sql);
}

void Statement::run() {
  step();
  reset();
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t Statement::int64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

std::string Statement::text(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  return data ? std::string(static_cast<const char*>(data), static_cast<size_t>(size))
              : std::string();
}

Transaction::Transaction(SqliteDb& db) : db_(db) {
  db_.exec("BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
  if (!open_) return;
  // Nothing to report from a destructor: the transaction is abandoned either way.
  sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_.exec("COMMIT");
  open_ = false;
}

}  // namespace oceand
