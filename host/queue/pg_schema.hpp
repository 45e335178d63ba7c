#pragma once

namespace oceand {

class PgConnection;

// The version of the tables this oceand reads and writes in PostgreSQL.
constexpr int kPgSchemaVersion = 1;

// Creates or migrates oceand's tables (oceand_events, oceand_deliveries, oceand_instances,
// oceand_dead_letters, oceand_entities; the version in oceand_schema). Idempotent and safe with
// several instances starting at once: the work runs in one transaction under an advisory lock.
// Throws PgError, also when the database holds a newer schema than this oceand knows.
void migrate_pg_schema(PgConnection& conn);

}  // namespace oceand
