-- Peer supporter roster and on-call schedule, SQLite. The same logical schema lives in
-- migrations/postgres/0004_roster.sql: change both together.
-- These tables describe peer supporters and their shifts; nothing here names who asked for help.

-- Who is on the Peer Support Team, and their own switch (only 'available' are offered requests).
CREATE TABLE peer_supporters (
    account_id BLOB    PRIMARY KEY NOT NULL REFERENCES accounts (id),
    switch     TEXT    NOT NULL CHECK (switch IN ('available', 'busy', 'off')),
    added_at   INTEGER NOT NULL,
    switch_at  INTEGER NOT NULL
) STRICT;

-- One row per supporter and kind of training; dates are 'YYYY-MM-DD' (UTC days). Lapsed from
-- expires_on on.
CREATE TABLE supporter_training (
    account_id   BLOB NOT NULL REFERENCES peer_supporters (account_id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    completed_on TEXT NOT NULL,
    expires_on   TEXT NOT NULL,
    PRIMARY KEY (account_id, kind)
) STRICT;

-- Period k starts at `handoff` ('HH:MM' local) on start_date + k * period_days in time_zone (IANA).
CREATE TABLE rotations (
    id          TEXT    PRIMARY KEY NOT NULL,
    name        TEXT    NOT NULL,
    handoff     TEXT    NOT NULL,
    time_zone   TEXT    NOT NULL,
    period_days INTEGER NOT NULL,
    start_date  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

-- members[k mod len] holds period k; position orders them (gaps allowed after a removal).
CREATE TABLE rotation_members (
    rotation_id TEXT    NOT NULL REFERENCES rotations (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    account_id  BLOB    NOT NULL REFERENCES peer_supporters (account_id) ON DELETE CASCADE,
    PRIMARY KEY (rotation_id, position)
) STRICT;
CREATE INDEX rotation_members_account ON rotation_members (account_id);

-- account_id covers [starts_at, ends_at) (Unix ms) of the rotation instead of whoever is scheduled.
CREATE TABLE rotation_overrides (
    id          TEXT    PRIMARY KEY NOT NULL,
    rotation_id TEXT    NOT NULL REFERENCES rotations (id) ON DELETE CASCADE,
    account_id  BLOB    NOT NULL REFERENCES peer_supporters (account_id) ON DELETE CASCADE,
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX rotation_overrides_rotation ON rotation_overrides (rotation_id);
CREATE INDEX rotation_overrides_account ON rotation_overrides (account_id);

-- The proposer offers the shift starting at proposer_shift for the counterpart's starting at
-- counterpart_shift; status: proposed, accepted, declined, cancelled.
CREATE TABLE shift_swaps (
    id                TEXT    PRIMARY KEY NOT NULL,
    rotation_id       TEXT    NOT NULL REFERENCES rotations (id) ON DELETE CASCADE,
    proposer_id       BLOB    NOT NULL REFERENCES peer_supporters (account_id) ON DELETE CASCADE,
    counterpart_id    BLOB    NOT NULL REFERENCES peer_supporters (account_id) ON DELETE CASCADE,
    proposer_shift    INTEGER NOT NULL,
    counterpart_shift INTEGER NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('proposed', 'accepted', 'declined', 'cancelled')),
    created_at        INTEGER NOT NULL,
    answered_at       INTEGER
) STRICT;
CREATE INDEX shift_swaps_rotation ON shift_swaps (rotation_id);
CREATE INDEX shift_swaps_proposer ON shift_swaps (proposer_id);
CREATE INDEX shift_swaps_counterpart ON shift_swaps (counterpart_id);
