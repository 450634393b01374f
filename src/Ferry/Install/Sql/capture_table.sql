-- Capture for one replicated table: its row-version table, its change log, and the functions of the statement-level
-- triggers that fill them (capture_triggers.sql attaches them, on the databases that some pair reads from).
-- Placeholders are filled with identifiers quoted by Ferry.Postgres.Quote; {{clock}} is pg_catalog.clock_timestamp(), except
-- in tests that simulate a skewed clock.
--
-- One entry per key ever changed: the key with the table's own types, the version (a per-row clock), the origin
-- (NULL: changed in this database), based_on (the version of the last change from another origin that this
-- database's changes were made on top of: how a conflict is told from a follow-up), and the xid of the transaction
-- that last wrote the entry, which the reader compares with stored snapshots. A deleted row keeps its entry: that
-- is its tombstone.
CREATE TABLE IF NOT EXISTS {{rv}} (
    {{key_defs}},
    ferry_version   timestamptz NOT NULL,
    ferry_origin    text,
    ferry_based_on  timestamptz,
    ferry_xid       xid8 NOT NULL,
    PRIMARY KEY ({{key_cols}})
);
CREATE INDEX IF NOT EXISTS {{rv_xid_index}} ON {{rv}} (ferry_xid);

-- The change log: what an application's small write statements append to, the key and the clock, nothing else.
-- Upserting the entry in the row-version table, with its two indexes, cost as much as the application's own
-- single-row write; appending to a table with no index costs a fraction of it. The relay folds the log into the
-- row versions ({{fold}} below) before it reads changes and before it decides an incoming change: nobody reads a
-- row version the log could still change.
CREATE TABLE IF NOT EXISTS {{log}} (
    {{key_defs}},
    ferry_captured  timestamptz NOT NULL
);

-- Moves committed log entries into the row versions, at most max_entries of them (NULL: all), as one local change per
-- key at its latest clock: newer than every version this database has seen of the row, even if the clock is
-- behind, and than the table's last truncate (the log holds only changes made after it: a truncate folds the log
-- first). Returns how many entries it moved. Concurrent folds each take whole entries: a DELETE waiting on an entry
-- another fold took skips it once that one commits. Keys in order, so two folds lock row versions in one order.
-- Everything is schema-qualified: the truncate trigger calls this with the application's search_path. The limit is
-- $1, not its name, and ferry's own names here start with ferry_, which no key column may: a key column of any
-- other name cannot be taken for either.
CREATE OR REPLACE FUNCTION {{fold}}(max_entries integer) RETURNS bigint
LANGUAGE sql AS $fn$
    WITH moved AS (
        DELETE FROM {{log}}
        WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT l.ctid FROM {{log}} AS l LIMIT $1))
        RETURNING {{key_cols}}, ferry_captured
    ), latest AS (
        SELECT {{key_cols}}, pg_catalog.max(ferry_captured) AS ferry_captured FROM moved GROUP BY {{key_cols}}
    ), stamped AS (
        INSERT INTO {{rv}} AS r ({{key_cols}}, ferry_version, ferry_origin, ferry_based_on, ferry_xid)
        SELECT {{key_cols}}, greatest(ferry_captured, {{truncated}}), NULL, NULL, pg_catalog.pg_current_xact_id()
        FROM latest ORDER BY {{key_cols}}
        ON CONFLICT ({{key_cols}}) DO UPDATE SET {{local_wins}}
    )
    SELECT pg_catalog.count(*) FROM moved
$fn$;

