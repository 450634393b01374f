-- Moves a target's sequence forward so that its next nextval() hands out $1 or a value beyond it (below it, for a
-- descending sequence), and never moves it back. Returns the value the next nextval() hands out, or no row when
-- the sequence already stood there (an application's nextval() got there first, or its increment changed).
--
-- $1 goal (bigint): a value of the target's own residue class, beyond every value the source handed out
-- $2 the increment the relay planned with (bigint); $3 true: draw with nextval(), false: one setval()
-- $4 most nextval() calls (bigint). Needs UPDATE on the sequence (setval; nextval takes USAGE or UPDATE).
--
-- Why it is safe against the application's own nextval() on this database: setval() is not transactional and
-- PostgreSQL offers no compare-and-set on a sequence, nor to a role that does not own it any lock that nextval()
-- waits for. So:
-- * the position is read again by this very statement (`behind`), not trusted from the relay's earlier read: the
--   move happens only if the sequence still stands before the goal, microseconds later on the server instead of a
--   network round trip later;
-- * a few steps behind (SequencePlan.NextvalRefills cache refills or fewer), the values are drawn with nextval(),
--   which is atomic: a value the application drew meanwhile is simply skipped, never handed out twice;
-- * further behind, one setval(). Between this statement's read and its setval() the application would have to
--   draw more than a thousand cache refills, each taking the sequence's buffer lock in turn, to pass the goal and
--   then see a value again; that takes milliseconds, the window microseconds. (With CACHE above 100 the cap of
--   SequencePlan.NextvalMaxCalls calls leaves fewer refills than that: a window remains, as narrow.)
-- * the relay's own moves on a database take turns: the batch takes pg_advisory_xact_lock(hashtext('ferry.sequences'))
--   before the first of these statements, so two pairs moving the same sequence never undo each other.
-- The relay's own session draws nothing for the application: values it caches by nextval() (CACHE > 1) are its
-- own, the relation's last_value that every other session draws from being already past them; setval() drops them.
WITH RECURSIVE behind AS (
    SELECT t.tableoid::regclass AS seq
    FROM {{sequence}} AS t
    JOIN pg_catalog.pg_sequence AS p ON p.seqrelid = t.tableoid
    WHERE p.seqincrement = $2
      AND sign($2::numeric) * (CASE WHEN t.is_called THEN t.last_value::numeric + $2 ELSE t.last_value::numeric END)
          < sign($2::numeric) * $1
), drawn (seq, drew, calls) AS (
    SELECT seq, nextval(seq), 1::bigint FROM behind WHERE $3
    UNION ALL
    SELECT seq, nextval(seq), calls + 1 FROM drawn
    WHERE sign($2::numeric) * (drew::numeric + $2) < sign($2::numeric) * $1 AND calls < $4
)
SELECT setval(seq, $1, false)::numeric AS next_value FROM behind WHERE NOT $3
UNION ALL
(SELECT drew::numeric + $2 FROM drawn ORDER BY calls DESC LIMIT 1)
