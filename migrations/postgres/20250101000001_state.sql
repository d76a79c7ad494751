-- Inlet's state in PostgreSQL: API tokens, the search index, the discovery cache, usage.
-- Times are Unix seconds. The SQLite migration of the same version makes the same tables.

-- API tokens: the secret is never stored, only SHA-256("<id>:<secret>") as hex.
CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    -- JSON array of scope strings (`catalog:climate.*:read`).
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT
);

-- One row per catalog revision indexed; written first, in the transaction that indexes it, so
-- replicas sharing a database index a revision once.
CREATE TABLE search_revisions (
    revision    TEXT PRIMARY KEY,
    sources     BIGINT NOT NULL,
    indexed_at  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL
);

-- One row per source of a revision.
CREATE TABLE search_docs (
    id           BIGSERIAL PRIMARY KEY,
    revision     TEXT NOT NULL,
    name         TEXT NOT NULL,
    catalog      TEXT NOT NULL,
    driver       TEXT NOT NULL,
    -- The first line of the description (what listings show) and the whole of it.
    summary      TEXT NOT NULL,
    description  TEXT NOT NULL,
    status       TEXT NOT NULL,
    -- Searchable text, normalised by Inlet (lower case, words separated by spaces).
    words        TEXT NOT NULL,
    tags         TEXT NOT NULL,
    -- Column names and types once discovery has run; NULL until then.
    columns_text TEXT,
    -- The full-text document: names and tags weigh most, then columns, then the description.
    -- Inlet normalises the text, so the `simple` configuration (no stemming) sees plain words.
    tsv          TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', words), 'A')
        || setweight(to_tsvector('simple', tags), 'A')
        || setweight(to_tsvector('simple', coalesce(columns_text, '')), 'B')
        || setweight(to_tsvector('simple', description), 'C')
    ) STORED,
    UNIQUE (revision, name)
);
CREATE INDEX search_docs_tsv ON search_docs USING GIN (tsv);

CREATE TABLE search_tags (
    doc_id  BIGINT NOT NULL REFERENCES search_docs (id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (doc_id, tag)
);
CREATE INDEX search_tags_tag ON search_tags (tag);

CREATE TABLE search_columns (
    doc_id       BIGINT NOT NULL REFERENCES search_docs (id) ON DELETE CASCADE,
    -- Lower case, for `column=` filters.
    column_name  TEXT NOT NULL,
    column_type  TEXT NOT NULL,
    PRIMARY KEY (doc_id, column_name)
);
CREATE INDEX search_columns_name ON search_columns (column_name);

-- Discovery results by source + rendered args; valid while the files' fingerprint matches.
CREATE TABLE discovery_cache (
    key          TEXT PRIMARY KEY,
    source       TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    -- JSON: schema (Arrow IPC, base64), partitions, rows, bytes, files, statistics, ...
    discovery    TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX discovery_cache_source ON discovery_cache (source);

-- Rows and bytes served, per day, source and token ('' without a token).
CREATE TABLE usage_counts (
    day       BIGINT NOT NULL,
    source    TEXT NOT NULL,
    token_id  TEXT NOT NULL,
    requests  BIGINT NOT NULL,
    rows      BIGINT NOT NULL,
    bytes     BIGINT NOT NULL,
    PRIMARY KEY (day, source, token_id)
);
CREATE INDEX usage_counts_source ON usage_counts (source);
