-- Tables held on a pair. A table that cannot be applied here (its columns disagree with the source's, or its apply
-- met a constraint only this database has, a missing grant, a missing table) waits with its changes kept, while the
-- pair's other tables go on: the pair's position moves past the held table's entries, and held_from is the source
-- snapshot after which they wait. When the cause is gone the relay reads that table's entries again from held_from up
-- to the pair's position, applies them, and deletes the row in the same transaction (Relay/PairRunner.Holds.cs).
-- Version comparison makes reading them again harmless.
CREATE TABLE IF NOT EXISTS ferry.held_tables (
    sync_name         text NOT NULL,
    source_name       text NOT NULL,
    schema_name       text NOT NULL,
    table_name        text NOT NULL,
    held_from         pg_snapshot NOT NULL,
    -- 'schema': the two ends' columns disagree; lifted as soon as they agree.
    -- 'error': applying it failed; tried again every FERRY_MAX_BACKOFF_SECONDS and on `ferry kick`.
    kind              text NOT NULL,
    cause             text NOT NULL,
    fix               text NOT NULL,
    since             timestamptz NOT NULL DEFAULT clock_timestamp(),
    tried_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- While a table catches up in chunks: the snapshot it reads up to, and the last key applied.
    resume_to         pg_snapshot,
    resume_after_key  text[],
    PRIMARY KEY (sync_name, source_name, schema_name, table_name)
);

-- One fingerprint per table (qualified, quoted names; '' for a table that does not exist): md5 of its replicated
-- columns by name, with their types and whether they are in the primary key. Both ends of a pair compute it, the
-- source inside each read's snapshot and the target inside each apply, so a column added, dropped or retyped on
-- either end is noticed before a row is carried in the wrong shape.
CREATE OR REPLACE FUNCTION ferry.shapes(tables text[]) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog AS $fn$
    SELECT coalesce(array_agg(coalesce(s.shape, '') ORDER BY x.n), '{}')
    FROM unnest(tables) WITH ORDINALITY AS x (name, n)
    LEFT JOIN LATERAL (
        SELECT md5(string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                              || CASE WHEN k.indrelid IS NULL THEN '' ELSE ' key' END, ',' ORDER BY a.attname)) AS shape
        FROM pg_attribute AS a
        LEFT JOIN pg_index AS k ON k.indrelid = a.attrelid AND k.indisprimary AND a.attnum = ANY (k.indkey)
        WHERE a.attrelid = to_regclass(x.name) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
    ) AS s ON true
$fn$;

-- Raised by the apply when a table's columns changed on this database since the relay read them: the relay reads
-- both ends' columns again (and holds the table if they now disagree) instead of applying rows in the old shape.
CREATE OR REPLACE FUNCTION ferry.shape_changed(message text) RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION '%', message USING ERRCODE = 'FY002';
END
$fn$;
