-- The last TRUNCATE of each replicated table, as a table-wide tombstone: a row whose version is older than the
-- truncate is dead on every database, whatever order the truncate and the row arrive in.
CREATE TABLE IF NOT EXISTS ferry.truncates (
    schema_name  text NOT NULL,
    table_name   text NOT NULL,
    version      timestamptz NOT NULL,
    origin       text,          -- NULL: truncated in this database
    xid          xid8 NOT NULL,
    PRIMARY KEY (schema_name, table_name)
);
CREATE INDEX IF NOT EXISTS truncates_xid ON ferry.truncates (xid);
