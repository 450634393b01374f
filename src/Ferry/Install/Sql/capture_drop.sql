-- Removes the capture of one table. Dropping ferry's own trigger functions with CASCADE drops the triggers that
-- call them, which needs no ownership of the user's table (DROP TRIGGER would). The row-version table stays, so
-- its tombstones survive for a later sync; user data is never touched.
DROP FUNCTION IF EXISTS {{fn}}() CASCADE;
DROP FUNCTION IF EXISTS {{fn_truncate}}() CASCADE;
