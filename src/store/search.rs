//! The search index: one row per source and catalog revision (name, description, tags, column
//! names and types once discovered), full-text indexed with FTS5 on SQLite and a tsvector + GIN
//! index on PostgreSQL. Rows are keyed by revision, so replicas that share a database index a
//! revision once and a replica still serving an older revision keeps its rows.
//!
//! Text a caller types never becomes SQL: it is cut into words (letters and digits only), each
//! a prefix term of a query that is bound as a parameter, and filters are bound values too.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use super::tokens::RowLike;
use super::{bind_all, now, on_pool, Pool, Result, Sql, Store};

/// What is indexed of one source.
#[derive(Debug, Clone, Default)]
pub struct IndexDoc {
    pub name: String,
    pub catalog: String,
    pub driver: String,
    pub summary: String,
    pub description: String,
    pub status: String,
    /// Lower case.
    pub tags: Vec<String>,
    /// (name, Arrow type) once discovery has run.
    pub columns: Option<Vec<(String, String)>>,
}

/// Names a caller may see: `exact`, or anything starting with `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRule {
    pub exact: Option<String>,
    pub prefix: String,
}

#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// The index to search: a snapshot's key (its catalog revision and a hash of its files).
    pub revision: String,
    /// Free text; every word must match (as a word prefix) in a name, description, tag or column.
    pub text: String,
    pub driver: Option<String>,
    /// A catalog and everything under it.
    pub catalog: Option<String>,
    /// Every tag must be present (case-insensitive).
    pub tags: Vec<String>,
    /// Every column must be present (case-insensitive).
    pub columns: Vec<String>,
    /// None: every name; Some: only names one of the rules admits.
    pub visible: Option<Vec<NameRule>>,
    pub offset: usize,
    pub limit: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SearchHit {
    pub name: String,
    pub driver: String,
    pub summary: String,
    pub status: String,
    /// Higher is better; 0 when there is no search text.
    pub rank: f64,
    /// The description with matched words in `<mark>...</mark>`, when the text matched it.
    pub highlight: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    /// All matches (every page).
    pub total: usize,
    /// Counts by `driver`, `catalog` and `tags` over all matches.
    pub facets: BTreeMap<String, BTreeMap<String, usize>>,
}

/// Lower-case words of letters and digits, as both backends index them.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The different words of a query, in their first order (a word given twice matches as once).
pub fn query_words(text: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    words(text)
        .into_iter()
        .filter(|w| seen.insert(w.clone()))
        .collect()
}

fn normalised(text: &str) -> String {
    words(text).join(" ")
}

/// Rows per multi-row INSERT (well below either backend's limit on bound values).
const BATCH: usize = 400;

