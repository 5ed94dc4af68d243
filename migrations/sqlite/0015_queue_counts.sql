-- How many copies each mailbox's queue holds, kept by triggers, SQLite. migrations/postgres/0015
-- explains why PostgreSQL keeps counting instead.
--
-- Every group-commit round checks each recipient's queue against the quota. Counting the queue's
-- rows for it cost a round time proportional to the queues' lengths: with messages piling up for
-- offline readers, rounds grew slower every second (55k -> 25k msg/s over 20 s in the bench with
-- half the readers offline). The count adds nothing the queue rows did not already show.
ALTER TABLE mailboxes ADD COLUMN queued INTEGER NOT NULL DEFAULT 0;

UPDATE mailboxes SET queued = (SELECT COUNT(*) FROM queue q WHERE q.mailbox_id = mailboxes.id);

CREATE TRIGGER queue_count_insert AFTER INSERT ON queue
BEGIN
    UPDATE mailboxes SET queued = queued + 1 WHERE id = NEW.mailbox_id;
END;

CREATE TRIGGER queue_count_delete AFTER DELETE ON queue
BEGIN
    UPDATE mailboxes SET queued = queued - 1 WHERE id = OLD.mailbox_id;
END;
