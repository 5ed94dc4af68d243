-- When an unlinked mailbox was last read, sqlite. The same logical schema lives in
-- migrations/postgres/0010_mailbox_read_day.sql: change both together.
--
-- An unlinked mailbox that nobody has read for `--unlinked-mailbox-idle-days` (30 by default)
-- and that serves no open support request is deleted by the expiry sweep, with its queue, so free
-- mailboxes cannot pile up for ever. Like created_day, only the UTC day is kept (Unix ms rounded
-- down to a day): a finer time could be matched against connection times. Linked mailboxes leave
-- it NULL; they go with their device.
ALTER TABLE mailboxes ADD COLUMN read_day INTEGER;
UPDATE mailboxes SET read_day = created_day WHERE secret_hash IS NOT NULL;
CREATE INDEX mailboxes_unlinked_read_day ON mailboxes (read_day) WHERE secret_hash IS NOT NULL;
