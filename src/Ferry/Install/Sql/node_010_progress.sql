-- Per pair (sync, source -> this database): how far this database has applied the source's changes. Written in
-- the same transaction as the rows it describes, so a batch is applied exactly once whatever dies when.
CREATE TABLE IF NOT EXISTS ferry.progress (
    sync_name        text NOT NULL,
    source_name      text NOT NULL,
    -- Source snapshot through which every change has been applied; NULL before the first batch.
    applied_through  pg_snapshot,
    -- A batch larger than one chunk: the snapshot it reads up to, the table it is in and the last key applied.
    chunk_to         pg_snapshot,
    chunk_table      integer,
    chunk_after_key  text[],
    source_node_id   text,
    batches          bigint NOT NULL DEFAULT 0,
    rows_applied     bigint NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (sync_name, source_name)
);
