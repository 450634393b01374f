-- Capture for one replicated table: its row-version table and the functions of the statement-level triggers that
-- fill it (capture_triggers.sql attaches them, on the databases that some pair reads from).
-- Placeholders are filled with identifiers quoted by Ferry.Postgres.Quote; {{clock}} is pg_catalog.clock_timestamp(), except
-- in tests that simulate a skewed clock.
--
-- One entry per key ever changed: the key with the table's own types, the version (a per-row clock), the origin
-- (NULL: changed in this database), based_on (the version of the last change from another origin that this
-- database's changes were made on top of: how a conflict is told from a follow-up), and the xid of the last
-- transaction that touched it, which the reader compares with stored snapshots. A deleted row keeps its entry:
-- that is its tombstone.
CREATE TABLE IF NOT EXISTS {{rv}} (
    {{key_defs}},
    ferry_version   timestamptz NOT NULL,
    ferry_origin    text,
    ferry_based_on  timestamptz,
    ferry_xid       xid8 NOT NULL,
    PRIMARY KEY ({{key_cols}})
);
CREATE INDEX IF NOT EXISTS {{rv_xid_index}} ON {{rv}} (ferry_xid);

-- The two functions run for every write statement on the table, so they are kept lean. They have no
-- SET search_path (a function with a SET clause saves and restores the setting on every call: a tenth of a
-- single-row transaction's time); instead every table is schema-qualified and every function and operator is
-- pg_catalog's by name, so nothing a caller puts on its search_path can stand in for them in this SECURITY
-- DEFINER code. The transition tables ferry_new and ferry_old are the statement's own and are found first.
--
-- The doorbell: a NOTIFY serialises the commits of all notifying transactions (PostgreSQL takes a database-wide
-- lock for it until the commit is flushed) and costs the relay a message per transaction. So a statement rings
-- only if the relay listens and waits for work: the relay's listener then holds the doorbell lock exclusively,
-- and the shared try below fails. While the relay is busy reading, the try succeeds and holds the shared lock to
-- the end of the transaction, and the listener, to arm the doorbell again, must wait for this transaction to end
-- and then wake its pairs once: nothing that commits unrung waits longer than that (see Relay/SourceListener.cs).
CREATE OR REPLACE FUNCTION {{fn}}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
BEGIN
    -- Ferry's own apply writes the entries itself, with the remote version and origin. (Unset is NULL: not <> ''.)
    IF pg_catalog.current_setting('ferry.origin', true) OPERATOR(pg_catalog.<>) '' THEN
        RETURN NULL;
    END IF;
    -- A local change beats every version this database has seen of the row, even if the clock is behind; and a row
    -- written after the table's last truncate is newer than it, even if this clock is behind the truncating
    -- database's (elsewhere, rows older than the truncate are dead). The truncate's version is a subquery in the
    -- statement, not a separate query, because this runs for every statement on the table.
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
        INSERT INTO {{rv}} AS r ({{key_cols}}, ferry_version, ferry_origin, ferry_based_on, ferry_xid)
        SELECT {{key_cols}},
               greatest({{clock}}, (SELECT t.version OPERATOR(pg_catalog.+) interval '1 microsecond' FROM ferry.truncates AS t
                                    WHERE t.schema_name OPERATOR(pg_catalog.=) TG_TABLE_SCHEMA
                                      AND t.table_name OPERATOR(pg_catalog.=) TG_TABLE_NAME)),
               NULL, NULL, pg_catalog.pg_current_xact_id()
        FROM ferry_new
        ON CONFLICT ({{key_cols}}) DO UPDATE SET
            ferry_version = greatest(excluded.ferry_version, r.ferry_version OPERATOR(pg_catalog.+) interval '1 microsecond'),
            ferry_based_on = CASE WHEN r.ferry_origin IS NULL THEN r.ferry_based_on ELSE r.ferry_version END,
            ferry_origin = NULL,
            ferry_xid = excluded.ferry_xid;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
        -- Old and new keys both: a changed primary key is a delete of the old key and an insert of the new.
        INSERT INTO {{rv}} AS r ({{key_cols}}, ferry_version, ferry_origin, ferry_based_on, ferry_xid)
        SELECT {{key_cols}},
               greatest({{clock}}, (SELECT t.version OPERATOR(pg_catalog.+) interval '1 microsecond' FROM ferry.truncates AS t
                                    WHERE t.schema_name OPERATOR(pg_catalog.=) TG_TABLE_SCHEMA
                                      AND t.table_name OPERATOR(pg_catalog.=) TG_TABLE_NAME)),
               NULL, NULL, pg_catalog.pg_current_xact_id()
        FROM (SELECT {{key_cols}} FROM ferry_old UNION SELECT {{key_cols}} FROM ferry_new) AS k
        ON CONFLICT ({{key_cols}}) DO UPDATE SET
            ferry_version = greatest(excluded.ferry_version, r.ferry_version OPERATOR(pg_catalog.+) interval '1 microsecond'),
            ferry_based_on = CASE WHEN r.ferry_origin IS NULL THEN r.ferry_based_on ELSE r.ferry_version END,
            ferry_origin = NULL,
            ferry_xid = excluded.ferry_xid;
    ELSE
        INSERT INTO {{rv}} AS r ({{key_cols}}, ferry_version, ferry_origin, ferry_based_on, ferry_xid)
        SELECT {{key_cols}},
               greatest({{clock}}, (SELECT t.version OPERATOR(pg_catalog.+) interval '1 microsecond' FROM ferry.truncates AS t
                                    WHERE t.schema_name OPERATOR(pg_catalog.=) TG_TABLE_SCHEMA
                                      AND t.table_name OPERATOR(pg_catalog.=) TG_TABLE_NAME)),
               NULL, NULL, pg_catalog.pg_current_xact_id()
        FROM ferry_old
        ON CONFLICT ({{key_cols}}) DO UPDATE SET
            ferry_version = greatest(excluded.ferry_version, r.ferry_version OPERATOR(pg_catalog.+) interval '1 microsecond'),
            ferry_based_on = CASE WHEN r.ferry_origin IS NULL THEN r.ferry_based_on ELSE r.ferry_version END,
            ferry_origin = NULL,
            ferry_xid = excluded.ferry_xid;
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock_shared({{doorbell}}) THEN
        PERFORM pg_catalog.pg_notify('ferry', '');
    END IF;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION {{fn_truncate}}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
BEGIN
    -- Ferry's own apply records the remote truncate itself, with its origin and version.
    IF pg_catalog.current_setting('ferry.origin', true) OPERATOR(pg_catalog.<>) '' THEN
        RETURN NULL;
    END IF;
    -- The truncate must be newer than every row it removed here, even if this clock is behind the clocks that
    -- versioned them: elsewhere it deletes exactly the rows older than its version, so it must cover these too.
    INSERT INTO ferry.truncates AS t (schema_name, table_name, version, origin, xid)
    VALUES (TG_TABLE_SCHEMA, TG_TABLE_NAME,
            greatest({{clock}}, (SELECT pg_catalog.max(r.ferry_version) OPERATOR(pg_catalog.+) interval '1 microsecond' FROM {{rv}} AS r)),
            NULL, pg_catalog.pg_current_xact_id())
    ON CONFLICT (schema_name, table_name) DO UPDATE
        SET version = greatest(excluded.version, t.version OPERATOR(pg_catalog.+) interval '1 microsecond'),
            origin = NULL,
            xid = excluded.xid;
    IF NOT pg_catalog.pg_try_advisory_xact_lock_shared({{doorbell}}) THEN
        PERFORM pg_catalog.pg_notify('ferry', '');
    END IF;
    RETURN NULL;
END
$fn$;
