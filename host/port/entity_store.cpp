#include "port/entity_store.hpp"

#include <sys/stat.h>

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <rapidjson/document.h>

#include <chrono>
#include <ctime>
#include <filesystem>

#include "core/json_text.hpp"
#include "queue/pg_connection.hpp"
#include "queue/pg_schema.hpp"

namespace oceand {

using namespace Poco::Data::Keywords;

namespace {

std::string iso_now() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

// Lays `update` over `base` key by key (both objects): Port's merge=true for properties and
// relations.
void merge_object(rapidjson::Value& base, const rapidjson::Value& update,
                  rapidjson::Document::AllocatorType& alloc) {
  for (auto it = update.MemberBegin(); it != update.MemberEnd(); ++it) {
    auto found = base.FindMember(it->name);
    if (found != base.MemberEnd())
      found->value.CopyFrom(it->value, alloc);
    else
      base.AddMember(rapidjson::Value(it->name, alloc), rapidjson::Value(it->value, alloc), alloc);
  }
}

// The stored form of `incoming` given what was stored before (null when new).
std::string upserted(const std::string& incoming, const std::string* stored, bool merge) {
  rapidjson::Document in;
  in.Parse(incoming.data(), incoming.size());
  if (in.HasParseError() || !in.IsObject()) throw EntityStoreError("entity is not a JSON object");
  rapidjson::Document out;
  out.SetObject();
  auto& alloc = out.GetAllocator();
  std::string created = iso_now(), updated = created;
  rapidjson::Document old;
  if (stored) {
    old.Parse(stored->data(), stored->size());
    if (!old.HasParseError() && old.IsObject()) {
      auto c = old.FindMember("createdAt");
      if (c != old.MemberEnd() && c->value.IsString()) created = c->value.GetString();
    }
  }
  const bool merging = merge && stored && old.IsObject();
  if (merging) out.CopyFrom(old, alloc);
  for (const char* section : {"properties", "relations"}) {
    auto target = out.FindMember(section);
    if (target == out.MemberEnd() || !target->value.IsObject()) {
      if (target != out.MemberEnd()) out.RemoveMember(target);
      out.AddMember(rapidjson::Value(section, alloc), rapidjson::Value(rapidjson::kObjectType),
                    alloc);
      target = out.FindMember(section);
    }
    auto source = in.FindMember(section);
    if (source != in.MemberEnd() && source->value.IsObject())
      merge_object(target->value, source->value, alloc);
  }
  for (auto it = in.MemberBegin(); it != in.MemberEnd(); ++it) {
    std::string_view name(it->name.GetString(), it->name.GetStringLength());
    if (name == "properties" || name == "relations") continue;
    auto found = out.FindMember(it->name);
    if (found != out.MemberEnd())
      found->value.CopyFrom(it->value, alloc);
    else
      out.AddMember(rapidjson::Value(it->name, alloc), rapidjson::Value(it->value, alloc), alloc);
  }
  for (const auto& [name, value] : {std::pair{"createdAt", created}, {"updatedAt", updated}}) {
    rapidjson::Value v(value.c_str(), static_cast<rapidjson::SizeType>(value.size()), alloc);
    auto found = out.FindMember(name);
    if (found != out.MemberEnd())
      found->value = v;
    else
      out.AddMember(rapidjson::Value(name, alloc), v, alloc);
  }
  return json_text(out);
}

}  // namespace

bool is_pg_url(const std::string& value) {
  return value.rfind("postgres://", 0) == 0 || value.rfind("postgresql://", 0) == 0 ||
         value.find("dbname=") != std::string::npos || value.find("host=") != std::string::npos;
}

EntityStore::EntityStore(const std::string& path) : path_(path) {
  if (is_pg_url(path)) {
    try {
      pg_ = std::make_unique<PgPool>(path, 4);
      PgPool::Lease conn = pg_->borrow();
      migrate_pg_schema(*conn);
    } catch (const std::exception& e) {
      throw EntityStoreError("port.local_db " + redact_pg_url(path) +
                             ": cannot open the entity store: " + e.what());
    }
    return;
  }
  static std::once_flag registered;
  std::call_once(registered, [] { Poco::Data::SQLite::Connector::registerConnector(); });
  try {
    std::filesystem::path p(path);
    if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
    session_ = std::make_unique<Poco::Data::Session>("SQLite", path);
    std::string mode;
    *session_ << "PRAGMA journal_mode=WAL", into(mode), now;
    // The catalog is what Port would hold: oceand's user's only (see queue/sqlite_db.cpp).
    for (const char* suffix : {"", "-wal", "-shm"})
      ::chmod((path + suffix).c_str(), S_IRUSR | S_IWUSR);
    *session_ << "PRAGMA synchronous=NORMAL", now;
    *session_ << "CREATE TABLE IF NOT EXISTS entities ("
                 " blueprint TEXT NOT NULL, identifier TEXT NOT NULL, entity TEXT NOT NULL,"
                 " PRIMARY KEY (blueprint, identifier)) WITHOUT ROWID",
        now;
  } catch (const std::exception& e) {
    throw EntityStoreError("port.local_db " + path + ": cannot open the entity store: " + e.what());
  }
}

EntityStore::~EntityStore() = default;

std::optional<std::string> EntityStore::get_locked(const std::string& blueprint,
                                                   const std::string& identifier) {
  std::vector<std::string> rows;
  std::string bp = blueprint, id = identifier;
  *session_ << "SELECT entity FROM entities WHERE blueprint = ? AND identifier = ?", use(bp),
      use(id), into(rows), now;
  if (rows.empty()) return std::nullopt;
  return rows.front();
}

void EntityStore::write_pg(const EntityChanges& changes) {
  std::optional<PgPool::Lease> lease;
  try {
    lease.emplace(pg_->borrow());
  } catch (const std::exception& e) {
    throw EntityStoreError(std::string("entity store write failed: ") + e.what());
  }
  PgPool::Lease& conn = *lease;
  try {
    conn->exec_script("BEGIN");
    for (const auto& entity : changes.upserts) {
      // The row first exists (a new entity: an empty placeholder only this transaction sees), so
      // that FOR UPDATE always has a row to lock: instances writing one entity at once merge one
      // after the other instead of both starting from nothing.
      conn->exec(
          "INSERT INTO oceand_entities(blueprint, identifier, entity) VALUES ($1, $2, '') "
          "ON CONFLICT DO NOTHING",
          {entity.blueprint, entity.identifier});
      PgRows stored = conn->exec(
          "SELECT entity FROM oceand_entities WHERE blueprint = $1 AND identifier = $2 FOR UPDATE",
          {entity.blueprint, entity.identifier});
      std::string before = stored.size() ? stored.text(0, 0) : std::string();
      std::string text =
          upserted(entity.json, before.empty() ? nullptr : &before, changes.options.merge);
      conn->exec("UPDATE oceand_entities SET entity = $3 WHERE blueprint = $1 AND identifier = $2",
                 {entity.blueprint, entity.identifier, text});
    }
    for (const auto& entity : changes.deletions)
      conn->exec("DELETE FROM oceand_entities WHERE blueprint = $1 AND identifier = $2",
                 {entity.blueprint, entity.identifier});
    conn->exec_script("COMMIT");
  } catch (const std::exception& e) {
    try {
      conn->exec_script("ROLLBACK");
    } catch (...) {
    }
    throw EntityStoreError(std::string("entity store write failed: ") + e.what());
  }
}

std::vector<std::string> EntityStore::pg_rows(const std::string& sql,
                                              const std::vector<std::string>& params) {
  std::vector<PgParam> values(params.begin(), params.end());
  try {
    PgPool::Lease conn = pg_->borrow();
    PgRows rows = conn->exec(sql, values);
    std::vector<std::string> out;
    for (int r = 0; r < rows.size(); ++r) out.push_back(rows.text(r, 0));
    return out;
  } catch (const std::exception& e) {
    throw EntityStoreError(std::string("entity store read failed: ") + e.what());
  }
}

void EntityStore::write(const EntityChanges& changes) {
  if (pg_) return write_pg(changes);
  std::lock_guard lock(mutex_);
  try {
    session_->begin();
    for (const auto& entity : changes.upserts) {
      auto stored = get_locked(entity.blueprint, entity.identifier);
      std::string text = upserted(entity.json, stored ? &*stored : nullptr, changes.options.merge);
      std::string bp = entity.blueprint, id = entity.identifier;
      *session_ << "INSERT INTO entities (blueprint, identifier, entity) VALUES (?, ?, ?)"
                   " ON CONFLICT (blueprint, identifier) DO UPDATE SET entity = excluded.entity",
          use(bp), use(id), use(text), now;
    }
    for (const auto& entity : changes.deletions) {
      std::string bp = entity.blueprint, id = entity.identifier;
      *session_ << "DELETE FROM entities WHERE blueprint = ? AND identifier = ?", use(bp), use(id),
          now;
    }
    session_->commit();
  } catch (const std::exception& e) {
    try {
      if (session_->isTransaction()) session_->rollback();
    } catch (...) {
    }
    throw EntityStoreError(std::string("entity store write failed: ") + e.what());
  }
}

std::optional<std::string> EntityStore::get(const std::string& blueprint,
                                            const std::string& identifier) {
  if (pg_) {
    auto rows =
        pg_rows("SELECT entity FROM oceand_entities WHERE blueprint = $1 AND identifier = $2",
                {blueprint, identifier});
    if (rows.empty()) return std::nullopt;
    return rows.front();
  }
  std::lock_guard lock(mutex_);
  return get_locked(blueprint, identifier);
}

std::vector<std::string> EntityStore::list(const std::string& blueprint, size_t limit,
                                           size_t offset) {
  if (pg_)
    return pg_rows(
        "SELECT entity FROM oceand_entities WHERE blueprint = $1 ORDER BY identifier "
        "LIMIT $2 OFFSET $3",
        {blueprint, std::to_string(limit), std::to_string(offset)});
  std::lock_guard lock(mutex_);
  std::vector<std::string> rows;
  std::string bp = blueprint;
  Poco::Int64 lim = static_cast<Poco::Int64>(limit), off = static_cast<Poco::Int64>(offset);
  *session_
      << "SELECT entity FROM entities WHERE blueprint = ? ORDER BY identifier LIMIT ? OFFSET ?",
      use(bp), use(lim), use(off), into(rows), now;
  return rows;
}

size_t EntityStore::count(const std::string& blueprint) {
  if (pg_)
    return std::stoul(
        pg_rows("SELECT count(*) FROM oceand_entities WHERE blueprint = $1", {blueprint}).at(0));
  std::lock_guard lock(mutex_);
  Poco::Int64 n = 0;
  std::string bp = blueprint;
  *session_ << "SELECT COUNT(*) FROM entities WHERE blueprint = ?", use(bp), into(n), now;
  return static_cast<size_t>(n);
}

std::vector<std::string> EntityStore::blueprints() {
  if (pg_) return pg_rows("SELECT DISTINCT blueprint FROM oceand_entities ORDER BY blueprint", {});
  std::lock_guard lock(mutex_);
  std::vector<std::string> rows;
  *session_ << "SELECT DISTINCT blueprint FROM entities ORDER BY blueprint", into(rows), now;
  return rows;
}

}  // namespace oceand
