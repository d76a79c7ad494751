//! `inlet serve` settings: defaults, then a TOML file (`--config`), then `INLET_*` environment
//! variables, then command-line flags. Every field is documented in the README.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// Catalog files or directories.
    pub catalogs: Vec<PathBuf>,
    /// Address to listen on.
    pub http: SocketAddr,
    /// Public base URLs of all replicas, listed as locations of plan endpoints.
    pub advertise: Vec<String>,
    /// Address of the Arrow Flight (gRPC) listener; `None` turns Flight off.
    pub flight: Option<SocketAddr>,
    /// Flight URIs of all replicas (`grpc://host:port`), listed as locations of Flight
    /// endpoints; empty: this server's own Flight address.
    pub flight_advertise: Vec<String>,
    /// Environment variables catalogs may read with env().
    pub allow_env: Vec<String>,
    /// Directories local sources may read besides their catalog's directory.
    pub allow_paths: Vec<PathBuf>,
    /// Remote hosts sources may reach (`host`, `*.suffix`); empty: any but link-local and
    /// cloud-metadata addresses.
    pub allow_hosts: Vec<String>,
    /// Where the server keeps what it makes (the ticket key, the SQLite state); created 0700.
    /// Default: `$XDG_STATE_HOME/inlet`, else `~/.local/state/inlet`, else `./.inlet`.
    pub state_dir: Option<PathBuf>,
    /// Ticket signing key (base64url, at least 32 bytes). When absent, `ticket_key_file` is used
    /// (and created).
    pub ticket_key: Option<String>,
    /// Default: `<state_dir>/ticket.key`.
    pub ticket_key_file: Option<PathBuf>,
    /// How long tickets stay valid.
    pub ticket_ttl_secs: u64,
    /// Concurrent data streams; beyond it, 503 with Retry-After.
    pub max_streams: usize,
    /// Timeout of metadata requests (discovery included).
    pub metadata_timeout_secs: u64,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Show absolute server paths in answers (default: relative to the catalog root, and
    /// `[allowed]/...` under an `allow_paths` prefix).
    pub show_server_paths: bool,
    /// Origins allowed by CORS; empty = CORS off. `*` allows any origin.
    pub cors_origins: Vec<String>,
    /// `text` or `json`.
    pub log_format: String,
    /// How often catalog files are checked for changes (0 = never).
    pub reload_interval_secs: u64,
    /// Rows per streamed batch.
    pub batch_size: usize,
    /// Bytes all streams together may hold in fetched buffers and batches decoded ahead.
    pub max_inflight_bytes: u64,
    /// How long a read waits for budget before its first byte; beyond, 503 + Retry-After.
    pub budget_wait_ms: u64,
    /// A stream whose client reads nothing for this long is aborted (its slot and memory freed).
    pub stream_idle_timeout_secs: u64,
    /// Longest wait for a read's first batch (opening, discovery, the first bytes of storage).
    pub first_byte_timeout_secs: u64,
    /// Request headers must arrive within this many seconds of the connection.
    pub header_timeout_secs: u64,
    /// After SIGTERM, in-flight streams get this long to finish; then they are ended.
    pub shutdown_grace_secs: u64,
    /// The SQL state: `postgres://...` (shared by replicas) or `sqlite:...`; default
    /// `<state_dir>/inlet.db`.
    pub database_url: Option<String>,
    /// `off` (default) or `required`: bearer tokens with catalog scopes on every API route.
    pub auth: AuthMode,
    /// Allows listening beyond loopback with `auth = off` (a proxy in front authenticates).
    pub insecure_no_auth: bool,
    /// Sources discovered at the same time by the background discovery after (re)loads.
    pub discovery_concurrency: usize,
    /// An opened source's file listing is reused for this long; then its files are listed
    /// again (a new file matching a glob appears) and its discovery kept only where every file's
    /// size and ETag are unchanged.
    pub relist_secs: u64,
    /// Retries of a failed idempotent storage request (5xx, reset, timeout, broken body).
    pub storage_retries: usize,
    /// No retry starts later than this after a storage request's first attempt.
    pub storage_retry_timeout_secs: u64,
    /// The first retry's delay; each next one doubles, to at most 5 s.
    pub storage_backoff_ms: u64,
    /// How `GET /api/v1/sources/{source}/files` hands out files in object storage: `proxy`
    /// (default: this server serves them with Range, like local files), `presign` (a URL
    /// signed for the store, S3/GCS/Azure, valid as long as a ticket) or `off` (listed
    /// without a URL).
    pub direct_access: DirectAccess,
}

/// How clients get the bytes of files in object storage (local files are always proxied).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DirectAccess {
    #[default]
    Proxy,
    Presign,
    Off,
}

/// Whether requests must carry a token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    #[default]
    Off,
    Required,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            catalogs: vec![PathBuf::from("catalogs")],
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            advertise: vec![],
            flight: Some(SocketAddr::from(([127, 0, 0, 1], 8815))),
            flight_advertise: vec![],
            allow_env: vec![],
            allow_paths: vec![],
            allow_hosts: vec![],
            state_dir: None,
            ticket_key: None,
            ticket_key_file: None,
            ticket_ttl_secs: 3600,
            max_streams: 64,
            metadata_timeout_secs: 30,
            max_body_bytes: 64 * 1024,
            show_server_paths: false,
            cors_origins: vec![],
            log_format: "text".into(),
            reload_interval_secs: 2,
            batch_size: inlet_driver::DEFAULT_BATCH_SIZE,
            max_inflight_bytes: 256 * 1024 * 1024,
            budget_wait_ms: 2000,
            stream_idle_timeout_secs: 60,
            first_byte_timeout_secs: 30,
            header_timeout_secs: 10,
            shutdown_grace_secs: 30,
            database_url: None,
            auth: AuthMode::Off,
            insecure_no_auth: false,
            discovery_concurrency: 4,
            relist_secs: 5,
            storage_retries: 3,
            storage_retry_timeout_secs: 30,
            storage_backoff_ms: 100,
            direct_access: DirectAccess::Proxy,
        }
    }
}

