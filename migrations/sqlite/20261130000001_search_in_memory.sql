-- Search runs in memory (src/search): ranking and facet counts cover every match, which SQL
-- full-text indexes answered in 0.2-1.5 s at 100,000 sources. SQL keeps what must be shared or
-- outlive a process: the columns discovery found of each source, per index (search_revisions).
DROP TABLE search_fts;
DROP TABLE search_columns;
DROP TABLE search_tags;
DROP TABLE search_docs;

CREATE TABLE search_source_columns (
    revision  TEXT NOT NULL,
    name      TEXT NOT NULL,
    -- JSON: [[column name, Arrow type], ...]
    columns   TEXT NOT NULL,
    PRIMARY KEY (revision, name)
);
