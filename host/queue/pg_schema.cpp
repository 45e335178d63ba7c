#include "queue/pg_schema.hpp"

#include <string>

#include "queue/pg_connection.hpp"

namespace oceand {

namespace {

// One advisory lock key for oceand's migrations ("oceand" in ASCII).
constexpr const char* kMigrationLock = "111542867059044";

// Migration n takes the schema from version n - 1 to n. Append only: a released migration is never
// edited, so every database reaches the same tables whatever version it started at.
const char* const kMigrations[] = {
    // 1: the queue, delivery ids, instances and their leases, dead letters, the shared catalog.
    R"sql(
CREATE SEQUENCE oceand_fence;
CREATE TABLE oceand_events(
  seq bigserial PRIMARY KEY,
  integration text NOT NULL, route text NOT NULL, delivery_id text NOT NULL,
  received_at_ms bigint NOT NULL, headers bytea NOT NULL, body bytea NOT NULL,
  payload bytea NOT NULL, codec integer NOT NULL,
  accepted_at timestamptz NOT NULL DEFAULT now(),
  owner text, fence bigint, group_key text);
-- Bodies arrive LZ4-compressed: PostgreSQL keeps them out of line without compressing them again.
ALTER TABLE oceand_events ALTER COLUMN headers SET STORAGE EXTERNAL,
  ALTER COLUMN body SET STORAGE EXTERNAL, ALTER COLUMN payload SET STORAGE EXTERNAL;
CREATE INDEX oceand_events_unclaimed ON oceand_events(seq) WHERE owner IS NULL;
CREATE INDEX oceand_events_ungrouped ON oceand_events(seq) WHERE group_key IS NULL;
CREATE INDEX oceand_events_by_group ON oceand_events(group_key, seq);
CREATE INDEX oceand_events_by_owner ON oceand_events(owner);
CREATE TABLE oceand_flush(committer text PRIMARY KEY, at timestamptz NOT NULL);
CREATE TABLE oceand_deliveries(
  key text PRIMARY KEY, event_seq bigint NOT NULL, seen_at timestamptz NOT NULL);
CREATE INDEX oceand_deliveries_by_time ON oceand_deliveries(seen_at);
CREATE TABLE oceand_instances(
  id text PRIMARY KEY, host text NOT NULL, pid integer NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(), seen_at timestamptz NOT NULL);
CREATE TABLE oceand_dead_letters(
  id bigserial PRIMARY KEY, event_seq bigint NOT NULL, reason text NOT NULL, error text NOT NULL,
  processor text NOT NULL, attempts integer NOT NULL, failed_at_ms bigint NOT NULL,
  integration text NOT NULL, route text NOT NULL, delivery_id text NOT NULL,
  received_at_ms bigint NOT NULL, headers bytea NOT NULL, body bytea NOT NULL,
  payload bytea NOT NULL, codec integer NOT NULL);
CREATE TABLE oceand_entities(
  blueprint text NOT NULL, identifier text NOT NULL, entity text NOT NULL,
  PRIMARY KEY (blueprint, identifier));
)sql",
};

}  // namespace

void migrate_pg_schema(PgConnection& conn) {
  static_assert(sizeof kMigrations / sizeof *kMigrations == kPgSchemaVersion);
  conn.exec_script("BEGIN");
  try {
    conn.exec(std::string("SELECT pg_advisory_xact_lock(") + kMigrationLock + ")");
    conn.exec_script("CREATE TABLE IF NOT EXISTS oceand_schema(version integer NOT NULL)");
    PgRows rows = conn.exec("SELECT coalesce(max(version), 0) FROM oceand_schema");
    int version = static_cast<int>(rows.int64(0, 0));
    if (version > kPgSchemaVersion)
      throw PgError("the database holds oceand schema version " + std::to_string(version) +
                        ", newer than this oceand knows (" + std::to_string(kPgSchemaVersion) +
                        "): run the newer oceand, or a database of its own",
                    false);
    for (int v = version; v < kPgSchemaVersion; ++v) conn.exec_script(kMigrations[v]);
    if (version < kPgSchemaVersion) {
      conn.exec_script("DELETE FROM oceand_schema");
      conn.exec("INSERT INTO oceand_schema(version) VALUES ($1)",
                {PgParam(static_cast<int64_t>(kPgSchemaVersion))});
    }
    conn.exec_script("COMMIT");
  } catch (...) {
    try {
      conn.exec_script("ROLLBACK");
    } catch (...) {
    }
    throw;
  }
}

}  // namespace oceand
