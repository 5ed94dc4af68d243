-- Signatures of state-changing signed REST requests already used, sqlite. The same logical schema
-- lives in migrations/postgres/0009_used_signatures.sql: change both together.
--
-- A signed request is valid for 5 minutes either side of its signing time (protocol §11). Each
-- POST, PUT or DELETE records SHA-256 of its signature here until then, in the same database for
-- every node, so a captured request cannot be replayed on another node or after a restart.
-- Only the hash is kept: without the signed message it cannot be checked against any device's
-- key, so a row names no device. Rows go once they expire (the expiry sweep).
CREATE TABLE used_signatures (
    hash BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX used_signatures_expiry ON used_signatures (expires_at);
