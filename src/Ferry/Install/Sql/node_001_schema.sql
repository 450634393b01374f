-- Ferry's schema in a replicated database. Runs as the replication role, which needs only CONNECT and CREATE on
-- the database (or to own an existing schema "ferry"): no superuser, no extension, no postgresql.conf change.
-- Idempotent: install and upgrade are the same script.
CREATE SCHEMA IF NOT EXISTS ferry;

-- The application's roles get no rights here and need none: the capture triggers are SECURITY DEFINER.
REVOKE ALL ON SCHEMA ferry FROM PUBLIC;

CREATE TABLE IF NOT EXISTS ferry.meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- Identifies this database across restores: a restored copy keeps the node id but its transaction ids go back,
-- which the reader detects against the snapshots stored in ferry.progress.
INSERT INTO ferry.meta (key, value) VALUES ('node_id', gen_random_uuid()::text) ON CONFLICT (key) DO NOTHING;
-- The version of what ferry installs here (NodeInstaller.SchemaVersion): the relay refuses to run a pair over an
-- older one and asks for `ferry upgrade`, which installs over it in place.
INSERT INTO ferry.meta (key, value) VALUES ('schema_version', '{{schema_version}}') ON CONFLICT (key) DO UPDATE SET value = excluded.value;
