#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct pg_conn;
struct pg_result;

namespace oceand {

// A PostgreSQL error: what the server or libpq said. `connection_lost`: the connection is unusable
// (server stopped, restarted, network cut) and must be replaced; otherwise the statement failed.
class PgError : public std::runtime_error {
 public:
  PgError(const std::string& what, bool connection_lost)
      : std::runtime_error(what), connection_lost_(connection_lost) {}
  bool connection_lost() const { return connection_lost_; }

 private:
  bool connection_lost_;
};

// A statement parameter: text (PostgreSQL converts it to the column's type), bytes (bytea, sent in
// binary, never escaped) or SQL NULL.
struct PgParam {
  std::string value;
  bool binary = false;
  bool null = false;

  PgParam(std::string text) : value(std::move(text)) {}
  PgParam(const char* text) : value(text) {}
  PgParam(int64_t n) : value(std::to_string(n)) {}
  PgParam(uint64_t n) : value(std::to_string(n)) {}
  static PgParam bytes(std::string b) {
    PgParam p(std::move(b));
    p.binary = true;
    return p;
  }
  static PgParam sql_null() {
    PgParam p("");
    p.null = true;
    return p;
  }
};

// The rows of one statement, in text format.
class PgRows {
 public:
  explicit PgRows(pg_result* result) : result_(result) {}
  PgRows(PgRows&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
  PgRows& operator=(PgRows&&) = delete;
  ~PgRows();

  int size() const;
  bool null(int row, int column) const;
  std::string text(int row, int column) const;
  int64_t int64(int row, int column) const;
  // A bytea column, unescaped.
  std::string bytes(int row, int column) const;
  // Rows an INSERT, UPDATE or DELETE touched.
  int64_t affected() const;

 private:
  pg_result* result_;
};

// One connection to the server, used by one thread at a time. Connecting and every statement
// throw PgError; after one with connection_lost() the connection is dropped.
class PgConnection {
 public:
  // `url`: a libpq connection string or URI. oceand adds, unless the string sets them, a 5 s
  // connect timeout and TCP keepalives that notice a cut connection within ≈ 10 s, and names
  // itself application_name=oceand (so pg_stat_activity shows which sessions are oceand's).
  explicit PgConnection(const std::string& url);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  PgRows exec(const std::string& sql, const std::vector<PgParam>& params = {});
  struct Statement {
    std::string sql;
    std::vector<PgParam> params;
  };
  // Sends every statement, then reads every answer: one round trip (libpq's pipeline mode). The
  // rows of each, in order. On an error the rest is skipped and PgError thrown (a transaction the
  // statements opened is then left failed: roll it back).
  std::vector<PgRows> exec_pipelined(const std::vector<Statement>& statements);
  // Runs `sql` (one or more statements, no parameters).
  void exec_script(const std::string& sql);
  // Connected, with no transaction open or failed (fit to go back to a pool).
  bool usable() const;

 private:
  [[noreturn]] void fail(const std::string& what, pg_result* result);
  pg_conn* conn_ = nullptr;
};

// Bytes from outside (a delivery id from a header, a plugin's group key or error text) as a text
// value PostgreSQL takes — valid UTF-8 without NUL — and back. Such text passes unchanged; anything
// else (and text that itself starts with "hex:") becomes "hex:" and its bytes in hex, so distinct
// inputs stay distinct.
std::string to_pg_text(std::string_view bytes);
std::string from_pg_text(std::string_view text);

// `url` with any password replaced by "***", for logs and error messages.
std::string redact_pg_url(const std::string& url);

// A few connections shared by threads that each need one for a moment: at most `max_open` at once
// (a borrower waits for one to come back rather than open more: a server's connections are a
// process each, and opening one costs milliseconds). A connection a statement lost is dropped and
// replaced on a later borrow, so a restarted server is reconnected to without anyone's help.
class PgPool {
 public:
  // `on_connect`: statements every new connection runs first (session settings).
  PgPool(std::string url, size_t max_open, std::string on_connect = "")
      : url_(std::move(url)), max_open_(max_open), on_connect_(std::move(on_connect)) {}

  class Lease {
   public:
    Lease(PgPool& pool, std::unique_ptr<PgConnection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& other) noexcept : pool_(other.pool_), conn_(std::move(other.conn_)) {
      other.moved_ = true;
    }
    ~Lease() {
      if (!moved_) pool_.give_back(std::move(conn_));
    }
    PgConnection* operator->() { return conn_.get(); }
    PgConnection& operator*() { return *conn_; }

   private:
    PgPool& pool_;
    std::unique_ptr<PgConnection> conn_;
    bool moved_ = false;
  };
  // Throws PgError when no connection can be made.
  Lease borrow();
  const std::string& url() const { return url_; }

 private:
  void give_back(std::unique_ptr<PgConnection> conn);

  const std::string url_;
  const size_t max_open_;
  const std::string on_connect_;
  std::mutex mutex_;
  std::condition_variable returned_;
  size_t open_ = 0;  // lent out or idle
  std::vector<std::unique_ptr<PgConnection>> idle_;
};

}  // namespace oceand
