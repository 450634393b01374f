-- A sequence's position and definition, read on both ends of a pair each time the relay carries sequences forward
-- (Relay/SequenceSync). From the relation itself, not from pg_sequences: there last_value is NULL before the first
-- nextval() and after setval(x, false), and the relay needs the position in both states. Needs SELECT on it.
-- {{sequence}} is the sequence's qualified name, quoted by Postgres.Quote.
SELECT t.last_value, t.is_called, p.seqincrement, p.seqmin, p.seqmax, p.seqcache
FROM {{sequence}} AS t
JOIN pg_catalog.pg_sequence AS p ON p.seqrelid = t.tableoid
