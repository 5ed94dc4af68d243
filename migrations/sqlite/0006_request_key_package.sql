-- A support request's KeyPackage lives in the request's own row, not in `key_packages`, whose
-- AUTOINCREMENT ids give every row a global insertion order: the request's KeyPackage would sit
-- right after the ones the requester's device published when it connected. It is the unlinked
-- mailbox's last-resort KeyPackage, claimed (not consumed) by whoever answers, and goes with the row.
ALTER TABLE support_requests ADD COLUMN key_package BLOB;
UPDATE support_requests SET key_package = (
    SELECT data FROM key_packages k WHERE k.mailbox_id = support_requests.mailbox_id AND k.last_resort = 1
);
DELETE FROM key_packages WHERE mailbox_id IN (SELECT mailbox_id FROM support_requests);
