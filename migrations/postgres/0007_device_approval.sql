-- A device enrolled onto an account that already has an approved device waits (approved_at NULL)
-- until one of those devices approves it: approved_by is the approver's signing key and approval
-- its signature over the new device's keys (protocol/README.md §14), which other members' clients
-- verify before they add the device to a conversation. An account's first device, and the first
-- after all were revoked (a new identity), is approved at enrolment without a signature. Devices
-- enrolled before this migration count as approved.
ALTER TABLE devices ADD COLUMN approved_at bigint;
ALTER TABLE devices ADD COLUMN approved_by bytea;
ALTER TABLE devices ADD COLUMN approval bytea;
UPDATE devices SET approved_at = created_at;
