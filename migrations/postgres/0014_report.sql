-- Programme report and debriefings, PostgreSQL. The same logical schema lives in
-- migrations/sqlite/0014_report.sql: change both together. See docs/privacy.md and
-- protocol/README.md §§ 18–19.

-- One row per countable event, for the programme report (protocol §19): the UTC day it happened (the
-- day it is recorded, so a past day never changes once reported) and, for the three kinds that are a
-- delay, the delay in seconds. No id, no account, no mailbox, no time of day: nothing here says who,
-- and nothing joins a row to any other table.
--   request_now / request_today / request_week  a support request was made, by its urgency
--   accepted        a support request was accepted; value: seconds from request to acceptance
--   escalated       a support request went past the on-call peer supporters (each step counts)
--   page_declared   a critical incident was declared (test pages are not counted)
--   first_responder an incident's first `responding`; value: seconds after the declaration
--   quorum          an incident's quorum was met; value: seconds after the declaration
--   followup_sent   a follow-up check-in was pushed to one person (once, whatever their devices)
CREATE TABLE report_events (
    day   bigint NOT NULL,
    kind  text    NOT NULL CHECK (kind IN ('request_now', 'request_today', 'request_week', 'accepted',
                                           'escalated', 'page_declared', 'first_responder', 'quorum',
                                           'followup_sent')),
    value bigint CHECK (value IS NULL OR value >= 0)
);
CREATE INDEX report_events_day ON report_events (day);

-- Incidents declared before this migration are counted, with their delays.
INSERT INTO report_events (day, kind, value)
    SELECT declared_at / 86400000, 'page_declared', NULL FROM incidents WHERE test = 0;
INSERT INTO report_events (day, kind, value)
    SELECT first_response_at / 86400000, 'first_responder', (first_response_at - declared_at) / 1000
    FROM incidents WHERE test = 0 AND first_response_at IS NOT NULL AND first_response_at >= declared_at;
INSERT INTO report_events (day, kind, value)
    SELECT quorum_at / 86400000, 'quorum', (quorum_at - declared_at) / 1000
    FROM incidents WHERE test = 0 AND quorum_at IS NOT NULL AND quorum_at >= declared_at;

-- A defusing, a debriefing or a follow-up check-in (protocol §18), as the server knows it: an
-- opaque id the coordinator's client chose, its kind, and when it is (a session's start, a
-- check-in's time). Its place, people, incident and words travel only in the MLS group of its
-- invitees and facilitators. Kept when cancelled (cancelled_at) and after it happened, for the
-- report's "held" counts; it says nothing about who.
CREATE TABLE debriefs (
    id           bytea   PRIMARY KEY,
    kind         text    NOT NULL CHECK (kind IN ('defusing', 'debriefing', 'followup')),
    at           bigint NOT NULL,
    revision     bigint NOT NULL CHECK (revision >= 1),
    created_at   bigint NOT NULL,
    cancelled_at bigint
);
CREATE INDEX debriefs_at ON debriefs (at);

-- One push still to send: a reminder or a follow-up, sealed by the coordinator's client to one
-- recipient device (HPKE to its notification key). due_at: when to send it; a node sending it
-- moves due_at a lease ahead first, and deletes the row once the push service has answered, so
-- each fires once across nodes and a crash re-sends it (at least once). A change of time replaces
-- a debrief's rows; a cancellation deletes them. Nothing of a debrief's people outlives its pushes.
-- counted: 1 once a follow-up's push to another device of the same person was sent and counted as
-- followup_sent, so that person is counted once per notice (set in the transaction that deletes
-- the sent row and inserts the count, so a crash neither loses nor repeats it).
CREATE TABLE debrief_pushes (
    debrief_id bytea   NOT NULL REFERENCES debriefs (id) ON DELETE CASCADE,
    notice     bigint NOT NULL CHECK (notice >= 0),
    device_id  bytea   NOT NULL,
    due_at     bigint NOT NULL,
    sealed     bytea   NOT NULL,
    counted    bigint  NOT NULL DEFAULT 0 CHECK (counted IN (0, 1)),
    PRIMARY KEY (debrief_id, notice, device_id)
);
CREATE INDEX debrief_pushes_due ON debrief_pushes (due_at);
