-- MLS Delivery Service state, PostgreSQL. The same logical schema lives in
-- migrations/sqlite/0002_mls.sql: change both together.

-- The epoch the server last accepted for each MLS group, to order commits (the first commit for
-- the current epoch wins). The id is the SHA-256 of the MLS group id: the server needs equality,
-- not the id. NULL epoch = the group was seen (application messages only, or a placeholder row
-- inserted to take the row lock) but its epoch is not known: the same as no row. `append` locks
-- the rows of every group in its batch, so concurrent commits from several nodes are ordered.
-- Rows of groups with no message for GROUP_IDLE_MS are deleted by expire (a full scan of a small
-- table: no index on updated_at keeps the frequent updates HOT).
CREATE TABLE groups (
    id         bytea  PRIMARY KEY,
    epoch      bigint,
    updated_at bigint NOT NULL           -- created_at of the group's newest stored message
);

-- Published MLS KeyPackages: one-time ones (claimed oldest first, each handed out once) and at
-- most one last-resort one per mailbox (handed out, never consumed, when no one-time one is left).
CREATE TABLE key_packages (
    id          bigserial PRIMARY KEY,
    mailbox_id  bytea     NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    data        bytea     NOT NULL,
    last_resort boolean   NOT NULL DEFAULT false
);
CREATE INDEX key_packages_claim ON key_packages (mailbox_id, last_resort, id);
CREATE UNIQUE INDEX key_packages_one_last_resort ON key_packages (mailbox_id) WHERE last_resort;
