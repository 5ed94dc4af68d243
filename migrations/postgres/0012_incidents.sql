-- Critical incidents and crisis paging, PostgreSQL. The same logical schema lives in
-- migrations/sqlite/0012_incidents.sql: change both together. See docs/privacy.md.
--
-- Nothing readable about an incident is here: its type, place and note exist only sealed, per
-- recipient device, by the declarer's client (incident_seals) and are deleted when the incident
-- is resolved, with every other routing row (who was paged, tokens, timers, the outbox). What
-- stays of a resolved incident is its team, severity and times (for the programme report).

CREATE TABLE incidents (
    id                bytea    PRIMARY KEY,
    team_id           text    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    severity          bigint NOT NULL CHECK (severity BETWEEN 1 AND 3),
    test              bigint NOT NULL CHECK (test IN (0, 1)),
    declared_by       bytea    REFERENCES accounts (id),   -- NULL once resolved
    declared_at       bigint NOT NULL,
    step              text    NOT NULL,                    -- the last escalation step taken
    step_at           bigint NOT NULL,
    first_response_at bigint,
    quorum_at         bigint,
    resolved_at       bigint
);

-- The preview sealed to one recipient device (HPKE to its notification key), relayed in pages.
CREATE TABLE incident_seals (
    incident_id bytea NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    device_id   bytea NOT NULL,
    sealed      bytea NOT NULL,
    PRIMARY KEY (incident_id, device_id)
);

-- One person paged (or passed over while inside, or answering). coordinator: paged as one.
CREATE TABLE incident_pages (
    incident_id   bytea    NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    account_id    bytea    NOT NULL REFERENCES accounts (id),
    coordinator   bigint NOT NULL CHECK (coordinator IN (0, 1)),
    paged_at      bigint,
    last_paged_at bigint,
    pages         bigint NOT NULL,
    waiting_until bigint,
    answer        text    CHECK (answer IN ('responding', 'unavailable')),
    answered_at   bigint,
    eta_at        bigint,
    PRIMARY KEY (incident_id, account_id)
);

-- Each push attempt's outcome, for the board.
CREATE TABLE incident_attempts (
    incident_id bytea    NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    account_id  bytea    NOT NULL,
    at          bigint NOT NULL,
    outcome     text    NOT NULL
);
CREATE INDEX incident_attempts_incident ON incident_attempts (incident_id);

-- Escalation steps taken, for the board.
CREATE TABLE incident_steps (
    incident_id bytea    NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    at          bigint NOT NULL,
    step        text    NOT NULL
);
CREATE INDEX incident_steps_incident ON incident_steps (incident_id);

-- When an open incident must next be looked at (a repeat, an escalation, someone coming out).
-- Claimed by one node at a time (the single writer here; FOR UPDATE SKIP LOCKED on PostgreSQL),
-- which moves due_at a lease ahead until it has planned the next one.
CREATE TABLE incident_timers (
    incident_id bytea    PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
    due_at      bigint NOT NULL
);
CREATE INDEX incident_timers_due ON incident_timers (due_at);

-- Pages decided but not yet answered by the push service: written in the transaction that
-- decides them and deleted when the push service has answered, so a page a crash interrupted is
-- sent again (at least once). claimed_until: a node is sending it until then.
CREATE TABLE incident_outbox (
    incident_id   bytea    NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    device_id     bytea    NOT NULL,
    account_id    bytea    NOT NULL,
    claimed_until bigint NOT NULL,
    PRIMARY KEY (incident_id, device_id)
);
CREATE INDEX incident_outbox_claimed ON incident_outbox (claimed_until);

-- SHA-256 of a single-use answer token sent in one page push; deleted when used.
CREATE TABLE incident_tokens (
    hash        bytea PRIMARY KEY,
    incident_id bytea NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    account_id  bytea NOT NULL
);
CREATE INDEX incident_tokens_incident ON incident_tokens (incident_id, account_id);
