-- One on-call schedule for every team, PostgreSQL. The same logical schema lives in
-- migrations/sqlite/0011_teams.sql (which explains it): change both together. See docs/privacy.md.

CREATE TABLE teams (
    id         text    PRIMARY KEY,
    kind       text    NOT NULL CHECK (kind IN ('peer_support', 'crisis')),
    name       text    NOT NULL,
    policy     text,
    created_at bigint  NOT NULL
);
INSERT INTO teams (id, kind, name, policy, created_at) VALUES ('peer-support', 'peer_support', 'Peer Support Team', NULL, 0);

CREATE TABLE team_members (
    team_id    text    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    account_id bytea   NOT NULL REFERENCES accounts (id),
    tier       bigint  NOT NULL CHECK (tier BETWEEN 1 AND 9),
    role       text    NOT NULL,
    added_at   bigint  NOT NULL,
    PRIMARY KEY (team_id, account_id)
);
CREATE INDEX team_members_account ON team_members (account_id);
INSERT INTO team_members (team_id, account_id, tier, role, added_at)
    SELECT 'peer-support', account_id, 1, 'peer', added_at FROM peer_supporters;

CREATE TABLE on_call_switches (
    account_id   bytea   PRIMARY KEY REFERENCES accounts (id),
    switch       text    NOT NULL CHECK (switch IN ('available', 'busy', 'off')),
    switch_at    bigint  NOT NULL,
    inside_until bigint
);
INSERT INTO on_call_switches (account_id, switch, switch_at, inside_until)
    SELECT account_id, switch, switch_at, NULL FROM peer_supporters;

-- Every reference to peer_supporters becomes one to the member of the row's team.
ALTER TABLE supporter_training DROP CONSTRAINT supporter_training_account_id_fkey;
ALTER TABLE supporter_training ADD COLUMN team_id text NOT NULL DEFAULT 'peer-support' CHECK (team_id = 'peer-support');
ALTER TABLE supporter_training ADD FOREIGN KEY (team_id, account_id) REFERENCES team_members (team_id, account_id) ON DELETE CASCADE;

ALTER TABLE rotations ADD COLUMN team_id text NOT NULL DEFAULT 'peer-support' REFERENCES teams (id) ON DELETE CASCADE;
ALTER TABLE rotations ALTER COLUMN team_id DROP DEFAULT;
ALTER TABLE rotations ADD UNIQUE (id, team_id);
CREATE INDEX rotations_team ON rotations (team_id);

ALTER TABLE rotation_members DROP CONSTRAINT rotation_members_account_id_fkey;
ALTER TABLE rotation_members DROP CONSTRAINT rotation_members_rotation_id_fkey;
ALTER TABLE rotation_members ADD COLUMN team_id text NOT NULL DEFAULT 'peer-support';
ALTER TABLE rotation_members ALTER COLUMN team_id DROP DEFAULT;
ALTER TABLE rotation_members ADD FOREIGN KEY (rotation_id, team_id) REFERENCES rotations (id, team_id) ON DELETE CASCADE;
ALTER TABLE rotation_members ADD FOREIGN KEY (team_id, account_id) REFERENCES team_members (team_id, account_id) ON DELETE CASCADE;
DROP INDEX rotation_members_account;
CREATE INDEX rotation_members_account ON rotation_members (team_id, account_id);
CREATE INDEX rotation_members_rotation ON rotation_members (rotation_id, team_id);

ALTER TABLE rotation_overrides DROP CONSTRAINT rotation_overrides_account_id_fkey;
ALTER TABLE rotation_overrides DROP CONSTRAINT rotation_overrides_rotation_id_fkey;
ALTER TABLE rotation_overrides ADD COLUMN team_id text NOT NULL DEFAULT 'peer-support';
ALTER TABLE rotation_overrides ALTER COLUMN team_id DROP DEFAULT;
ALTER TABLE rotation_overrides ADD FOREIGN KEY (rotation_id, team_id) REFERENCES rotations (id, team_id) ON DELETE CASCADE;
ALTER TABLE rotation_overrides ADD FOREIGN KEY (team_id, account_id) REFERENCES team_members (team_id, account_id) ON DELETE CASCADE;
DROP INDEX rotation_overrides_rotation;
DROP INDEX rotation_overrides_account;
CREATE INDEX rotation_overrides_rotation ON rotation_overrides (rotation_id, team_id);
CREATE INDEX rotation_overrides_account ON rotation_overrides (team_id, account_id);

ALTER TABLE shift_swaps DROP CONSTRAINT shift_swaps_proposer_id_fkey;
ALTER TABLE shift_swaps DROP CONSTRAINT shift_swaps_counterpart_id_fkey;
ALTER TABLE shift_swaps DROP CONSTRAINT shift_swaps_rotation_id_fkey;
ALTER TABLE shift_swaps ADD COLUMN team_id text NOT NULL DEFAULT 'peer-support';
ALTER TABLE shift_swaps ALTER COLUMN team_id DROP DEFAULT;
ALTER TABLE shift_swaps ADD FOREIGN KEY (rotation_id, team_id) REFERENCES rotations (id, team_id) ON DELETE CASCADE;
ALTER TABLE shift_swaps ADD FOREIGN KEY (team_id, proposer_id) REFERENCES team_members (team_id, account_id) ON DELETE CASCADE;
ALTER TABLE shift_swaps ADD FOREIGN KEY (team_id, counterpart_id) REFERENCES team_members (team_id, account_id) ON DELETE CASCADE;
DROP INDEX shift_swaps_rotation;
DROP INDEX shift_swaps_proposer;
DROP INDEX shift_swaps_counterpart;
CREATE INDEX shift_swaps_rotation ON shift_swaps (rotation_id, team_id);
CREATE INDEX shift_swaps_proposer ON shift_swaps (team_id, proposer_id);
CREATE INDEX shift_swaps_counterpart ON shift_swaps (team_id, counterpart_id);

DROP TABLE peer_supporters;
