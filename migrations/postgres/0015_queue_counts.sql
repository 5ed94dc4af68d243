-- Queue counts, PostgreSQL: nothing to change. SQLite keeps each mailbox's queue length in
-- `mailboxes.queued` (triggers, migrations/sqlite/0015) so a round need not count queues. Here
-- several nodes commit rounds at once without locking mailbox rows; a counter row per mailbox
-- would make every round to a mailbox wait for the others' (and risk deadlocks between rounds that
-- update the same mailboxes in different orders). The round counts instead, only up to the quota
-- (`LIMIT`), which bounds its cost.
SELECT 1;
