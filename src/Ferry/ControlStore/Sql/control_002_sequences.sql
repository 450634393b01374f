-- Sequences of a herd: the relay carries each one forward from every source of a sync to the other databases.
-- Applied on every open after control_001.sql, so a store made by an older ferry gains the table the first time a
-- newer one opens it; IF NOT EXISTS makes that a no-op afterwards. Removing a herd removes its sequences.
CREATE TABLE IF NOT EXISTS herd_sequences (
    herd          TEXT NOT NULL REFERENCES herds (name) ON DELETE CASCADE,
    schema_name   TEXT NOT NULL,
    sequence_name TEXT NOT NULL,
    position      INTEGER NOT NULL,
    PRIMARY KEY (herd, schema_name, sequence_name)
);
