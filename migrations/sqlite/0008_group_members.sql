-- The members an MLS group is bound to, SQLite. The same logical schema lives in
-- migrations/postgres/0007_group_members.sql: change both together.
--
-- The mailboxes of the group's members as its last accepted commit named them (`members` of its
-- `group_send`: the commit's recipients plus the committer, removed members excluded), 16 bytes
-- each, end to end, sorted. The server accepts the group's messages only from a connection that
-- reads one of them (protocol §9, "Members"). NULL = not bound yet (a group known from before
-- this migration, or only from application messages): its next accepted commit binds it. Which
-- member sent what, or which mailboxes one connection reads, is never stored.
ALTER TABLE groups ADD COLUMN members BLOB;