-- The two trigger functions run for every write statement on the table, so they are kept lean. They have no
-- SET search_path (a function with a SET clause saves and restores the setting on every call: a tenth of a
-- single-row transaction's time); instead every table is schema-qualified and every function and operator is
-- pg_catalog's by name, so nothing a caller puts on its search_path can stand in for them in this SECURITY
-- DEFINER code. The transition tables ferry_new and ferry_old are the statement's own and are found first. Key
-- columns are columns, not PL/pgSQL variables, whatever they are called (a key named found or tg_op).
--
-- UPDATE and DELETE always append to the log, each key once, all at one clock reading per statement (the rows of one
-- statement are one change, every key in it is distinct, and the next statement reads the clock after it). Upserting
-- 100k row versions in the application's UPDATE made it 3.5x the same UPDATE without capture (bench bulk_statements):
-- each ON CONFLICT DO UPDATE probes the key, locks and rewrites the entry and both its indexes; an append to a table
-- with no index is a fraction of that, and the fold does the rest later, off the application's path. An INSERT of up
-- to {{bulk_rows}} rows appends too; a larger one (a bulk load, of keys mostly new here) upserts its row versions
-- itself, as the fold would: plain insertions, cheaper in the statement than appending and folding them later, and
-- the relay finds the rows ready to read.
--
-- An UPDATE logs its new keys, and the old keys no longer there: a changed primary key is a delete of the old key and
-- an insert of the new. An old key that stayed is logged once, not twice, or a fold limit could split its two entries
-- between two folds, and the row travel twice. Finding the old keys no longer there with a hashed EXCEPT cost half
-- of what the whole capture adds to a bulk UPDATE, yet almost no UPDATE moves a key. So the old and new keys are
-- first compared in the order of the transition tables (PostgreSQL fills both row by row, in step): equal arrays
-- mean the same keys, whatever the order, and the EXCEPT runs only when they differ. A trigger that tells which
-- columns the UPDATE sets (UPDATE OF, or WHEN on the keys) cannot be used: it would forbid the table's owner to
-- change a key column's type. The arrays hold the keys in memory, so only keys of fixed width compare so, and only
-- up to {{zip_rows}} rows (0: never); beyond, the EXCEPT. Arrays and EXCEPT compare with each type's own equality,
-- found by no name this code's callers could shadow.
--
-- The doorbell: a NOTIFY serialises the commits of all notifying transactions (PostgreSQL takes a database-wide
-- lock for it until the commit is flushed) and costs the relay a message per transaction. So a statement rings
-- only if the relay listens and waits for work: the relay's listener then holds the doorbell lock exclusively,
-- and the shared try below fails. While the relay is busy reading, the try succeeds and holds the shared lock to
-- the end of the transaction, and the listener, to arm the doorbell again, must wait for this transaction to end
-- and then wake its pairs once: nothing that commits unrung waits longer than that (see Relay/SourceListener.cs).
CREATE OR REPLACE FUNCTION {{fn}}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
#variable_conflict use_column
DECLARE
    ferry_rows bigint;
    ferry_moved boolean;
BEGIN
    -- Ferry's own apply writes the entries itself, with the remote version and origin. (Unset is NULL: not <> ''.)
    -- Any session may set ferry.origin, so it counts only in ferry's own, whose login role owns this function
    -- (CURRENT_USER here): an application that sets it is still captured. Asked only when it is set, so the
    -- application's writes pay nothing for it.
    IF pg_catalog.current_setting('ferry.origin', true) OPERATOR(pg_catalog.<>) '' THEN
        IF SESSION_USER OPERATOR(pg_catalog.=) CURRENT_USER THEN
            RETURN NULL;
        END IF;
    END IF;
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
        PERFORM FROM ferry_new OFFSET {{bulk_rows}};
        IF NOT FOUND THEN
            INSERT INTO {{log}} ({{key_cols}}, ferry_captured) SELECT {{key_cols}}, {{clock}} FROM ferry_new;
        ELSE
            INSERT INTO {{rv}} AS r ({{key_cols}}, ferry_version, ferry_origin, ferry_based_on, ferry_xid)
            SELECT {{key_cols}}, greatest({{clock}}, {{truncated}}), NULL, NULL, pg_catalog.pg_current_xact_id()
            FROM ferry_new ORDER BY {{key_cols}}
            ON CONFLICT ({{key_cols}}) DO UPDATE SET {{local_wins}};
        END IF;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
        -- No PL/pgSQL variable appears in a query over the transition tables: they hold every column of the table,
        -- whose names could take a variable's place.
        INSERT INTO {{log}} ({{key_cols}}, ferry_captured) SELECT {{key_cols}}, (SELECT {{clock}}) FROM ferry_new;
        GET DIAGNOSTICS ferry_rows = ROW_COUNT;
        ferry_moved := true;
        IF ferry_rows OPERATOR(pg_catalog.<=) {{zip_rows}} THEN
            ferry_moved := NOT ARRAY(SELECT {{key_row}} FROM ferry_old) OPERATOR(pg_catalog.=) ARRAY(SELECT {{key_row}} FROM ferry_new);
        END IF;
        IF ferry_moved THEN
            INSERT INTO {{log}} ({{key_cols}}, ferry_captured)
            SELECT {{key_cols}}, (SELECT {{clock}}) FROM (SELECT {{key_cols}} FROM ferry_old EXCEPT SELECT {{key_cols}} FROM ferry_new) AS k;
        END IF;
    ELSE
        INSERT INTO {{log}} ({{key_cols}}, ferry_captured) SELECT {{key_cols}}, (SELECT {{clock}}) FROM ferry_old;
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock_shared({{doorbell}}) THEN
        PERFORM pg_catalog.pg_notify('ferry', '');
    END IF;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION {{fn_truncate}}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
#variable_conflict use_column
BEGIN
    -- Ferry's own apply records the remote truncate itself, with its origin and version; only in ferry's own
    -- sessions, as above.
    IF pg_catalog.current_setting('ferry.origin', true) OPERATOR(pg_catalog.<>) '' THEN
        IF SESSION_USER OPERATOR(pg_catalog.=) CURRENT_USER THEN
            RETURN NULL;
        END IF;
    END IF;
    -- The changes logged before the truncate are older than it: folded now, before the truncate is recorded, they
    -- are not lifted above its version as the changes logged after it will be. No one else writes the table now.
    PERFORM {{fold}}(NULL);
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
