-- Attaches the row-level capture of capture_rows.sql to a partitioned table (and, through PostgreSQL's cloning, to
-- every partition it has or will have), and the statement-level truncate capture to the table itself. Creating a
-- row trigger on a partitioned table clones it onto each existing partition, which needs the TRIGGER privilege on
-- each of them; partitions created or attached later get the clone with no grant. A TRUNCATE of the partitioned
-- table fires the truncate trigger; a TRUNCATE of one partition does not (statement triggers are not cloned), nor
-- does dropping or detaching a partition: those stay local to the database where they run (README says so).
-- As in capture_triggers.sql, triggers are created only where missing and removed through their functions.
DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = {{table_literal}}::pg_catalog.regclass AND tgname = 'ferry_capture_insert') THEN
        CREATE TRIGGER ferry_capture_insert AFTER INSERT ON {{table}} FOR EACH ROW EXECUTE FUNCTION {{fn}}();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = {{table_literal}}::pg_catalog.regclass AND tgname = 'ferry_capture_update') THEN
        CREATE TRIGGER ferry_capture_update AFTER UPDATE ON {{table}} FOR EACH ROW EXECUTE FUNCTION {{fn}}();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = {{table_literal}}::pg_catalog.regclass AND tgname = 'ferry_capture_delete') THEN
        CREATE TRIGGER ferry_capture_delete AFTER DELETE ON {{table}} FOR EACH ROW EXECUTE FUNCTION {{fn}}();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = {{table_literal}}::pg_catalog.regclass AND tgname = 'ferry_capture_truncate') THEN
        CREATE TRIGGER ferry_capture_truncate AFTER TRUNCATE ON {{table}}
            FOR EACH STATEMENT EXECUTE FUNCTION {{fn_truncate}}();
    END IF;
END
$do$;
