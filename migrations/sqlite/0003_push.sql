-- Web Push subscriptions, SQLite. The same logical schema lives in
-- migrations/postgres/0003_push.sql: change both together.

-- A browser's push subscription (RFC 8030 endpoint, RFC 8291 keys) for one device; a device may
-- have several. Only devices subscribe, so a row names a device and, through devices.mailbox_id,
-- its linked mailbox, which is already linked to it: nothing here touches unlinked mailboxes.
-- The endpoint is unique: one browser profile has one subscription per endpoint, so registering it
-- again (from another device enrolled in the same browser) moves it.
CREATE TABLE push_subscriptions (
    endpoint   TEXT    PRIMARY KEY NOT NULL,
    device_id  BLOB    NOT NULL REFERENCES devices (id),
    p256dh     BLOB    NOT NULL,               -- uncompressed P-256 point, 65 bytes
    auth       BLOB    NOT NULL,               -- authentication secret, 16 bytes
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX push_subscriptions_device ON push_subscriptions (device_id);
