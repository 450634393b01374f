-- The databases each relay sharing the store cannot reach: its links to them have failed for longer than a grace (the
-- lease time), and no connection has succeeded since. Rewritten on every heartbeat of the relay, deleted with it. The
-- heartbeat hands a sync touching such a database to a live relay that reaches all of its databases, and status shows
-- them per relay. since: when the relay's links to it began failing, by the relay's clock (for people, not decisions).
CREATE TABLE IF NOT EXISTS relay_unreachable (
    relay_id      TEXT NOT NULL,
    database_name TEXT NOT NULL,
    since         TEXT NOT NULL,
    last_error    TEXT,
    PRIMARY KEY (relay_id, database_name)
);
