#include "queue/pg_connection.hpp"

#include <libpq-fe.h>

#include <cstdlib>
#include <cstring>
#include <regex>

namespace oceand {

namespace {

// Parameters as libpq takes them: pointers into `params`, which must outlive this.
struct WireParams {
  explicit WireParams(const std::vector<PgParam>& params)
      : values(params.size()), lengths(params.size()), formats(params.size()) {
    for (size_t i = 0; i < params.size(); ++i) {
      values[i] = params[i].null ? nullptr : params[i].value.data();
      lengths[i] = static_cast<int>(params[i].value.size());
      formats[i] = params[i].binary ? 1 : 0;
    }
  }
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
};

}  // namespace

PgRows::~PgRows() {
  if (result_) PQclear(result_);
}

int PgRows::size() const {
  return PQntuples(result_);
}

bool PgRows::null(int row, int column) const {
  return PQgetisnull(result_, row, column) != 0;
}

std::string PgRows::text(int row, int column) const {
  return std::string(PQgetvalue(result_, row, column),
                     static_cast<size_t>(PQgetlength(result_, row, column)));
}

int64_t PgRows::int64(int row, int column) const {
  return std::strtoll(PQgetvalue(result_, row, column), nullptr, 10);
}

std::string PgRows::bytes(int row, int column) const {
  size_t length = 0;
  unsigned char* raw = PQunescapeBytea(
      reinterpret_cast<const unsigned char*>(PQgetvalue(result_, row, column)), &length);
  if (!raw) throw PgError("a bytea value could not be decoded", false);
  std::string out(reinterpret_cast<const char*>(raw), length);
  PQfreemem(raw);
  return out;
}

int64_t PgRows::affected() const {
  return std::strtoll(PQcmdTuples(result_), nullptr, 10);
}

PgConnection::PgConnection(const std::string& url) {
  // Earlier pairs are defaults: the URL (expanded in place of dbname) overrides any of them.
  const char* keys[] = {"connect_timeout",     "keepalives",       "keepalives_idle",
                        "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                        "application_name",    "dbname",           nullptr};
  const char* values[] = {"5", "1", "5", "2", "3", "10000", "oceand", url.c_str(), nullptr};
  conn_ = PQconnectdbParams(keys, values, 1);
  if (!conn_) throw PgError("out of memory connecting to PostgreSQL", true);
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string why = PQerrorMessage(conn_);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    PQfinish(conn_);
    conn_ = nullptr;
    throw PgError(why.empty() ? "cannot connect" : why, true);
  }
  // Quiet the server's NOTICEs (CREATE ... IF NOT EXISTS on every start).
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
}

PgConnection::~PgConnection() {
  if (conn_) PQfinish(conn_);
}

bool PgConnection::usable() const {
  return conn_ && PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

void PgConnection::fail(const std::string& what, pg_result* result) {
  std::string message = result ? PQresultErrorMessage(result) : "";
  if (message.empty()) message = PQerrorMessage(conn_);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  // Class 08: connection exceptions; 57P0x: the server shut down or is restarting.
  bool lost = PQstatus(conn_) != CONNECTION_OK ||
              (state && (std::strncmp(state, "08", 2) == 0 || std::strncmp(state, "57P", 3) == 0));
  if (result) PQclear(result);
  throw PgError(what + ": " + (message.empty() ? "unknown error" : message), lost);
}

PgRows PgConnection::exec(const std::string& sql, const std::vector<PgParam>& params) {
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK)
    throw PgError("the connection to PostgreSQL was lost", true);
  const WireParams wire(params);
  PGresult* result = PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                                  wire.values.data(), wire.lengths.data(), wire.formats.data(), 0);
  ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail("PostgreSQL", result);
  return PgRows(result);
}

