-- The slot of a database that captures by WAL, as pg_replication_slots shows it to any role: whether WAL it needs
-- is gone (wal_status 'lost': max_slot_wal_keep_size was exceeded), how much WAL it holds on the server's disk, and
-- how far the server has flushed WAL (the capture's stall check, WalCapture).
SELECT s.wal_status,
       pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint AS retained_bytes,
       pg_current_wal_flush_lsn() AS flushed
FROM pg_replication_slots AS s
WHERE s.slot_name = $1
