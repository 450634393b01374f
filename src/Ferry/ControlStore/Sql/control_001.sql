-- The relay's own store: configuration and history only. All replication state (row versions, progress,
-- conflicts) lives in the replicated databases, so this file can be deleted and rebuilt from the
-- configuration commands without losing or repeating a row.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS databases (
    name      TEXT PRIMARY KEY,
    settings  TEXT NOT NULL,          -- JSON object of libpq-style keys, never the password
    password  TEXT,                   -- only when given as pass=; the file is mode 0600
    added_at  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS dbgroups (name TEXT PRIMARY KEY);

CREATE TABLE IF NOT EXISTS dbgroup_members (
    dbgroup   TEXT NOT NULL REFERENCES dbgroups (name) ON DELETE CASCADE,
    database  TEXT NOT NULL REFERENCES databases (name),
    role      TEXT NOT NULL CHECK (role IN ('source', 'target')),
    position  INTEGER NOT NULL,
    PRIMARY KEY (dbgroup, database)
);

CREATE TABLE IF NOT EXISTS herds (name TEXT PRIMARY KEY);

CREATE TABLE IF NOT EXISTS herd_tables (
    herd        TEXT NOT NULL REFERENCES herds (name) ON DELETE CASCADE,
    schema_name TEXT NOT NULL,
    table_name  TEXT NOT NULL,
    position    INTEGER NOT NULL,
    conflict_rule TEXT,               -- overrides the sync's conflict_strategy for this table
    PRIMARY KEY (herd, schema_name, table_name)
);

CREATE TABLE IF NOT EXISTS syncs (
    name          TEXT PRIMARY KEY,
    herd          TEXT NOT NULL REFERENCES herds (name),
    dbgroup       TEXT NOT NULL REFERENCES dbgroups (name),
    conflict_rule TEXT NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1
);

-- What the relay last saw, so `ferry status` can answer even when the relay is down.
CREATE TABLE IF NOT EXISTS database_status (
    name        TEXT PRIMARY KEY,
    reachable   INTEGER NOT NULL,
    last_error  TEXT,
    since       TEXT NOT NULL,
    checked_at  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS pair_status (
    sync          TEXT NOT NULL,
    source        TEXT NOT NULL,
    target        TEXT NOT NULL,
    state         TEXT NOT NULL,
    lag_rows      INTEGER,
    lag_seconds   REAL,
    rows_moved    INTEGER NOT NULL DEFAULT 0,
    batches       INTEGER NOT NULL DEFAULT 0,
    last_batch_at TEXT,
    last_good_at  TEXT,
    last_error    TEXT,
    error_since   TEXT,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (sync, source, target)
);

CREATE TABLE IF NOT EXISTS run_history (
    id          INTEGER PRIMARY KEY,
    sync        TEXT NOT NULL,
    source      TEXT NOT NULL,
    target      TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    rows        INTEGER NOT NULL,
    chunks      INTEGER NOT NULL,
    millis      REAL NOT NULL,
    error       TEXT
);
CREATE INDEX IF NOT EXISTS run_history_finished ON run_history (finished_at);
