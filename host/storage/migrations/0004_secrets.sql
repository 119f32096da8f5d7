-- Secrets at rest (the crypto lives in host/secrets; this schema holds only encrypted rows).
--
-- `secrets` has one row per secret: the name in clear, the value as AES-256-GCM ciphertext with
-- its 16-byte tag appended, the 12-byte nonce it was sealed with, and the version of the master
-- key it is encrypted under. The associated data binds (scope, name, key_version), so a
-- ciphertext copied to another row, scope or version does not decrypt.
--
-- `secret_keys` has one row per master key version: a key-check value (an encryption of a fixed
-- label under that version's derived key) that tells a wrong master key apart without touching
-- any secret, and a state. At most one version is `active` (the one new writes use) and at most
-- one is `pending` (the new key of a rotation that has not finished). Rotation inserts the
-- pending version, moves rows to it one compare-and-swap update at a time, and flips
-- pending→active / active→retired in one transaction once no row is left on the old version, so
-- at every instant each row decrypts under the key its own `key_version` names.
-- Retired versions stay so that starting with an old key says "this key was rotated away".
--
-- Portability: BLOB becomes BYTEA and INTEGER BIGINT in a PostgreSQL port; partial unique
-- indexes, CHECK, LIKE and `||` are standard; the trigger becomes a plpgsql function.

CREATE TABLE secret_keys (
    version      INTEGER NOT NULL PRIMARY KEY CHECK (version >= 1),
    check_value  BLOB    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('active', 'pending', 'retired')),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX secret_keys_one_active ON secret_keys (state) WHERE state = 'active';
CREATE UNIQUE INDEX secret_keys_one_pending ON secret_keys (state) WHERE state = 'pending';

-- `scope` is `global` or `project:<project id>`.
CREATE TABLE secrets (
    scope        TEXT    NOT NULL CHECK (scope = 'global' OR scope LIKE 'project:_%'),
    name         TEXT    NOT NULL,
    key_version  INTEGER NOT NULL REFERENCES secret_keys (version),
    nonce        BLOB    NOT NULL,
    ciphertext   BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, name)
);
-- Rotation walks the rows still on the old version.
CREATE INDEX secrets_key_version ON secrets (key_version);

-- A deleted project takes its secrets with it (no key needed: the rows are deleted unread), so a
-- sealed server can still delete projects and no orphaned ciphertext outlives its project.
CREATE TRIGGER projects_delete_secrets AFTER DELETE ON projects
BEGIN
    DELETE FROM secrets WHERE scope = 'project:' || OLD.id;
END;
