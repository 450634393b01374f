-- Every conflict decided in this database: both row images with their origin and version, the winner, the rule.
-- `ferry conflicts` reads this table on every database of a sync.
CREATE TABLE IF NOT EXISTS ferry.conflicts (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    decided_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    sync_name         text NOT NULL,
    schema_name       text NOT NULL,
    table_name        text NOT NULL,
    key               jsonb NOT NULL,
    local_origin      text NOT NULL,
    local_version     timestamptz NOT NULL,
    local_row         jsonb,         -- NULL: the row was deleted here
    incoming_origin   text NOT NULL,
    incoming_version  timestamptz NOT NULL,
    incoming_row      jsonb,         -- NULL: the incoming change is a delete
    winner            text NOT NULL,
    rule              text NOT NULL
);
CREATE INDEX IF NOT EXISTS conflicts_decided_at ON ferry.conflicts (decided_at);
