-- What a project's agent workspaces may reach (the `workspace.shell` tool's grant): a JSON
-- array of egress rules, enforced by the host-side proxy. No row: no network.
CREATE TABLE workspace_egress (
    project_id  TEXT    NOT NULL PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    egress      TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
);