impl Store {
    /// Whether `revision` is in the index (and marks it seen, so it is not collected).
    pub async fn revision_indexed(&self, revision: &str) -> Result<bool> {
        let n = on_pool!(&self.pool, p => {
            sqlx::query("UPDATE search_revisions SET seen_at = $1 WHERE revision = $2")
                .bind(now())
                .bind(revision)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Indexes the sources of `revision` unless it is indexed already (by this server or
    /// another replica: the revision row is claimed first, in the same transaction, so a
    /// concurrent indexer waits and then finds it). Revisions unseen for `keep_secs` are
    /// removed. Returns whether this call did the indexing.
    pub async fn index_revision(
        &self,
        revision: &str,
        docs: &[IndexDoc],
        keep_secs: i64,
    ) -> Result<bool> {
        let t = now();
        let done = on_pool!(&self.pool, p => {
            let mut tx = p.begin_with(self.begin_sql()).await?;
            let claimed = sqlx::query("INSERT INTO search_revisions (revision, sources, indexed_at, seen_at) VALUES ($1, $2, $3, $3) ON CONFLICT (revision) DO NOTHING")
                .bind(revision)
                .bind(docs.len() as i64)
                .bind(t)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if claimed == 0 {
                tx.rollback().await?;
                false
            } else {
                for chunk in docs.chunks(BATCH) {
                    let mut sql = Sql::new("INSERT INTO search_docs (revision, name, catalog, driver, summary, description, status, words, tags, columns_text) VALUES ");
                    for (i, d) in chunk.iter().enumerate() {
                        if i > 0 {
                            sql.push(", ");
                        }
                        sql.push("(").bind(revision).push(", ").bind(d.name.as_str()).push(", ")
                            .bind(d.catalog.as_str()).push(", ").bind(d.driver.as_str()).push(", ")
                            .bind(d.summary.as_str()).push(", ").bind(d.description.as_str()).push(", ")
                            .bind(d.status.as_str()).push(", ").bind(normalised(&d.name)).push(", ")
                            .bind(normalised(&d.tags.join(" "))).push(", ");
                        match &d.columns {
                            Some(c) => sql.bind(columns_text(c)),
                            None => sql.push("NULL"),
                        };
                        sql.push(")");
                    }
                    bind_all!(sqlx::query(&sql.text), &sql.args).execute(&mut *tx).await?;
                }
                let ids: Vec<(i64, String)> = sqlx::query_as("SELECT id, name FROM search_docs WHERE revision = $1")
                    .bind(revision)
                    .fetch_all(&mut *tx)
                    .await?;
                let by_name: BTreeMap<&str, &IndexDoc> = docs.iter().map(|d| (d.name.as_str(), d)).collect();
                let mut tags: Vec<(i64, &str)> = vec![];
                let mut cols: Vec<(i64, String, &str)> = vec![];
                for (id, name) in &ids {
                    let Some(d) = by_name.get(name.as_str()) else { continue };
                    let mut seen = std::collections::BTreeSet::new();
                    for t in &d.tags {
                        if seen.insert(t.as_str()) {
                            tags.push((*id, t.as_str()));
                        }
                    }
                    let mut seen = std::collections::BTreeSet::new();
                    for (c, ty) in d.columns.iter().flatten() {
                        if seen.insert(c.to_lowercase()) {
                            cols.push((*id, c.to_lowercase(), ty.as_str()));
                        }
                    }
                }
                for chunk in tags.chunks(BATCH) {
                    let mut sql = Sql::new("INSERT INTO search_tags (doc_id, tag) VALUES ");
                    for (i, (id, tag)) in chunk.iter().enumerate() {
                        sql.push(if i > 0 { ", (" } else { "(" }).bind(*id).push(", ").bind(*tag).push(")");
                    }
                    bind_all!(sqlx::query(&sql.text), &sql.args).execute(&mut *tx).await?;
                }
                for chunk in cols.chunks(BATCH) {
                    let mut sql = Sql::new("INSERT INTO search_columns (doc_id, column_name, column_type) VALUES ");
                    for (i, (id, c, ty)) in chunk.iter().enumerate() {
                        sql.push(if i > 0 { ", (" } else { "(" }).bind(*id).push(", ").bind(c.as_str()).push(", ").bind(*ty).push(")");
                    }
                    bind_all!(sqlx::query(&sql.text), &sql.args).execute(&mut *tx).await?;
                }
                if matches!(self.pool, Pool::Sqlite(_)) {
                    sqlx::query("INSERT INTO search_fts (rowid, words, description, tags, columns) SELECT id, words, description, tags, coalesce(columns_text, '') FROM search_docs WHERE revision = $1")
                        .bind(revision)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                true
            }
        });
        self.collect_revisions(revision, t - keep_secs).await?;
        Ok(done)
    }

    /// Removes revisions (other than `current`) not seen since `before`.
    async fn collect_revisions(&self, current: &str, before: i64) -> Result<()> {
        let old: Vec<String> = on_pool!(&self.pool, p => {
            sqlx::query_scalar("SELECT revision FROM search_revisions WHERE revision <> $1 AND seen_at < $2")
                .bind(current)
                .bind(before)
                .fetch_all(p)
                .await?
        });
        for rev in old {
            on_pool!(&self.pool, p => {
                let mut tx = p.begin_with(self.begin_sql()).await?;
                if matches!(self.pool, Pool::Sqlite(_)) {
                    sqlx::query("DELETE FROM search_fts WHERE rowid IN (SELECT id FROM search_docs WHERE revision = $1)")
                        .bind(&rev).execute(&mut *tx).await?;
                }
                for sql in [
                    "DELETE FROM search_tags WHERE doc_id IN (SELECT id FROM search_docs WHERE revision = $1)",
                    "DELETE FROM search_columns WHERE doc_id IN (SELECT id FROM search_docs WHERE revision = $1)",
                    "DELETE FROM search_docs WHERE revision = $1",
                    "DELETE FROM search_revisions WHERE revision = $1",
                ] {
                    sqlx::query(sql).bind(&rev).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            });
        }
        Ok(())
    }

    /// Records what discovery found of `name` (its columns) in the index of `revision`.
    pub async fn set_columns(
        &self,
        revision: &str,
        name: &str,
        columns: &[(String, String)],
    ) -> Result<()> {
        let text = columns_text(columns);
        on_pool!(&self.pool, p => {
            let mut tx = p.begin_with(self.begin_sql()).await?;
            let id: Option<(i64, Option<String>)> = sqlx::query_as("SELECT id, columns_text FROM search_docs WHERE revision = $1 AND name = $2")
                .bind(revision)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
            match id {
                Some((id, old)) if old.as_deref() != Some(text.as_str()) => {
                    sqlx::query("UPDATE search_docs SET columns_text = $1 WHERE id = $2")
                        .bind(&text).bind(id).execute(&mut *tx).await?;
                    sqlx::query("DELETE FROM search_columns WHERE doc_id = $1").bind(id).execute(&mut *tx).await?;
                    let mut seen = std::collections::BTreeSet::new();
                    for (c, ty) in columns {
                        if seen.insert(c.to_lowercase()) {
                            sqlx::query("INSERT INTO search_columns (doc_id, column_name, column_type) VALUES ($1, $2, $3)")
                                .bind(id).bind(c.to_lowercase()).bind(ty).execute(&mut *tx).await?;
                        }
                    }
                    if matches!(self.pool, Pool::Sqlite(_)) {
                        sqlx::query("UPDATE search_fts SET columns = $1 WHERE rowid = $2")
                            .bind(&text).bind(id).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                }
                _ => tx.rollback().await?,
            }
        });
        Ok(())
    }

    /// Ranked matches of `q`, one page, with the total and facet counts over all matches.
    pub async fn search(&self, q: &SearchQuery) -> Result<SearchPage> {
        let terms = query_words(&q.text);
        if terms.is_empty() && !q.text.trim().is_empty() {
            // Only punctuation: nothing can match it (and nothing of it reaches SQL).
            return Ok(SearchPage::default());
        }
        let sqlite = matches!(self.pool, Pool::Sqlite(_));
        // The matching documents: id, name, driver, catalog, summary, status, rank. On SQLite
        // the full-text table drives the join (CROSS JOIN fixes the order): the other way round,
        // the full-text query would run once per document.
        let mut hits = Sql::default();
        if terms.is_empty() {
            hits.push("SELECT d.id, d.name, d.driver, d.catalog, d.summary, d.status, CAST(0 AS DOUBLE PRECISION) AS rank FROM search_docs d WHERE d.revision = ")
                .bind(q.revision.as_str());
        } else if sqlite {
            let fts: Vec<String> = terms.iter().map(|w| format!("\"{w}\"*")).collect();
            hits.push("SELECT d.id, d.name, d.driver, d.catalog, d.summary, d.status, -bm25(search_fts, 10.0, 1.0, 5.0, 3.0) AS rank FROM search_fts CROSS JOIN search_docs d ON d.id = search_fts.rowid WHERE search_fts MATCH ")
                .bind(fts.join(" AND "))
                .push(" AND d.revision = ")
                .bind(q.revision.as_str());
        } else {
            let tsq: Vec<String> = terms.iter().map(|w| format!("{w}:*")).collect();
            hits.push("SELECT d.id, d.name, d.driver, d.catalog, d.summary, d.status, ts_rank(d.tsv, tq.q)::float8 AS rank FROM search_docs d, to_tsquery('simple', ")
                .bind(tsq.join(" & "))
                .push(") AS tq(q) WHERE d.tsv @@ tq.q AND d.revision = ")
                .bind(q.revision.as_str());
        }
        if let Some(driver) = &q.driver {
            hits.push(" AND d.driver = ").bind(driver.as_str());
        }
        if let Some(catalog) = &q.catalog {
            let under = format!("{catalog}.");
            hits.push(" AND (d.catalog = ").bind(catalog.as_str());
            hits.push(" OR substr(d.catalog, 1, length(")
                .bind(under.as_str());
            hits.push(")) = ").bind(under).push(")");
        }
        for tag in &q.tags {
            hits.push(
                " AND EXISTS (SELECT 1 FROM search_tags t WHERE t.doc_id = d.id AND t.tag = ",
            )
            .bind(tag.to_lowercase())
            .push(")");
        }
        for col in &q.columns {
            hits.push(" AND EXISTS (SELECT 1 FROM search_columns c WHERE c.doc_id = d.id AND c.column_name = ")
                .bind(col.to_lowercase())
                .push(")");
        }
        if let Some(rules) = &q.visible {
            if rules.is_empty() {
                hits.push(" AND 1 = 0");
            } else {
                hits.push(" AND (");
                for (i, r) in rules.iter().enumerate() {
                    if i > 0 {
                        hits.push(" OR ");
                    }
                    hits.push("(");
                    if let Some(exact) = &r.exact {
                        hits.push("d.name = ").bind(exact.as_str()).push(" OR ");
                    }
                    hits.push("substr(d.name, 1, length(")
                        .bind(r.prefix.as_str())
                        .push(")) = ")
                        .bind(r.prefix.as_str())
                        .push(")");
                }
                hits.push(")");
            }
        }
        let mut page = hits.clone();
        let inner = std::mem::take(&mut page.text);
        page.push("SELECT id, name, driver, summary, status, rank FROM (")
            .push(&inner)
            .push(") h ORDER BY rank DESC, name LIMIT ")
            .bind(i64::try_from(q.limit).unwrap_or(i64::MAX))
            .push(" OFFSET ")
            .bind(i64::try_from(q.offset).unwrap_or(i64::MAX));
        let mut facets = hits;
        let inner = std::mem::take(&mut facets.text);
        facets
            .push("WITH h AS (")
            .push(&inner)
            .push(") SELECT 'driver' AS facet, driver AS value, count(*) AS n FROM h GROUP BY driver UNION ALL SELECT 'catalog', catalog, count(*) FROM h GROUP BY catalog UNION ALL SELECT 'tags', t.tag, count(*) FROM h JOIN search_tags t ON t.doc_id = h.id GROUP BY t.tag");
        let mut out = SearchPage::default();
        let mut ids: Vec<i64> = vec![];
        on_pool!(&self.pool, p => {
            for row in bind_all!(sqlx::query(&page.text), &page.args).fetch_all(p).await? {
                ids.push(row.int("id")?);
                out.hits.push(SearchHit {
                    name: row.text("name")?,
                    driver: row.text("driver")?,
                    summary: row.text("summary")?,
                    status: row.text("status")?,
                    rank: row.float("rank")?,
                    highlight: None,
                });
            }
            for row in bind_all!(sqlx::query(&facets.text), &facets.args).fetch_all(p).await? {
                let facet: String = row.try_get("facet")?;
                let value: String = row.try_get("value")?;
                let n: i64 = row.try_get("n")?;
                let n = usize::try_from(n).unwrap_or(0);
                if facet == "driver" {
                    out.total += n;
                }
                out.facets.entry(facet).or_default().insert(value, n);
            }
        });
        if !terms.is_empty() && !ids.is_empty() {
            // Highlights only for the page, not for every match.
            let mut marks = match self.pool {
                Pool::Sqlite(_) => {
                    let fts: Vec<String> = terms.iter().map(|w| format!("\"{w}\"*")).collect();
                    let mut sql = Sql::new("SELECT rowid AS id, snippet(search_fts, 1, '<mark>', '</mark>', '…', 24) AS mark FROM search_fts WHERE search_fts MATCH ");
                    sql.bind(fts.join(" AND ")).push(" AND rowid IN (");
                    sql
                }
                Pool::Postgres(_) => {
                    let tsq: Vec<String> = terms.iter().map(|w| format!("{w}:*")).collect();
                    let mut sql = Sql::new(
                        "SELECT id, ts_headline('simple', description, to_tsquery('simple', ",
                    );
                    sql.bind(tsq.join(" & ")).push("), 'StartSel=<mark>, StopSel=</mark>, MaxWords=30, MinWords=10, MaxFragments=1') AS mark FROM search_docs WHERE id IN (");
                    sql
                }
            };
            for (i, id) in ids.iter().enumerate() {
                marks.push(if i > 0 { ", " } else { "" }).bind(*id);
            }
            marks.push(")");
            let mut by_id = std::collections::HashMap::new();
            on_pool!(&self.pool, p => {
                for row in bind_all!(sqlx::query(&marks.text), &marks.args).fetch_all(p).await? {
                    if let Some(m) = row.opt_text("mark")?.filter(|m| m.contains("<mark>")) {
                        by_id.insert(row.int("id")?, m);
                    }
                }
            });
            for (hit, id) in out.hits.iter_mut().zip(&ids) {
                hit.highlight = by_id.remove(id);
            }
        }
        Ok(out)
    }
}

fn columns_text(columns: &[(String, String)]) -> String {
    let mut text = String::new();
    for (name, ty) in columns {
        text.push_str(&normalised(name));
        text.push(' ');
        text.push_str(&normalised(ty));
        text.push(' ');
    }
    text.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, driver: &str, description: &str, tags: &[&str]) -> IndexDoc {
        IndexDoc {
            name: name.into(),
            catalog: name.rsplit_once('.').map_or("", |c| c.0).into(),
            driver: driver.into(),
            summary: description.lines().next().unwrap_or("").into(),
            description: description.into(),
            status: "ok".into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            columns: None,
        }
    }

    #[test]
    fn words_are_letters_and_digits_only() {
        assert_eq!(
            words("'; drop table tokens; --"),
            ["drop", "table", "tokens"]
        );
        assert!(words("%_\\").is_empty());
        assert_eq!(words("Trips_2024.csv"), ["trips", "2024", "csv"]);
        assert_eq!(query_words("a,A,b a"), ["a", "b"]);
    }

    #[tokio::test]
    async fn sqlite_ranks_filters_and_counts() {
        let store = Store::memory().await.expect("store");
        let docs = vec![
            doc("a.trips", "parquet", "Taxi trips", &["transport"]),
            doc(
                "a.stations",
                "csv",
                "Bike stations of the trips network",
                &["transport"],
            ),
            doc("b.air", "zarr", "Air temperature", &["climate"]),
        ];
        assert!(store
            .index_revision("r1", &docs, 3600)
            .await
            .expect("index"));
        assert!(!store
            .index_revision("r1", &docs, 3600)
            .await
            .expect("again"));
        let q = |text: &str| SearchQuery {
            revision: "r1".into(),
            text: text.into(),
            limit: 10,
            ..SearchQuery::default()
        };
        let page = store.search(&q("trips")).await.expect("search");
        assert_eq!(page.total, 2);
        assert_eq!(page.hits[0].name, "a.trips", "a name match ranks first");
        assert_eq!(page.facets["tags"]["transport"], 2);
        let all = store.search(&q("")).await.expect("all");
        assert_eq!(all.total, 3);
        let scoped = store
            .search(&SearchQuery {
                visible: Some(vec![NameRule {
                    exact: Some("b".into()),
                    prefix: "b.".into(),
                }]),
                ..q("")
            })
            .await
            .expect("scoped");
        assert_eq!(scoped.total, 1);
        assert_eq!(scoped.facets["catalog"].len(), 1);
        store
            .set_columns("r1", "b.air", &[("Temperature".into(), "Float32".into())])
            .await
            .expect("columns");
        let by_col = store
            .search(&SearchQuery {
                columns: vec!["temperature".into()],
                ..q("")
            })
            .await
            .expect("col");
        assert_eq!(by_col.total, 1);
        assert_eq!(store.search(&q("float32")).await.expect("type").total, 1);
    }
}
