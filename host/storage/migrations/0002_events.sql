-- The hash-chained, append-only event log.
--
-- `seq` is assigned by the single event writer (never AUTOINCREMENT), so the chain order is the
-- application's, and it is gapless except where retention pruned a prefix. `hash` is
-- SHA-256 over a length-prefixed encoding of (seq, ts, kind, actor, project, payload, prev_hash);
-- see host/storage/src/events/chain.rs. Hashes are lowercase hex TEXT.
--
-- PostgreSQL port: `seq BIGINT PRIMARY KEY`, `ts BIGINT`; the triggers become one plpgsql
-- function raising an exception, with the guard flag read the same way.

CREATE TABLE events (
    seq        INTEGER NOT NULL PRIMARY KEY,
    ts         INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    project    TEXT,
    payload    TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL
);
CREATE INDEX events_ts ON events (ts);
CREATE INDEX events_project_seq ON events (project, seq);
CREATE INDEX events_kind_seq ON events (kind, seq);

-- Where verification starts after retention pruned the oldest rows: the seq and hash of the
-- last pruned row. The newest checkpoint is the one that counts.
CREATE TABLE chain_checkpoints (
    seq          INTEGER NOT NULL PRIMARY KEY,
    hash         TEXT    NOT NULL,
    pruned_at    INTEGER NOT NULL,
    pruned_rows  INTEGER NOT NULL
);

-- One row. Retention sets `pruning = 1` inside its own transaction, deletes, and sets it back
-- before committing, so no other connection ever observes it set.
CREATE TABLE event_guard (
    id       INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    pruning  INTEGER NOT NULL CHECK (pruning IN (0, 1))
);
INSERT INTO event_guard (id, pruning) VALUES (1, 0);

-- Defence against application bugs and casual edits: events are never updated, and deleted
-- only by retention. Someone with write access to the file can drop these triggers; that is
-- what the hash chain (and heads anchored outside the database) are for.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
WHEN (SELECT pruning FROM event_guard WHERE id = 1) = 0
BEGIN
    SELECT RAISE(ABORT, 'events are deleted only by retention');
END;

CREATE TRIGGER chain_checkpoints_no_update BEFORE UPDATE ON chain_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'chain checkpoints are append-only');
END;

CREATE TRIGGER chain_checkpoints_no_delete BEFORE DELETE ON chain_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'chain checkpoints are append-only');
END;
