-- Keys of changes decoded from the WAL, appended to a table's change log as the capture trigger appends them
-- (capture_table.sql), each stamped with its transaction's commit time: the fold makes that a local version newer
-- than every version this database has seen of the row. Keys travel as text arrays, one per key column, with the
-- commit times last; {{key_casts}} casts them to the log's key types.
INSERT INTO {{log}} ({{key_cols}}, ferry_captured)
SELECT {{key_casts}}, k.ferry_captured FROM unnest({{arrays}}) AS k({{aliases}}, ferry_captured)
