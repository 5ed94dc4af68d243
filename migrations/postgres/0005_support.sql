-- Peer support requests, PostgreSQL. The same logical schema lives in
-- migrations/sqlite/0005_support.sql: change both together. See docs/privacy.md.

-- A waiting or accepted support request. Deliberately nothing about the requester: no device,
-- account, linked mailbox or address; the unlinked mailbox (mailboxes.secret_hash set) is the
-- only way back to them, and only for whoever holds its secret. created_at is rounded down to the
-- minute so it cannot be joined with finer timestamps elsewhere. The row (and its timer) is
-- deleted when the request closes.
CREATE TABLE support_requests (
    id         bytea  PRIMARY KEY,
    urgency    text   NOT NULL CHECK (urgency IN ('now', 'today', 'week')),
    status     text   NOT NULL CHECK (status IN ('waiting', 'accepted')),
    level      int    NOT NULL DEFAULT 0,        -- 0 on call, 1 all peer supporters, 2 coordinators
    created_at bigint NOT NULL,                  -- Unix ms rounded down to the minute
    mailbox_id bytea  NOT NULL UNIQUE REFERENCES mailboxes (id),
    claimed_by bytea  REFERENCES accounts (id),  -- the accepting supporter (about them, not the requester)
    claimed_at bigint
);

-- The next escalation of a waiting request: at due_at (rounded up to the minute) it reaches
-- `level`; then the timer moves on by step_ms to the next level, or is deleted after level 2.
-- Claimed with FOR UPDATE SKIP LOCKED, so each fires once across nodes.
CREATE TABLE support_timers (
    request_id bytea  PRIMARY KEY REFERENCES support_requests (id) ON DELETE CASCADE,
    due_at     bigint NOT NULL,
    level      int    NOT NULL,
    step_ms    bigint NOT NULL
);
CREATE INDEX support_timers_due ON support_timers (due_at);

-- A push subscription for an unlinked mailbox, registered by proving the mailbox secret. It names
-- the mailbox only, never a device; the web app makes it from a second service-worker
-- registration so its endpoint differs from the device's own subscriptions. No timestamp.
CREATE TABLE mailbox_push_subscriptions (
    endpoint   text  PRIMARY KEY,
    mailbox_id bytea NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    p256dh     bytea NOT NULL,
    auth       bytea NOT NULL
);
CREATE INDEX mailbox_push_subscriptions_mailbox ON mailbox_push_subscriptions (mailbox_id);
