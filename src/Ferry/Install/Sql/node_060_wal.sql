-- WAL capture (capture=wal): the relay reads this database's changes from a logical replication slot and writes them
-- into the same change logs the capture triggers fill. Harmless on a database that captures by trigger.
--
-- The commit LSN up to which the relay has written decoded transactions into the change logs, per slot, written in
-- the same transaction as those entries. The slot's confirmed position moves only after that transaction commits,
-- so a relay killed in between reads the transactions again from the slot and skips those at or below this one:
-- each committed change is logged exactly once.
CREATE TABLE IF NOT EXISTS ferry.wal_position (
    slot_name  text PRIMARY KEY,
    commit_lsn pg_lsn NOT NULL
);

-- Ferry's apply transactions on such a database emit a logical decoding message carrying this value, and the
-- decoder skips the transactions that carry it (no echo). Any role may emit a message, so the value is what makes it
-- ferry's: the application's roles have no rights on schema ferry and cannot read it, as the triggers trust
-- ferry.origin only in ferry's own sessions.
INSERT INTO ferry.meta (key, value) VALUES ('wal_marker', gen_random_uuid()::text) ON CONFLICT (key) DO NOTHING;
