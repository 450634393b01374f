-- For user triggers on replicated tables: true while ferry applies a change from another database. Ferry marks
-- its writes with SET LOCAL ferry.origin, a custom setting that needs no privilege. A trigger may also test
-- current_setting('ferry.origin', true) <> '' directly; once set in a session it reads '' (not NULL) when unset.
CREATE OR REPLACE FUNCTION ferry.is_replicating() RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT coalesce(current_setting('ferry.origin', true), '') <> ''
$fn$;

-- Raises an error from a set-based statement: the `abort` conflict rule stops a pair this way, rolling back the
-- whole chunk, with a message that names the table and key.
CREATE OR REPLACE FUNCTION ferry.fail(message text) RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION '%', message USING ERRCODE = 'FY001';
END
$fn$;
