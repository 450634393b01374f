-- The apply's wait for WAL capture (capture=wal). On a database captured by triggers, an application's change is in
-- the change log when its transaction commits, and the apply decides against it (or retries on it: the race check).
-- Captured by WAL, it reaches the log only once the relay has decoded and logged it: an apply that decided before
-- that would overwrite it unseen. So the apply waits, before it folds the log and again before its race check, until
-- the relay has logged every transaction committed up to target: the slot's confirmed position, which the relay
-- moves only past transactions it has logged or that need no logging, and reports at once. Reading the slot writes
-- nothing, so the wait adds no WAL for the capture to decode.
--
-- Bounded: a capture that is stopped, or that waits for a lock this apply holds (a truncate's fold behind the
-- apply's), makes the apply fail with serialization_failure, which the relay rolls back and retries, never hang.
CREATE OR REPLACE FUNCTION ferry.wal_wait(target pg_lsn, timeout_ms integer) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    slot text := 'ferry_' || replace((SELECT value FROM ferry.meta WHERE key = 'node_id'), '-', '');
    deadline timestamptz := clock_timestamp() + timeout_ms * interval '1 millisecond';
    pause double precision := 0.0002;
    confirmed pg_lsn;
    reading boolean;
BEGIN
    LOOP
        SELECT s.confirmed_flush_lsn, s.active INTO confirmed, reading FROM pg_replication_slots AS s WHERE s.slot_name = slot;
        IF confirmed >= target THEN
            RETURN;
        END IF;
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'WAL capture of this database has not logged its changes up to % within % ms (slot %: %)', target,
                timeout_ms, slot,
                CASE WHEN confirmed IS NULL THEN 'missing: run ferry upgrade'
                     WHEN NOT reading THEN 'no relay reads it: ferry start, or see ferry status'
                     ELSE 'confirmed up to ' || confirmed::text || ': the relay''s capture is behind; see ferry status' END
                USING ERRCODE = 'serialization_failure',
                      HINT = 'ferry retries the chunk; an application change committed meanwhile is decided, not overwritten.';
        END IF;
        IF pause >= 0.008 AND EXISTS (
            SELECT FROM pg_stat_activity AS a
            WHERE a.datname = current_database() AND a.application_name = 'ferry wal'
              AND pg_backend_pid() = ANY (pg_blocking_pids(a.pid))) THEN
            RAISE EXCEPTION 'WAL capture of this database waits for a lock this apply holds; retrying the chunk'
                USING ERRCODE = 'serialization_failure';
        END IF;
        PERFORM pg_sleep(pause);
        pause := least(pause * 2, 0.01);
    END LOOP;
END
$fn$;
