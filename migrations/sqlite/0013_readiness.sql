-- Readiness checks and one-person test pages, SQLite. The same logical schema lives in
-- migrations/postgres/0013_readiness.sql: change both together. See docs/privacy.md.

-- One row per crisis-team member whose phone is checked: when the next check is due, the last
-- check pushed and how their push service answered it, the hash of its tap token (until used)
-- and when they last confirmed one. Deleted when they are on no crisis team.
CREATE TABLE readiness (
    account_id   BLOB    PRIMARY KEY NOT NULL REFERENCES accounts (id),
    due_at       INTEGER NOT NULL,
    sent_at      INTEGER,
    outcome      TEXT,
    token_hash   BLOB,
    confirmed_at INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX readiness_due ON readiness (due_at);
CREATE UNIQUE INDEX readiness_token ON readiness (token_hash);

-- Members of crisis teams made before this migration are checked at once.
INSERT INTO readiness (account_id, due_at)
    SELECT DISTINCT m.account_id, 0 FROM team_members m JOIN teams t ON t.id = m.team_id WHERE t.kind = 'crisis';

-- A test page for one person pages only them (no escalation); NULL for a team's page.
ALTER TABLE incidents ADD COLUMN only_account BLOB REFERENCES accounts (id);
