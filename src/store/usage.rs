//! Usage: rows and bytes served per day, source and token. The service adds deltas in batches
//! from a background task (never on the streaming path); this is the SQL side.

use serde::Serialize;

use super::{on_pool, Result, Store};

/// What one or more reads added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageDelta {
    /// Unix day (seconds / 86400).
    pub day: i64,
    pub source: String,
    /// Empty without a token.
    pub token_id: String,
    pub requests: i64,
    pub rows: i64,
    pub bytes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    /// Unix day (seconds / 86400); the first second of the day is `day * 86400`.
    pub day: i64,
    /// Null for reads without a token (auth off).
    pub token_id: Option<String>,
    pub requests: i64,
    pub rows: i64,
    pub bytes: i64,
}

impl Store {
    /// Adds `deltas` (one transaction; rows of the same key add up).
    pub async fn add_usage(&self, deltas: &[UsageDelta]) -> Result<()> {
        if deltas.is_empty() {
            return Ok(());
        }
        on_pool!(&self.pool, p => {
            let mut tx = p.begin_with(self.begin_sql()).await?;
            for d in deltas {
                sqlx::query("INSERT INTO usage_counts (day, source, token_id, requests, rows, bytes) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (day, source, token_id) DO UPDATE SET requests = usage_counts.requests + excluded.requests, rows = usage_counts.rows + excluded.rows, bytes = usage_counts.bytes + excluded.bytes")
                    .bind(d.day)
                    .bind(&d.source)
                    .bind(&d.token_id)
                    .bind(d.requests)
                    .bind(d.rows)
                    .bind(d.bytes)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Reads of each source since `since_day` (all tokens): search ranks popular sources first
    /// among equally relevant ones.
    pub async fn popularity(
        &self,
        since_day: i64,
    ) -> Result<std::collections::HashMap<String, u64>> {
        let rows: Vec<(String, i64)> = on_pool!(&self.pool, p => {
            sqlx::query_as("SELECT source, CAST(sum(requests) AS BIGINT) FROM usage_counts WHERE day >= $1 GROUP BY source")
                .bind(since_day)
                .fetch_all(p)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(source, n)| (source, u64::try_from(n).unwrap_or(0)))
            .collect())
    }

    /// Usage of `source` by day and token, newest first; only `token`'s rows when given.
    pub async fn usage(&self, source: &str, token: Option<&str>) -> Result<Vec<UsageRow>> {
        let rows: Vec<(i64, String, i64, i64, i64)> = on_pool!(&self.pool, p => {
            sqlx::query_as("SELECT day, token_id, requests, rows, bytes FROM usage_counts WHERE source = $1 AND ($2 = '' OR token_id = $2) ORDER BY day DESC, token_id")
                .bind(source)
                .bind(token.unwrap_or(""))
                .fetch_all(p)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(day, token_id, requests, rows, bytes)| UsageRow {
                day,
                token_id: (!token_id.is_empty()).then_some(token_id),
                requests,
                rows,
                bytes,
            })
            .collect())
    }
}
