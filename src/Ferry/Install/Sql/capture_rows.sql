-- Capture of a partitioned table, which replaces the statement-level capture function of capture_table.sql.
-- Statement-level triggers on a partitioned table fire only for statements that name the table itself, so a row
-- written straight into a partition (INSERT INTO events_2024 ..., what many applications and partition tools do)
-- would go unrecorded. A ROW-level trigger defined on the partitioned table is cloned by PostgreSQL onto every
-- partition, present and future (created or attached later, with no grant on it), and fires whichever way the row
-- got there. Row triggers on a partitioned table cannot have transition tables, so this one appends each row's key
-- to the change log itself: about as costly per row as the statement capture's append (see README, Partitioned
-- tables). An UPDATE that moves a row to another partition fires the DELETE and INSERT row triggers instead.
--
-- A table first installed by an older ferry has statement-level triggers under the same names; they cannot be
-- dropped without owning the table, but dropping their function with CASCADE takes them away, in this
-- transaction, before the row-level ones are created (capture_row_triggers.sql).
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger
               WHERE tgrelid = {{table_literal}}::pg_catalog.regclass AND tgname = 'ferry_capture_insert'
                 AND (tgtype::integer & 1) = 0) THEN
        DROP FUNCTION {{fn}}() CASCADE;
    END IF;
END
$do$;

-- Same rules as the statement function of capture_table.sql: ferry's own writes are left alone, everything is
-- schema-qualified, and the doorbell rings only while the relay waits. The UNION drops an UPDATE's second key when
-- it did not change, comparing with the key types' own equality (no operator looked up on a search_path).
CREATE OR REPLACE FUNCTION {{fn}}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
BEGIN
    -- ferry.origin counts only in ferry's own sessions, whose login role owns this function (CURRENT_USER here).
    IF pg_catalog.current_setting('ferry.origin', true) OPERATOR(pg_catalog.<>) '' THEN
        IF SESSION_USER OPERATOR(pg_catalog.=) CURRENT_USER THEN
            RETURN NULL;
        END IF;
    END IF;
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
        INSERT INTO {{log}} ({{key_cols}}, ferry_captured) SELECT {{new_keys}}, {{clock}};
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
        INSERT INTO {{log}} ({{key_cols}}, ferry_captured)
        SELECT {{key_cols}}, {{clock}} FROM (SELECT {{old_keys}} UNION SELECT {{new_keys}}) AS k;
    ELSE
        INSERT INTO {{log}} ({{key_cols}}, ferry_captured) SELECT {{old_keys}}, {{clock}};
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock_shared({{doorbell}}) THEN
        PERFORM pg_catalog.pg_notify('ferry', '');
    END IF;
    RETURN NULL;
END
$fn$;
