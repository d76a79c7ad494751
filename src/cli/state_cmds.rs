//! Commands on the SQL state: `inlet token create|list|revoke` and `inlet search`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::json;

use super::{print_json, CatalogArgs, Format};
use crate::service::access::{Caller, Scope};
use crate::service::search::{self, SearchRequest};
use crate::store::{Store, TokenRecord};

/// Which database: `--database-url`, else the configuration's, else `inlet.db` in the state
/// directory (the same defaults as `inlet serve`).
#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// `postgres://...` or `sqlite:...` (default: `<state dir>/inlet.db`).
    #[arg(long, value_name = "URL", env = "INLET_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The server's state directory (default `$XDG_STATE_HOME/inlet`).
    #[arg(long, value_name = "DIR", env = "INLET_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// The server's TOML configuration, for its `database_url` and `state_dir`.
    #[arg(long, value_name = "FILE", env = "INLET_CONFIG")]
    pub config: Option<PathBuf>,
}

impl DbArgs {
    pub async fn open(&self) -> Result<Store, String> {
        let mut cfg = crate::config::ServeConfig::load(self.config.as_deref())?;
        if self.database_url.is_some() {
            cfg.database_url.clone_from(&self.database_url);
        }
        if self.state_dir.is_some() {
            cfg.state_dir.clone_from(&self.state_dir);
        }
        Store::open(cfg.database_url.as_deref(), &cfg.state_dir())
            .await
            .map_err(|e| e.to_string())
    }
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Make a token and print it (the only time it is shown; only its hash is stored).
    Create {
        /// What the token is for (shown by `inlet token list`).
        #[arg(long)]
        name: String,
        /// `catalog:<name>:read` (repeatable): `catalog:example:read` (a catalog and what is
        /// nested in it), `catalog:climate.*:read` (every catalog under `climate.`),
        /// `catalog:*:read` (everything).
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<String>,
        /// Lifetime: `30d`, `12h`, `45m`, `3600s` (default: no expiry).
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        #[command(flatten)]
        db: DbArgs,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Revoke a token by id: it (and every ticket it planned) stops working at once.
    Revoke {
        id: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// `30d`, `12h`, `45m`, `10s` or a number of seconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: write 30d, 12h, 45m or 3600s"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("`{text}`: the unit must be s, m, h, d or w")),
    };
    match n.checked_mul(scale) {
        Some(secs) if secs > 0 => Ok(secs),
        _ => Err(format!("`{text}` must be a positive duration")),
    }
}

fn when(t: Option<i64>) -> String {
    t.and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or("-".into(), |d| d.format("%Y-%m-%d %H:%M:%SZ").to_string())
}

fn state_of(r: &TokenRecord) -> &'static str {
    match crate::store::tokens::status(r.clone()) {
        crate::store::TokenCheck::Valid(_) => "active",
        crate::store::TokenCheck::Revoked(_) => "revoked",
        _ => "expired",
    }
}

