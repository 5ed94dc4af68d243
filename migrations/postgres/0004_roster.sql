-- Peer supporter roster and on-call schedule, PostgreSQL. The same logical schema lives in
-- migrations/sqlite/0004_roster.sql: change both together.
-- These tables describe peer supporters and their shifts; nothing here names who asked for help.

-- Who is on the Peer Support Team, and their own switch (only 'available' are offered requests).
CREATE TABLE peer_supporters (
    account_id bytea   PRIMARY KEY REFERENCES accounts (id),
    switch     text    NOT NULL CHECK (switch IN ('available', 'busy', 'off')),
    added_at   bigint  NOT NULL,
    switch_at  bigint  NOT NULL
);

-- One row per supporter and kind of training; dates are 'YYYY-MM-DD' (UTC days). Lapsed from
-- expires_on on.
CREATE TABLE supporter_training (
    account_id   bytea NOT NULL REFERENCES peer_supporters (account_id) ON DELETE CASCADE,
    kind         text NOT NULL,
    completed_on text NOT NULL,
    expires_on   text NOT NULL,
    PRIMARY KEY (account_id, kind)
);

-- Period k starts at `handoff` ('HH:MM' local) on start_date + k * period_days in time_zone (IANA).
CREATE TABLE rotations (
    id          text    PRIMARY KEY,
    name        text    NOT NULL,
    handoff     text    NOT NULL,
    time_zone   text    NOT NULL,
    period_days bigint  NOT NULL,
    start_date  text    NOT NULL,
    created_at  bigint  NOT NULL
);

-- members[k mod len] holds period k; position orders them (gaps allowed after a removal).
CREATE TABLE rotation_members (
    rotation_id text    NOT NULL REFERENCES rotations (id) ON DELETE CASCADE,
    position    bigint  NOT NULL,
    account_id  bytea    NOT NULL REFERENCES peer_supporters (account_id) ON DELETE CASCADE,
    PRIMARY KEY (rotation_id, position)
);
CREATE INDEX rotation_members_account ON rotation_members (account_id);

-- account_id covers [starts_at, ends_at) (Unix ms) of the rotation instead of whoever is scheduled.
CREATE TABLE rotation_overrides (
    id          text    PRIMARY KEY,
    rotation_id text    NOT NULL REFERENCES rotations (id) ON DELETE CASCADE,
    account_id  bytea    NOT NULL REFERENCES peer_supporters (account_id) ON DELETE CASCADE,
    starts_at   bigint  NOT NULL,
    ends_at     bigint  NOT NULL,
    created_at  bigint  NOT NULL
);
CREATE INDEX rotation_overrides_rotation ON rotation_overrides (rotation_id);
CREATE INDEX rotation_overrides_account ON rotation_overrides (account_id);

-- The proposer offers the shift starting at proposer_shift for the counterpart's starting at
-- counterpart_shift; status: proposed, accepted, declined, cancelled.
CREATE TABLE shift_swaps (
    id                text    PRIMARY KEY,
    rotation_id       text    NOT NULL REFERENCES rotations (id) ON DELETE CASCADE,
    proposer_id       bytea    NOT NULL REFERENCES peer_supporters (account_id) ON DELETE CASCADE,
    counterpart_id    bytea    NOT NULL REFERENCES peer_supporters (account_id) ON DELETE CASCADE,
    proposer_shift    bigint  NOT NULL,
    counterpart_shift bigint  NOT NULL,
    status            text    NOT NULL CHECK (status IN ('proposed', 'accepted', 'declined', 'cancelled')),
    created_at        bigint  NOT NULL,
    answered_at       bigint 
);
CREATE INDEX shift_swaps_rotation ON shift_swaps (rotation_id);
CREATE INDEX shift_swaps_proposer ON shift_swaps (proposer_id);
CREATE INDEX shift_swaps_counterpart ON shift_swaps (counterpart_id);