/// Scalar keys read from `INLET_*` variables; list-valued ones come from clap (comma-separated
/// variables), and other `INLET_*` variables (test settings, ...) are not configuration.
const ENV_KEYS: [&str; 28] = [
    "direct_access",
    "max_inflight_bytes",
    "budget_wait_ms",
    "stream_idle_timeout_secs",
    "first_byte_timeout_secs",
    "header_timeout_secs",
    "shutdown_grace_secs",
    "show_server_paths",
    "database_url",
    "auth",
    "insecure_no_auth",
    "discovery_concurrency",
    "relist_secs",
    "storage_retries",
    "storage_retry_timeout_secs",
    "storage_backoff_ms",
    "http",
    "state_dir",
    "flight",
    "ticket_key",
    "ticket_key_file",
    "ticket_ttl_secs",
    "max_streams",
    "metadata_timeout_secs",
    "max_body_bytes",
    "log_format",
    "reload_interval_secs",
    "batch_size",
];

impl ServeConfig {
    /// How remote stores retry, from `storage_retries`, `storage_retry_timeout_secs` and
    /// `storage_backoff_ms`.
    pub fn storage_retry(&self) -> inlet_driver::storage::StorageRetry {
        let first = std::time::Duration::from_millis(self.storage_backoff_ms);
        inlet_driver::storage::StorageRetry {
            retries: self.storage_retries,
            timeout: std::time::Duration::from_secs(self.storage_retry_timeout_secs),
            first_backoff: first,
            max_backoff: first.max(std::time::Duration::from_secs(5)),
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(crate::service::state_dir::default_dir)
    }

    /// Refuses to listen beyond loopback without authentication, unless told to.
    pub fn check_exposure(&self) -> Result<(), String> {
        if self.auth == AuthMode::Required || self.insecure_no_auth {
            return Ok(());
        }
        let exposed: Vec<String> = std::iter::once(self.http)
            .chain(self.flight)
            .filter(|a| !a.ip().is_loopback())
            .map(|a| a.to_string())
            .collect();
        if exposed.is_empty() {
            return Ok(());
        }
        Err(format!(
            "refusing to listen on {} without authentication: pass `--auth required` (and make tokens with `inlet token create`), or `--insecure-no-auth` when a proxy in front authenticates",
            exposed.join(" and ")
        ))
    }

    pub fn ticket_key_path(&self) -> PathBuf {
        self.ticket_key_file
            .clone()
            .unwrap_or_else(|| self.state_dir().join("ticket.key"))
    }

    /// Defaults <- TOML file <- `INLET_*` environment (scalars).
    pub fn load(file: Option<&Path>) -> Result<ServeConfig, String> {
        let mut fig = Figment::from(Serialized::defaults(ServeConfig::default()));
        if let Some(f) = file {
            if !f.exists() {
                return Err(format!("config file `{}` does not exist", f.display()));
            }
            fig = fig.merge(Toml::file(f));
        }
        fig = fig.merge(Env::prefixed("INLET_").only(&ENV_KEYS));
        fig.extract()
            .map_err(|e| format!("invalid configuration: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_auth_beyond_loopback_needs_saying_so() {
        let local = ServeConfig::default();
        assert!(local.check_exposure().is_ok());
        let open = ServeConfig {
            http: "0.0.0.0:8080".parse().expect("addr"),
            ..ServeConfig::default()
        };
        let err = open.check_exposure().expect_err("exposed");
        assert!(
            err.contains("0.0.0.0:8080") && err.contains("--auth required"),
            "{err}"
        );
        let flight = ServeConfig {
            flight: Some("[::]:8815".parse().expect("addr")),
            ..ServeConfig::default()
        };
        assert!(flight.check_exposure().is_err(), "Flight counts too");
        assert!(ServeConfig {
            auth: AuthMode::Required,
            ..open.clone()
        }
        .check_exposure()
        .is_ok());
        assert!(ServeConfig {
            insecure_no_auth: true,
            ..open
        }
        .check_exposure()
        .is_ok());
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error
    fn toml_then_env_override_defaults_and_unknown_keys_fail() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "inlet.toml",
                "http = \"127.0.0.1:9000\"\nmax_streams = 8\ncatalogs = [\"a\", \"b\"]\n",
            )?;
            jail.set_env("INLET_MAX_STREAMS", "4");
            jail.set_env("INLET_DIRECT_ACCESS", "presign");
            let c = ServeConfig::load(Some(Path::new("inlet.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.http.port(), 9000);
            assert_eq!(c.max_streams, 4, "the environment wins over the file");
            assert_eq!(c.catalogs, vec![PathBuf::from("a"), PathBuf::from("b")]);
            assert_eq!(c.ticket_ttl_secs, 3600);
            assert_eq!(c.direct_access, DirectAccess::Presign);
            jail.create_file("bad.toml", "max_stream = 8\n")?;
            let err = ServeConfig::load(Some(Path::new("bad.toml"))).expect_err("typo");
            assert!(err.contains("max_stream"), "{err}");
            Ok(())
        });
    }
}
