-- Tables held on a pair, as the relay last saw them, so `ferry status` can name them whether or not the relay runs.
-- The hold itself (and the position its changes wait from) is kept in the target, in ferry.held_tables.
CREATE TABLE IF NOT EXISTS held_tables (
    sync         TEXT NOT NULL,
    source       TEXT NOT NULL,
    target       TEXT NOT NULL,
    schema_name  TEXT NOT NULL,
    table_name   TEXT NOT NULL,
    cause        TEXT NOT NULL,
    fix          TEXT NOT NULL,
    since        TEXT NOT NULL,
    PRIMARY KEY (sync, source, target, schema_name, table_name)
);
