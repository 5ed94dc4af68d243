-- MLS Delivery Service state, SQLite. The same logical schema lives in
-- migrations/postgres/0002_mls.sql: change both together.

-- The epoch the server last accepted for each MLS group, to order commits (the first commit for
-- the current epoch wins). The id is the SHA-256 of the MLS group id: the server needs equality,
-- not the id. NULL epoch = the group was seen (application messages only) but its epoch is not
-- known: the same as no row. Rows of groups with no message for GROUP_IDLE_MS are deleted by
-- expire (a full scan of a small table: no index on updated_at, so touching a group stays cheap).
CREATE TABLE groups (
    id         BLOB    PRIMARY KEY NOT NULL,
    epoch      INTEGER,
    updated_at INTEGER NOT NULL          -- created_at of the group's newest stored message
) STRICT, WITHOUT ROWID;

-- Published MLS KeyPackages: one-time ones (claimed oldest first, each handed out once) and at
-- most one last-resort one per mailbox (handed out, never consumed, when no one-time one is left).
CREATE TABLE key_packages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox_id  BLOB    NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    data        BLOB    NOT NULL,
    last_resort INTEGER NOT NULL DEFAULT 0 CHECK (last_resort IN (0, 1))
) STRICT;
CREATE INDEX key_packages_claim ON key_packages (mailbox_id, last_resort, id);
CREATE UNIQUE INDEX key_packages_one_last_resort ON key_packages (mailbox_id) WHERE last_resort = 1;
