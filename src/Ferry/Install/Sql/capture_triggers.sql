-- Attaches the capture functions of capture_table.sql to the table, on a database that some pair reads from. A
-- database that is only ever a target has none: nothing reads what they would record, and on every write ferry
-- makes there, their transition tables would keep a copy of each row.
--
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
