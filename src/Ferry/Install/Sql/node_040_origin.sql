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

-- Like ferry.fail, with the code of a serialization failure: the relay rolls the chunk back and soon retries it.
-- The apply raises it when an application's change to a key the chunk wrote committed while the chunk was being
-- applied, too late for its decision (see Apply/ApplySql.cs, RaceCheck).
CREATE OR REPLACE FUNCTION ferry.retry(message text) RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION '%', message USING ERRCODE = 'serialization_failure';
END
$fn$;
