-- Each pair's lag as last measured (by the relay, or by `ferry status` when no relay runs), and the position it was
-- counted against: with it the lag can be counted on the source alone while the target is away, and a restarted
-- relay shows every pair's last figure (marked stale) before it has measured anything.
CREATE TABLE IF NOT EXISTS pair_lag (
    sync         TEXT NOT NULL,
    source       TEXT NOT NULL,
    target       TEXT NOT NULL,
    lag_rows     INTEGER,
    lag_seconds  REAL,
    measured_at  TEXT,
    stale_since  TEXT,
    position     TEXT,
    PRIMARY KEY (sync, source, target)
);