pub(super) async fn token(cmd: TokenCommand) -> Result<ExitCode, String> {
    match cmd {
        TokenCommand::Create {
            name,
            scopes,
            expires,
            db,
            format,
        } => {
            let scopes: Vec<String> = scopes
                .iter()
                .map(|s| Scope::parse(s).map(|s| s.as_text()))
                .collect::<Result<_, _>>()?;
            if name.trim().is_empty() {
                return Err("--name must not be empty".into());
            }
            let expires_at = expires
                .as_deref()
                .map(parse_duration)
                .transpose()?
                .map(|d| crate::store::now().saturating_add(d));
            let store = db.open().await?;
            let made = store
                .create_token(&name, &scopes, expires_at)
                .await
                .map_err(|e| e.to_string())?;
            store.close().await;
            match format {
                Format::Json => print_json(&json!({
                    "id": made.record.id,
                    "name": made.record.name,
                    "scopes": made.record.scopes,
                    "expires_at": made.record.expires_at,
                    "token": made.token,
                }))?,
                Format::Text => {
                    println!("{}", made.token);
                    eprintln!(
                        "token {} ({}) created for {}; expires {}. It is shown only now: only its hash is stored.",
                        made.record.id,
                        made.record.name,
                        made.record.scopes.join(", "),
                        when(made.record.expires_at)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::List { db, format } => {
            let store = db.open().await?;
            let tokens = store.list_tokens().await.map_err(|e| e.to_string())?;
            store.close().await;
            match format {
                Format::Json => print_json(&json!(tokens
                    .iter()
                    .map(|t| json!({
                        "id": t.id, "name": t.name, "scopes": t.scopes, "created_at": t.created_at,
                        "expires_at": t.expires_at, "revoked_at": t.revoked_at, "state": state_of(t),
                    }))
                    .collect::<Vec<_>>()))?,
                Format::Text => {
                    println!(
                        "{:<16}  {:<8}  {:<20}  {:<20}  {:<20}  SCOPES",
                        "ID", "STATE", "NAME", "CREATED", "EXPIRES"
                    );
                    for t in &tokens {
                        println!(
                            "{:<16}  {:<8}  {:<20}  {:<20}  {:<20}  {}",
                            t.id,
                            state_of(t),
                            t.name,
                            when(Some(t.created_at)),
                            when(t.expires_at),
                            t.scopes.join(" ")
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Revoke { id, db } => {
            let store = db.open().await?;
            let revoked = store.revoke_token(&id).await.map_err(|e| e.to_string())?;
            store.close().await;
            if revoked {
                eprintln!("token {id} revoked");
                Ok(ExitCode::SUCCESS)
            } else {
                Err(format!(
                    "no active token `{id}`: `inlet token list` shows the ids"
                ))
            }
        }
    }
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Words that must all match (word prefixes) a name, description, tag or column.
    #[arg(default_value = "")]
    pub text: String,
    /// Only this driver (as catalogs write it).
    #[arg(long)]
    pub driver: Option<String>,
    /// Only this catalog (dotted name) and those nested in it.
    #[arg(long = "in", value_name = "CATALOG")]
    pub within: Option<String>,
    /// Only sources with this tag (repeatable: all of them).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Only sources with this column (repeatable: all of them); known once discovered.
    #[arg(long = "column")]
    pub columns: Vec<String>,
    /// How many results.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: usize,
    #[command(flatten)]
    pub catalogs: CatalogArgs,
    #[command(flatten)]
    pub db: DbArgs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub(super) async fn search(args: SearchArgs) -> Result<ExitCode, String> {
    let snap = Arc::new(args.catalogs.snapshot()?);
    let store = args.db.open().await?;
    let live = search::build_index(&store, &snap, Default::default())
        .await
        .map_err(|e| e.to_string())?;
    let req = SearchRequest {
        text: args.text.clone(),
        driver: args.driver.clone(),
        catalog: args.within.clone(),
        tags: args.tags.clone(),
        columns: args.columns.clone(),
        page_size: Some(args.limit.clamp(1, search::MAX_PAGE)),
        page_token: None,
    };
    let found = search::query(&store, &live, &snap, &Caller::everything(), &req)
        .await
        .map_err(|e| e.to_string())?;
    store.close().await;
    match args.format {
        Format::Json => print_json(&json!({
            "results": found.hits,
            "total": found.total,
            "facets": found.facets,
            "revision": found.revision,
        }))?,
        Format::Text => {
            for h in &found.hits {
                println!("{:<40} {:<10} {}", h.name, h.driver, h.summary);
            }
            eprintln!("{} of {} match(es)", found.hits.len(), found.total);
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Ok(30 * 86_400));
        assert_eq!(parse_duration("12h"), Ok(12 * 3600));
        assert_eq!(parse_duration("90"), Ok(90));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("3y").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
