-- Several relays on one (PostgreSQL) store divide the syncs between them. Each running relay registers here and
-- heartbeats; it runs a sync only while it holds the sync's lease, renewed on each heartbeat. Times are seconds since
-- the epoch by the store's own clock (never a relay host's): hosts whose clocks disagree still agree on who holds what.
CREATE TABLE IF NOT EXISTS relays (
    id            TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    http          TEXT,
    started_at    REAL NOT NULL,
    heartbeat_at  REAL NOT NULL,
    prefers       TEXT NOT NULL DEFAULT ''
);

-- One row per sync some relay holds. A lease whose expires_at has passed is free for any relay to take.
CREATE TABLE IF NOT EXISTS leases (
    sync        TEXT PRIMARY KEY,
    relay_id    TEXT NOT NULL,
    expires_at  REAL NOT NULL
);
