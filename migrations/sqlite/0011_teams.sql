-- One on-call schedule for every team, SQLite. The same logical schema lives in
-- migrations/postgres/0011_teams.sql: change both together. See docs/privacy.md.
--
-- Before, rotations, overrides and swaps belonged to the Peer Support Team alone (their accounts
-- referenced peer_supporters). Now a team is a row of `teams` — the Peer Support Team is one
-- ('peer-support'), each crisis-response team another — with its members in `team_members`,
-- and every rotation, override and swap belongs to one team and names only its members (the
-- foreign keys carry the team, so removing a member removes their places, overrides and swaps
-- in that team alone). A person's available / busy / off switch and "inside the perimeter
-- until" are theirs across teams (`on_call_switches`). Nothing here names who asked for help.

-- kind 'peer_support' (the one row 'peer-support') or 'crisis'. name is the coordinator's label
-- for the team ("North yard CRT"): institutional configuration, like a rotation's name. policy
-- is a crisis team's quorum policy as JSON (protocol/README.md §15), NULL for peer support.
CREATE TABLE teams (
    id         TEXT    PRIMARY KEY NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('peer_support', 'crisis')),
    name       TEXT    NOT NULL,
    policy     TEXT,
    created_at INTEGER NOT NULL
) STRICT;
INSERT INTO teams (id, kind, name, policy, created_at) VALUES ('peer-support', 'peer_support', 'Peer Support Team', NULL, 0);

-- tier 1 is paged first; role is a team role ('peer', 'clinician', …; 'peer' in peer support).
CREATE TABLE team_members (
    team_id    TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    account_id BLOB    NOT NULL REFERENCES accounts (id),
    tier       INTEGER NOT NULL CHECK (tier BETWEEN 1 AND 9),
    role       TEXT    NOT NULL,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (team_id, account_id)
) STRICT;
CREATE INDEX team_members_account ON team_members (account_id);
INSERT INTO team_members (team_id, account_id, tier, role, added_at)
    SELECT 'peer-support', account_id, 1, 'peer', added_at FROM peer_supporters;

-- A person's own switch (only 'available' are offered requests or paged) and, if they said so,
-- the instant (Unix ms) until which they are inside the perimeter without their phone.
CREATE TABLE on_call_switches (
    account_id   BLOB    PRIMARY KEY NOT NULL REFERENCES accounts (id),
    switch       TEXT    NOT NULL CHECK (switch IN ('available', 'busy', 'off')),
    switch_at    INTEGER NOT NULL,
    inside_until INTEGER
) STRICT;
INSERT INTO on_call_switches (account_id, switch, switch_at, inside_until)
    SELECT account_id, switch, switch_at, NULL FROM peer_supporters;

-- Peer supporters' training; the team column ties it to the Peer Support Team membership.
CREATE TABLE supporter_training_new (
    team_id      TEXT NOT NULL DEFAULT 'peer-support' CHECK (team_id = 'peer-support'),
    account_id   BLOB NOT NULL,
    kind         TEXT NOT NULL,
    completed_on TEXT NOT NULL,
    expires_on   TEXT NOT NULL,
    PRIMARY KEY (account_id, kind),
    FOREIGN KEY (team_id, account_id) REFERENCES team_members (team_id, account_id) ON DELETE CASCADE
) STRICT;
INSERT INTO supporter_training_new (team_id, account_id, kind, completed_on, expires_on)
    SELECT 'peer-support', account_id, kind, completed_on, expires_on FROM supporter_training;

CREATE TABLE rotations_new (
    id          TEXT    PRIMARY KEY NOT NULL,
    team_id     TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    handoff     TEXT    NOT NULL,
    time_zone   TEXT    NOT NULL,
    period_days INTEGER NOT NULL,
    start_date  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (id, team_id)
) STRICT;
INSERT INTO rotations_new (id, team_id, name, handoff, time_zone, period_days, start_date, created_at)
    SELECT id, 'peer-support', name, handoff, time_zone, period_days, start_date, created_at FROM rotations;

