#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "port/applier.hpp"

namespace Poco::Data {
class Session;
}

namespace oceand {

class PgPool;

class EntityStoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The embedded catalog (`port.applier: local`): Port entities in one SQLite file — or, when
// port.local_db is a PostgreSQL connection string or URI, in the table oceand_entities there,
// shared by every instance of a cluster — written with Port's upsert semantics and read back as
// Port's API shows them. Safe to use from many threads.
class EntityStore {
 public:
  // Opens or creates the store; throws EntityStoreError with the path (its password hidden) when
  // it cannot.
  explicit EntityStore(const std::string& path);
  ~EntityStore();

  // Applies the changes in one transaction. Upsert with `merge`: the new properties and relations
  // are laid over the stored ones, key by key; without it the entity is replaced. Deleting an
  // entity that does not exist succeeds. Throws EntityStoreError.
  void write(const EntityChanges& changes);

  // The entity as JSON: identifier, blueprint, title, icon, team, properties, relations,
  // createdAt, updatedAt.
  std::optional<std::string> get(const std::string& blueprint, const std::string& identifier);
  // Entities of a blueprint ordered by identifier.
  std::vector<std::string> list(const std::string& blueprint, size_t limit, size_t offset);
  size_t count(const std::string& blueprint);
  std::vector<std::string> blueprints();

 private:
  std::optional<std::string> get_locked(const std::string& blueprint,
                                        const std::string& identifier);

  void write_pg(const EntityChanges& changes);
  std::vector<std::string> pg_rows(const std::string& sql, const std::vector<std::string>& params);

  std::string path_;
  std::unique_ptr<PgPool> pg_;  // set when the store is in PostgreSQL
  std::mutex mutex_;
  std::unique_ptr<Poco::Data::Session> session_;
};

// Whether port.local_db (or any store setting) names a PostgreSQL database rather than a file:
// a postgres:// or postgresql:// URI, or a libpq key=value string with host= or dbname=.
bool is_pg_url(const std::string& value);

}  // namespace oceand
