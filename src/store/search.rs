//! What search keeps in SQL: the indexes in use (one per catalog revision and set of files, so
//! replicas serving different catalogs never mix) and the columns discovery found of each source,
//! so a restart, a replica or `inlet search` finds columns without reading data. The index itself
//! is built in memory from the catalogs ([`crate::search`]).

use super::{now, on_pool, Result, Store};

/// Columns (name, Arrow type) of one source.
pub type Columns = Vec<(String, String)>;

impl Store {
    /// Marks the index `revision` in use (`sources` sources) and removes the columns of indexes
    /// no server has used for `keep_secs`.
    pub async fn touch_revision(
        &self,
        revision: &str,
        sources: usize,
        keep_secs: i64,
    ) -> Result<()> {
        let t = now();
        let sources = i64::try_from(sources).unwrap_or(i64::MAX);
        on_pool!(&self.pool, p => {
            sqlx::query("INSERT INTO search_revisions (revision, sources, indexed_at, seen_at) VALUES ($1, $2, $3, $3) ON CONFLICT (revision) DO UPDATE SET seen_at = excluded.seen_at")
                .bind(revision)
                .bind(sources)
                .bind(t)
                .execute(p)
                .await?;
            let mut tx = p.begin_with(self.begin_sql()).await?;
            sqlx::query("DELETE FROM search_source_columns WHERE revision IN (SELECT revision FROM search_revisions WHERE revision <> $1 AND seen_at < $2)")
                .bind(revision)
                .bind(t - keep_secs)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM search_revisions WHERE revision <> $1 AND seen_at < $2")
                .bind(revision)
                .bind(t - keep_secs)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records what discovery found of `name` (its columns) for the index `revision`.
    pub async fn set_columns(
        &self,
        revision: &str,
        name: &str,
        columns: &[(String, String)],
    ) -> Result<()> {
        let json = serde_json::to_string(columns).unwrap_or_else(|_| "[]".into());
        on_pool!(&self.pool, p => {
            sqlx::query("INSERT INTO search_source_columns (revision, name, columns) VALUES ($1, $2, $3) ON CONFLICT (revision, name) DO UPDATE SET columns = excluded.columns")
                .bind(revision)
                .bind(name)
                .bind(&json)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// The columns recorded for the sources of the index `revision`.
    pub async fn columns(&self, revision: &str) -> Result<Vec<(String, Columns)>> {
        let rows: Vec<(String, String)> = on_pool!(&self.pool, p => {
            sqlx::query_as("SELECT name, columns FROM search_source_columns WHERE revision = $1")
                .bind(revision)
                .fetch_all(p)
                .await?
        });
        // A row this version cannot read is skipped: discovery records it again.
        Ok(rows
            .into_iter()
            .filter_map(|(name, json)| Some((name, serde_json::from_str(&json).ok()?)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn columns_are_kept_per_revision_and_collected_with_it() {
        let store = Store::memory().await.expect("store");
        store.touch_revision("r1", 2, 3600).await.expect("touch");
        let cols = vec![("fare".to_string(), "Float64".to_string())];
        store
            .set_columns("r1", "a.trips", &cols)
            .await
            .expect("set");
        store
            .set_columns("r1", "a.trips", &cols)
            .await
            .expect("again");
        assert_eq!(
            store.columns("r1").await.expect("cols"),
            [("a.trips".to_string(), cols)]
        );
        assert!(store.columns("r2").await.expect("none").is_empty());
        // r1 unused for longer than kept: its columns go when another index is used.
        store.touch_revision("r2", 1, -1).await.expect("collect");
        assert!(store.columns("r1").await.expect("gone").is_empty());
    }
}
