-- A TRUNCATE decoded from the WAL, recorded as the truncate trigger records it (capture_table.sql): the relay folds the
-- table's change log first (WalLogWriter), so the changes logged before the truncate are not lifted above its
-- version as the changes logged after it will be; its version covers every row it removed here.
-- $1 schema, $2 table, $3 the transaction's commit time.
INSERT INTO ferry.truncates AS t (schema_name, table_name, version, origin, xid)
VALUES ($1, $2,
        greatest($3::timestamptz, (SELECT max(r.ferry_version) + interval '1 microsecond' FROM {{rv}} AS r)),
        NULL, pg_current_xact_id())
ON CONFLICT (schema_name, table_name) DO UPDATE
    SET version = greatest(excluded.version, t.version + interval '1 microsecond'),
        origin = NULL,
        xid = excluded.xid
