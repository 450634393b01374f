-- Copies into a target (add sync onetimecopy=, ferry copy) that began and have not finished. A copy records itself
-- here when it starts and deletes its row when it is done, so `ferry status` can show one that was killed or gave
-- up, and how to finish it, without connecting to the databases. No reference to syncs: the copy of `add sync`
-- runs before its sync is recorded. The copy's own cursor lives in the target's ferry.meta; this is only its mirror.
CREATE TABLE IF NOT EXISTS copies (
    sync        TEXT NOT NULL,
    source      TEXT NOT NULL,
    target      TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    last_error  TEXT,
    PRIMARY KEY (sync, target)
);
