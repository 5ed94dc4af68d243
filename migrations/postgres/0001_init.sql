-- Sallyport schema, PostgreSQL. Ids, keys and hashes are raw bytes; times are Unix milliseconds.
-- The same logical schema lives in migrations/sqlite/0001_init.sql: change both together.

CREATE TABLE accounts (
    id           bytea  PRIMARY KEY,
    display_name text   NOT NULL,
    roles        text   NOT NULL,           -- comma-separated role names
    created_at   bigint NOT NULL
);

CREATE TABLE invitations (
    code_hash    bytea  PRIMARY KEY,        -- SHA-256 of the code; the code is never stored
    display_name text   NOT NULL,
    roles        text   NOT NULL,
    account_id   bytea  REFERENCES accounts (id),  -- set to add a device to an existing account
    created_at   bigint NOT NULL,
    expires_at   bigint NOT NULL,
    used_at      bigint
);
CREATE INDEX invitations_unused_expiry ON invitations (expires_at) WHERE used_at IS NULL;

-- A mailbox row has no owner column. NULL secret_hash = a device's linked mailbox (the link is
-- devices.mailbox_id); otherwise an unlinked mailbox whose owner the server never records. Its only
-- time is the day of creation, so no precise timestamp can be matched against device rows.
CREATE TABLE mailboxes (
    id          bytea  PRIMARY KEY,
    secret_hash bytea,
    created_day bigint NOT NULL              -- Unix ms rounded down to a UTC day
);

CREATE TABLE devices (
    id               bytea  PRIMARY KEY,
    account_id       bytea  NOT NULL REFERENCES accounts (id),
    signing_key      bytea  NOT NULL,
    notification_key bytea  NOT NULL,
    mailbox_id       bytea  NOT NULL UNIQUE REFERENCES mailboxes (id),
    created_at       bigint NOT NULL,
    revoked_at       bigint
);
CREATE INDEX devices_account ON devices (account_id);

-- The feed every node polls to close a revoked device's connections. Inserts are serialised by an
-- advisory lock (see PostgresStore::revoke_device) so cursors become visible in order.
CREATE TABLE revocations (
    cursor     bigserial PRIMARY KEY,
    device_id  bytea     NOT NULL,
    revoked_at bigint    NOT NULL
);

-- The global message sequence; a sequence never hands out a number twice.
CREATE SEQUENCE message_seq AS bigint;

-- Idempotency records: a re-sent message id answers with its first sequence number. Deliberately
-- no sender column: the database never says who sent a message.
CREATE TABLE sent (
    message_id bytea  PRIMARY KEY,
    seq        bigint NOT NULL,
    expires_at bigint NOT NULL
);
CREATE INDEX sent_expiry ON sent (expires_at);

-- One row per (recipient mailbox, message); deleted when the recipient acknowledges it.
CREATE TABLE queue (
    mailbox_id bytea  NOT NULL,
    seq        bigint NOT NULL,
    message_id bytea  NOT NULL,
    payload    bytea  NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    PRIMARY KEY (mailbox_id, seq)
);
-- Payloads are ciphertext: trying to compress them only costs CPU.
ALTER TABLE queue ALTER COLUMN payload SET STORAGE EXTERNAL;
CREATE INDEX queue_created ON queue (created_at);
CREATE INDEX queue_expiry ON queue (expires_at);

CREATE TABLE settings (
    key   text  PRIMARY KEY,
    value bytea NOT NULL
);
