-- Peer support requests, SQLite. The same logical schema lives in
-- migrations/postgres/0005_support.sql: change both together. See docs/privacy.md.

-- A waiting or accepted support request. Deliberately nothing about the requester: no device,
-- account, linked mailbox or address; the unlinked mailbox (mailboxes.secret_hash set) is the
-- only way back to them, and only for whoever holds its secret. created_at is rounded down to the
-- minute so it cannot be joined with finer timestamps elsewhere. WITHOUT ROWID: rows are ordered
-- by the random id, not by insertion. The row (and its timer) is deleted when the request closes.
CREATE TABLE support_requests (
    id         BLOB    PRIMARY KEY NOT NULL,
    urgency    TEXT    NOT NULL CHECK (urgency IN ('now', 'today', 'week')),
    status     TEXT    NOT NULL CHECK (status IN ('waiting', 'accepted')),
    level      INTEGER NOT NULL DEFAULT 0,       -- 0 on call, 1 all peer supporters, 2 coordinators
    created_at INTEGER NOT NULL,                 -- Unix ms rounded down to the minute
    mailbox_id BLOB    NOT NULL UNIQUE REFERENCES mailboxes (id),
    claimed_by BLOB    REFERENCES accounts (id), -- the accepting supporter (about them, not the requester)
    claimed_at INTEGER
) STRICT, WITHOUT ROWID;

-- The next escalation of a waiting request: at due_at (rounded up to the minute) it reaches
-- `level`; then the timer moves on by step_ms to the next level, or is deleted after level 2.
-- Claimed by one scheduler at a time (the single writer here; FOR UPDATE SKIP LOCKED on
-- PostgreSQL), so it fires once.
CREATE TABLE support_timers (
    request_id BLOB    PRIMARY KEY NOT NULL REFERENCES support_requests (id) ON DELETE CASCADE,
    due_at     INTEGER NOT NULL,
    level      INTEGER NOT NULL,
    step_ms    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX support_timers_due ON support_timers (due_at);

-- A push subscription for an unlinked mailbox, registered by proving the mailbox secret. It names
-- the mailbox only, never a device; the web app makes it from a second service-worker
-- registration so its endpoint differs from the device's own subscriptions. No timestamp.
CREATE TABLE mailbox_push_subscriptions (
    endpoint   TEXT PRIMARY KEY NOT NULL,
    mailbox_id BLOB NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    p256dh     BLOB NOT NULL,
    auth       BLOB NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX mailbox_push_subscriptions_mailbox ON mailbox_push_subscriptions (mailbox_id);
