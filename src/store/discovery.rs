//! The discovery cache: what discovery found of a source (schema, partitions, statistics, ...),
//! by source name + rendered args, valid while the fingerprint of its files (locations, sizes,
//! ETags, modification times) is unchanged. A restart with unchanged catalogs and files reads
//! no metadata again; a changed file re-discovers only its source.

use super::{now, on_pool, Result, Store};

impl Store {
    /// The cached discovery (JSON) of `key` if it was made from files with `fingerprint`.
    pub async fn cached_discovery(&self, key: &str, fingerprint: &str) -> Result<Option<String>> {
        let found: Option<(String, String)> = on_pool!(&self.pool, p => {
            sqlx::query_as("SELECT fingerprint, discovery FROM discovery_cache WHERE key = $1")
                .bind(key)
                .fetch_optional(p)
                .await?
        });
        Ok(found.and_then(|(f, d)| (f == fingerprint).then_some(d)))
    }

    /// Stores (or replaces) the discovery of `key`.
    pub async fn put_discovery(
        &self,
        key: &str,
        source: &str,
        fingerprint: &str,
        discovery: &str,
    ) -> Result<()> {
        on_pool!(&self.pool, p => {
            sqlx::query("INSERT INTO discovery_cache (key, source, fingerprint, discovery, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO UPDATE SET source = excluded.source, fingerprint = excluded.fingerprint, discovery = excluded.discovery, updated_at = excluded.updated_at")
                .bind(key)
                .bind(source)
                .bind(fingerprint)
                .bind(discovery)
                .bind(now())
                .execute(p)
                .await?;
        });
        Ok(())
    }
}
