-- Capture for one replicated table: its row-version table and the statement-level triggers that fill it.
-- Placeholders are filled with identifiers quoted by Ferry.Postgres.Quote; {{clock}} is clock_timestamp(), except
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

CREATE OR REPLACE FUNCTION {{fn}}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    -- Ferry's own apply writes the entries itself, with the remote version and origin.
    IF coalesce(current_setting('ferry.origin', true), '') <> '' THEN
        RETURN NULL;
    END IF;
    -- A local change beats every version this database has seen of the row, even if the clock is behind; and a row
    -- written after the table's last truncate is newer than it, even if this clock is behind the truncating
    -- database's (elsewhere, rows older than the truncate are dead). The truncate's version is a subquery in the
    -- statement, not a separate query, because this runs for every statement on the table.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {{rv}} AS r ({{key_cols}}, ferry_version, ferry_origin, ferry_based_on, ferry_xid)
        SELECT {{key_cols}}, greatest({{clock}}, (SELECT t.version + interval '1 microsecond' FROM ferry.truncates AS t WHERE t.schema_name = TG_TABLE_SCHEMA AND t.table_name = TG_TABLE_NAME)), NULL, NULL, pg_current_xact_id() FROM ferry_new
        ON CONFLICT ({{key_cols}}) DO UPDATE
            SET ferry_version = greatest(excluded.ferry_version, r.ferry_version + interval '1 microsecond'),
                ferry_based_on = CASE WHEN r.ferry_origin IS NULL THEN r.ferry_based_on ELSE r.ferry_version END,
                ferry_origin = NULL,
                ferry_xid = excluded.ferry_xid;
    ELSIF TG_OP = 'UPDATE' THEN
        -- Old and new keys both: a changed primary key is a delete of the old key and an insert of the new.
        INSERT INTO {{rv}} AS r ({{key_cols}}, ferry_version, ferry_origin, ferry_based_on, ferry_xid)
        SELECT {{key_cols}}, greatest({{clock}}, (SELECT t.version + interval '1 microsecond' FROM ferry.truncates AS t WHERE t.schema_name = TG_TABLE_SCHEMA AND t.table_name = TG_TABLE_NAME)), NULL, NULL, pg_current_xact_id()
        FROM (SELECT {{key_cols}} FROM ferry_old UNION SELECT {{key_cols}} FROM ferry_new) AS k
        ON CONFLICT ({{key_cols}}) DO UPDATE
            SET ferry_version = greatest(excluded.ferry_version, r.ferry_version + interval '1 microsecond'),
                ferry_based_on = CASE WHEN r.ferry_origin IS NULL THEN r.ferry_based_on ELSE r.ferry_version END,
                ferry_origin = NULL,
                ferry_xid = excluded.ferry_xid;
    ELSE
        INSERT INTO {{rv}} AS r ({{key_cols}}, ferry_version, ferry_origin, ferry_based_on, ferry_xid)
        SELECT {{key_cols}}, greatest({{clock}}, (SELECT t.version + interval '1 microsecond' FROM ferry.truncates AS t WHERE t.schema_name = TG_TABLE_SCHEMA AND t.table_name = TG_TABLE_NAME)), NULL, NULL, pg_current_xact_id() FROM ferry_old
        ON CONFLICT ({{key_cols}}) DO UPDATE
            SET ferry_version = greatest(excluded.ferry_version, r.ferry_version + interval '1 microsecond'),
                ferry_based_on = CASE WHEN r.ferry_origin IS NULL THEN r.ferry_based_on ELSE r.ferry_version END,
                ferry_origin = NULL,
                ferry_xid = excluded.ferry_xid;
    END IF;
    PERFORM pg_notify('ferry', '');
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION {{fn_truncate}}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    -- Ferry's own apply records the remote truncate itself, with its origin and version.
    IF coalesce(current_setting('ferry.origin', true), '') <> '' THEN
        RETURN NULL;
    END IF;
    -- The truncate must be newer than every row it removed here, even if this clock is behind the clocks that
    -- versioned them: elsewhere it deletes exactly the rows older than its version, so it must cover these too.
    INSERT INTO ferry.truncates AS t (schema_name, table_name, version, origin, xid)
    VALUES (TG_TABLE_SCHEMA, TG_TABLE_NAME,
            greatest({{clock}}, (SELECT max(r.ferry_version) + interval '1 microsecond' FROM {{rv}} AS r)),
            NULL, pg_current_xact_id())
    ON CONFLICT (schema_name, table_name) DO UPDATE
        SET version = greatest(excluded.version, t.version + interval '1 microsecond'),
            origin = NULL,
            xid = excluded.xid;
    PERFORM pg_notify('ferry', '');
    RETURN NULL;
END
$fn$;

-- CREATE TRIGGER needs only the TRIGGER privilege; DROP TRIGGER would need ownership of the table, which ferry
-- does not have. So triggers are created only where missing, and removed by dropping ferry's own trigger
-- functions with CASCADE (see capture_drop.sql).
DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = {{table_literal}}::regclass AND tgname = 'ferry_capture_insert') THEN
        CREATE TRIGGER ferry_capture_insert AFTER INSERT ON {{table}}
            REFERENCING NEW TABLE AS ferry_new FOR EACH STATEMENT EXECUTE FUNCTION {{fn}}();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = {{table_literal}}::regclass AND tgname = 'ferry_capture_update') THEN
        CREATE TRIGGER ferry_capture_update AFTER UPDATE ON {{table}}
            REFERENCING OLD TABLE AS ferry_old NEW TABLE AS ferry_new FOR EACH STATEMENT EXECUTE FUNCTION {{fn}}();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = {{table_literal}}::regclass AND tgname = 'ferry_capture_delete') THEN
        CREATE TRIGGER ferry_capture_delete AFTER DELETE ON {{table}}
            REFERENCING OLD TABLE AS ferry_old FOR EACH STATEMENT EXECUTE FUNCTION {{fn}}();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = {{table_literal}}::regclass AND tgname = 'ferry_capture_truncate') THEN
        CREATE TRIGGER ferry_capture_truncate AFTER TRUNCATE ON {{table}}
            FOR EACH STATEMENT EXECUTE FUNCTION {{fn_truncate}}();
    END IF;
END
$do$;
