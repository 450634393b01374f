-- Where each copy of `copies` stands, for `ferry status`, `--json`, HTTP /status and the page while it runs, and after
-- it stopped: the table it is on, rows done against the estimate, and the rate. Written by the copying process every
-- FERRY_PROGRESS_SECONDS and at each table's end; deleted with its copy's row. A table of its own, not columns added
-- to `copies`: CREATE TABLE IF NOT EXISTS is idempotent in SQLite and PostgreSQL alike, ADD COLUMN is not.
CREATE TABLE IF NOT EXISTS copy_progress (
    sync             TEXT NOT NULL,
    target           TEXT NOT NULL,
    table_name       TEXT NOT NULL,
    table_number     INTEGER NOT NULL,
    tables           INTEGER NOT NULL,
    rows_done        INTEGER NOT NULL,
    rows_estimate    INTEGER,
    rows_per_second  REAL NOT NULL,
    bytes_per_second REAL NOT NULL,
    eta_seconds      REAL,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (sync, target)
);
