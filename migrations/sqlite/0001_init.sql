-- Sallyport schema, SQLite. Ids, keys and hashes are raw bytes; times are Unix milliseconds.
-- The same logical schema lives in migrations/postgres/0001_init.sql: change both together.

CREATE TABLE accounts (
    id           BLOB    PRIMARY KEY NOT NULL,
    display_name TEXT    NOT NULL,
    roles        TEXT    NOT NULL,          -- comma-separated role names
    created_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE invitations (
    code_hash    BLOB    PRIMARY KEY NOT NULL,  -- SHA-256 of the code; the code is never stored
    display_name TEXT    NOT NULL,
    roles        TEXT    NOT NULL,
    account_id   BLOB    REFERENCES accounts (id),  -- set to add a device to an existing account
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
) STRICT;
CREATE INDEX invitations_unused_expiry ON invitations (expires_at) WHERE used_at IS NULL;

-- A mailbox row has no owner column. NULL secret_hash = a device's linked mailbox (the link is
-- devices.mailbox_id); otherwise an unlinked mailbox whose owner the server never records. Its only
-- time is the day of creation, so no precise timestamp can be matched against device rows.
-- WITHOUT ROWID: rows are ordered by the random id, not by insertion, so row order does not
-- interleave unlinked mailboxes with the linked mailboxes of freshly enrolled devices either.
CREATE TABLE mailboxes (
    id          BLOB    PRIMARY KEY NOT NULL,
    secret_hash BLOB,
    created_day INTEGER NOT NULL             -- Unix ms rounded down to a UTC day
) STRICT, WITHOUT ROWID;

CREATE TABLE devices (
    id               BLOB    PRIMARY KEY NOT NULL,
    account_id       BLOB    NOT NULL REFERENCES accounts (id),
    signing_key      BLOB    NOT NULL,
    notification_key BLOB    NOT NULL,
    mailbox_id       BLOB    NOT NULL UNIQUE REFERENCES mailboxes (id),
    created_at       INTEGER NOT NULL,
    revoked_at       INTEGER
) STRICT;
CREATE INDEX devices_account ON devices (account_id);

-- The feed every node polls to close a revoked device's connections.
CREATE TABLE revocations (
    cursor     INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id  BLOB    NOT NULL,
    revoked_at INTEGER NOT NULL
) STRICT;

-- The global message sequence. A counter row, not MAX(seq): numbers are never reused, even after
-- every queued copy has expired.
CREATE TABLE counters (
    name  TEXT    PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) STRICT;
INSERT INTO counters (name, value) VALUES ('message_seq', 0);

-- Idempotency records: a re-sent message id answers with its first sequence number. Deliberately
-- no sender column: the database never says who sent a message.
CREATE TABLE sent (
    message_id BLOB    PRIMARY KEY NOT NULL,
    seq        INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX sent_expiry ON sent (expires_at);

-- One row per (recipient mailbox, message); deleted when the recipient acknowledges it.
CREATE TABLE queue (
    mailbox_id BLOB    NOT NULL,
    seq        INTEGER NOT NULL,
    message_id BLOB    NOT NULL,
    payload    BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, seq)
) STRICT;
CREATE INDEX queue_created ON queue (created_at);
CREATE INDEX queue_expiry ON queue (expires_at);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) STRICT;