std::vector<PgRows> PgConnection::exec_pipelined(const std::vector<Statement>& statements) {
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK)
    throw PgError("the connection to PostgreSQL was lost", true);
  if (PQenterPipelineMode(conn_) != 1) fail("PostgreSQL pipeline", nullptr);
  bool sent = true;
  for (const auto& [sql, params] : statements) {
    const WireParams wire(params);
    if (PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                          wire.values.data(), wire.lengths.data(), wire.formats.data(), 0) != 1) {
      sent = false;
      break;
    }
  }
  if (!sent || PQpipelineSync(conn_) != 1) {
    // The connection is in an unknown state: it is not used again.
    PQfinish(conn_);
    conn_ = nullptr;
    throw PgError("PostgreSQL pipeline: the statements could not be sent", true);
  }
  std::vector<PgRows> rows;
  rows.reserve(statements.size());
  PGresult* failed = nullptr;
  // Each statement's result is followed by a NULL; the sync point ends the pipeline.
  while (true) {
    PGresult* result = PQgetResult(conn_);
    if (!result) {
      if (PQstatus(conn_) != CONNECTION_OK) break;
      continue;
    }
    ExecStatusType status = PQresultStatus(result);
    if (status == PGRES_PIPELINE_SYNC) {
      PQclear(result);
      break;
    }
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      rows.emplace_back(result);
    } else if (status == PGRES_PIPELINE_ABORTED) {
      PQclear(result);
    } else if (!failed) {
      failed = result;
    } else {
      PQclear(result);
    }
  }
  if (conn_ && PQstatus(conn_) == CONNECTION_OK) PQexitPipelineMode(conn_);
  if (failed || rows.size() != statements.size() || !conn_ || PQstatus(conn_) != CONNECTION_OK)
    fail("PostgreSQL", failed);
  return rows;
}

void PgConnection::exec_script(const std::string& sql) {
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK)
    throw PgError("the connection to PostgreSQL was lost", true);
  PGresult* result = PQexec(conn_, sql.c_str());
  ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail("PostgreSQL", result);
  PQclear(result);
}

namespace {

bool plain_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    size_t n;  // continuation bytes
    uint32_t cp;
    if (c < 0x80) {
      n = 0, cp = c;
    } else if ((c >> 5) == 0x6) {
      n = 1, cp = c & 0x1F;
    } else if ((c >> 4) == 0xE) {
      n = 2, cp = c & 0x0F;
    } else if ((c >> 3) == 0x1E) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size() && n > 0) return false;
    for (size_t k = 1; k <= n; ++k) {
      const unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d >> 6) != 0x2) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    // Overlong forms, surrogates and values past Unicode are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

std::string to_pg_text(std::string_view bytes) {
  if (plain_utf8(bytes) && bytes.rfind("hex:", 0) != 0) return std::string(bytes);
  static const char digits[] = "0123456789abcdef";
  std::string out = "hex:";
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 0xF];
  }
  return out;
}

std::string from_pg_text(std::string_view text) {
  if (text.rfind("hex:", 0) != 0) return std::string(text);
  auto value = [](char c) { return c >= 'a' ? c - 'a' + 10 : c >= 'A' ? c - 'A' + 10 : c - '0'; };
  std::string out;
  for (size_t i = 4; i + 1 < text.size(); i += 2)
    out += static_cast<char>((value(text[i]) << 4) | value(text[i + 1]));
  return out;
}

std::string redact_pg_url(const std::string& url) {
  // URI form: scheme://user:password@host; key-value form: password=... (quoted or not).
  static const std::regex uri("(://[^:/@]*:)[^@]*@");
  static const std::regex kv("(password\\s*=\\s*)('([^'\\\\]|\\\\.)*'|\\S+)");
  std::string out = std::regex_replace(url, uri, "$1***@");
  return std::regex_replace(out, kv, "$1***");
}

PgPool::Lease PgPool::borrow() {
  {
    std::unique_lock lock(mutex_);
    returned_.wait(lock, [&] { return !idle_.empty() || open_ < max_open_; });
    while (!idle_.empty()) {
      std::unique_ptr<PgConnection> conn = std::move(idle_.back());
      idle_.pop_back();
      if (conn->usable()) return Lease(*this, std::move(conn));
      --open_;
    }
    ++open_;  // this borrower's, opened below
  }
  try {
    auto conn = std::make_unique<PgConnection>(url_);
    if (!on_connect_.empty()) conn->exec_script(on_connect_);
    return Lease(*this, std::move(conn));
  } catch (...) {
    {
      std::lock_guard lock(mutex_);
      --open_;
    }
    returned_.notify_one();
    throw;
  }
}

void PgPool::give_back(std::unique_ptr<PgConnection> conn) {
  {
    std::lock_guard lock(mutex_);
    if (conn && conn->usable())
      idle_.push_back(std::move(conn));
    else if (open_ > 0)
      --open_;
  }
  returned_.notify_one();
}

}  // namespace oceand
