-- One row per published (name, version). A version is staged until `approval` is set, and
-- only approved versions are visible to pulls. Portable SQL (also runs on PostgreSQL).
CREATE TABLE versions (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    capabilities_digest TEXT NOT NULL,
    -- JSON stockade_bundle::Signature (publisher, over the manifest digest)
    signature TEXT NOT NULL,
    -- JSON stockade_bundle::SignedApproval; NULL while staged
    approval TEXT,
    yanked INTEGER NOT NULL DEFAULT 0,
    published_at TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX versions_by_digest ON versions (name, manifest_digest);

-- Which blobs (config and layers) a manifest references: a blob is pullable only through a
-- visible manifest of the same repository.
CREATE TABLE manifest_blobs (
    name TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    blob_digest TEXT NOT NULL,
    PRIMARY KEY (name, manifest_digest, blob_digest)
);

-- Every signed revocation list ever accepted; the highest serial is served.
CREATE TABLE revocation_lists (
    serial INTEGER PRIMARY KEY,
    document TEXT NOT NULL
);
