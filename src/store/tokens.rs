//! API tokens. A token is `inlet_<id>_<secret>`: the id (16 hex digits) finds the row, the
//! secret (256 random bits, base64url) proves possession. Only SHA-256("<id>:<secret>") is
//! stored, so the table (or a backup of it) gives nobody a usable token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{now, on_pool, Result, Store, StoreError};

pub const PREFIX: &str = "inlet_";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A token just made: its record and the only copy of the secret.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub record: TokenRecord,
    /// `inlet_<id>_<secret>`: shown once, never stored.
    pub token: String,
}

/// What a presented token turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenCheck {
    Valid(TokenRecord),
    /// Not a token of this database, or a wrong secret (indistinguishable on purpose).
    Unknown,
    Revoked(TokenRecord),
    Expired(TokenRecord),
}

fn hash(id: &str, secret: &str) -> String {
    let digest = Sha256::digest(format!("{id}:{secret}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares without an early exit, so timing does not tell how much of a hash matched.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The id and secret of a presented token, if it has the shape of one.
pub fn split(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.strip_prefix(PREFIX)?.split_once('_')?;
    let hex = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
    (hex && !secret.is_empty()).then_some((id, secret))
}

fn record(row: &impl RowLike) -> Result<TokenRecord> {
    let scopes: String = row.text("scopes")?;
    Ok(TokenRecord {
        id: row.text("id")?,
        name: row.text("name")?,
        scopes: serde_json::from_str(&scopes)
            .map_err(|e| StoreError::Config(format!("token scopes are not JSON: {e}")))?,
        created_at: row.int("created_at")?,
        expires_at: row.opt_int("expires_at")?,
        revoked_at: row.opt_int("revoked_at")?,
    })
}

/// Reading columns the same way from either backend's rows.
pub(crate) trait RowLike {
    fn text(&self, col: &str) -> Result<String>;
    fn int(&self, col: &str) -> Result<i64>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
}

macro_rules! row_like {
    ($row:ty) => {
        impl RowLike for $row {
            fn text(&self, col: &str) -> Result<String> {
                Ok(self.try_get(col)?)
            }
            fn int(&self, col: &str) -> Result<i64> {
                Ok(self.try_get(col)?)
            }
            fn opt_int(&self, col: &str) -> Result<Option<i64>> {
                Ok(self.try_get(col)?)
            }
        }
    };
}
row_like!(sqlx::sqlite::SqliteRow);
row_like!(sqlx::postgres::PgRow);

const COLUMNS: &str = "id, name, scopes, created_at, expires_at, revoked_at";

impl Store {
    /// Makes a token with `scopes` (already checked by the caller), valid until `expires_at`.
    pub async fn create_token(
        &self,
        name: &str,
        scopes: &[String],
        expires_at: Option<i64>,
    ) -> Result<NewToken> {
        let mut id_bytes = [0u8; 8];
        let mut secret_bytes = [0u8; 32];
        getrandom::fill(&mut id_bytes)
            .and_then(|()| getrandom::fill(&mut secret_bytes))
            .map_err(|e| StoreError::Config(format!("no randomness for a token: {e}")))?;
        let id: String = id_bytes.iter().map(|b| format!("{b:02x}")).collect();
        let secret = B64.encode(secret_bytes);
        let record = TokenRecord {
            id: id.clone(),
            name: name.to_string(),
            scopes: scopes.to_vec(),
            created_at: now(),
            expires_at,
            revoked_at: None,
        };
        let scopes_json = serde_json::to_string(scopes).unwrap_or_else(|_| "[]".into());
        let secret_hash = hash(&id, &secret);
        on_pool!(&self.pool, p => {
            sqlx::query("INSERT INTO tokens (id, name, secret_hash, scopes, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&record.id)
                .bind(&record.name)
                .bind(&secret_hash)
                .bind(&scopes_json)
                .bind(record.created_at)
                .bind(record.expires_at)
                .execute(p)
                .await?;
        });
        Ok(NewToken {
            token: format!("{PREFIX}{id}_{secret}"),
            record,
        })
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM tokens ORDER BY created_at, id");
        on_pool!(&self.pool, p => {
            sqlx::query(&sql).fetch_all(p).await?.iter().map(record).collect()
        })
    }

    /// Revokes a token by id; false when there is none (or it was revoked already).
    pub async fn revoke_token(&self, id: &str) -> Result<bool> {
        let n = on_pool!(&self.pool, p => {
            sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now())
                .bind(id)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// The token of `id` as stored (secret hash excluded).
    pub async fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM tokens WHERE id = $1");
        on_pool!(&self.pool, p => {
            sqlx::query(&sql).bind(id).fetch_optional(p).await?.as_ref().map(record).transpose()
        })
    }

    /// Checks a presented token: its shape, its secret, then revocation and expiry.
    pub async fn check_token(&self, presented: &str) -> Result<TokenCheck> {
        let Some((id, secret)) = split(presented) else {
            return Ok(TokenCheck::Unknown);
        };
        let sql = format!("SELECT {COLUMNS}, secret_hash FROM tokens WHERE id = $1");
        let found = on_pool!(&self.pool, p => {
            match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
                Some(row) => Some((record(&row)?, row.text("secret_hash")?)),
                None => None,
            }
        });
        let Some((rec, stored)) = found else {
            return Ok(TokenCheck::Unknown);
        };
        if !same(&stored, &hash(id, secret)) {
            return Ok(TokenCheck::Unknown);
        }
        Ok(status(rec))
    }
}

/// Whether a stored token is usable now.
pub fn status(rec: TokenRecord) -> TokenCheck {
    if rec.revoked_at.is_some() {
        TokenCheck::Revoked(rec)
    } else if rec.expires_at.is_some_and(|e| e <= now()) {
        TokenCheck::Expired(rec)
    } else {
        TokenCheck::Valid(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_only_when_well_formed() {
        assert_eq!(
            split("inlet_0123456789abcdef_s3-cr_et"),
            Some(("0123456789abcdef", "s3-cr_et"))
        );
        assert_eq!(split("inlet_0123_x"), None);
        assert_eq!(split("bearer"), None);
        assert_eq!(split("inlet_0123456789abcdef_"), None);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }

    #[tokio::test]
    async fn create_check_revoke_and_expire() {
        let store = Store::memory().await.expect("store");
        let t = store
            .create_token("ci", &["catalog:example:read".into()], None)
            .await
            .expect("create");
        assert_eq!(
            store.check_token(&t.token).await.expect("check"),
            TokenCheck::Valid(t.record.clone())
        );
        let (id, _) = split(&t.token).expect("shape");
        let wrong = format!("{PREFIX}{id}_{}", B64.encode([0u8; 32]));
        assert_eq!(
            store.check_token(&wrong).await.expect("check"),
            TokenCheck::Unknown
        );
        assert!(store.revoke_token(id).await.expect("revoke"));
        assert!(!store.revoke_token(id).await.expect("again"));
        assert!(matches!(
            store.check_token(&t.token).await.expect("check"),
            TokenCheck::Revoked(_)
        ));
        let old = store
            .create_token("old", &["catalog:*:read".into()], Some(now() - 1))
            .await
            .expect("create");
        assert!(matches!(
            store.check_token(&old.token).await.expect("check"),
            TokenCheck::Expired(_)
        ));
        assert_eq!(store.list_tokens().await.expect("list").len(), 2);
    }
}