CREATE TABLE rotation_members_new (
    rotation_id TEXT    NOT NULL,
    team_id     TEXT    NOT NULL,
    position    INTEGER NOT NULL,
    account_id  BLOB    NOT NULL,
    PRIMARY KEY (rotation_id, position),
    FOREIGN KEY (rotation_id, team_id) REFERENCES rotations_new (id, team_id) ON DELETE CASCADE,
    FOREIGN KEY (team_id, account_id) REFERENCES team_members (team_id, account_id) ON DELETE CASCADE
) STRICT;
INSERT INTO rotation_members_new (rotation_id, team_id, position, account_id)
    SELECT rotation_id, 'peer-support', position, account_id FROM rotation_members;

CREATE TABLE rotation_overrides_new (
    id          TEXT    PRIMARY KEY NOT NULL,
    rotation_id TEXT    NOT NULL,
    team_id     TEXT    NOT NULL,
    account_id  BLOB    NOT NULL,
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    FOREIGN KEY (rotation_id, team_id) REFERENCES rotations_new (id, team_id) ON DELETE CASCADE,
    FOREIGN KEY (team_id, account_id) REFERENCES team_members (team_id, account_id) ON DELETE CASCADE
) STRICT;
INSERT INTO rotation_overrides_new (id, rotation_id, team_id, account_id, starts_at, ends_at, created_at)
    SELECT id, rotation_id, 'peer-support', account_id, starts_at, ends_at, created_at FROM rotation_overrides;

CREATE TABLE shift_swaps_new (
    id                TEXT    PRIMARY KEY NOT NULL,
    rotation_id       TEXT    NOT NULL,
    team_id           TEXT    NOT NULL,
    proposer_id       BLOB    NOT NULL,
    counterpart_id    BLOB    NOT NULL,
    proposer_shift    INTEGER NOT NULL,
    counterpart_shift INTEGER NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('proposed', 'accepted', 'declined', 'cancelled')),
    created_at        INTEGER NOT NULL,
    answered_at       INTEGER,
    FOREIGN KEY (rotation_id, team_id) REFERENCES rotations_new (id, team_id) ON DELETE CASCADE,
    FOREIGN KEY (team_id, proposer_id) REFERENCES team_members (team_id, account_id) ON DELETE CASCADE,
    FOREIGN KEY (team_id, counterpart_id) REFERENCES team_members (team_id, account_id) ON DELETE CASCADE
) STRICT;
INSERT INTO shift_swaps_new (id, rotation_id, team_id, proposer_id, counterpart_id, proposer_shift, counterpart_shift,
                             status, created_at, answered_at)
    SELECT id, rotation_id, 'peer-support', proposer_id, counterpart_id, proposer_shift, counterpart_shift, status,
           created_at, answered_at FROM shift_swaps;

-- Children first: the old children's rows go with their parents' implicit deletes.
DROP TABLE shift_swaps;
DROP TABLE rotation_overrides;
DROP TABLE rotation_members;
DROP TABLE supporter_training;
DROP TABLE rotations;
DROP TABLE peer_supporters;

-- Renaming a parent rewrites its children's references to the new name.
ALTER TABLE rotations_new RENAME TO rotations;
ALTER TABLE rotation_members_new RENAME TO rotation_members;
ALTER TABLE rotation_overrides_new RENAME TO rotation_overrides;
ALTER TABLE shift_swaps_new RENAME TO shift_swaps;
ALTER TABLE supporter_training_new RENAME TO supporter_training;

CREATE INDEX rotations_team ON rotations (team_id);
CREATE INDEX rotation_members_account ON rotation_members (team_id, account_id);
CREATE INDEX rotation_members_rotation ON rotation_members (rotation_id, team_id);
CREATE INDEX rotation_overrides_rotation ON rotation_overrides (rotation_id, team_id);
CREATE INDEX rotation_overrides_account ON rotation_overrides (team_id, account_id);
CREATE INDEX shift_swaps_rotation ON shift_swaps (rotation_id, team_id);
CREATE INDEX shift_swaps_proposer ON shift_swaps (team_id, proposer_id);
CREATE INDEX shift_swaps_counterpart ON shift_swaps (team_id, counterpart_id);
